//! The output folder of a `features` run, writing a generation into it, and the whole run as
//! one call.

use super::*;
use crate::features::TableFormat;
use crate::features::part_files;
use crate::shard::Shard;

/// Why a folder cannot take a `features` run's output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The folder holds something else: nothing is written into it.
    #[error(
        "{0} is not empty and is not a shapeclf feature folder (it has no manifest.json written by shapeclf); refusing to write into it: choose a new or empty folder"
    )]
    NotFeatureFolder(PathBuf),
    /// The path is a file.
    #[error("{0} exists and is not a folder; refusing to replace it")]
    NotAFolder(PathBuf),
    /// Another run holds it, or it cannot be written.
    #[error(transparent)]
    Lock(#[from] crate::io::LockError),
    /// Recovering an interrupted earlier write failed.
    #[error("cannot tidy {0} after an interrupted run: {1}")]
    Recover(PathBuf, std::io::Error),
}

/// Whether `dir` may receive a `features` run's output: missing, empty, or a feature folder,
/// recognised by what it holds: a manifest written by shapeclf (the folder's or a shard
/// part's), or nothing but what a first run stopped before its first commit leaves (its lock,
/// journals and temporaries, and view images). A lock file alone proves nothing: `synth` leaves
/// one in the dataset it writes.
pub fn check_output_folder(dir: &Path) -> Result<(), OutputError> {
    use crate::io::OutputTarget as T;
    match crate::io::output_target(dir) {
        T::Missing | T::Empty => Ok(()),
        T::NotAFolder => Err(OutputError::NotAFolder(dir.to_path_buf())),
        T::Occupied
            if crate::io::shapeclf_json(&dir.join(MANIFEST_FILE)).is_some()
                || crate::shard::parts_in(dir)
                    .iter()
                    .any(|s| crate::io::shapeclf_json(&dir.join(s.manifest_file())).is_some())
                || only_unfinished_run(dir)
                || committing_here(dir) =>
        {
            Ok(())
        }
        T::Occupied => Err(OutputError::NotFeatureFolder(dir.to_path_buf())),
    }
}

/// Whether a commit journal of shapeclf's is in `dir`: another shard's first commit is moving its
/// table, cache and manifest into place this moment (or was killed doing so), so its table may
/// be there before its manifest. Without this a shard starting in that window took the folder
/// for someone else's and failed.
fn committing_here(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(crate::io::JOURNAL_FILE)
        })
    })
}

/// Whether `dir` holds only what a `features` run leaves before its first commit: shapeclf's
/// hidden files (`.shapeclf*`: locks, journals, temporaries) and a `views` folder of PNG images.
fn only_unfinished_run(dir: &Path) -> bool {
    fn pngs_only(d: &Path, depth: usize) -> bool {
        let Ok(rd) = std::fs::read_dir(d) else {
            return false;
        };
        rd.flatten().all(|e| {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            match e.file_type() {
                Ok(t) if t.is_dir() => depth < 64 && pngs_only(&p, depth + 1),
                Ok(t) if t.is_file() => {
                    name.ends_with(".png")
                        || (name.starts_with(".shapeclf-") && name.ends_with(".tmp"))
                }
                _ => false,
            }
        })
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().all(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if name == VIEWS_DIR && is_dir {
            pngs_only(&e.path(), 0)
        } else {
            name.starts_with(".shapeclf") && !is_dir
        }
    })
}

/// Gets `dir` ready for a run: checks it may be written ([`check_output_folder`]), locks it
/// against other runs for as long as the returned lock lives (found out up front, not after
/// every mesh is computed, when it is unwritable), and completes or clears what an interrupted
/// earlier run left (a half-done commit, stray temporary files).
pub fn prepare_output(
    dir: &Path,
) -> Result<(crate::io::FolderLock, crate::io::Recovery), OutputError> {
    check_output_folder(dir)?;
    let lock = crate::io::FolderLock::acquire(dir)?;
    let rec = crate::io::recover(dir).map_err(|e| OutputError::Recover(dir.to_path_buf(), e))?;
    Ok((lock, rec))
}

/// Holds a shard's part of an output folder: the folder's lock shared with the other shards
/// (so no unsharded run or merge writes meanwhile) and the shard's own lock (so the same shard
/// does not run twice). Released when dropped, or when the process dies.
#[derive(Debug)]
pub struct PartLock {
    _folder: crate::io::FolderLock,
    _own: crate::io::FolderLock,
}

/// [`prepare_output`] for one shard: checks `dir` may be written, takes the
/// shard's locks ([`PartLock`]) and completes or clears what an interrupted earlier run of the
/// same shard left. Other shards' files, live or not, are not touched.
pub fn prepare_part_output(
    dir: &Path,
    shard: Shard,
) -> Result<(PartLock, crate::io::Recovery), OutputError> {
    check_output_folder(dir)?;
    let folder = crate::io::FolderLock::acquire_shared(dir)?;
    let own = crate::io::FolderLock::acquire_named(dir, &shard.lock_file())?;
    let mut names: Vec<String> = Vec::new();
    for format in [TableFormat::Csv, TableFormat::Parquet] {
        let f = part_files(Some(shard), format);
        names.extend([f.table, f.cache, f.manifest]);
    }
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let journal = part_files(Some(shard), TableFormat::Csv).journal;
    let rec = crate::io::recover_part(dir, &journal, &names)
        .map_err(|e| OutputError::Recover(dir.to_path_buf(), e))?;
    Ok((
        PartLock {
            _folder: folder,
            _own: own,
        },
        rec,
    ))
}

/// Why a whole `features` run ([`run`]) wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The output folder cannot take the run's output.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The dataset or the parameters are unusable.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// Stopped (Ctrl-C) before any mesh finished, or before the rows the folder held were all
    /// checked: nothing is written, and the folder keeps its earlier generation.
    #[error(
        "interrupted before any new mesh finished; nothing written (the folder keeps what it held)"
    )]
    Interrupted,
    /// Every mesh failed.
    #[error("all {found} meshes failed; nothing written (first: {first}: {reason})")]
    AllFailed {
        /// Meshes found.
        found: usize,
        /// The first failed mesh.
        first: String,
        /// Why it failed.
        reason: String,
    },
    /// Writing the table, cache or manifest failed.
    #[error("writing features to {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// The whole `features` command as one call: checks and locks the output folder `out` (and
/// completes or undoes an interrupted earlier write), extracts every mesh under `root`, and
/// writes the table, cache and manifest as one generation. A run in which no mesh succeeded
/// writes nothing and is an error.
pub fn run(
    root: &Path,
    out: &Path,
    opts: &ExtractOptions,
    observer: &dyn Observer,
) -> Result<Extraction, RunError> {
    opts.validate()?;
    // A dataset folder that cannot be read, or holds no mesh where the layout reads, fails
    // before the output folder is made or locked, leaving nothing behind.
    dataset::check_not_empty(root).map_err(super::ExtractError::Dataset)?;
    // Checked, locked and tidied before any mesh is computed: an unwritable or foreign folder
    // is found now, not after an hour of work. A shard holds the folder shared and its own part
    // exclusively; an unsharded run holds the whole folder.
    let (_lock, recovered): (Box<dyn std::any::Any>, _) = match opts.shard {
        None => {
            let (l, r) = prepare_output(out)?;
            (Box::new(l), r)
        }
        Some(s) => {
            let (l, r) = prepare_part_output(out, s)?;
            (Box::new(l), r)
        }
    };
    if recovered.rolled_forward {
        observer.event(Event::Info(&format!(
            "finished writing {} (an earlier run was stopped while replacing its files)",
            out.display()
        )));
    }
    if recovered.removed > 0 {
        observer.event(Event::Info(&format!(
            "removed {} temporary file(s) an interrupted run left in {}",
            recovered.removed,
            out.display()
        )));
    }
    let threads = match opts.jobs.unwrap_or_else(rayon::current_num_threads).max(1) {
        1 => "1 thread".to_string(),
        n => format!("{n} threads"),
    };
    observer.event(Event::Info(&format!(
        "features: {} -> {} ({threads}, CPU ray casting with parry3d)",
        root.display(),
        out.display(),
    )));
    // While meshes are computed, what is done is written every so often, as a stopped run
    // writes it: a run killed outright resumes from there.
    let save = |ex: &Extraction| ex.write(out);
    let (ex, got) = super::extract_saving(root, opts, observer, Some(&save))?;
    let m = &ex.manifest;
    // Stopped before any mesh was reached or any row made, or before every row the folder
    // held was checked against its file (writing would drop the rest): the folder keeps what
    // it held.
    if m.counts.not_reached > 0 && (got.reached == 0 || m.counts.ok == 0 || got.unchecked > 0) {
        return Err(RunError::Interrupted);
    }
    // A shard with no rows (none of the meshes hashes to it, or all of them failed) still
    // writes its part, failures recorded: the merge needs every part.
    if m.counts.ok == 0 && m.shard.is_none() {
        let (first, reason) = m
            .failed
            .first()
            .map(|f| (f.path.clone(), f.error.clone()))
            .unwrap_or_default();
        return Err(RunError::AllFailed {
            found: m.counts.found,
            first,
            reason,
        });
    }
    ex.write(out)
        .map_err(|e| RunError::Write(out.to_path_buf(), e))?;
    // A shard, or a stopped run, sees part of the rows (a class could seem to lack test
    // meshes only because they were not reached): `train` checks the whole folder.
    if m.shard.is_none() && m.counts.not_reached == 0 {
        for w in crate::features::dataset_warnings(&ex.table, &ex.cache) {
            observer.event(Event::Warning(&w));
        }
    }
    Ok(ex)
}

impl Extraction {
    /// Writes `descriptors.csv` (or `.parquet`), `mesh_cache.json` and `manifest.json` into
    /// `dir` as one generation ([`crate::io::commit_files`]): a kill at any moment leaves the
    /// previous three or the new three, never a mix. The manifest records the hashes of the
    /// other two. A shard writes its part's three files under its own journal
    /// ([`crate::io::commit_part`]), touching no other shard's.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        write_generation(dir, &self.table, &self.cache, &self.manifest)
    }
}

/// Writes a table, its cache and its manifest (whose hashes of the other two are filled in)
/// into `dir` as one generation, under the names the manifest's shard and format give.
pub fn write_generation(
    dir: &Path,
    table: &FeatureTable,
    cache: &[CachedMesh],
    manifest: &Manifest,
) -> std::io::Result<()> {
    let files = manifest.files();
    let table = table.to_bytes(manifest.table_format)?;
    let cache = crate::io::json_bytes(&cache)?;
    let mut manifest = manifest.clone();
    manifest.table_hash = Some(crate::features::hash_hex(&table));
    manifest.cache_hash = Some(crate::features::hash_hex(&cache));
    let manifest_bytes = crate::io::json_bytes(&manifest)?;
    let all = [
        (files.table.as_str(), table),
        (files.cache.as_str(), cache),
        (files.manifest.as_str(), manifest_bytes),
    ];
    // The table of the other format, left by an earlier run with another `--format`, goes in
    // the same commit: no reader may find a stale table beside the current one.
    let stale: Vec<String> = [
        crate::features::TableFormat::Csv,
        crate::features::TableFormat::Parquet,
    ]
    .into_iter()
    .filter(|f| *f != manifest.table_format)
    .map(|f| crate::features::part_files(manifest.shard, f).table)
    .filter(|name| dir.join(name).exists())
    .collect();
    let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
    match manifest.shard {
        None => crate::io::commit_files_removing(dir, &all, &stale),
        Some(_) => crate::io::commit_part_removing(dir, &files.journal, &all, &stale),
    }
}

impl Extraction {
    /// The names of the files [`Extraction::write`] writes.
    pub fn files(&self) -> crate::features::PartFiles {
        self.manifest.files()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard starting while another shard's first commit has moved its table into place but
    /// not yet its manifest sees the commit's journal and goes ahead; the same table with no
    /// journal is someone else's file and is refused.
    #[test]
    fn a_folder_mid_commit_is_a_feature_folder() {
        let d = tempfile::tempdir().unwrap();
        let part = crate::features::part_files(
            Some(crate::shard::Shard::parse("1/2").unwrap()),
            crate::features::TableFormat::Csv,
        );
        std::fs::write(d.path().join(&part.table), "path,class,split,d2_00\n").unwrap();
        assert!(matches!(
            check_output_folder(d.path()),
            Err(OutputError::NotFeatureFolder(_))
        ));
        std::fs::write(d.path().join(&part.journal), "{}").unwrap();
        check_output_folder(d.path()).unwrap();
    }
}
