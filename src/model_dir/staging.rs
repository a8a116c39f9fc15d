//! Replacing a model folder safely: only a folder `train` wrote may be replaced, and a new one is
//! built beside it and swapped in whole.

use std::path::{Path, PathBuf};

use super::CONFIG_FILE;

/// Why a folder may not be replaced by a new model folder.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// It holds something other than a shapeclf model.
    #[error(
        "{0} is not empty and is not a shapeclf model folder (no config.json written by `shapeclf train`); refusing to replace it: choose a new or empty folder"
    )]
    NotModelFolder(PathBuf),
    /// It is a file, not a folder.
    #[error("{0} exists and is not a folder; refusing to replace it")]
    NotAFolder(PathBuf),
}

/// Whether a folder is one `shapeclf train` wrote: its `config.json` carries shapeclf's tool
/// name and a format version (any version, so an old model folder can be replaced by a new).
pub fn is_model_folder(dir: &Path) -> bool {
    crate::io::shapeclf_json(&dir.join(CONFIG_FILE))
        .is_some_and(|v| v.get("format_version").is_some_and(|f| f.is_u64()))
}

/// Checks that `out` may be replaced by a model folder: it is missing, an empty folder, or a
/// model folder. Anything else (a user's data, a feature folder, a file) is refused untouched.
pub fn check_replaceable(out: &Path) -> Result<(), ReplaceError> {
    use crate::io::OutputTarget as T;
    // A link would be replaced, not the folder it points to.
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ReplaceError::NotAFolder(out.to_path_buf()));
    }
    match crate::io::output_target(out) {
        T::Missing | T::Empty => Ok(()),
        T::NotAFolder => Err(ReplaceError::NotAFolder(out.to_path_buf())),
        T::Occupied if is_model_folder(out) => Ok(()),
        T::Occupied => Err(ReplaceError::NotModelFolder(out.to_path_buf())),
    }
}

/// Writes a model folder the way a kill can never half-do: `write` fills a fresh hidden
/// staging folder beside `out`, which then replaces `out` whole (the previous folder moved
/// aside first and removed last). `out` is checked to be replaceable before and again just
/// before the swap; on any error the staging folder is removed and `out` is untouched.
pub fn write_staged<E: From<CommitError>>(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    Staging::begin(out)?.commit(write)
}

/// A model folder being built: a fresh hidden folder beside its target, which a training run
/// fills as it goes (its epochs' log first) and [`Staging::commit`] swaps in whole. Dropped
/// without a commit (an error, a diverged training), it is removed.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
    discarded: Vec<PathBuf>,
    /// Dropped after the folder is committed, kept or removed.
    _claim: Claim,
}

/// The staging folders this process is filling. Two trainings of one folder in one process
/// (two threads of a Python program) would share a staging folder's name, and the second would
/// remove the first one's work: it is refused instead.
static IN_USE: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A staging folder claimed by this process ([`IN_USE`]) until dropped.
#[derive(Debug)]
struct Claim(PathBuf);

/// This process's staging folder for `out`, as [`IN_USE`] names it.
fn claim_key(out: &Path) -> PathBuf {
    let (parent, name) = parent_and_name(out);
    let parent = std::fs::canonicalize(&parent).unwrap_or(parent);
    parent.join(format!(".{name}.staging-{}", std::process::id()))
}

/// Fails with [`CommitError::InUse`] when another run of this process is writing `out`: checked
/// before a training's long preparation, so that a second one is refused at once (the staging
/// folder's claim refuses it anyway).
pub fn check_not_in_use(out: &Path) -> Result<(), CommitError> {
    let key = claim_key(out);
    if IN_USE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&key)
    {
        return Err(CommitError::InUse(out.to_path_buf()));
    }
    Ok(())
}

impl Claim {
    /// Claims this process's staging folder for `out` (whose parent exists); `InUse` when
    /// another run of this process holds it.
    fn new(out: &Path) -> Result<Claim, CommitError> {
        let key = claim_key(out);
        let mut held = IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        if !held.insert(key.clone()) {
            return Err(CommitError::InUse(out.to_path_buf()));
        }
        Ok(Claim(key))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// The folder inside a staging folder where training keeps its checkpoints (removed before the
/// folder becomes the model folder).
pub const CHECKPOINT_DIR: &str = "checkpoint";

impl Staging {
    /// Checks that `out` may be replaced and makes the staging folder beside it. Staging
    /// folders that killed runs left beside `out` are removed; those that held checkpoints are
    /// listed by [`Staging::discarded_checkpoints`].
    pub fn begin(out: &Path) -> Result<Staging, CommitError> {
        check_replaceable(out)?;
        let io = |e| CommitError::Io(out.to_path_buf(), e);
        std::fs::create_dir_all(parent_and_name(out).0).map_err(io)?;
        let claim = Claim::new(out)?;
        let (dir, discarded) = stage_dir(out).map_err(io)?;
        Ok(Staging {
            dir,
            out: out.to_path_buf(),
            committed: false,
            discarded,
            _claim: claim,
        })
    }

    /// The staging folder of an interrupted training of `out` that can be resumed: one a
    /// process no longer running left, with a [`CHECKPOINT_DIR`]; the newest when there are
    /// several.
    pub fn resumable(out: &Path) -> Option<PathBuf> {
        let (parent, name) = parent_and_name(out);
        stale_staging(&parent, &name)
            .into_iter()
            .filter(|d| d.join(CHECKPOINT_DIR).is_dir())
            .max_by_key(|d| {
                std::fs::metadata(d.join(CHECKPOINT_DIR))
                    .and_then(|m| m.modified())
                    .ok()
            })
    }

    /// Takes over `dir` (from [`Staging::resumable`]) as this process's staging folder for
    /// `out`, checked to be replaceable; the other stale staging folders are removed.
    pub fn adopt(out: &Path, dir: &Path) -> Result<Staging, CommitError> {
        check_replaceable(out)?;
        let io = |e| CommitError::Io(out.to_path_buf(), e);
        let (parent, name) = parent_and_name(out);
        let claim = Claim::new(out)?;
        let mine = parent.join(format!(".{name}.staging-{}", std::process::id()));
        if mine.exists() && mine != dir {
            std::fs::remove_dir_all(&mine).map_err(io)?;
        }
        // A rename is atomic: of two runs resuming the same folder at once, one gets it.
        std::fs::rename(dir, &mine).map_err(io)?;
        let discarded = remove_stale_staging(&parent, &name);
        Ok(Staging {
            dir: mine,
            out: out.to_path_buf(),
            committed: false,
            discarded,
            _claim: claim,
        })
    }

    /// Staging folders with checkpoints of interrupted trainings that were removed when this
    /// one began (they could have been resumed).
    pub fn discarded_checkpoints(&self) -> &[PathBuf] {
        &self.discarded
    }

    /// The staging folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Lets `write` finish the folder, then swaps it in for the target (checked again to be
    /// replaceable just before). On any error the target is untouched.
    pub fn commit<E: From<CommitError>>(
        mut self,
        write: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(), E> {
        write(&self.dir)?;
        check_replaceable(&self.out).map_err(CommitError::Replace)?;
        commit_dir(&self.dir, &self.out).map_err(|e| CommitError::Io(self.out.clone(), e))?;
        self.committed = true;
        Ok(())
    }
}

/// The suffix of a staging folder its training left when stopped by its caller
/// ([`Staging::keep`]): resumable at once, also by the process that stopped it.
const STOPPED: &str = ".stopped";

/// The suffix of a replaced model folder being removed after a commit: never put back.
const TRASH: &str = ".trash";

impl Staging {
    /// Leaves what the staging folder holds (an interrupted training's checkpoints) for
    /// [`Staging::resumable`] to find, also in this process, which goes on running; the target
    /// is untouched.
    /// Returns where it was kept, or the error that left it to be removed.
    pub fn keep(mut self) -> std::io::Result<PathBuf> {
        let kept = with_suffix(&self.dir, STOPPED);
        if kept.exists() {
            std::fs::remove_dir_all(&kept)?;
        }
        std::fs::rename(&self.dir, &kept)?;
        self.committed = true;
        Ok(kept)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Why a staged model folder could not replace its target.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The target became something that may not be replaced.
    #[error(transparent)]
    Replace(#[from] ReplaceError),
    /// Creating the staging folder or swapping it in failed.
    #[error("replacing {0} with the new folder: {1}")]
    Io(PathBuf, std::io::Error),
    /// Another run of this process is writing the same folder.
    #[error(
        "{0} is being trained by another run in this process: wait for it to end, or write another folder"
    )]
    InUse(PathBuf),
}

/// `path` with `suffix` added to its name (`with_extension` would replace what follows the
/// name's last dot: `.m.staging-7` is `.m` with the extension `staging-7`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The folder `out` is in, and its name.
fn parent_and_name(out: &Path) -> (PathBuf, String) {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (parent, name)
}

/// A fresh, empty hidden folder beside `out` to build a model folder in, and the stale staging
/// folders with checkpoints that were removed to make way.
fn stage_dir(out: &Path) -> std::io::Result<(PathBuf, Vec<PathBuf>)> {
    let (parent, name) = parent_and_name(out);
    std::fs::create_dir_all(&parent)?;
    let discarded = remove_stale_staging(&parent, &name);
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    Ok((staging, discarded))
}

/// `.NAME.staging-PID` folders (and their `.old` twins) that a killed `train` left beside
/// `NAME` (process PID is no longer running), and `.NAME.staging-PID.stopped` folders that a
/// stopped one left ([`Staging::keep`]).
fn stale_staging(parent: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.staging-");
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| {
            let file_name = e.file_name();
            let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                return false;
            };
            // A folder its run left when stopped is no longer in use, whoever stopped it.
            if let Some(pid) = rest.strip_suffix(STOPPED) {
                return pid.parse::<u32>().is_ok() && e.file_type().is_ok_and(|t| t.is_dir());
            }
            let pid = [".old", TRASH]
                .iter()
                .find_map(|suffix| rest.strip_suffix(suffix))
                .unwrap_or(rest);
            pid.parse::<u32>()
                .is_ok_and(|pid| pid != std::process::id() && !crate::io::process_alive(pid))
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect()
}

/// Removes the stale staging folders beside `NAME` ([`stale_staging`]); returns those that
/// held checkpoints.
fn remove_stale_staging(parent: &Path, name: &str) -> Vec<PathBuf> {
    let mut discarded = Vec::new();
    let out = parent.join(name);
    for dir in stale_staging(parent, name) {
        // A run killed between moving the previous folder aside and moving the new one in
        // left no folder at `out`: the previous one, whole (its removal renames it first),
        // goes back. Should that fail, it is left where it is rather than removed.
        if dir.extension().is_some_and(|e| e == "old")
            && std::fs::symlink_metadata(&out).is_err()
            && is_model_folder(&dir)
        {
            let _ = std::fs::rename(&dir, &out);
            continue;
        }
        let had_checkpoint = dir.join(CHECKPOINT_DIR).is_dir();
        if std::fs::remove_dir_all(&dir).is_ok() && had_checkpoint {
            discarded.push(dir);
        }
    }
    discarded
}

/// Moves the finished `staging` folder to `out`, the previous `out` aside first and removed last.
fn commit_dir(staging: &Path, out: &Path) -> std::io::Result<()> {
    if out.exists() {
        // `.NAME.staging-PID.old`: this process's own, which a later run puts back should this
        // one die between the two renames (`remove_stale_staging`).
        let (old, trash) = (with_suffix(staging, ".old"), with_suffix(staging, TRASH));
        for leftover in [&old, &trash] {
            if leftover.exists() {
                std::fs::remove_dir_all(leftover)?;
            }
        }
        std::fs::rename(out, &old)?;
        std::fs::rename(staging, out)?;
        // Renamed before it is removed, which takes a while: a removal cut short leaves a
        // folder that is never put back, only removed.
        std::fs::rename(&old, &trash)?;
        std::fs::remove_dir_all(&trash)
    } else {
        std::fs::rename(staging, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_is_staged_by_one_run_of_a_process_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("m");
        let first = Staging::begin(&out).unwrap();
        std::fs::write(first.path().join("epochs.csv"), "x").unwrap();
        // The same folder, spelled otherwise: refused, and the first run's work is untouched.
        let again = d.path().join(".").join("m");
        assert!(matches!(Staging::begin(&again), Err(CommitError::InUse(_))));
        assert!(matches!(
            check_not_in_use(&again),
            Err(CommitError::InUse(_))
        ));
        assert!(check_not_in_use(&d.path().join("n")).is_ok());
        assert!(first.path().join("epochs.csv").is_file());
        // Another folder beside it is free; the folder itself once the first run let go.
        drop(Staging::begin(&d.path().join("n")).unwrap());
        let kept = first.keep().unwrap();
        assert!(kept.to_string_lossy().ends_with(STOPPED) && kept.is_dir());
        assert_eq!(
            Staging::resumable(&out).as_deref(),
            None,
            "no checkpoint in it"
        );
        std::fs::create_dir(kept.join(CHECKPOINT_DIR)).unwrap();
        assert_eq!(Staging::resumable(&out), Some(kept.clone()));
        let adopted = Staging::adopt(&out, &kept).unwrap();
        assert!(matches!(Staging::begin(&out), Err(CommitError::InUse(_))));
        assert!(adopted.path().join("epochs.csv").is_file());
    }

    // Needs to tell that process 999999999 is not running.
    #[cfg(unix)]
    #[test]
    fn a_previous_folder_left_aside_by_a_killed_commit_is_put_back() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("m");
        // What a process killed between its two renames leaves: the previous model moved
        // aside under its (no longer running) process's name, and no `m`.
        let aside = d.path().join(".m.staging-999999999.old");
        std::fs::create_dir(&aside).unwrap();
        let config = r#"{"tool": "shapeclf", "format_version": 1}"#;
        std::fs::write(aside.join("config.json"), config).unwrap();
        let s = Staging::begin(&out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("config.json")).unwrap(),
            config
        );
        assert!(!aside.exists());
        drop(s);
        // With a folder at `m`, one left aside is removed.
        std::fs::create_dir(&aside).unwrap();
        drop(Staging::begin(&out).unwrap());
        assert!(!aside.exists() && out.join("config.json").is_file());
        // One whose removal was cut short (renamed first) is never put back, nor one that is
        // not a whole model folder.
        std::fs::remove_dir_all(&out).unwrap();
        let trash = d.path().join(".m.staging-999999999.trash");
        std::fs::create_dir(&trash).unwrap();
        std::fs::write(trash.join("config.json"), config).unwrap();
        std::fs::create_dir(&aside).unwrap();
        std::fs::write(aside.join("weights"), "half").unwrap();
        drop(Staging::begin(&out).unwrap());
        assert!(!out.exists() && !trash.exists() && !aside.exists());
    }

    #[test]
    fn a_commit_moves_the_previous_folder_aside_under_this_processs_name() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("v1.2");
        write_staged(&out, |dir: &Path| -> Result<(), CommitError> {
            let config = r#"{"tool": "shapeclf", "format_version": 1}"#;
            std::fs::write(dir.join(CONFIG_FILE), config)
                .map_err(|e| CommitError::Io(dir.into(), e))
        })
        .unwrap();
        let staging = Staging::begin(&out).unwrap();
        std::fs::write(staging.path().join("b"), "2").unwrap();
        let old = with_suffix(staging.path(), ".old");
        // A stray `.NAME.old` (where earlier builds put it) is someone else's: left alone.
        let stray = d.path().join(".v1.2.old");
        std::fs::create_dir(&stray).unwrap();
        staging.commit(|_| Ok::<(), CommitError>(())).unwrap();
        assert!(out.join("b").is_file() && !out.join(CONFIG_FILE).exists());
        assert!(!old.exists() && stray.is_dir());
    }

    proptest::proptest! {
        /// Whatever a folder holds, it is replaceable only when it is empty or carries a
        /// shapeclf model config: random files, random `config.json` contents and nested
        /// folders are all refused.
        #[test]
        fn only_empty_or_model_folders_are_replaceable(
            files in proptest::collection::vec(("[a-z.]{1,8}", proptest::collection::vec(proptest::num::u8::ANY, 0..16)), 0..5),
            config in proptest::option::of(0u8..4),
            sub in proptest::bool::ANY,
        ) {
            let d = tempfile::tempdir().unwrap();
            let dir = d.path().join("out");
            std::fs::create_dir(&dir).unwrap();
            for (name, bytes) in &files {
                if name != CONFIG_FILE && name != "." && name != ".." {
                    std::fs::write(dir.join(name), bytes).unwrap();
                }
            }
            if sub {
                std::fs::create_dir_all(dir.join("sub/x")).unwrap();
            }
            let cfg: Option<&str> = config.map(|c| match c {
                0 => r#"{"tool":"shapeclf","format_version":1}"#,
                1 => r#"{"tool":"other","format_version":1}"#,
                2 => r#"{"tool":"shapeclf"}"#,
                _ => "not json",
            });
            if let Some(c) = cfg {
                std::fs::write(dir.join(CONFIG_FILE), c).unwrap();
            }
            let empty = std::fs::read_dir(&dir).unwrap().next().is_none();
            let model = config == Some(0);
            proptest::prop_assert_eq!(check_replaceable(&dir).is_ok(), empty || model);
            // A file is never replaceable.
            let file = d.path().join("file");
            std::fs::write(&file, b"x").unwrap();
            proptest::prop_assert!(check_replaceable(&file).is_err());
        }
    }
}
