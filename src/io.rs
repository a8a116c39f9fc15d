//! Output that survives interruption: atomic single files, several files of one folder replaced
//! as one generation (a small redo journal), and a lock that keeps two runs out of one folder.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Prefix of every temporary file shapeclf writes: short, so a long target name never makes
/// the temporary name too long, and recognisable, so a later run can remove strays.
const TMP_PREFIX: &str = ".shapeclf-";
/// Suffix of those temporary files.
const TMP_SUFFIX: &str = ".tmp";
/// The journal of a multi-file commit in progress.
pub const JOURNAL_FILE: &str = ".shapeclf-commit";
/// The lock file of a folder a run is writing.
pub const LOCK_FILE: &str = ".shapeclf.lock";

/// Multi-file commits under way in this process (a count, as a library caller may commit from
/// several threads at once).
static COMMITTING: AtomicUsize = AtomicUsize::new(0);

/// Whether a multi-file commit is under way in this process, on any thread. A Ctrl-C handler
/// that would end the process at once waits for it instead: it takes milliseconds, and
/// finishing it saves a recovery step on the next run.
pub fn committing() -> bool {
    COMMITTING.load(Ordering::SeqCst) > 0
}

/// Counts one commit as under way while it lives, even when the commit unwinds.
struct Committing;

impl Committing {
    fn begin() -> Committing {
        COMMITTING.fetch_add(1, Ordering::SeqCst);
        Committing
    }
}

impl Drop for Committing {
    fn drop(&mut self) {
        COMMITTING.fetch_sub(1, Ordering::SeqCst);
    }
}

fn parent_or_dot(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Creates files readable by everyone the umask allows (as `File::create` does), not the
/// owner-only mode temporary files get by default.
fn tmp_builder() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(TMP_PREFIX).suffix(TMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b
}

/// Writes a file through a temporary sibling, flushed to disk, then renamed over `path`, so
/// readers see the old content or the new, never a mix.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_via_tmp(path, true, fill)
}

/// [`write_atomic`] without flushing to disk before the rename: a reader (or a rerun after a
/// crash or Ctrl-C) never sees part of the file under its name, but a power cut may lose it.
/// For files written by the thousand, such as `synth`'s meshes, where a sync each would cost
/// more than the writing.
pub fn write_whole(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_via_tmp(path, false, fill)
}

fn write_via_tmp(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent_or_dot(path);
    std::fs::create_dir_all(dir)?;
    let mut tmp = tmp_builder().tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    if sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    write_bytes_atomic(path, &json_bytes(value)?)
}

/// A value as pretty JSON with a final newline.
pub fn json_bytes<T: serde::Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    let mut s = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    s.push(b'\n');
    Ok(s)
}

fn staged_name(name: &str) -> String {
    format!("{TMP_PREFIX}{name}.next")
}

fn sync_dir(dir: &Path) {
    // Makes the renames durable where the platform allows opening a folder; best effort.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Replaces the files `files` (names inside `dir`, with their new contents) as one unit: each
/// is written to a staged sibling, then a journal naming them is written atomically, then they
/// are renamed into place and the journal removed. A process killed at any point leaves either
/// the previous generation (no journal: [`recover`] deletes the staged files) or a journal
/// that [`recover`] completes, so no reader that recovers first ever sees files of two runs.
pub fn commit_files(dir: &Path, files: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    commit_files_removing(dir, files, &[])
}

/// [`commit_files`], also removing the files named `remove` (names inside `dir`) as part of the
/// same generation: the journal records them, so a kill part-way leaves the old generation
/// whole or the new one without them, never the new files beside a stale one.
pub fn commit_files_removing(
    dir: &Path,
    files: &[(&str, Vec<u8>)],
    remove: &[&str],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    recover(dir)?;
    commit_staged(dir, JOURNAL_FILE, files, remove)
}

/// [`commit_files`] for one part of a folder that several processes write side by side (a
/// shard of a sharded `features` run): its own journal `journal` (a name starting with
/// [`JOURNAL_FILE`]), and before it only that part's own interrupted commit is completed and
/// its own staged files removed ([`recover_part`]), never another live part's.
pub fn commit_part(dir: &Path, journal: &str, files: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    commit_part_removing(dir, journal, files, &[])
}

/// [`commit_part`], also removing the files of this part named `remove` in the same
/// generation ([`commit_files_removing`]).
pub fn commit_part_removing(
    dir: &Path,
    journal: &str,
    files: &[(&str, Vec<u8>)],
    remove: &[&str],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    recover_part(dir, journal, &names)?;
    commit_staged(dir, journal, files, remove)
}

/// What a journal records: the files to move into place, and (since format switching) the
/// files the generation removes. Written as a bare list when nothing is removed, as before.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Journal {
    /// Files to move into place.
    Replace(Vec<String>),
    /// Files to move into place, and files to remove.
    Full {
        replace: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
}

fn commit_staged(
    dir: &Path,
    journal: &str,
    files: &[(&str, Vec<u8>)],
    remove: &[&str],
) -> std::io::Result<()> {
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    // Until the journal exists the commit has not happened: a failure (a full disk, say)
    // removes what was staged, so it neither lingers nor keeps the disk full.
    let unstage = || {
        for name in &names {
            let _ = std::fs::remove_file(dir.join(staged_name(name)));
        }
    };
    let staged = files.iter().try_for_each(|(name, bytes)| {
        let mut f = File::create(dir.join(staged_name(name)))?;
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = staged {
        unstage();
        return Err(e);
    }
    let record = if remove.is_empty() {
        Journal::Replace(names.iter().map(|n| n.to_string()).collect())
    } else {
        Journal::Full {
            replace: names.iter().map(|n| n.to_string()).collect(),
            remove: remove.iter().map(|n| n.to_string()).collect(),
        }
    };
    let _under_way = Committing::begin();
    write_json_atomic(&dir.join(journal), &record)
        .inspect_err(|_| unstage())
        .and_then(|()| {
            sync_dir(dir);
            roll_forward(dir, journal, &names, remove)
        })
}

fn roll_forward(dir: &Path, journal: &str, names: &[&str], remove: &[&str]) -> std::io::Result<()> {
    for name in names {
        match std::fs::rename(dir.join(staged_name(name)), dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for name in remove {
        remove_if_present(&dir.join(name))?;
    }
    sync_dir(dir);
    remove_if_present(&dir.join(journal))
}

/// Completes the commit that `journal` in `dir` records, if there is one; a broken journal
/// (never written by shapeclf: they are written atomically) is dropped. Returns whether a
/// commit was completed.
fn roll_forward_journal(dir: &Path, journal: &str) -> std::io::Result<bool> {
    let path = dir.join(journal);
    let Ok(text) = std::fs::read(&path) else {
        return Ok(false);
    };
    let (names, remove) = match serde_json::from_slice::<Journal>(&text) {
        Ok(Journal::Replace(names)) => (names, Vec::new()),
        Ok(Journal::Full { replace, remove }) => (replace, remove),
        Err(_) => return remove_if_present(&path).map(|()| false),
    };
    if !names.iter().chain(&remove).all(|n| is_plain_name(n)) {
        return remove_if_present(&path).map(|()| false);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
    roll_forward(dir, journal, &names, &remove)?;
    Ok(true)
}

/// The journals in `dir`: the folder's own ([`JOURNAL_FILE`]) and those of its parts.
fn journals(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.starts_with(JOURNAL_FILE))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// [`recover`] for one part of a shared folder: completes the commit its `journal` records
/// and removes the staged files of its own `names` only. Other parts, which may be written by
/// live processes at this moment, are left alone. Call it while holding the part's lock.
pub fn recover_part(dir: &Path, journal: &str, names: &[&str]) -> std::io::Result<Recovery> {
    let mut out = Recovery {
        rolled_forward: roll_forward_journal(dir, journal)?,
        removed: 0,
    };
    for name in names {
        let staged = dir.join(staged_name(name));
        if staged.is_file() {
            remove_if_present(&staged)?;
            out.removed += 1;
        }
    }
    Ok(out)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What [`recover`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// An interrupted commit was completed.
    pub rolled_forward: bool,
    /// Stray temporary or staged files removed (anywhere below the folder).
    pub removed: usize,
}

/// Whether `dir` holds a journal of an unfinished [`commit_files`].
pub fn has_journal(dir: &Path) -> bool {
    dir.join(JOURNAL_FILE).exists()
}

/// Completes every interrupted [`commit_files`] (and [`commit_part`]) in `dir`, and removes
/// staged files of an uncommitted one and stray temporaries of [`write_atomic`] in `dir` and
/// below it. Call it only while holding the folder's exclusive [`FolderLock`] (or on a folder
/// nothing else writes): a part's live writer would lose its temporaries.
pub fn recover(dir: &Path) -> std::io::Result<Recovery> {
    let mut out = Recovery::default();
    for journal in journals(dir) {
        // A journal is written atomically, so a broken one was not written by shapeclf:
        // it is dropped and the files left as they are.
        out.rolled_forward |= roll_forward_journal(dir, &journal)?;
    }
    out.removed = remove_strays(dir, 0)?;
    Ok(out)
}

fn is_plain_name(n: &str) -> bool {
    !n.is_empty() && !n.contains(['/', '\\']) && n != "." && n != ".."
}

fn remove_strays(dir: &Path, depth: usize) -> std::io::Result<usize> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth < 8 {
            removed += remove_strays(&e.path(), depth + 1)?;
        } else if ft.is_file()
            && let Some(n) = name.to_str()
            && n.starts_with(TMP_PREFIX)
            && (n.ends_with(TMP_SUFFIX) || n.ends_with(".next"))
        {
            remove_if_present(&e.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// What an output path holds, for the one rule every command that writes a folder follows:
/// only a missing path, an empty folder or a folder shapeclf itself wrote is written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputTarget {
    /// Nothing there.
    Missing,
    /// A file or something else that is not a folder (symbolic links followed).
    NotAFolder,
    /// An empty folder.
    Empty,
    /// A folder with something in it: the caller decides whether it is its own.
    Occupied,
}

/// Classifies `dir` as an [`OutputTarget`].
pub fn output_target(dir: &Path) -> OutputTarget {
    if std::fs::symlink_metadata(dir).is_err() {
        OutputTarget::Missing
    } else if !dir.is_dir() {
        OutputTarget::NotAFolder
    } else if std::fs::read_dir(dir).is_ok_and(|mut r| r.next().is_none()) {
        OutputTarget::Empty
    } else {
        OutputTarget::Occupied
    }
}

/// The JSON in `file` when it says `"tool": "shapeclf"` (a feature manifest or a model's
/// config): how a folder is recognised as one shapeclf wrote.
pub fn shapeclf_json(file: &Path) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    (v.get("tool").and_then(|t| t.as_str()) == Some("shapeclf")).then_some(v)
}

/// An exclusive lock on an output folder, held while a run writes it and released when dropped
/// or when the process dies (an OS file lock, so a killed run never leaves a stale lock). The
/// lock file holds the holder's process id, for the message another run prints.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    path: PathBuf,
}

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error(
        "{dir} is being written by another shapeclf run (process {pid}); wait for it to finish, or write to another folder"
    )]
    Held {
        /// The folder.
        dir: PathBuf,
        /// The holder's process id, as its lock file says.
        pid: String,
    },
    /// The lock file could not be created (folder missing, read-only, ...).
    #[error("cannot lock {dir} for writing: {source}")]
    Io {
        /// The folder.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl FolderLock {
    /// Creates `dir` if needed and locks it, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<FolderLock, LockError> {
        Self::take(dir, LOCK_FILE, false)
    }

    /// Takes the lock file `name` in `dir` exclusively, as [`FolderLock::acquire`] does with
    /// the folder's own lock file: the lock of one part of a folder (a shard).
    pub fn acquire_named(dir: &Path, name: &str) -> Result<FolderLock, LockError> {
        Self::take(dir, name, false)
    }

    /// Shares the folder's lock with other holders of a shared lock (the shards of one run,
    /// writing their own parts side by side) while keeping out every exclusive holder (an
    /// unsharded run, a merge, a reader completing an interrupted commit), and they it.
    pub fn acquire_shared(dir: &Path) -> Result<FolderLock, LockError> {
        Self::take(dir, LOCK_FILE, true)
    }

    fn take(dir: &Path, name: &str, shared: bool) -> Result<FolderLock, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let r = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match r {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    pid: pid.trim().chars().take(32).collect(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Shared holders all write their ids: the last one stays, naming one live holder.
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(FolderLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether a process with this id is running on this machine (Unix: signal 0, which only
/// checks that it exists; elsewhere assumed running, so nothing is removed on a guess).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // An id beyond `pid_t` is no process; 0 and negative ids would address process groups.
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return true;
        }
        // SAFETY: kill with signal 0 sends nothing; it only reports whether `pid` exists (and
        // EPERM when it does but belongs to another user).
        let sent = unsafe { libc::kill(pid, 0) };
        sent == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests;
