//! One `features` run over a corpus of every breakage class the foundation issue names, the
//! inputs fuzzing kept, and the awkward-but-valid files of `tests/awkward/`, mixed into the
//! classes of a dataset: exit 0, every valid file a row, every broken file listed with its reason,
//! no panic, peak memory far below 1 GB even for headers that claim 10^12 vertices, and
//! `--strict` fails the same run.

use std::path::{Path, PathBuf};
use std::process::Command;

const GOOD_OFF: &str =
    "OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n";
const PLY_HEAD: &str = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n\
    property float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n\
    end_header\n";

/// Broken files: name, bytes, words the reason must contain.
fn broken() -> Vec<(String, Vec<u8>, &'static str)> {
    let mut v: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    let mut add = |name: &str, bytes: &[u8], why: &'static str| {
        v.push((name.to_string(), bytes.to_vec(), why));
    };
    for ext in ["off", "obj", "stl", "ply"] {
        add(&format!("empty.{ext}"), b"", "empty");
    }
    add("truncated.off", &GOOD_OFF.as_bytes()[..40], "truncated");
    add("garbage.off", b"\x00\xff\x13garbage\n1 2 3", "OFF header");
    add("garbage.obj", b"\x00\xff\x13 no geometry\n", "no faces");
    add("garbage.stl", b"\x00\xffnot an stl", "STL");
    add("garbage.ply", b"\x00\xff not a ply", "PLY");
    for bad in ["nan", "inf", "-inf", "1e39"] {
        let s = GOOD_OFF.replace("1 0 0\n", &format!("1 {bad} 0\n"));
        add(&format!("nonfinite_{bad}.off"), s.as_bytes(), "non-finite");
    }
    add(
        "nan.obj",
        b"v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n",
        "non-finite",
    );
    let s = GOOD_OFF.replace("3 1 2 3\n", "3 1 2 9\n");
    add("range.off", s.as_bytes(), "outside");
    let s = GOOD_OFF.replace("3 1 2 3\n", "3 1 2 -4\n");
    add("negative.off", s.as_bytes(), "vertex -4");
    add(
        "range.obj",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n",
        "out of bounds",
    );
    let ply = format!("{PLY_HEAD}0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n");
    add("range.ply", ply.as_bytes(), "references vertex 7");
    add(
        "degenerate.off",
        b"OFF\n3 2 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n3 0 0 1\n",
        "degenerate",
    );
    add(
        "nofaces.off",
        b"OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n",
        "no faces",
    );
    add("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces");
    add(
        "huge.off",
        b"OFF\n1000000000000 1000000000000 0\n0 0 0\n",
        "more than the file",
    );
    add(
        "huge_glued.off",
        b"OFF1000000000000 5 0\n",
        "more than the file",
    );
    let mut stl = vec![0u8; 80];
    stl.extend(u32::MAX.to_le_bytes());
    stl.extend([0u8; 50]);
    add("huge.stl", &stl, "more than the file");
    add(
        "huge.ply",
        b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\nproperty float x\n\
          property float y\nproperty float z\nelement face 1000000000000\n\
          property list uchar int vertex_indices\nend_header\n",
        "more than the file",
    );
    add(
        "broken_ascii.stl",
        b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0\n",
        "vertex needs 3 numbers",
    );
    let mut short = vec![0u8; 80];
    short.extend(2u32.to_le_bytes());
    short.extend([0u8; 99]);
    add("short_binary.stl", &short, "more than the file");
    add(
        "bad_header.ply",
        b"ply\nformat nonsense 9\nend_header\n",
        "PLY",
    );
    let line = vec![b'7'; 20 << 20];
    add("line.off", &line, "OFF header");
    add("line.stl", &line, "more than the file");
    v
}

/// Valid files of every format, as other exporters write them.
fn awkward() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/awkward");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Inputs the fuzzers kept (some valid, most not).
fn fuzz_kept() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut v = Vec::new();
    for ext in ["off", "obj", "stl", "ply"] {
        for e in std::fs::read_dir(dir.join(ext)).unwrap() {
            v.push(e.unwrap().path());
        }
    }
    v.sort();
    v
}

#[test]
fn mixed_corpus_every_good_file_a_row_every_broken_one_listed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("corpus");
    let classes = ["alpha", "beta", "gamma"];
    let mut good = Vec::new();
    for (k, p) in awkward().iter().enumerate() {
        let rel = format!(
            "{}/train/{}",
            classes[k % 3],
            p.file_name().unwrap().to_str().unwrap()
        );
        let dst = root.join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(p, &dst).unwrap();
        good.push(rel);
    }
    let mut bad = Vec::new();
    for (k, (name, bytes, why)) in broken().into_iter().enumerate() {
        let rel = format!("{}/test/bad_{name}", classes[k % 3]);
        let dst = root.join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::write(&dst, bytes).unwrap();
        bad.push((rel, why));
    }
    let mut fuzzed = 0;
    for p in fuzz_kept() {
        let ext = p.parent().unwrap().file_name().unwrap().to_str().unwrap();
        let rel = format!(
            "gamma/test/fuzz_{}.{ext}",
            p.file_name().unwrap().to_str().unwrap()
        );
        std::fs::copy(&p, root.join(rel)).unwrap();
        fuzzed += 1;
    }
    // Not meshes: ignored, neither rows nor failures.
    std::fs::write(root.join("alpha/train/README.txt"), "notes").unwrap();
    std::fs::write(root.join("alpha/train/.hidden.off"), GOOD_OFF).unwrap();

    let out_dir = d.path().join("features");
    let run = |strict: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shapeclf"));
        c.args(["features", "--view-res", "16", "--out"])
            .arg(&out_dir)
            .arg(&root);
        if strict {
            c.arg("--strict");
        }
        c.output().unwrap()
    };
    let out = run(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    let found = good.len() + bad.len() + fuzzed;
    assert_eq!(m["counts"]["found"], found);
    let failed = m["failed"].as_array().unwrap();
    let table =
        shapeclf::features::FeatureTable::read_csv(&out_dir.join("descriptors.csv")).unwrap();
    assert_eq!(
        table.rows.len() + failed.len(),
        found,
        "every file a row or a failure"
    );
    for rel in &good {
        assert!(
            table.rows.iter().any(|r| &r.path == rel),
            "valid {rel} is not a row"
        );
        assert!(
            out_dir.join("views").join(format!("{rel}.png")).is_file(),
            "valid {rel} has no views"
        );
    }
    for (rel, why) in &bad {
        let f = failed
            .iter()
            .find(|f| f["path"] == rel.as_str())
            .unwrap_or_else(|| panic!("broken {rel} is not listed"));
        let e = f["error"].as_str().unwrap();
        assert!(
            e.to_lowercase().contains(&why.to_lowercase()),
            "{rel}: reason {e:?} does not say {why:?}"
        );
        assert!(
            stderr.contains(rel.as_str()),
            "{rel} not named on the terminal"
        );
    }
    assert!(
        failed
            .iter()
            .all(|f| !f["error"].as_str().unwrap().is_empty())
    );
    assert!(
        failed
            .iter()
            .all(|f| !f["error"].as_str().unwrap().contains("internal error")),
        "a panic was caught: {failed:?}"
    );

    // Same corpus, --strict: non-zero, and the table is still written.
    std::fs::remove_dir_all(&out_dir).unwrap();
    let out = run(true);
    assert_eq!(out.status.code(), Some(3));
    assert!(out_dir.join("descriptors.csv").is_file());

    // Peak memory of the largest child (both runs): the 20 MB lines and the 10^12 claims
    // must not cost what they claim.
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let max_rss_kb = usage.max_rss();
    assert!(
        max_rss_kb < 1 << 20,
        "a features run peaked at {max_rss_kb} KB"
    );
}
