//! Helpers of the tests of sharded runs, merges and output folders (`shard_inputs.rs`,
//! `shard_reruns.rs`): the binary without job-array variables, small settings, flat datasets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{s, text};

/// The binary, with no job-array variables from the environment the tests run in.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shapeclf"));
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_STEP",
        "JOB_COMPLETION_INDEX",
    ] {
        c.env_remove(v);
    }
    c
}

pub fn go(args: &[&str]) -> Output {
    bin().args(args).output().expect("run shapeclf")
}

pub fn ok(args: &[&str]) -> Output {
    let out = go(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Small settings and no views: these tests are about what is recorded, not the descriptors.
pub const FAST: &[&str] = &[
    "--d2-points",
    "128",
    "--sdf-points",
    "32",
    "--sdf-rays",
    "8",
    "--no-views",
    "--seed",
    "5",
];

/// `features DATA --out OUT` with [`FAST`] and `extra`.
pub fn features(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["features", s(data), "--out", s(out)];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    go(&args)
}

pub fn features_ok(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let out_ = features(data, out, extra);
    assert!(out_.status.success(), "{}", text(&out_));
    out_
}

/// A tetrahedron scaled by `k`, so every mesh file differs.
pub fn tet(k: usize) -> String {
    let f = 1.0 + k as f32 * 0.1;
    format!("OFF\n4 4 0\n0 0 0\n{f} 0 0\n0 {f} 0\n0 0 {f}\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n")
}

/// A flat dataset (no train/test folders: the split is the seeded shuffle of each class):
/// `n` meshes in each of `a` and `b`, numbered from `from`.
pub fn flat(root: &Path, from: usize, n: usize) {
    for class in ["a", "b"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in from..from + n {
            std::fs::write(root.join(class).join(format!("m{i:02}.off")), tet(i)).unwrap();
        }
    }
}

pub fn manifest_of(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Table and cache of `a` and `b`, byte for byte.
pub fn assert_same_table(a: &Path, b: &Path) {
    for f in ["descriptors.csv", "mesh_cache.json"] {
        assert!(read(&a.join(f)) == read(&b.join(f)), "{f} differs");
    }
}

/// A temporary folder (removed when dropped) and its path.
pub fn tmp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_path_buf();
    (d, p)
}

/// Every path under `dir` (nothing when it does not exist), sorted.
pub fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            v.push(p);
        }
    }
    v.sort();
    v
}
