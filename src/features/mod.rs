//! The feature table on disk: `descriptors.csv` (one row per mesh: `path,class,split`, then named
//! descriptor columns) and `manifest.json` (parameters, seed, counts, failures), with the checks
//! that keep a model from reading features of another kind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::Split;
use crate::descriptors::{DescriptorConfig, SdfStats};

/// File name of the table inside a features folder.
pub const TABLE_FILE: &str = "descriptors.csv";
/// File name of the manifest inside a features folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the table and manifest layout; bumped when either changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
/// The per-mesh cache file of a feature folder (what a rerun needs to reuse rows).
pub const CACHE_FILE: &str = "mesh_cache.json";

mod parquet_table;
mod table;

/// What a later run needs to reuse a mesh's row without recomputing it: one entry per mesh,
/// kept in `mesh_cache.json` beside the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedMesh {
    /// Path relative to the dataset root, as in the table.
    pub path: String,
    /// [`crate::dataset::content_hash`] of the file, hex.
    pub hash: String,
    /// Triangles after clean-up.
    pub triangles: u64,
    /// Degenerate triangles dropped.
    pub degenerate_dropped: u64,
    /// Whether the faces were flipped outwards.
    pub flipped: bool,
    /// SDF counts.
    pub sdf: SdfStats,
    /// View rays cast.
    pub view_rays: u64,
    /// [`hash_hex`] of the view image written for this row, so a rerun reuses
    /// the row only while its image is still the one this run wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_hash: Option<String>,
    /// The same for each augmented rendering of a training mesh, in order (`~aug1`, `~aug2`,
    /// ...); empty for test meshes and without `--view-augment`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub augmented_hashes: Vec<String>,
}

/// The names of the files that make up one generation in a feature folder: the whole folder's
/// (`descriptors.csv`, `mesh_cache.json`, `manifest.json`) or one shard's part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFiles {
    /// The feature table.
    pub table: String,
    /// The per-mesh cache for resuming.
    pub cache: String,
    /// The manifest.
    pub manifest: String,
    /// The journal of its commits.
    pub journal: String,
}

/// The files of the unsharded folder (`shard` `None`) or of one shard's part, for a table in
/// `format`.
pub fn part_files(shard: Option<crate::shard::Shard>, format: TableFormat) -> PartFiles {
    match shard {
        None => PartFiles {
            table: format.file_name("descriptors"),
            cache: CACHE_FILE.to_string(),
            manifest: MANIFEST_FILE.to_string(),
            journal: crate::io::JOURNAL_FILE.to_string(),
        },
        Some(s) => PartFiles {
            table: format.file_name(&format!("descriptors.{}", s.tag())),
            cache: format!("mesh_cache.{}.json", s.tag()),
            manifest: s.manifest_file(),
            journal: format!("{}.{}", crate::io::JOURNAL_FILE, s.tag()),
        },
    }
}

/// How the feature table is stored. The manifest records it (absent means CSV, as every
/// shapeclf before Parquet wrote), and readers take the table the manifest names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// `descriptors.csv`: text, one line per mesh, for people and spreadsheets.
    #[default]
    Csv,
    /// `descriptors.parquet`: Apache Parquet (Snappy-compressed columns), for large tables,
    /// pandas, polars and Spark.
    Parquet,
}

impl TableFormat {
    /// Whether this is CSV (the manifest then leaves the field out, as before Parquet).
    pub fn is_csv(&self) -> bool {
        *self == TableFormat::Csv
    }

    /// `stem` with this format's extension.
    pub fn file_name(self, stem: &str) -> String {
        match self {
            TableFormat::Csv => format!("{stem}.csv"),
            TableFormat::Parquet => format!("{stem}.parquet"),
        }
    }
}

/// One mesh's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Path relative to the dataset root.
    pub path: String,
    /// Class name.
    pub class: String,
    /// Train or test.
    pub split: Split,
    /// Descriptor values in the table's column order.
    pub values: Vec<f32>,
}

/// Descriptor columns and rows, sorted by path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureTable {
    /// Names of the descriptor columns (after `path,class,split`).
    pub columns: Vec<String>,
    /// One row per mesh.
    pub rows: Vec<Row>,
}

/// A mesh that could not be turned into a row, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Path relative to the dataset root.
    pub path: String,
    /// The reason.
    pub error: String,
}

/// Counts of a features run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Mesh files found.
    pub found: usize,
    /// Rows written.
    pub ok: usize,
    /// Files that failed.
    pub failed: usize,
    /// Rows taken unchanged from the previous run into the same folder (file content,
    /// parameters and seed unchanged).
    #[serde(default)]
    pub reused: usize,
    /// Files not reached because the run was interrupted; rerunning the same command finishes
    /// them.
    #[serde(default)]
    pub not_reached: usize,
}

/// Everything needed to read a feature folder safely and to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `shapeclf`.
    pub tool: String,
    /// shapeclf version that wrote it.
    pub tool_version: String,
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Dataset folder the meshes came from.
    pub dataset: String,
    /// Seed every random choice flowed from.
    pub seed: u64,
    /// Descriptor parameters.
    pub descriptors: DescriptorConfig,
    /// Descriptor column names, in table order.
    pub columns: Vec<String>,
    /// Classes present, sorted.
    pub classes: Vec<String>,
    /// Found, ok, failed.
    pub counts: Counts,
    /// SDF ray totals over all meshes.
    pub sdf: SdfStats,
    /// Triangles over all meshes that succeeded.
    pub triangles: u64,
    /// Degenerate triangles dropped over all meshes.
    pub degenerate_dropped: u64,
    /// Meshes whose faces were flipped to face outwards.
    pub meshes_flipped: usize,
    /// Worker threads used.
    pub threads: usize,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// Every mesh that failed, with its reason.
    pub failed: Vec<Failure>,
    /// Depth views written beside the table, if any.
    #[serde(default)]
    pub views: Option<ViewsInfo>,
    /// [`crate::dataset::content_hash`] of the `descriptors.csv` written with this manifest, hex:
    /// a rerun reuses rows only from a table that is provably this manifest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_hash: Option<String>,
    /// The same for `mesh_cache.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hash: Option<String>,
    /// How the table is stored (left out for CSV).
    #[serde(default, skip_serializing_if = "TableFormat::is_csv")]
    pub table_format: TableFormat,
    /// The shard this manifest's part covers, in a sharded run (left out in a whole folder,
    /// whether written by one run or merged from shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// What the dataset held when this run listed it ([`crate::dataset::Listing`]): parts of a
    /// sharded run merge only when they all saw the same listing, whatever the dataset's path
    /// was typed as. Absent in manifests of older shapeclf versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_listing: Option<crate::dataset::Listing>,
    /// `--max-faces`: meshes with more triangles (after clean-up) failed. Left out when no cap
    /// was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_faces: Option<usize>,
    /// Shards a merge with `--allow-missing` left out or took unfinished (none in a complete
    /// merge or an unsharded run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards_left_out: Vec<ShardLeftOut>,
}

/// A shard that `merge --allow-missing` left out, or took with meshes not reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardLeftOut {
    /// The shard, `I/N`.
    pub shard: String,
    /// Why: no part, or how many of its meshes its interrupted run did not reach.
    pub reason: String,
}

impl Manifest {
    /// The names of the files this manifest belongs with (its shard's part, or the folder's).
    pub fn files(&self) -> PartFiles {
        part_files(self.shard, self.table_format)
    }
}

/// A content hash as written in manifests.
pub fn hash_hex(bytes: &[u8]) -> String {
    format!("{:016x}", crate::dataset::content_hash(bytes))
}

/// Where and how the depth views were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewsInfo {
    /// Camera layout, resolution and up axis.
    pub config: crate::descriptors::views::ViewConfig,
    /// Views per mesh.
    pub count: usize,
    /// Views tiled per row in each image.
    pub grid_columns: usize,
    /// Folder of the view images, relative to the features folder.
    pub folder: String,
    /// How a row's image is named: `folder/<path>.png`.
    pub naming: String,
    /// How a training row's augmented renderings are named, when `config.augment` > 0:
    /// `folder/<path>~aug<k>.png`, k = 1..=augment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmented_naming: Option<String>,
    /// Rays cast for views over all meshes.
    pub rays: u64,
}

/// File of the tiled views of the mesh at relative `path`, inside a features folder:
/// `views/<path>.png`. A component too long for a file name once `.png` is added (most file
/// systems stop at 255 bytes) is cut and given a hash of the whole, so it stays unique.
pub fn view_file(features_dir: &Path, path: &str) -> PathBuf {
    const MAX: usize = 255;
    let mut out = features_dir.join(VIEWS_DIR);
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let suffix = if last { ".png" } else { "" };
        if part.len() + suffix.len() <= MAX {
            out.push(format!("{part}{suffix}"));
        } else {
            let mut cut = MAX - suffix.len() - 18;
            while !part.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(format!(
                "{}~{:016x}{suffix}",
                &part[..cut],
                crate::dataset::content_hash(part.as_bytes())
            ));
        }
    }
    out
}

/// File of the `k`-th augmented rendering (`k` from 1) of the training mesh at relative `path`:
/// `views/<path>~aug<k>.png`, beside its views ([`view_file`]). No mesh's own view image can
/// have that name: a mesh file's name ends in a mesh extension, and `~aug<k>` is none.
pub fn augmented_view_file(features_dir: &Path, path: &str, k: usize) -> PathBuf {
    view_file(features_dir, &format!("{path}~aug{k}"))
}

/// File of copy `copy` of the views of the mesh at `path`: its own views for 0
/// ([`view_file`]), its augmented rendering `copy` otherwise ([`augmented_view_file`]).
pub fn view_copy_file(features_dir: &Path, path: &str, copy: usize) -> PathBuf {
    match copy {
        0 => view_file(features_dir, path),
        k => augmented_view_file(features_dir, path, k),
    }
}

/// Folder of the view images inside a features folder.
pub const VIEWS_DIR: &str = "views";

/// Errors reading or checking a feature folder.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is there but not as expected.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

fn fmt_err(path: &Path, msg: impl Into<String>) -> FeatureError {
    FeatureError::Format {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl Manifest {
    /// Writes the manifest atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::io::write_json_atomic(path, self)
    }

    /// Reads a manifest and checks it was written by a compatible shapeclf.
    pub fn read(path: &Path) -> Result<Manifest, FeatureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FeatureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path)
    }

    /// [`Manifest::read`] from text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, FeatureError> {
        let m: Manifest = serde_json::from_str(text)
            .map_err(|e| fmt_err(path, format!("not a shapeclf feature manifest: {e}")))?;
        if m.tool != "shapeclf" || m.format_version != FORMAT_VERSION {
            return Err(fmt_err(
                path,
                format!(
                    "written by {} format {}, this shapeclf reads format {FORMAT_VERSION}",
                    m.tool, m.format_version
                ),
            ));
        }
        m.check_settings()
            .map_err(|e| fmt_err(path, format!("{e} (edited or damaged manifest)")))?;
        Ok(m)
    }

    /// Checks the recorded settings as `shapeclf features` checks its flags, and that the view
    /// count and columns are the ones those settings give: training and `predict` size their
    /// work from these numbers, so an edited manifest must not make them allocate or render
    /// what no run of `features` could have produced.
    pub fn check_settings(&self) -> Result<(), String> {
        self.descriptors.validate().map_err(|e| e.to_string())?;
        if let Some(v) = &self.views {
            v.config.validate().map_err(|e| e.to_string())?;
            if v.count != v.config.count() {
                return Err(format!(
                    "the manifest records {} views, but its {:?} layout renders {}",
                    v.count,
                    v.config.layout,
                    v.config.count()
                ));
            }
        }
        if self.columns != self.descriptors.columns() {
            return Err(
                "the manifest's columns are not those its descriptor settings compute".into(),
            );
        }
        Ok(())
    }
}

/// Test rows whose mesh file is byte for byte a training row's of the same class (one content
/// hash in `cache`), as (test path, a training path with the same bytes), in table order: a
/// score on them measures recall of the training set, not generalisation (a file copied into
/// both splits, or twice into one flat class folder).
pub fn test_copies_of_training(
    table: &FeatureTable,
    cache: &[CachedMesh],
) -> Vec<(String, String)> {
    use std::collections::HashMap;
    let hash = hashes(cache);
    let mut train: HashMap<(&str, &str), &str> = HashMap::new();
    for r in table.rows.iter().filter(|r| r.split == Split::Train) {
        if let Some(h) = hash.get(r.path.as_str()) {
            train
                .entry((h, r.class.as_str()))
                .or_insert(r.path.as_str());
        }
    }
    table
        .rows
        .iter()
        .filter(|r| r.split == Split::Test)
        .filter_map(|r| {
            let t = train.get(&(*hash.get(r.path.as_str())?, r.class.as_str()))?;
            Some((r.path.clone(), t.to_string()))
        })
        .collect()
}

/// Each row's content hash, by path.
fn hashes(cache: &[CachedMesh]) -> std::collections::HashMap<&str, &str> {
    cache
        .iter()
        .map(|c| (c.path.as_str(), c.hash.as_str()))
        .collect()
}

/// Rows whose mesh file is byte for byte that of a row of another class, in any split, as
/// (path, class, the other path, its class), in table order: one shape with two labels, which
/// no model can get right both times.
pub fn label_conflicts(
    table: &FeatureTable,
    cache: &[CachedMesh],
) -> Vec<(String, String, String, String)> {
    use std::collections::HashMap;
    let hash = hashes(cache);
    let mut first: HashMap<&str, &Row> = HashMap::new();
    let mut out = Vec::new();
    for r in &table.rows {
        let Some(h) = hash.get(r.path.as_str()) else {
            continue;
        };
        match first.get(h) {
            Some(f) if f.class != r.class => out.push((
                r.path.clone(),
                r.class.clone(),
                f.path.clone(),
                f.class.clone(),
            )),
            Some(_) => {}
            None => {
                first.insert(h, r);
            }
        }
    }
    out
}

/// The warning for [`test_copies_of_training`]'s pairs, naming the first few; `None` for none.
pub fn test_copies_warning(copies: &[(String, String)]) -> Option<String> {
    let (test, train) = copies.first()?;
    Some(format!(
        "{} test mesh(es) are byte for byte training meshes of their class (such as {test} = {train}): scores on them measure memory of the training set, not generalisation; remove the copies from one split",
        copies.len()
    ))
}

/// What a user should know about a whole table before reading a score trained on it: test
/// meshes that are copies of training meshes, one file under two classes, and classes that
/// have no test meshes (their recall is not measured) or no training meshes (no model can
/// predict them). One message each, naming the first few.
pub fn dataset_warnings(table: &FeatureTable, cache: &[CachedMesh]) -> Vec<String> {
    let mut out: Vec<String> = test_copies_warning(&test_copies_of_training(table, cache))
        .into_iter()
        .collect();
    let conflicts = label_conflicts(table, cache);
    if let Some((p, c, q, d)) = conflicts.first() {
        out.push(format!(
            "{} mesh file(s) are byte for byte a file of another class (such as {p} in {c} = {q} in {d}): one shape with two labels, which no model can get right both times; keep each shape in one class",
            conflicts.len()
        ));
    }
    let mut counts: std::collections::BTreeMap<&str, [usize; 2]> = Default::default();
    for r in &table.rows {
        counts.entry(&r.class).or_default()[usize::from(r.split == Split::Test)] += 1;
    }
    let list = |which: usize| -> Vec<String> {
        counts
            .iter()
            .filter(|(_, n)| n[which] == 0)
            .map(|(c, n)| format!("{c} ({} {})", n[1 - which], ["test", "training"][which]))
            .collect()
    };
    let named = |v: &[String]| {
        let shown = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        match v.len() {
            n if n > 5 => format!("{shown} and {} more", n - 5),
            _ => shown,
        }
    };
    let no_test = list(1);
    // A table with no test rows at all is refused by `train`, which says so; only a gap
    // beside other classes' test meshes is news.
    if !no_test.is_empty() && no_test.len() < counts.len() {
        out.push(format!(
            "{} class(es) have no test meshes: {}; their recall is not measured and the test scores say nothing of them (too few meshes for the 20% held out, or the only test meshes failed to load: give them more meshes, or a test/ folder)",
            no_test.len(),
            named(&no_test)
        ));
    }
    let no_train = list(0);
    if !no_train.is_empty() && no_train.len() < counts.len() {
        out.push(format!(
            "{} class(es) have no training meshes: {}; no model learns them, so each of their test meshes is scored wrong",
            no_train.len(),
            named(&no_train)
        ));
    }
    out
}

/// Completes a commit of a `features` run that was killed while replacing the table, cache and
/// manifest (see [`crate::io::commit_files`]), so they are read as one generation.
pub fn finish_interrupted_write(dir: &Path) -> Result<(), FeatureError> {
    if !crate::io::has_journal(dir) {
        return Ok(());
    }
    let _lock = crate::io::FolderLock::acquire(dir).map_err(|e| {
        fmt_err(
            dir,
            format!("a `shapeclf features` run was interrupted while writing here: {e}"),
        )
    })?;
    crate::io::recover(dir).map_err(|source| FeatureError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Whether the table in `dir` is byte for byte the one `manifest` was written with; `None`
/// when the manifest records no hash (written by an older shapeclf) or the table is unreadable.
pub fn table_matches_manifest(dir: &Path, manifest: &Manifest) -> Option<bool> {
    let want = manifest.table_hash.as_ref()?;
    let bytes = std::fs::read(dir.join(manifest.files().table)).ok()?;
    Some(hash_hex(&bytes) == *want)
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: crate::dataset::ContentHasher,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// [`read_folder`], also saying whether the table is byte for byte the one the manifest was
/// written with ([`table_matches_manifest`]), hashed while it is parsed: the table is read once.
pub fn read_folder_checked(
    dir: &Path,
) -> Result<(FeatureTable, Manifest, Option<bool>), FeatureError> {
    finish_interrupted_write(dir)?;
    read_part_checked(dir, MANIFEST_FILE)
}

/// [`read_folder_checked`] for the generation whose manifest is `manifest_file` in `dir`
/// (`manifest.json`, or a shard's part manifest), with the table the manifest names (CSV or
/// Parquet). It completes no interrupted commit: the caller has, or holds the part's lock.
pub fn read_part_checked(
    dir: &Path,
    manifest_file: &str,
) -> Result<(FeatureTable, Manifest, Option<bool>), FeatureError> {
    let mpath = dir.join(manifest_file);
    let manifest = Manifest::read(&mpath)?;
    let files = manifest.files();
    if files.manifest != manifest_file {
        return Err(fmt_err(
            &mpath,
            match manifest.shard {
                Some(s) => format!(
                    "describes shard {s} of a sharded run, not this folder: run `shapeclf merge {}` to combine the shards",
                    dir.display()
                ),
                None => "describes a whole folder, not a shard's part".to_string(),
            },
        ));
    }
    let tpath = dir.join(&files.table);
    let io = |source| FeatureError::Io {
        path: tpath.clone(),
        source,
    };
    let file = std::fs::File::open(&tpath).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let (table, hash) = match manifest.table_format {
        TableFormat::Csv => {
            let mut reader = HashingReader {
                inner: std::io::BufReader::new(file),
                hasher: crate::dataset::ContentHasher::new(len),
            };
            let table = FeatureTable::parse_csv(&mut reader, &tpath)?;
            (table, reader.hasher.finish())
        }
        TableFormat::Parquet => {
            // Parquet is read from its footer backwards: it is held whole (its real size,
            // not a size it claims), hashed, then parsed.
            let bytes = parquet_table::read_whole(file, len, &tpath)?;
            let hash = crate::dataset::content_hash(&bytes);
            (FeatureTable::parse_parquet(bytes, &tpath)?, hash)
        }
    };
    if table.columns != manifest.columns {
        return Err(fmt_err(
            &tpath,
            "columns differ from those the manifest records: table and manifest are from different runs",
        ));
    }
    let intact = manifest
        .table_hash
        .as_ref()
        .map(|want| format!("{hash:016x}") == *want);
    Ok((table, manifest, intact))
}

/// Reads a features folder's table and manifest and checks they agree with each other.
pub fn read_folder(dir: &Path) -> Result<(FeatureTable, Manifest), FeatureError> {
    read_folder_checked(dir).map(|(t, m, _)| (t, m))
}

#[cfg(test)]
mod tests;
