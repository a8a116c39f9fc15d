//! `train --resume`: a training killed between epochs and resumed ends with the weights, the
//! report and the epoch log of an uninterrupted run with the same seed; a resume with other
//! settings is refused and leaves the interrupted run resumable.

mod common;

use common::{s, shapeclf, shapeclf_ok as ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shapeclf"))
}

/// A small feature folder with views (two augmented copies, so the CNN's batches are drawn
/// from a shuffled, augmented set).
fn features(root: &Path) -> PathBuf {
    let features = root.join("features");
    common::small_view_features(&root.join("meshes"), &features, 4, 3, 2);
    features
}

/// The checkpoint state files under the staging folders beside `out`.
fn states(out: &Path) -> Vec<PathBuf> {
    let name = out.file_name().unwrap().to_str().unwrap().to_string();
    let mut v = Vec::new();
    for e in std::fs::read_dir(out.parent().unwrap()).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!(".{name}.staging-")) {
            let ck = e.path().join("checkpoint");
            for seed in std::fs::read_dir(&ck).into_iter().flatten().flatten() {
                let st = seed.path().join("state.json");
                if st.is_file() {
                    v.push(st);
                }
            }
        }
    }
    v
}

/// The report without what depends on the clock.
fn report(dir: &Path) -> serde_json::Value {
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("train_seconds");
                o.remove("samples_per_second");
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut r);
    r
}

/// `predict --json --top 100` on every mesh under `meshes`: each class's probability, exactly.
fn probabilities(model: &Path, meshes: &Path) -> String {
    let out = ok(&[
        "predict",
        "--model",
        s(model),
        s(meshes),
        "--json",
        "--top",
        "100",
    ]);
    String::from_utf8(out.stdout).unwrap()
}

/// `epochs.csv` without its seconds column.
fn epochs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("epochs.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

/// Each seed's checkpoint: (seed folder, epoch, finished).
fn checkpoints(out: &Path) -> Vec<(String, u64, bool)> {
    states(out)
        .iter()
        .filter_map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
            let seed = p.parent()?.file_name()?.to_string_lossy().into_owned();
            Some((seed, v["epoch"].as_u64()?, v["finished"] == true))
        })
        .collect()
}

/// Starts `args` and kills it (SIGKILL) once it has written a new checkpoint of an epoch from
/// the second on that is not its last; returns whether it was killed before it finished.
fn kill_after_a_checkpoint(args: &[&str], out: &Path) -> bool {
    let before = checkpoints(out);
    let mut child = bin()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let fresh = checkpoints(out)
            .into_iter()
            .any(|c| !c.2 && c.1 >= 2 && !before.contains(&c));
        if fresh {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no checkpoint within two minutes");
}

#[test]
fn a_killed_training_resumed_ends_as_an_uninterrupted_one() {
    let d = tempfile::tempdir().unwrap();
    let feats = features(d.path());
    let meshes = d.path().join("meshes");
    for kind in ["cnn", "fusion", "mlp"] {
        let whole = d.path().join(format!("whole-{kind}"));
        let resumed = d.path().join(format!("resumed-{kind}"));
        // Validation and early stopping (a best epoch kept apart from the last), dropout, and
        // two seeds: every piece of state the loop carries from epoch to epoch.
        let args = |out: &Path| -> Vec<String> {
            let mut a: Vec<String> = [
                "train",
                "--model",
                kind,
                "--features",
                s(&feats),
                "--out",
                s(out),
                "--epochs",
                // The MLP's epochs take milliseconds: enough of them to be killed mid-run.
                if kind == "mlp" { "400" } else { "12" },
                "--val-fraction",
                "0.25",
                "--patience",
                // (Where it would stop after a few milliseconds, it only keeps its best epoch.)
                if kind == "mlp" { "0" } else { "6" },
                "--repeats",
                "2",
            ]
            .iter()
            .map(|x| x.to_string())
            .collect();
            if kind != "mlp" {
                a.extend(["--channels", "8,16", "--hidden", "32"].map(String::from));
            }
            a
        };
        let whole_args = args(&whole);
        ok(&whole_args.iter().map(String::as_str).collect::<Vec<_>>());

        let resumed_args = args(&resumed);
        let a: Vec<&str> = resumed_args.iter().map(String::as_str).collect();
        // Killed, resumed and killed again (three times at most), then resumed to the end.
        let mut kills = 0;
        while kills < 3 {
            let mut with_resume = a.clone();
            if kills > 0 {
                with_resume.push("--resume");
            }
            if !kill_after_a_checkpoint(&with_resume, &resumed) {
                break;
            }
            kills += 1;
            assert!(
                !resumed.exists(),
                "a killed training leaves no model folder"
            );
        }
        assert!(
            kills >= 1,
            "{kind}: the run finished before it could be killed"
        );
        if !resumed.join("report.json").exists() {
            let mut with_resume = a.clone();
            with_resume.push("--resume");
            let out = ok(&with_resume);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("resuming after epoch"), "{kind}: {err}");
        }
        // `model.bpk` itself differs between any two runs in Burn's random parameter ids, so
        // the weights are compared by what they compute: every class's probability for every
        // mesh, to the last bit.
        assert_eq!(
            probabilities(&whole, &meshes),
            probabilities(&resumed, &meshes),
            "{kind}: predictions after {kills} kill(s) and resumes"
        );
        assert_eq!(report(&whole), report(&resumed), "{kind}: report");
        assert_eq!(epochs(&whole), epochs(&resumed), "{kind}: epoch log");
        assert!(
            !resumed.join("checkpoint").exists(),
            "{kind}: the checkpoints are not kept in the model folder"
        );
        assert!(
            states(&resumed).is_empty(),
            "{kind}: nothing left beside it"
        );
    }
}

#[test]
fn a_resume_with_other_settings_is_refused_and_stays_resumable() {
    let d = tempfile::tempdir().unwrap();
    let feats = features(d.path());
    let out = d.path().join("mlp");
    let base = [
        "train",
        "--model",
        "mlp",
        "--features",
        s(&feats),
        "--out",
        s(&out),
        "--epochs",
        "400",
    ];
    assert!(kill_after_a_checkpoint(&base, &out), "killed mid-run");

    let mut other = base.to_vec();
    other.extend(["--lr", "0.01", "--resume"]);
    let o = shapeclf(&other);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("cannot resume") && err.contains("lr was 0.001, now 0.01"),
        "names the setting that differs: {err}"
    );
    assert!(
        !states(&out).is_empty(),
        "the refused run keeps the checkpoint"
    );

    // The right flags resume it.
    let mut same = base.to_vec();
    same.push("--resume");
    let o = ok(&same);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("resuming after epoch"), "{err}");
    assert!(out.join("model.bpk").is_file());

    // Nothing to resume: trains from the start, saying so.
    let o = ok(&same);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no interrupted training"), "{err}");

    // A run without --resume over an interrupted one says what it threw away.
    assert!(kill_after_a_checkpoint(&base, &out), "killed mid-run");
    let o = ok(&base);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("would have continued it"), "{err}");
}
