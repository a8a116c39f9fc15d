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
    /// No mesh file anywhere under the root.
    #[error(
        "no mesh files (.obj .off .stl .ply) found under {0}: expected ROOT/<class>/train/*.off, ROOT/<class>/test/*.off or ROOT/<class>/*.off"
    )]
    Empty(PathBuf),
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DatasetError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    v.sort();
    Ok(v)
}

fn mesh_files(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    Ok(read_dir_sorted(dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_mesh_path(p))
        .collect())
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Lists every mesh under `root`, sorted by relative path. Class folders with `train`/`test`
/// subfolders keep that split; others are split by `seed` (20% test per class, at least one
/// test mesh when the class has two or more).
pub fn discover(root: &Path, seed: u64) -> Result<Vec<Entry>, DatasetError> {
    let mut out = Vec::new();
    for class_dir in read_dir_sorted(root)?.into_iter().filter(|p| p.is_dir()) {
        let class = class_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (train, test) = (class_dir.join("train"), class_dir.join("test"));
        if train.is_dir() || test.is_dir() {
            for (dir, split) in [(train, Split::Train), (test, Split::Test)] {
                if dir.is_dir() {
                    for p in mesh_files(&dir)? {
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
            let mut files = mesh_files(&class_dir)?;
            let mut rng = crate::descriptors::rng_for(seed ^ stable_hash(&class), 7);
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
    if out.is_empty() {
        return Err(DatasetError::Empty(root.to_path_buf()));
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// FNV-1a: a hash that stays the same across platforms and Rust versions, so per-mesh seeds
/// (and thus tables) do too.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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

/// The seed for one mesh: depends on the run's seed and the mesh's relative path only, so a
/// mesh's descriptors do not change with thread count, order or the rest of the dataset.
pub fn mesh_seed(seed: u64, rel: &str) -> u64 {
    // splitmix64 finaliser to spread the combination.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ stable_hash(rel);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn modelnet_layout_and_ignored_files() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        touch(&r.join("chair/train/a.off"));
        touch(&r.join("chair/train/b.OBJ"));
        touch(&r.join("chair/train/readme.txt"));
        touch(&r.join("chair/test/c.stl"));
        touch(&r.join(".hidden/train/x.off"));
        touch(&r.join("desk/test/d.ply"));
        let e = discover(r, 0).unwrap();
        let rels: Vec<_> = e.iter().map(|e| (e.rel.as_str(), e.split)).collect();
        assert_eq!(
            rels,
            vec![
                ("chair/test/c.stl", Split::Test),
                ("chair/train/a.off", Split::Train),
                ("chair/train/b.OBJ", Split::Train),
                ("desk/test/d.ply", Split::Test),
            ]
        );
    }

    #[test]
    fn flat_classes_get_a_seeded_stratified_split() {
        let d = tempfile::tempdir().unwrap();
        for c in ["a", "b"] {
            for i in 0..10 {
                touch(&d.path().join(format!("{c}/{i}.off")));
            }
        }
        let e1 = discover(d.path(), 1).unwrap();
        for c in ["a", "b"] {
            let n = e1
                .iter()
                .filter(|e| e.class == c && e.split == Split::Test)
                .count();
            assert_eq!(n, 2);
        }
        assert_eq!(e1, discover(d.path(), 1).unwrap());
        let other: Vec<_> = (2..8).map(|s| discover(d.path(), s).unwrap()).collect();
        assert!(other.iter().any(|e| *e != e1), "seed must move the split");
    }

    #[test]
    fn empty_and_missing_roots_are_errors() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(discover(d.path(), 0), Err(DatasetError::Empty(_))));
        assert!(matches!(
            discover(&d.path().join("nope"), 0),
            Err(DatasetError::Io { .. })
        ));
    }
}
