//! `shapeclf merge`: the parts a sharded `features` run left in one folder, combined into the
//! table, cache and manifest one unsharded run with the same seed writes.
//!
//! What "the same" means: `descriptors.csv` (or `.parquet`) and `mesh_cache.json` byte for
//! byte, and `manifest.json` byte for byte except in the fields that differ between any two
//! unsharded runs of one command, the ones that describe the run rather than the table:
//! `wall_seconds` and `threads` (the merge writes the largest of the parts': the array's wall
//! time when its tasks ran side by side, and the most threads one task used) and
//! `counts.reused` (how a run came by its rows; 0 in a merge, as in an uninterrupted run). So
//! a merge of parts of which some were killed and rerun is the same as one of parts that were
//! not, and [`run_fields_cleared`] sets those fields alike for a comparison.

use std::path::{Path, PathBuf};

use crate::extract::CachedMesh;
use crate::features::{Counts, FeatureTable, Manifest, read_part_checked};
use crate::shard::Shard;

/// Why a merge refused to write.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The folder has no shard parts.
    #[error(
        "{0} holds no shard parts (manifest.shard-I-of-N.json): run `shapeclf features --shard I/N --out` into it first"
    )]
    NoParts(PathBuf),
    /// Parts made with different settings, named with what differs.
    #[error("refusing to merge parts made differently:\n  {}", .0.join("\n  "))]
    Mismatch(Vec<String>),
    /// Shards that are missing or unfinished (without `--allow-missing`).
    #[error(
        "{} of {count} shards missing or unfinished, nothing written (rerun them, or merge what is there with --allow-missing):\n  {}",
        .missing.len(), .missing.join("\n  ")
    )]
    Missing {
        /// How many shards the parts say there are.
        count: u32,
        /// One line per missing shard.
        missing: Vec<String>,
    },
    /// A part could not be read, or does not hold what its manifest says.
    #[error("{0}")]
    Part(String),
    /// The folder is locked by a running shard or another merge.
    #[error(transparent)]
    Lock(#[from] crate::io::LockError),
    /// Writing the merged files failed.
    #[error("cannot write the merged table into {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct MergeReport {
    /// The shards merged.
    pub merged: Vec<Shard>,
    /// Shards left out (only with `allow_missing`): one line each, saying why.
    pub missing: Vec<String>,
    /// The merged manifest, as written (its hashes filled in).
    pub manifest: Manifest,
    /// Interrupted commits completed and stray temporary files removed before merging.
    pub recovered: crate::io::Recovery,
}

/// The fields of a manifest that describe a run rather than its table (see the module
/// documentation), set to fixed values: two manifests of the same table then serialise to the
/// same bytes.
pub fn run_fields_cleared(m: &Manifest) -> Manifest {
    let mut m = m.clone();
    m.wall_seconds = 0.0;
    m.threads = 0;
    m.counts.reused = 0;
    m
}

/// The settings a part was made with that must agree for parts to merge, each named.
fn settings(m: &Manifest) -> Vec<(&'static str, String)> {
    vec![
        ("tool", m.tool.clone()),
        ("shapeclf version", m.tool_version.clone()),
        ("format version", m.format_version.to_string()),
        ("dataset", m.dataset.clone()),
        ("seed", m.seed.to_string()),
        ("descriptor parameters", format!("{:?}", m.descriptors)),
        ("columns", m.columns.join(",")),
        (
            "views",
            format!(
                "{:?}",
                m.views
                    .as_ref()
                    .map(|v| (v.config, v.count, v.grid_columns, &v.folder, &v.naming))
            ),
        ),
        ("table format", format!("{:?}", m.table_format)),
        ("shard count", m.shard.map_or(0, |s| s.count).to_string()),
    ]
}

/// Merges the shard parts in `dir` into its `descriptors.csv` (or `.parquet`),
/// `mesh_cache.json` and `manifest.json`, written as one generation. Refuses, writing nothing,
/// when parts were made with different settings (naming each difference), when a part's table
/// or cache is not the one its manifest records, when a part holds a row of another shard, or
/// (unless `allow_missing`) when a shard is missing or was interrupted. The parts stay, so a
/// shard can be rerun and the merge repeated. Takes the folder's lock: no shard may be running.
pub fn merge(dir: &Path, allow_missing: bool) -> Result<MergeReport, MergeError> {
    // Nothing is written, not even the lock file, into a folder that holds no parts (a user's
    // folder, a typo): the lock would create it or leave a file among their own.
    if !dir.is_dir() || crate::shard::parts_in(dir).is_empty() {
        return Err(MergeError::NoParts(dir.to_path_buf()));
    }
    let _lock = crate::io::FolderLock::acquire(dir)?;
    // With the folder's lock held exclusively, no shard is live: every journal can be
    // completed and every stray temporary (of any shard) removed.
    let recovered = crate::io::recover(dir)
        .map_err(|e| MergeError::Part(format!("cannot tidy {}: {e}", dir.display())))?;
    let shards = crate::shard::parts_in(dir);
    if shards.is_empty() {
        return Err(MergeError::NoParts(dir.to_path_buf()));
    }
    let mut parts = Vec::with_capacity(shards.len());
    let mut problems = Vec::new();
    for s in &shards {
        let name = s.manifest_file();
        match Manifest::read(&dir.join(&name)) {
            Ok(m) if m.shard == Some(*s) => parts.push((*s, m)),
            Ok(m) => problems.push(format!(
                "{name}: describes {}, not shard {s}",
                m.shard
                    .map_or("a whole folder".to_string(), |o| format!("shard {o}"))
            )),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some((first, reference)) = parts.first() {
        let want = settings(reference);
        for (s, m) in &parts[1..] {
            for ((what, a), (_, b)) in settings(m).iter().zip(&want) {
                if a != b {
                    problems.push(format!(
                        "{}: {what} {a}, but {}: {what} {b}",
                        s.manifest_file(),
                        first.manifest_file()
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(MergeError::Mismatch(problems));
    }
    let count = parts[0].0.count;
    let mut missing = Vec::new();
    let mut complete = Vec::new();
    for index in 0..count {
        match parts.iter().find(|(s, _)| s.index == index) {
            None => missing.push(format!(
                "shard {index}/{count}: no {}",
                Shard { index, count }.manifest_file()
            )),
            Some((s, m)) if m.counts.not_reached > 0 => missing.push(format!(
                "shard {s}: interrupted with {} meshes not reached (rerun it to finish)",
                m.counts.not_reached
            )),
            Some(p) => complete.push(p),
        }
    }
    if !missing.is_empty() && !allow_missing {
        return Err(MergeError::Missing { count, missing });
    }
    if complete.is_empty() {
        return Err(MergeError::Part(format!(
            "{}: no finished shard to merge",
            dir.display()
        )));
    }
    let reference = &complete[0].1;
    let mut table = FeatureTable {
        columns: reference.columns.clone(),
        rows: Vec::new(),
    };
    let mut cache: Vec<CachedMesh> = Vec::new();
    let mut merged = reference.clone();
    merged.shard = None;
    merged.counts = Counts::default();
    merged.sdf = Default::default();
    merged.triangles = 0;
    merged.degenerate_dropped = 0;
    merged.meshes_flipped = 0;
    merged.threads = 0;
    merged.wall_seconds = 0.0;
    merged.failed = Vec::new();
    merged.table_hash = None;
    merged.cache_hash = None;
    if let Some(v) = &mut merged.views {
        v.rays = 0;
    }
    for (s, m) in &complete {
        let part = |msg: String| MergeError::Part(format!("{}: {msg}", s.manifest_file()));
        let (t, _, intact) = read_part_checked(dir, &s.manifest_file())
            .map_err(|e| MergeError::Part(e.to_string()))?;
        let files = m.files();
        if intact != Some(true) {
            return Err(part(format!(
                "{} is not the table this manifest was written with",
                files.table
            )));
        }
        let cache_bytes = std::fs::read(dir.join(&files.cache))
            .map_err(|e| part(format!("cannot read {}: {e}", files.cache)))?;
        if m.cache_hash.as_deref() != Some(crate::features::hash_hex(&cache_bytes).as_str()) {
            return Err(part(format!(
                "{} is not the cache this manifest was written with",
                files.cache
            )));
        }
        let c: Vec<CachedMesh> = serde_json::from_slice(&cache_bytes)
            .map_err(|e| part(format!("{}: {e}", files.cache)))?;
        if let Some(r) = t.rows.iter().find(|r| !s.contains(&r.path)) {
            return Err(part(format!(
                "holds {}, a mesh of shard {}/{}",
                r.path,
                crate::shard::shard_of(&r.path, s.count),
                s.count
            )));
        }
        if t.rows.len() != m.counts.ok {
            return Err(part(format!(
                "{} rows in {}, the manifest counts {}",
                t.rows.len(),
                files.table,
                m.counts.ok
            )));
        }
        table.rows.extend(t.rows);
        cache.extend(c);
        merged.counts.found += m.counts.found;
        merged.counts.ok += m.counts.ok;
        merged.counts.failed += m.counts.failed;
        merged.sdf.add(&m.sdf);
        merged.triangles += m.triangles;
        merged.degenerate_dropped += m.degenerate_dropped;
        merged.meshes_flipped += m.meshes_flipped;
        merged.threads = merged.threads.max(m.threads);
        merged.wall_seconds = merged.wall_seconds.max(m.wall_seconds);
        merged.failed.extend(m.failed.iter().cloned());
        if let (Some(v), Some(pv)) = (&mut merged.views, &m.views) {
            v.rays += pv.rays;
        }
    }
    table.rows.sort_by(|a, b| a.path.cmp(&b.path));
    cache.sort_by(|a, b| a.path.cmp(&b.path));
    merged.failed.sort_by(|a, b| a.path.cmp(&b.path));
    merged.classes = table.classes();
    crate::extract::write_generation(dir, &table, &cache, &merged)
        .map_err(|e| MergeError::Write(dir.to_path_buf(), e))?;
    let manifest = Manifest::read(&dir.join(crate::features::MANIFEST_FILE))
        .map_err(|e| MergeError::Part(e.to_string()))?;
    Ok(MergeReport {
        merged: complete.iter().map(|(s, _)| *s).collect(),
        missing,
        manifest,
        recovered,
    })
}
