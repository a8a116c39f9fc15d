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
                if kind == "mlp" { "1500" } else { "12" },
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
        "1500",
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

/// Asks training to stop (as a Ctrl-C does in Python) once `after` epochs have ended, or at the
/// first step of cross-validation when `after` is 0, and records what training says.
struct StopAfter {
    after: usize,
    epochs_seen: std::sync::atomic::AtomicUsize,
    stop: std::sync::atomic::AtomicBool,
    said: std::sync::Mutex<Vec<String>>,
}

impl StopAfter {
    fn new(after: usize) -> StopAfter {
        StopAfter {
            after,
            epochs_seen: 0.into(),
            stop: false.into(),
            said: Default::default(),
        }
    }
}

impl shapeclf::observe::Observer for StopAfter {
    fn event(&self, e: shapeclf::observe::Event<'_>) {
        use shapeclf::observe::Event;
        use std::sync::atomic::Ordering::SeqCst;
        match e {
            Event::Epoch(_) if self.epochs_seen.fetch_add(1, SeqCst) + 1 == self.after => {
                self.stop.store(true, SeqCst);
            }
            Event::Step if self.after == 0 => self.stop.store(true, SeqCst),
            Event::Info(m) | Event::Warning(m) => self.said.lock().unwrap().push(m.to_string()),
            _ => {}
        }
    }
    fn stopped(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn a_training_its_caller_stops_resumes_in_the_same_process_as_an_uninterrupted_one() {
    use shapeclf::models::ModelKind;
    use shapeclf::train::TrainSettings;
    let d = tempfile::tempdir().unwrap();
    let feats = features(d.path());
    let meshes = d.path().join("meshes");
    // Two seeds and a validation split: the state a resume must restore.
    let settings = TrainSettings {
        epochs: Some(6),
        channels: Some(vec![8, 16]),
        hidden: Some(vec![32]),
        val_fraction: Some(0.25),
        repeats: 2,
        ..TrainSettings::new(ModelKind::Cnn)
    };
    let cfg = settings.config();
    let whole = d.path().join("whole");
    shapeclf::workflow::train_model(&feats, &whole, &cfg, &shapeclf::observe::Silent).unwrap();
    let resumed = TrainSettings {
        resume: true,
        ..settings
    }
    .config();

    // Stopped in the second seed's fourth epoch (after 6 + 3), and after the last epoch of all
    // (the model is scored and written after it, and is not).
    for (after, resumes) in [
        (9, "seed 1: resuming after epoch"),
        (12, "seed 1: resuming after epoch 6"),
    ] {
        let stopped = d.path().join(format!("stopped-{after}"));
        let stop = StopAfter::new(after);
        let e = shapeclf::workflow::train_model(&feats, &stopped, &cfg, &stop).unwrap_err();
        assert!(matches!(e, shapeclf::Error::Interrupted), "{e}");
        assert!(
            !stopped.exists(),
            "a stopped training writes no model folder"
        );
        let kept = checkpoints(&stopped);
        assert!(
            kept.iter().any(|c| c.0 == "seed-1" && c.1 >= 1),
            "the second seed's checkpoint is kept: {kept:?}"
        );

        // Resumed in this process, which stopped it and is still running.
        let again = StopAfter::new(usize::MAX);
        shapeclf::workflow::train_model(&feats, &stopped, &resumed, &again).unwrap();
        let said = again.said.lock().unwrap().join("\n");
        assert!(said.contains(resumes), "{said}");
        assert_eq!(
            probabilities(&whole, &meshes),
            probabilities(&stopped, &meshes),
            "predictions after a stop and a resume"
        );
        assert_eq!(report(&whole), report(&stopped), "report");
        assert_eq!(epochs(&whole), epochs(&stopped), "epoch log");
        assert!(states(&stopped).is_empty(), "nothing left beside it");
    }
}

#[test]
fn a_stop_during_cross_validation_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let feats = features(d.path());
    let out = d.path().join("logistic");
    let cfg = shapeclf::train::TrainConfig::defaults(shapeclf::models::ModelKind::Logistic);
    assert!(cfg.tune_weight_decay);
    let stop = StopAfter::new(0);
    let e = shapeclf::workflow::train_model(&feats, &out, &cfg, &stop).unwrap_err();
    assert!(matches!(e, shapeclf::Error::Interrupted), "{e}");
    assert!(stop.epochs_seen.load(std::sync::atomic::Ordering::SeqCst) == 0);
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("logistic"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
