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

use crate::features::CachedMesh;
use crate::features::{Counts, FeatureTable, Manifest, ShardLeftOut, read_part_checked};
use crate::shard::Shard;

mod settings;

/// Most lines of a list (missing shards) an error shows; the rest are counted.
const MAX_LISTED: usize = 10;

/// `lines`, at most [`MAX_LISTED`] of them, the rest counted, each on its own indented line.
fn listed(lines: &[String]) -> String {
    let mut out = lines
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    if lines.len() > MAX_LISTED {
        out.push_str(&format!("\n  and {} more", lines.len() - MAX_LISTED));
    }
    out
}

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
    /// Shards that are missing or unfinished (without `--allow-missing`), at most ten listed.
    #[error(
        "{} of {count} shards missing or unfinished, nothing written (rerun them, or merge what is there with --allow-missing):\n  {}",
        .missing.len(), listed(.missing)
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
    /// Shards left out or merged unfinished (only with `allow_missing`), as the merged
    /// manifest records them: one line each, saying why and what to do.
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

/// Merges the shard parts in `dir` into its `descriptors.csv` (or `.parquet`),
/// `mesh_cache.json` and `manifest.json`, written as one generation. Refuses, writing nothing,
/// when parts were made with different settings (naming each difference), when a part's table
/// or cache is not the one its manifest records, when a part holds a row of another shard, or
/// (unless `allow_missing`) when a shard is missing or was interrupted. Parts agree when they
/// saw the same dataset listing ([`crate::dataset::Listing`]), seed, `--max-faces`, descriptor
/// and view settings, table format and shard count. With `allow_missing`, an interrupted
/// part's finished rows and every part's failures are merged, and the merged manifest records
/// each shard left out or unfinished (`shards_left_out`). An empty part (no mesh of its shard,
/// or all of them failed) merges like any other; a merge with no row at all is refused. The
/// parts stay, so a shard can be rerun and the merge repeated. Takes the folder's lock: no
/// shard may be running.
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
    problems.extend(settings::mismatches(dir, &parts));
    if !problems.is_empty() {
        return Err(MergeError::Mismatch(problems));
    }
    let count = parts[0].0.count;
    let mut missing = Vec::new();
    let mut left_out = Vec::new();
    let mut complete = Vec::new();
    for index in 0..count {
        let shard = Shard { index, count };
        match parts.iter().find(|(s, _)| s.index == index) {
            None => {
                let why = format!("no {}", shard.manifest_file());
                missing.push(format!("shard {shard}: {why}"));
                left_out.push(ShardLeftOut {
                    shard: shard.to_string(),
                    reason: why,
                });
            }
            Some(p) if p.1.counts.not_reached > 0 => {
                // Its finished rows were computed from the same inputs and settings (checked
                // above): with --allow-missing they are kept, and the gap recorded.
                missing.push(format!(
                    "shard {shard}: interrupted with {} meshes not reached (rerun it to finish)",
                    p.1.counts.not_reached
                ));
                left_out.push(ShardLeftOut {
                    shard: shard.to_string(),
                    reason: format!(
                        "interrupted with {} meshes not reached; its {} finished rows are merged",
                        p.1.counts.not_reached, p.1.counts.ok
                    ),
                });
                complete.push(p);
            }
            Some(p) => complete.push(p),
        }
    }
    if !missing.is_empty() && !allow_missing {
        return Err(MergeError::Missing { count, missing });
    }
    if complete.is_empty() {
        return Err(MergeError::Part(format!(
            "{}: no shard part to merge",
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
    merged.shards_left_out = left_out;
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
        merged.counts.not_reached += m.counts.not_reached;
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
    if table.rows.is_empty() {
        return Err(MergeError::Part(format!(
            "no merged shard holds a row ({} meshes failed, {} not reached); nothing written: the parts' manifests say why",
            merged.counts.failed, merged.counts.not_reached
        )));
    }
    table.rows.sort_by(|a, b| a.path.cmp(&b.path));
    cache.sort_by(|a, b| a.path.cmp(&b.path));
    merged.failed.sort_by(|a, b| a.path.cmp(&b.path));
    merged.classes = table.classes();
    crate::extract::write_generation(dir, &table, &cache, &merged)
        .map_err(|e| MergeError::Write(dir.to_path_buf(), e))?;
    let manifest = Manifest::read(&dir.join(crate::features::MANIFEST_FILE))
        .map_err(|e| MergeError::Part(e.to_string()))?;
    let missing = manifest
        .shards_left_out
        .iter()
        .map(|l| {
            if l.reason.starts_with("interrupted") {
                format!(
                    "shard {}: {} (rerun it, then merge again)",
                    l.shard, l.reason
                )
            } else {
                format!(
                    "left out shard {}: {} (run it, then merge again)",
                    l.shard, l.reason
                )
            }
        })
        .collect();
    Ok(MergeReport {
        merged: complete.iter().map(|(s, _)| *s).collect(),
        missing,
        manifest,
        recovered,
    })
}
