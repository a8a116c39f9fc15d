//! `shapeclf features`: every mesh of a dataset through loading and the descriptors, in parallel,
//! into a feature table and manifest. A mesh that fails is recorded with its reason and the run
//! goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::ImageEncoder;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::dataset::{self, Entry};
use crate::descriptors::views::ViewConfig;
use crate::descriptors::{self, DescriptorConfig, Descriptors, SdfStats};
use crate::features::{
    Counts, Failure, FeatureTable, MANIFEST_FILE, Manifest, Row, TABLE_FILE, VIEWS_DIR, ViewsInfo,
};
use crate::mesh::{self, LoadStats, MeshError};

/// How to run a feature extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Descriptor parameters.
    pub config: DescriptorConfig,
    /// Seed for every random choice.
    pub seed: u64,
    /// Worker threads; `None` uses all cores.
    pub jobs: Option<usize>,
    /// Reject meshes with more triangles than this.
    pub max_faces: Option<usize>,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
    /// Render depth views with these parameters into `<views_root>/views/<path>.png`.
    pub views: Option<(ViewConfig, PathBuf)>,
}

/// The outcome of one extraction: the table and its manifest, not yet written.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// One row per mesh that succeeded, sorted by path.
    pub table: FeatureTable,
    /// Parameters, counts, failures and timings.
    pub manifest: Manifest,
}

/// What a whole run cannot get past.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The dataset folder is missing or holds no meshes.
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// Descriptor parameters are inconsistent.
    #[error("invalid descriptor parameters: {0}")]
    Config(String),
    /// The thread pool could not start.
    #[error("cannot start {0} worker threads")]
    Threads(usize),
}

/// One mesh processed: its descriptors, what loading found, its triangle count.
pub struct MeshFeatures {
    /// Descriptor values and SDF counts.
    pub descriptors: Descriptors,
    /// Clean-up counts.
    pub load: LoadStats,
    /// Triangles after clean-up.
    pub triangles: usize,
}

/// Loads one mesh file and computes its descriptors with a per-mesh `seed`.
pub fn process_file(
    path: &Path,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
) -> Result<MeshFeatures, MeshError> {
    process_file_with_views(path, cfg, seed, max_faces, None)
}

/// [`process_file`], also rendering depth views; a mesh whose views all come out empty fails.
pub fn process_file_with_views(
    path: &Path,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
    views: Option<&ViewConfig>,
) -> Result<MeshFeatures, MeshError> {
    let (mesh, load) = mesh::load(path)?;
    if let Some(limit) = max_faces
        && mesh.triangles.len() > limit
    {
        return Err(MeshError::TooManyFaces {
            faces: mesh.triangles.len(),
            limit,
        });
    }
    let descriptors = descriptors::compute_with_views(&mesh, cfg, seed, views);
    if let Some(v) = &descriptors.views
        && v.hits == 0
    {
        return Err(MeshError::Invalid(format!(
            "all {} view rays missed the mesh: its views would be empty",
            v.rays
        )));
    }
    Ok(MeshFeatures {
        descriptors,
        load,
        triangles: mesh.triangles.len(),
    })
}

/// Runs [`process_file`] and turns a panic into that mesh's error, so one bad file cannot end a
/// run (the panic itself is still a bug to fix at its cause).
fn process_guarded(e: &Entry, opts: &ExtractOptions) -> Result<MeshFeatures, String> {
    let seed = dataset::mesh_seed(opts.seed, &e.rel);
    match catch_unwind(AssertUnwindSafe(|| {
        let vcfg = opts.views.as_ref().map(|v| &v.0);
        let f = process_file_with_views(&e.path, &opts.config, seed, opts.max_faces, vcfg)
            .map_err(|err| err.to_string())?;
        if let (Some(v), Some((vc, root))) = (&f.descriptors.views, &opts.views) {
            write_views(v, vc, &crate::features::view_file(root, &e.rel))
                .map_err(|err| format!("cannot write its views: {err}"))?;
        }
        Ok(f)
    })) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(format!(
                "internal error while processing (please report): {msg}"
            ))
        }
    }
}

/// Writes tiled views as a grayscale PNG, atomically.
fn write_views(
    v: &descriptors::views::Views,
    cfg: &ViewConfig,
    path: &Path,
) -> std::io::Result<()> {
    let (w, h, img) = v.tile(cfg.grid_columns());
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&img, w, h, image::ExtendedColorType::L8)
        .map_err(std::io::Error::other)?;
    crate::io::write_bytes_atomic(path, &png)
}

fn progress_bar(n: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} meshes  {per_sec}  eta {eta}",
        )
        .expect("static template"),
    );
    pb
}

/// Extracts the features of every mesh under `root`.
pub fn extract(root: &Path, opts: &ExtractOptions) -> Result<Extraction, ExtractError> {
    opts.config.validate().map_err(ExtractError::Config)?;
    let start = Instant::now();
    let entries = dataset::discover(root, opts.seed)?;
    let threads = opts.jobs.unwrap_or_else(rayon::current_num_threads).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|_| ExtractError::Threads(threads))?;
    let pb = progress_bar(entries.len(), opts.progress);
    let results: Vec<Result<MeshFeatures, String>> = pool.install(|| {
        entries
            .par_iter()
            .map(|e| {
                let r = process_guarded(e, opts);
                if let Err(msg) = &r {
                    pb.suspend(|| eprintln!("{}: {msg}", e.path.display()));
                }
                pb.inc(1);
                r
            })
            .collect()
    });
    pb.finish_and_clear();

    let columns = opts.config.columns();
    let mut table = FeatureTable {
        columns: columns.clone(),
        rows: Vec::with_capacity(entries.len()),
    };
    let mut failed = Vec::new();
    let mut sdf = SdfStats::default();
    let (mut triangles, mut degenerate, mut flipped) = (0u64, 0u64, 0usize);
    let mut view_rays = 0u64;
    for (e, r) in entries.iter().zip(results) {
        match r {
            Ok(f) => {
                sdf.add(&f.descriptors.sdf);
                view_rays += f.descriptors.views.as_ref().map_or(0, |v| v.rays);
                triangles += f.triangles as u64;
                degenerate += f.load.degenerate_dropped as u64;
                flipped += usize::from(f.load.flipped);
                table.rows.push(Row {
                    path: e.rel.clone(),
                    class: e.class.clone(),
                    split: e.split,
                    values: f.descriptors.values,
                });
            }
            Err(error) => failed.push(Failure {
                path: e.rel.clone(),
                error,
            }),
        }
    }
    let manifest = Manifest {
        tool: "shapeclf".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        format_version: crate::features::FORMAT_VERSION,
        dataset: root.display().to_string(),
        seed: opts.seed,
        descriptors: opts.config.clone(),
        columns,
        classes: table.classes(),
        counts: Counts {
            found: entries.len(),
            ok: table.rows.len(),
            failed: failed.len(),
        },
        sdf,
        triangles,
        degenerate_dropped: degenerate,
        meshes_flipped: flipped,
        threads,
        wall_seconds: start.elapsed().as_secs_f64(),
        failed,
        views: opts.views.as_ref().map(|(vc, _)| ViewsInfo {
            config: *vc,
            count: vc.count(),
            grid_columns: vc.grid_columns(),
            folder: VIEWS_DIR.to_string(),
            naming: format!("{VIEWS_DIR}/<path>.png"),
            rays: view_rays,
        }),
    };
    Ok(Extraction { table, manifest })
}

impl Extraction {
    /// Writes `descriptors.csv` and `manifest.json` into `dir`, each atomically; the table goes
    /// first so a manifest never describes a table that is not there.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        self.table.write_csv(&dir.join(TABLE_FILE))?;
        self.manifest.write(&dir.join(MANIFEST_FILE))
    }
}
