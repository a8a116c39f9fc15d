//! `shapeclf features`: every mesh of a dataset through loading and the descriptors, in parallel,
//! into a feature table and manifest. A mesh that fails is recorded with its reason and the run
//! goes on.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::dataset::{self, Entry};
use crate::descriptors::views::ViewConfig;
use crate::descriptors::{self, DescriptorConfig, Descriptors, SdfStats};
use crate::features::{
    CachedMesh, Counts, Failure, FeatureTable, MANIFEST_FILE, Manifest, Row, VIEWS_DIR, ViewsInfo,
};
use crate::mesh::{self, LoadStats, MeshError};

mod output;
mod process;
mod settings;

use crate::observe::{Event, Observer};
pub use output::{
    OutputError, PartLock, RunError, check_output_folder, prepare_output, prepare_part_output, run,
    write_generation,
};
pub use process::{
    MeshFeatures, panic_error, process_file, process_file_with_views, process_raw_with_views,
    raw_mesh_hash, render_file_views, render_raw_views,
};
use process::{content_hash_with_links, process_guarded};
pub use settings::{DEFAULT_CHECKPOINT_EVERY, FeatureSettings, checkpoint_interval};

/// How to run a feature extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Descriptor parameters.
    pub config: DescriptorConfig,
    /// Seed for every random choice.
    pub seed: u64,
    /// Worker threads; `None` uses all cores.
    pub jobs: Option<usize>,
    /// Reject meshes with more triangles than this (after clean-up). Recorded in the manifest;
    /// a reused row is checked against it again.
    pub max_faces: Option<usize>,
    /// Render depth views with these parameters into `<views_root>/views/<path>.png`.
    pub views: Option<(ViewConfig, PathBuf)>,
    /// A feature folder written before (usually the output folder): rows of meshes whose file
    /// content, descriptor parameters, view settings and seed are unchanged are taken from it
    /// instead of recomputed.
    pub resume_from: Option<PathBuf>,
    /// Set (by a Ctrl-C handler) to stop starting new meshes; the meshes in hand finish and
    /// the rest are counted as not reached.
    pub stop: Option<Arc<AtomicBool>>,
    /// Only the meshes of this shard (the whole dataset is still listed and split first, so
    /// the split does not depend on the sharding); its part of the folder is written under its
    /// own names ([`crate::features::part_files`]).
    pub shard: Option<crate::shard::Shard>,
    /// How the table is written.
    pub format: crate::features::TableFormat,
    /// [`run`] writes what is done every this often while meshes are computed (at least ten
    /// times as long as the last such write took), so a run killed outright (SIGKILL, the
    /// out-of-memory killer, a node lost) resumes from there; `None` writes only at the end.
    /// [`extract`] alone writes nothing.
    pub checkpoint_every: Option<std::time::Duration>,
}

impl ExtractOptions {
    /// Checks the descriptor and view settings before anything is read or written.
    pub fn validate(&self) -> Result<(), ExtractError> {
        self.config.validate()?;
        // Each worker is an operating-system thread with its own stack: a mistyped count (a
        // million) would exhaust memory or the thread limit before the first mesh.
        if let Some(j) = self.jobs
            && !(1..=MAX_JOBS).contains(&j)
        {
            return Err(crate::setting::InvalidSetting::new(
                "jobs",
                format!("is {j}; it must lie between 1 and {MAX_JOBS}"),
            )
            .into());
        }
        if let Some((v, _)) = &self.views {
            v.validate()?;
        }
        Ok(())
    }

    /// Warnings for settings that make each mesh take far longer than the defaults (the
    /// descriptors' and the views'), to say before a run starts.
    pub fn cost_warnings(&self) -> Vec<String> {
        let view_cost = self.views.as_ref().and_then(|(v, _)| v.cost_warning());
        self.config
            .cost_warnings()
            .into_iter()
            .chain(view_cost)
            .collect()
    }
}

/// The most worker threads `features` starts (`--jobs`).
pub const MAX_JOBS: usize = 4096;

/// A previous run's rows that may be reused, by path.
struct Previous {
    rows: HashMap<String, (Vec<f32>, CachedMesh)>,
}

impl Previous {
    /// Reads a previous feature folder, or nothing when it is missing, unreadable or made with
    /// other parameters, another seed or another shapeclf version.
    fn load(dir: &Path, opts: &ExtractOptions) -> Option<Previous> {
        // A shard resumes from its own part (its lock is held and its commit completed).
        let (table, manifest, intact) = match opts.shard {
            None => crate::features::read_folder_checked(dir),
            Some(s) => crate::features::read_part_checked(dir, &s.manifest_file()),
        }
        .ok()?;
        // Only a table and cache provably written with this manifest (one generation) are
        // trusted, whatever else happened to the folder.
        let cache_bytes = std::fs::read(dir.join(manifest.files().cache)).ok()?;
        let same = intact == Some(true)
            && manifest.cache_hash.as_deref()
                == Some(crate::features::hash_hex(&cache_bytes).as_str())
            && manifest.tool_version == crate::BUILD_ID
            && manifest.seed == opts.seed
            && manifest.descriptors == opts.config
            && manifest.views.as_ref().map(|v| v.config) == opts.views.as_ref().map(|v| v.0);
        if !same {
            return None;
        }
        let cache: Vec<CachedMesh> = serde_json::from_slice(&cache_bytes).ok()?;
        let mut by_path: HashMap<&str, &CachedMesh> =
            cache.iter().map(|c| (c.path.as_str(), c)).collect();
        let rows = table
            .rows
            .into_iter()
            .filter_map(|r| {
                let c = by_path.remove(r.path.as_str())?.clone();
                Some((r.path, (r.values, c)))
            })
            .collect();
        Some(Previous { rows })
    }
}

/// Augmented renderings a mesh of `split` gets: `cfg.augment` for a training mesh, none for a
/// test mesh.
pub fn augmented_copies(cfg: &ViewConfig, split: dataset::Split) -> usize {
    match split {
        dataset::Split::Train => cfg.augment,
        dataset::Split::Test => 0,
    }
}

/// Hashes of the view images written for one mesh: its views, then each augmented rendering.
#[derive(Debug, Clone, Default)]
pub(crate) struct ViewHashes {
    view_hash: Option<String>,
    augmented_hashes: Vec<String>,
}

/// What became of one mesh: its row's values and cache entry when it has a row.
#[derive(Clone)]
enum Outcome {
    Computed(Vec<f32>, CachedMesh),
    Reused(Vec<f32>, CachedMesh),
    Failed(String),
    NotReached,
}

/// The outcome of one extraction: the table and its manifest, not yet written.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// One row per mesh that succeeded, sorted by path.
    pub table: FeatureTable,
    /// Parameters, counts, failures and timings.
    pub manifest: Manifest,
    /// Per-mesh facts for reusing rows in a later run.
    pub cache: Vec<CachedMesh>,
}

/// What a whole run cannot get past.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The dataset folder is missing or holds no meshes.
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// A descriptor or view setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(#[from] crate::setting::InvalidSetting),
    /// The thread pool could not start.
    #[error("cannot start {0} worker threads")]
    Threads(usize),
}

/// Extracts the features of every mesh under `root`, telling `observer` of each mesh done and
/// each file skipped (and why).
pub fn extract(
    root: &Path,
    opts: &ExtractOptions,
    observer: &dyn Observer,
) -> Result<Extraction, ExtractError> {
    extract_saving(root, opts, observer, None).map(|(ex, _)| ex)
}

/// Writes what a run has done so far, as [`Extraction::write`] does.
pub(crate) type Save<'a> = &'a (dyn Fn(&Extraction) -> std::io::Result<()> + Sync);

/// [`extract`], handing `save` what is done every [`ExtractOptions::checkpoint_every`] while
/// meshes are computed. Also returns how far the run got.
pub(crate) fn extract_saving(
    root: &Path,
    opts: &ExtractOptions,
    observer: &dyn Observer,
    save: Option<Save<'_>>,
) -> Result<(Extraction, Reached), ExtractError> {
    opts.validate()?;
    let start = Instant::now();
    let (mut entries, mut unusable) = dataset::discover_all(root, opts.seed)?;
    // Of the whole dataset, before a shard keeps its own meshes: what every part must agree on.
    let listing = dataset::Listing::of(&entries, &unusable);
    if let Some(s) = opts.shard {
        entries.retain(|e| s.contains(&e.rel));
        unusable.retain(|u| s.contains(&u.rel));
    }
    if let Some(w) = dataset::unread_warning(root, &dataset::unread_mesh_files(root)) {
        observer.event(Event::Warning(&w));
    }
    for u in &unusable {
        observer.event(Event::Skipped {
            path: &root.join(&u.rel).display().to_string(),
            reason: &u.reason,
        });
    }
    let threads = opts.jobs.unwrap_or_else(rayon::current_num_threads).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|_| ExtractError::Threads(threads))?;
    let previous = opts
        .resume_from
        .as_deref()
        .and_then(|d| Previous::load(d, opts));
    let run = Assembly {
        root,
        opts,
        entries: &entries,
        unusable: &unusable,
        listing,
        threads,
        start,
    };
    observer.event(Event::Begin {
        stage: "meshes",
        total: entries.len() as u64,
    });
    // Meshes with a row in the previous generation come first: checking one is a hash of its
    // file, so they are all reached within moments, and neither a checkpoint nor a stopped
    // run's write ever has to leave out a row the folder held (see `Tally::unchecked`).
    let has_previous = |e: &Entry| {
        previous
            .as_ref()
            .is_some_and(|p| p.rows.contains_key(&e.rel))
    };
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| !has_previous(&entries[i]));
    let tally = Tally {
        unchecked: AtomicUsize::new(entries.iter().filter(|e| has_previous(e)).count()),
        computed: AtomicUsize::new(0),
    };
    let done: Vec<Mutex<Option<Outcome>>> = entries.iter().map(|_| Mutex::new(None)).collect();
    let checkpoints = save
        .zip(opts.checkpoint_every)
        .map(|(save, every)| Checkpoints {
            save,
            every,
            next: Mutex::new(start + every),
            writing: Mutex::new(()),
            warned: AtomicBool::new(false),
        });
    // One job per mesh, each taking the next mesh in that order when it runs, so the order
    // holds across workers; and a worker that waits inside a mesh's own parallel work (and
    // steals meanwhile) takes on one more mesh at most, never the rest of the queue.
    let next = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..order.len() {
            s.spawn(|_| {
                let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                let e = &entries[i];
                let r = extract_one(e, opts, previous.as_ref(), observer);
                if matches!(r, Outcome::NotReached) {
                    return;
                }
                let computed = matches!(r, Outcome::Computed(..));
                // Stored before it is counted: a checkpoint that sees the count sees the row
                // (Release here, Acquire where the counts are read).
                *lock(&done[i]) = Some(r);
                if has_previous(e) {
                    tally.unchecked.fetch_sub(1, Ordering::Release);
                }
                if computed {
                    tally.computed.fetch_add(1, Ordering::Release);
                }
                observer.event(Event::Step);
                if let Some(c) = &checkpoints {
                    c.maybe_save(&run, &done, &tally, observer);
                }
            });
        }
    });
    observer.event(Event::End);
    let results: Vec<Outcome> = done
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unwrap_or(Outcome::NotReached)
        })
        .collect();
    let reached = results
        .iter()
        .filter(|r| !matches!(r, Outcome::NotReached))
        .count();
    let unchecked = tally.unchecked.load(Ordering::Relaxed);
    Ok((run.assemble(results), Reached { reached, unchecked }))
}

/// How far a run got: meshes reached (computed, reused or failed), and meshes with a row in
/// the previous generation that it did not reach, so did not check.
pub(crate) struct Reached {
    pub(crate) reached: usize,
    pub(crate) unchecked: usize,
}

/// Counts kept while a run goes on, for its checkpoints.
struct Tally {
    /// Meshes with a row in the previous generation not reached yet. While any is, writing
    /// what is done would drop its row (rows are kept only once checked against their file).
    unchecked: AtomicUsize,
    /// Meshes computed (not reused): with none, a checkpoint would write what the folder holds.
    computed: AtomicUsize,
}

/// A mutex's contents, also after a thread panicked holding it (each mesh's processing catches
/// its own panics, so what the mutex holds is whole).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a run's outcomes are assembled with into an [`Extraction`], at its end or at a
/// checkpoint.
struct Assembly<'a> {
    root: &'a Path,
    opts: &'a ExtractOptions,
    entries: &'a [Entry],
    unusable: &'a [dataset::Unusable],
    listing: dataset::Listing,
    threads: usize,
    start: Instant,
}

impl Assembly<'_> {
    /// The extraction of `results` (one per entry).
    fn assemble(&self, results: Vec<Outcome>) -> Extraction {
        let opts = self.opts;
        let mut g = Gathered::of(self.entries, results, opts);
        g.cache.sort_by(|a, b| a.path.cmp(&b.path));
        let found = self.entries.len() + self.unusable.len();
        g.failed.extend(self.unusable.iter().map(|u| Failure {
            path: u.rel.clone(),
            error: u.reason.clone(),
        }));
        g.failed.sort_by(|a, b| a.path.cmp(&b.path));
        let facts = RunFacts {
            root: self.root,
            opts,
            listing: self.listing.clone(),
            threads: self.threads,
            found,
            wall_seconds: self.start.elapsed().as_secs_f64(),
        };
        let manifest = facts.manifest(&g.table, std::mem::take(&mut g.failed), &g.totals);
        Extraction {
            table: g.table,
            manifest,
            cache: g.cache,
        }
    }
}

/// When and how a run saves what it has done while it goes on.
struct Checkpoints<'a> {
    save: Save<'a>,
    every: std::time::Duration,
    /// The earliest moment of the next save.
    next: Mutex<Instant>,
    /// Held by the thread saving; the others go on computing meshes.
    writing: Mutex<()>,
    /// A failed save has been warned of (once is enough).
    warned: AtomicBool,
}

impl Checkpoints<'_> {
    /// Saves what is done, when a save is due and no other thread is saving. The next one is
    /// due after the interval or ten times this save's time, whichever is longer, so saving
    /// a large table takes at most about a tenth of the run.
    fn maybe_save(
        &self,
        run: &Assembly,
        done: &[Mutex<Option<Outcome>>],
        tally: &Tally,
        obs: &dyn Observer,
    ) {
        let due = || Instant::now() >= *lock(&self.next);
        let stopping = || {
            run.opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        };
        // Nothing new yet, or a previous row still unchecked (the write would drop it): the
        // folder already holds everything worth keeping.
        let worth = tally.computed.load(Ordering::Acquire) > 0
            && tally.unchecked.load(Ordering::Acquire) == 0;
        if stopping() || !worth || !due() {
            return;
        }
        let Ok(_writing) = self.writing.try_lock() else {
            return;
        };
        if !due() {
            return; // another thread has just saved
        }
        let t = Instant::now();
        // Each slot locked for its own copy alone: the other workers go on storing theirs.
        let snapshot: Vec<Outcome> = done
            .iter()
            .map(|o| lock(o).clone().unwrap_or(Outcome::NotReached))
            .collect();
        let ex = run.assemble(snapshot);
        // A stop that came while the snapshot was taken: the run's own write is imminent.
        if stopping() {
            return;
        }
        if ex.manifest.counts.ok > 0
            && let Err(e) = (self.save)(&ex)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            obs.event(Event::Warning(&format!(
                "cannot save the rows done so far ({e}); the run goes on, and writes everything at its end"
            )));
        }
        *lock(&self.next) = Instant::now() + self.every.max(t.elapsed() * 10);
    }
}

/// One mesh: its previous row when the file, its cap and its view images are unchanged, else
/// its features computed now; a failure is reported to `observer` as a skipped file.
fn extract_one(
    e: &Entry,
    opts: &ExtractOptions,
    previous: Option<&Previous>,
    observer: &dyn Observer,
) -> Outcome {
    if opts
        .stop
        .as_ref()
        .is_some_and(|s| s.load(Ordering::Relaxed))
    {
        return Outcome::NotReached;
    }
    let skipped = |reason: &str| {
        observer.event(Event::Skipped {
            path: &e.path.display().to_string(),
            reason,
        })
    };
    // Read once: hashed to recognise an unchanged file, parsed if it is not.
    let bytes = match mesh::read_file(&e.path) {
        Ok(b) => b,
        Err(err) => {
            let msg = err.to_string();
            skipped(&msg);
            return Outcome::Failed(msg);
        }
    };
    let h = content_hash_with_links(&e.path, &bytes);
    if let Some((values, c)) = previous.and_then(|p| p.reusable(e, h, opts)) {
        return Outcome::Reused(values.clone(), c.clone());
    }
    match process_guarded(e, bytes, h, opts) {
        Ok((f, vh)) => {
            let c = cached(e, &f, h, vh);
            Outcome::Computed(f.descriptors.values, c)
        }
        Err(msg) => {
            skipped(&msg);
            Outcome::Failed(msg)
        }
    }
}

impl Previous {
    /// The previous row of `e`, when its file still hashes to `hash`, it is within this run's
    /// face cap, and (with views) its view image and augmented renderings are still the ones
    /// that run wrote, as many as this run renders.
    fn reusable(
        &self,
        e: &Entry,
        hash: u64,
        opts: &ExtractOptions,
    ) -> Option<&(Vec<f32>, CachedMesh)> {
        let row = self.rows.get(&e.rel)?;
        let c = &row.1;
        let same = c.hash == format!("{hash:016x}")
            // The cap is checked again: a row computed without it, or under a higher one, may
            // belong to a mesh this run must reject.
            && opts
                .max_faces
                .is_none_or(|cap| c.triangles <= cap as u64)
            && opts.views.as_ref().is_none_or(|(vc, root)| {
                crate::view_store::view_file_unchanged(
                    &crate::features::view_file(root, &e.rel),
                    c.view_hash.as_deref(),
                ) && c.augmented_hashes.len() == augmented_copies(vc, e.split)
                    && c.augmented_hashes.iter().enumerate().all(|(k, h)| {
                        crate::view_store::view_file_unchanged(
                            &crate::features::augmented_view_file(root, &e.rel, k + 1),
                            Some(h),
                        )
                    })
            });
        same.then_some(row)
    }
}

/// Sums over the meshes of a run, for its manifest.
#[derive(Default)]
struct Totals {
    sdf: SdfStats,
    triangles: u64,
    degenerate: u64,
    flipped: usize,
    view_rays: u64,
    reused: usize,
    not_reached: usize,
}

/// The meshes' outcomes gathered into the table, the cache, the failures and the totals.
struct Gathered {
    table: FeatureTable,
    cache: Vec<CachedMesh>,
    failed: Vec<Failure>,
    totals: Totals,
}

impl Gathered {
    fn of(entries: &[Entry], results: Vec<Outcome>, opts: &ExtractOptions) -> Gathered {
        let mut g = Gathered {
            table: FeatureTable {
                columns: opts.config.columns(),
                rows: Vec::with_capacity(entries.len()),
            },
            cache: Vec::with_capacity(entries.len()),
            failed: Vec::new(),
            totals: Totals::default(),
        };
        let t = &mut g.totals;
        for (e, r) in entries.iter().zip(results) {
            let (values, c) = match r {
                Outcome::Computed(values, c) => (values, c),
                Outcome::Reused(values, c) => {
                    t.reused += 1;
                    (values, c)
                }
                Outcome::Failed(error) => {
                    g.failed.push(Failure {
                        path: e.rel.clone(),
                        error,
                    });
                    continue;
                }
                Outcome::NotReached => {
                    t.not_reached += 1;
                    continue;
                }
            };
            t.sdf.add(&c.sdf);
            t.view_rays += c.view_rays;
            t.triangles += c.triangles;
            t.degenerate += c.degenerate_dropped;
            t.flipped += usize::from(c.flipped);
            g.table.rows.push(Row {
                path: e.rel.clone(),
                class: e.class.clone(),
                split: e.split,
                values,
            });
            g.cache.push(c);
        }
        g
    }
}

/// The cache entry of a mesh computed now.
fn cached(e: &Entry, f: &MeshFeatures, hash: u64, vh: ViewHashes) -> CachedMesh {
    CachedMesh {
        path: e.rel.clone(),
        hash: format!("{hash:016x}"),
        triangles: f.triangles as u64,
        degenerate_dropped: f.load.degenerate_dropped as u64,
        flipped: f.load.flipped,
        sdf: f.descriptors.sdf,
        view_rays: f.descriptors.views.as_ref().map_or(0, |v| v.rays)
            + f.descriptors.augmented.iter().map(|v| v.rays).sum::<u64>(),
        view_hash: vh.view_hash,
        augmented_hashes: vh.augmented_hashes,
    }
}

/// What a run's manifest records beyond its table and totals.
struct RunFacts<'a> {
    root: &'a Path,
    opts: &'a ExtractOptions,
    listing: dataset::Listing,
    threads: usize,
    /// Mesh files found (this shard's), usable or not.
    found: usize,
    wall_seconds: f64,
}

impl RunFacts<'_> {
    fn manifest(self, table: &FeatureTable, failed: Vec<Failure>, t: &Totals) -> Manifest {
        let opts = self.opts;
        Manifest {
            tool: "shapeclf".into(),
            tool_version: crate::BUILD_ID.into(),
            format_version: crate::features::FORMAT_VERSION,
            dataset: self.root.display().to_string(),
            seed: opts.seed,
            descriptors: opts.config.clone(),
            columns: table.columns.clone(),
            classes: table.classes(),
            counts: Counts {
                found: self.found,
                ok: table.rows.len(),
                failed: failed.len(),
                reused: t.reused,
                not_reached: t.not_reached,
            },
            sdf: t.sdf,
            triangles: t.triangles,
            degenerate_dropped: t.degenerate,
            meshes_flipped: t.flipped,
            threads: self.threads,
            wall_seconds: self.wall_seconds,
            failed,
            views: opts.views.as_ref().map(|(vc, _)| ViewsInfo {
                config: *vc,
                count: vc.count(),
                grid_columns: vc.grid_columns(),
                folder: VIEWS_DIR.to_string(),
                naming: format!("{VIEWS_DIR}/<path>.png"),
                augmented_naming: (vc.augment > 0).then(|| {
                    format!(
                        "{VIEWS_DIR}/<path>~aug<k>.png, k = 1..={} (training meshes)",
                        vc.augment
                    )
                }),
                rays: t.view_rays,
            }),
            table_hash: None,
            cache_hash: None,
            table_format: opts.format,
            shard: opts.shard,
            dataset_listing: Some(self.listing),
            max_faces: opts.max_faces,
            shards_left_out: Vec::new(),
        }
    }
}
