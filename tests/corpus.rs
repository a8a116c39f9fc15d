//! One `features` run over a corpus of every breakage class the foundation issue names, the
//! inputs fuzzing kept, and the awkward-but-valid files of `tests/awkward/`, mixed into the
//! classes of a dataset: exit 0, every valid file a row, every broken file listed with its reason,
//! no panic, peak memory far below 1 GB even for headers that claim 10^12 vertices, and
//! `--strict` fails the same run.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{GOOD_OFF, broken};

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
    for ext in ["off", "obj", "stl", "ply", "gltf"] {
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
