//! Finding a dataset's meshes: `ROOT/<class>/{train,test}/<mesh>` (the ModelNet layout) or
//! `ROOT/<class>/<mesh>` with a seeded, stratified train/test split.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::mesh::is_mesh_path;

/// Which side of the train/test split a mesh is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used to fit models.
    Train,
    /// Held out for the reported accuracy.
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// Parses `train` or `test`.
    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "train" => Some(Split::Train),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

/// One mesh file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where the file is.
    pub path: PathBuf,
    /// Path relative to the dataset root with `/` separators: the row key in the feature table.
    pub rel: String,
    /// Class (the folder name).
    pub class: String,
    /// Train or test.
    pub split: Split,
}

/// Share of a class held out for testing when the dataset has no train/test folders.
pub const TEST_FRACTION: f64 = 0.2;

/// Problems with the dataset as a whole (single files that fail are reported per mesh instead).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The root is missing or unreadable.
    #[error("cannot read dataset folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No mesh file where the layout reads; the second field says what was found elsewhere
    /// under the root ([`unread_warning`]), or is empty.
    #[error(
        "no mesh files (.obj .off .stl .ply .glb .gltf) found under {0}: expected ROOT/<class>/train/*.off, ROOT/<class>/test/*.off or ROOT/<class>/*.off{1}"
    )]
    Empty(PathBuf, String),
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DatasetError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        // Hidden by its first byte, whatever the rest of the name is (as `predict` reads
        // folders).
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// A file with a mesh extension that cannot be read as one: a dangling symbolic link, a FIFO,
/// a device or socket. Reported rather than skipped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// Path relative to the dataset root, as [`Entry::rel`].
    pub rel: String,
    /// Why it was not read.
    pub reason: String,
}

/// Regular mesh files of `dir` (symbolic links followed), and the mesh-named entries that are
/// not regular files.
fn mesh_files(root: &Path, dir: &Path) -> Result<(Vec<PathBuf>, Vec<Unusable>), DatasetError> {
    let mut files = Vec::new();
    let mut bad = Vec::new();
    for p in read_dir_sorted(dir)? {
        if !is_mesh_path(&p) {
            continue;
        }
        let reason = match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => {
                files.push(p);
                continue;
            }
            Ok(m) if m.is_dir() => continue,
            Ok(_) => "not a regular file (a FIFO, device or socket); not read".to_string(),
            Err(e) => match std::fs::read_link(&p) {
                Ok(target) => format!("dangling symbolic link to {} ({e})", target.display()),
                Err(_) => format!("cannot read: {e}"),
            },
        };
        bad.push(Unusable {
            rel: rel_path(root, &p),
            reason,
        });
    }
    Ok((files, bad))
}

/// A file or folder name as text, losslessly: valid UTF-8 is kept except `%`, written `%25`,
/// and each byte that is not valid UTF-8 becomes `%XX`. Two names that differ only in invalid
/// bytes stay two rows, two view images and two cache entries.
pub fn encode_name(name: &std::ffi::OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' {
                out.push_str("%25");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| encode_name(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

/// Lists every mesh under `root`, sorted by relative path. Class folders with `train`/`test`
/// subfolders keep that split; others are split by `seed` (20% test per class, at least one
/// test mesh when the class has two or more).
pub fn discover(root: &Path, seed: u64) -> Result<Vec<Entry>, DatasetError> {
    Ok(discover_all(root, seed)?.0)
}

/// [`discover`], also returning the mesh-named entries that are not regular files (dangling
/// links, FIFOs, devices), sorted by relative path. They take no part in the split.
pub fn discover_all(root: &Path, seed: u64) -> Result<(Vec<Entry>, Vec<Unusable>), DatasetError> {
    let mut out = Vec::new();
    let mut unusable = Vec::new();
    for class_dir in read_dir_sorted(root)?.into_iter().filter(|p| p.is_dir()) {
        let class = class_dir.file_name().map(encode_name).unwrap_or_default();
        let (train, test) = (class_dir.join("train"), class_dir.join("test"));
        if train.is_dir() || test.is_dir() {
            for (dir, split) in [(train, Split::Train), (test, Split::Test)] {
                if dir.is_dir() {
                    let (files, bad) = mesh_files(root, &dir)?;
                    unusable.extend(bad);
                    for p in files {
                        out.push(Entry {
                            rel: rel_path(root, &p),
                            path: p,
                            class: class.clone(),
                            split,
                        });
                    }
                }
            }
        } else {
            let (mut files, bad) = mesh_files(root, &class_dir)?;
            unusable.extend(bad);
            let mut rng =
                crate::seeding::rng(seed ^ stable_hash(&class), crate::seeding::Stream::Split);
            files.shuffle(&mut rng);
            let n_test = if files.len() >= 2 {
                ((files.len() as f64 * TEST_FRACTION).round() as usize).max(1)
            } else {
                0
            };
            for (i, p) in files.into_iter().enumerate() {
                out.push(Entry {
                    rel: rel_path(root, &p),
                    path: p,
                    class: class.clone(),
                    split: if i < n_test {
                        Split::Test
                    } else {
                        Split::Train
                    },
                });
            }
        }
    }
    if out.is_empty() && unusable.is_empty() {
        return Err(empty(root));
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    unusable.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok((out, unusable))
}

/// Mesh files under `root` that the layout does not read, by relative path, in listing order:
/// files beside the class folders, files beside a class's `train/` and `test/`, and files in
/// any deeper folder (`Train/`, `val/`, `chair/extra/`). Hidden names are left out, as
/// everywhere. The walk stops after [`UNREAD_WALK_LIMIT`] entries (symbolic-link loops).
pub fn unread_mesh_files(root: &Path) -> Vec<String> {
    let mut w = Unread {
        root,
        found: Vec::new(),
        seen: 0,
    };
    for p in read_dir_sorted(root).unwrap_or_default() {
        if !p.is_dir() {
            w.file(&p);
            continue;
        }
        let split = p.join("train").is_dir() || p.join("test").is_dir();
        // The mesh files the listing reads are passed over unlooked-at (no second `stat` of
        // each): only other names can lead to files it does not read.
        let folders_in = |dir: &Path| {
            read_dir_sorted(dir)
                .unwrap_or_default()
                .into_iter()
                .filter(|q| !crate::mesh::is_mesh_path(q) && q.is_dir())
        };
        for q in read_dir_sorted(&p).unwrap_or_default() {
            let name = q.file_name().and_then(|n| n.to_str());
            if split && matches!(name, Some("train" | "test")) && q.is_dir() {
                folders_in(&q).for_each(|r| w.walk(&r, 0));
            } else if split {
                if q.is_dir() {
                    w.walk(&q, 0)
                } else {
                    w.file(&q)
                }
            } else if !crate::mesh::is_mesh_path(&q) && q.is_dir() {
                w.walk(&q, 0);
            }
        }
    }
    w.found
}

/// Entries [`unread_mesh_files`] looks at, at most.
pub const UNREAD_WALK_LIMIT: usize = 200_000;

/// The state of [`unread_mesh_files`]' walk.
struct Unread<'a> {
    root: &'a Path,
    found: Vec<String>,
    seen: usize,
}

impl Unread<'_> {
    fn file(&mut self, p: &Path) {
        self.seen += 1;
        if crate::mesh::is_mesh_path(p) && p.is_file() {
            self.found.push(rel_path(self.root, p));
        }
    }

    fn walk(&mut self, dir: &Path, depth: usize) {
        for p in read_dir_sorted(dir).unwrap_or_default() {
            if self.seen >= UNREAD_WALK_LIMIT {
                return;
            }
            if p.is_dir() {
                self.seen += 1;
                if depth < 16 {
                    self.walk(&p, depth + 1);
                }
            } else {
                self.file(&p);
            }
        }
    }
}

/// The warning for [`unread_mesh_files`], naming a few and saying what the layout reads; with
/// a hint when the root holds `train/` and `test/` folders of classes (the split-first layout,
/// one level too high for this one). `None` when every mesh file is read.
pub fn unread_warning(root: &Path, unread: &[String]) -> Option<String> {
    unread.first()?;
    let shown: Vec<&str> = unread.iter().take(3).map(String::as_str).collect();
    let split_first = unread.len() >= 2
        && ["train", "test"]
            .iter()
            .all(|s| unread.iter().any(|u| u.starts_with(&format!("{s}/"))));
    let hint = if split_first {
        " This looks like ROOT/train/<class>/ and ROOT/test/<class>/: shapeclf reads ROOT/<class>/train/ and ROOT/<class>/test/ (ModelNet's layout), so move each ROOT/train/<class>/ to ROOT/<class>/train/, and test likewise.".to_string()
    } else {
        String::new()
    };
    Some(format!(
        "{} mesh file(s) under {} are not read (such as {}): the layout reads ROOT/<class>/*.ext, or ROOT/<class>/train/ and ROOT/<class>/test/ (lower case); files beside those and in deeper folders are not searched.{hint}",
        unread.len(),
        root.display(),
        shown.join(", ")
    ))
}

/// The error for a root whose layout holds no mesh file, saying what lies elsewhere under it.
fn empty(root: &Path) -> DatasetError {
    let below = unread_warning(root, &unread_mesh_files(root))
        .map(|w| format!("; {w}"))
        .unwrap_or_default();
    DatasetError::Empty(root.to_path_buf(), below)
}

/// Whether the layout under `root` holds a mesh-named file (readable or not), looking no
/// further than the first: what [`discover_all`] would find before it lists the whole dataset.
/// Fails as it does on a root it cannot read or one with no mesh file.
pub fn check_not_empty(root: &Path) -> Result<(), DatasetError> {
    // A folder the listing would read and cannot is its error here too.
    let meshes_in = |dir: &Path| -> Result<bool, DatasetError> {
        Ok(read_dir_sorted(dir)?
            .iter()
            .any(|p| crate::mesh::is_mesh_path(p) && !p.is_dir()))
    };
    for class_dir in read_dir_sorted(root)?.into_iter().filter(|p| p.is_dir()) {
        let (train, test) = (class_dir.join("train"), class_dir.join("test"));
        let found = if train.is_dir() || test.is_dir() {
            (train.is_dir() && meshes_in(&train)?) || (test.is_dir() && meshes_in(&test)?)
        } else {
            meshes_in(&class_dir)?
        };
        if found {
            return Ok(());
        }
    }
    Err(empty(root))
}

pub use crate::seeding::stable_hash;

/// A fingerprint of what a dataset holds: how many mesh files (usable or not), their total
/// size, and a hash of every relative path with its size in bytes, in listing order. Two
/// listings that agree give every mesh the same split for a seed; a mesh added, removed,
/// renamed or resized changes it. (An edit that keeps a file's size is seen only by the shard
/// that reads the file.) The dataset's path, as typed, takes no part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Mesh files listed, unusable ones included.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Hash of `path\tsize\n` per file, hex.
    pub hash: String,
}

impl Listing {
    /// The listing of `entries` and `unusable` (as [`discover_all`] returns them); each size
    /// read now (an unusable entry counts as size 0).
    pub fn of(entries: &[Entry], unusable: &[Unusable]) -> Listing {
        let mut lines: Vec<(&str, u64)> = entries
            .iter()
            .map(|e| {
                let size = std::fs::metadata(&e.path).map_or(0, |m| m.len());
                (e.rel.as_str(), size)
            })
            .chain(unusable.iter().map(|u| (u.rel.as_str(), 0)))
            .collect();
        lines.sort_unstable();
        let mut text = String::new();
        for (rel, size) in &lines {
            text.push_str(&format!("{rel}\t{size}\n"));
        }
        Listing {
            files: lines.len(),
            bytes: lines.iter().map(|l| l.1).sum(),
            hash: format!("{:016x}", content_hash(text.as_bytes())),
        }
    }
}

impl std::fmt::Display for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} mesh files, {} bytes", self.files, self.bytes)
    }
}

/// A 64-bit hash of a file's bytes, stable across platforms and versions: how a rerun of
/// `features` tells an unchanged mesh from a changed one. Not cryptographic; eight bytes a step.
pub fn content_hash(bytes: &[u8]) -> u64 {
    const P: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ (bytes.len() as u64).wrapping_mul(P);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ v).wrapping_mul(P).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// [`content_hash`] computed while the bytes stream past, for files too large to hold twice:
/// `len` (the length the hash is seeded with) must be the total that `update` will see.
#[derive(Debug, Clone)]
pub struct ContentHasher {
    h: u64,
    pending: [u8; 8],
    n: usize,
}

impl ContentHasher {
    const P: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A hasher for `len` bytes.
    pub fn new(len: u64) -> Self {
        ContentHasher {
            h: 0xcbf2_9ce4_8422_2325u64 ^ len.wrapping_mul(Self::P),
            pending: [0; 8],
            n: 0,
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (8 - self.n).min(bytes.len());
            self.pending[self.n..self.n + take].copy_from_slice(&bytes[..take]);
            self.n += take;
            bytes = &bytes[take..];
            if self.n == 8 {
                let v = u64::from_le_bytes(self.pending);
                self.h = (self.h ^ v).wrapping_mul(Self::P).rotate_left(29);
                self.n = 0;
            }
        }
    }

    /// The hash, equal to [`content_hash`] of everything fed when `len` was right.
    pub fn finish(&self) -> u64 {
        let mut h = self.h;
        for &b in &self.pending[..self.n] {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

pub use crate::seeding::mesh_seed;

#[cfg(test)]
mod tests;
