//! Issue #23.10: on a disk that fills up at any point of a write, every command that writes
//! either finishes whole or fails, leaving the previous outputs as they were and no debris.
//! The disk is a small tmpfs in a private mount namespace, so the machine's is never touched.

mod common;

use std::path::{Path, PathBuf};

use common::{files_under, s, shapeclf_ok, text};

/// A small dataset and its features, in `dir`.
struct Fixture {
    meshes: PathBuf,
    features: PathBuf,
}

fn fixture(dir: &Path) -> Fixture {
    let meshes = dir.join("meshes");
    let features = dir.join("features");
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "4", "--seed", "3"]);
    shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&features),
        "--align",
        "pca",
        "--view-res",
        "16",
        "--view-augment",
        "1",
    ]);
    Fixture { meshes, features }
}

/// Runs `script` (sh) in a private mount namespace, where it may mount a small tmpfs: a disk
/// that fills up, without touching the machine's.
fn in_private_mounts(script: &str) -> std::process::Output {
    std::process::Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-eu",
            "-c",
            script,
        ])
        .env("S", env!("CARGO_BIN_EXE_shapeclf"))
        .output()
        .expect("run unshare (util-linux)")
}

/// #23.10: on a disk that fills up at any point of the write, `train`, `features`, `compare`
/// and `merge` either finish whole or fail, leaving the previous model folder, feature
/// generation and comparison as they were, and no temporary or staged file behind.
#[test]
fn a_full_disk_leaves_the_previous_outputs_whole_and_no_debris() {
    let d = tempfile::tempdir().unwrap();
    let outside = d.path();
    let f = fixture(outside);
    // Each free-space level is one attempt; what the disk holds after it is copied out.
    let script = format!(
        r#"
T={outside}/disk
mkdir -p $T
mount -t tmpfs -o size=24m tmpfs $T
cp -r {features} $T/f
mkdir -p $T/models
$S features {meshes} --out $T/sh --no-views --shard 0/2 >/dev/null 2>&1
$S features {meshes} --out $T/sh --no-views --shard 1/2 >/dev/null 2>&1
$S merge $T/sh >/dev/null 2>&1
$S train --model logistic --features $T/f --out $T/models/lg --epochs 3 >/dev/null 2>&1
$S train --model mlp --features $T/f --out $T/models/mlp --epochs 3 >/dev/null 2>&1
$S compare --models $T/models >/dev/null 2>&1
dd if=/dev/zero of=$T/fill bs=64k 2>/dev/null || true
for free in 0 4096 16384 65536 262144 1048576; do
  mkdir -p {outside}/pre-$free
  cp -r $T/f $T/models $T/sh {outside}/pre-$free/
  rm -f $T/sh/manifest.json $T/sh/descriptors.csv $T/sh/mesh_cache.json
  truncate -s -$free $T/fill
  rc=0; $S train --model logistic --features $T/f --out $T/models/lg --epochs 3 --seed 7 >/dev/null 2>$T/../train-$free.err || rc=$?
  echo "train $free $rc"
  rc=0; $S features {meshes} --out $T/f --align pca --view-res 16 --view-augment 1 --seed 8 --jobs 1 >/dev/null 2>$T/../features-$free.err || rc=$?
  echo "features $free $rc"
  rc=0; $S compare --models $T/models >/dev/null 2>$T/../compare-$free.err || rc=$?
  echo "compare $free $rc"
  rc=0; $S merge $T/sh >/dev/null 2>$T/../merge-$free.err || rc=$?
  echo "merge $free $rc"
  rm -f $T/fill
  mkdir -p {outside}/after-$free
  cp -r $T/f $T/models $T/sh {outside}/after-$free/
  dd if=/dev/zero of=$T/fill bs=64k 2>/dev/null || true
done
"#,
        outside = outside.display(),
        features = f.features.display(),
        meshes = f.meshes.display(),
    );
    let out = in_private_mounts(&script);
    assert!(out.status.success(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut failures = 0;
    for line in log.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let (what, free, rc) = (w[0], w[1], w[2]);
        let after = outside.join(format!("after-{free}"));
        let before_models = outside.join(format!("pre-{free}/models"));
        let before_f = outside.join(format!("pre-{free}/f"));
        for (p, _) in files_under(&after) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".shapeclf-") && !name.contains(".staging-"),
                "train, features and compare with {free} bytes free left {}",
                p.display()
            );
        }
        if rc == "0" {
            continue;
        }
        failures += 1;
        let err = std::fs::read_to_string(outside.join(format!("{what}-{free}.err"))).unwrap();
        assert!(
            !err.contains("panicked"),
            "{what} with {free} bytes free: {err}"
        );
        match what {
            "train" => assert_eq!(
                files_under(&after.join("models/lg")),
                files_under(&before_models.join("lg")),
                "train with {free} bytes free changed the previous model: {err}"
            ),
            "features" => {
                for file in ["manifest.json", "descriptors.csv", "mesh_cache.json"] {
                    assert_eq!(
                        std::fs::read(after.join("f").join(file)).unwrap(),
                        std::fs::read(before_f.join(file)).unwrap(),
                        "features with {free} bytes free changed {file}: {err}"
                    );
                }
            }
            "compare" => {
                for file in ["comparison.md", "comparison.png", "comparison.html"] {
                    assert_eq!(
                        std::fs::read(after.join("models").join(file)).unwrap(),
                        std::fs::read(before_models.join(file)).unwrap(),
                        "compare with {free} bytes free changed {file}: {err}"
                    );
                }
            }
            // The merged files were removed before the merge: a failed one leaves none of
            // them (nor any staged file), and the parts untouched.
            "merge" => {
                for file in ["manifest.json", "descriptors.csv", "mesh_cache.json"] {
                    assert!(
                        !after.join("sh").join(file).exists(),
                        "merge with {free} bytes free left a {file}: {err}"
                    );
                }
                let parts = |dir: &Path| {
                    files_under(dir)
                        .into_iter()
                        .filter(|(p, _)| p.to_string_lossy().contains("of2"))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    parts(&after.join("sh")),
                    parts(&outside.join(format!("pre-{free}/sh"))),
                    "merge with {free} bytes free changed a part: {err}"
                );
            }
            _ => unreachable!("{line}"),
        }
    }
    assert!(failures >= 4, "the disk was full for some runs:\n{log}");
}
