//! The library as a Rust user calls it: features, train, compare and predict with no output on
//! the terminal, everything it has to say arriving at the caller's observer instead.

mod common;

use std::path::Path;
use std::sync::Mutex;

use shapeclf::descriptors::DescriptorConfig;
use shapeclf::descriptors::views::ViewConfig;
use shapeclf::extract::{self, ExtractOptions};
use shapeclf::models::ModelKind;
use shapeclf::models::{FusionSpec, ModelSpec};
use shapeclf::observe::{Event, Observer};
use shapeclf::train::TrainConfig;
use shapeclf::{inference, synth, workflow};

/// Counts what the library reported.
#[derive(Default)]
struct Collect {
    log: Mutex<Vec<String>>,
}

impl Observer for Collect {
    fn event(&self, e: Event<'_>) {
        let line = match e {
            Event::Begin { stage, total } => format!("begin {stage} {total}"),
            Event::Step => "step".into(),
            Event::Epoch(s) => format!("epoch {}", s.epoch),
            Event::Batch { epoch, done, total } => format!("batch {epoch} {done}/{total}"),
            Event::End => "end".into(),
            Event::Skipped { path, reason } => format!("skipped {path}: {reason}"),
            Event::Warning(w) => format!("warning {w}"),
            Event::Info(i) => format!("info {i}"),
        };
        self.log.lock().unwrap().push(line);
    }
}

/// Features, three models, the comparison and a prediction, all through the library.
fn whole_flow(dir: &Path) -> Vec<String> {
    let meshes = dir.join("meshes");
    let files = synth::write_dataset(&meshes, 5, 3, 0).unwrap();
    // One broken file: reported to the observer, not printed.
    std::fs::write(meshes.join("mug/train/broken.off"), b"OFF\n3 1 0\n0 0 0\n").unwrap();
    let features = dir.join("features");
    let opts = ExtractOptions {
        config: small_descriptors(),
        views: Some((
            ViewConfig {
                resolution: 16,
                ..Default::default()
            },
            features.clone(),
        )),
        ..Default::default()
    };
    let seen = Collect::default();
    let ex = extract::run(&meshes, &features, &opts, &seen).unwrap();
    assert_eq!(ex.manifest.counts.ok, files.len());
    let models = dir.join("models");
    for kind in [
        ModelKind::Logistic,
        ModelKind::Mlp,
        ModelKind::Cnn,
        ModelKind::Fusion,
    ] {
        let mut cfg = TrainConfig::defaults(kind);
        cfg.epochs = 3;
        if let ModelSpec::Cnn(c) | ModelSpec::Fusion(FusionSpec { cnn: c, .. }) = &mut cfg.model {
            c.channels = vec![4, 8];
            c.features = 16;
        }
        let r = workflow::train_model(&features, &models.join(kind.name()), &cfg, &seen).unwrap();
        assert_eq!(r.model, kind.name());
    }
    let cmp = workflow::compare(&models, &seen).unwrap();
    assert_eq!(cmp.rows.len(), 4);
    for m in ["cnn", "fusion"] {
        let p = inference::predict(&models.join(m), &files[..2], 2).unwrap();
        assert!(
            p.iter().all(|p| p.error.is_none() && p.top.len() == 2),
            "{m}"
        );
    }
    seen.log.into_inner().unwrap()
}

#[test]
fn the_library_reports_to_its_observer_and_prints_nothing() {
    if std::env::var_os("SHAPECLF_SILENT_CHILD").is_some() {
        let d = tempfile::tempdir().unwrap();
        let log = whole_flow(d.path());
        // What the observer saw: a bar's worth of meshes, the cross-validation fits, epochs,
        // and the broken file.
        let stage = |name: &str| -> usize {
            let at = log.iter().position(|l| l.starts_with(name)).unwrap();
            log[at + 1..]
                .iter()
                .take_while(|l| *l != "end")
                .filter(|l| *l == "step")
                .count()
        };
        assert_eq!(
            stage("begin meshes"),
            5 * synth::CLASSES.len() + 1,
            "{log:?}"
        );
        let cv = log
            .iter()
            .find(|l| l.starts_with("begin cross-validation"))
            .unwrap();
        assert_eq!(
            cv,
            &format!("begin cross-validation {}", stage("begin cross-validation"))
        );
        assert!(log.iter().any(|l| l.starts_with("begin meshes")));
        assert_eq!(log.iter().filter(|l| *l == "epoch 3").count(), 4, "{log:?}");
        // Every epoch reports its batches as they are trained.
        let batches: Vec<&String> = log.iter().filter(|l| l.starts_with("batch 3 ")).collect();
        assert!(!batches.is_empty(), "{log:?}");
        assert!(
            batches.iter().all(|l| {
                let (done, total) = l[8..].split_once('/').unwrap();
                done.parse::<usize>().unwrap() <= total.parse::<usize>().unwrap()
            }),
            "{batches:?}"
        );
        assert!(
            log.iter()
                .any(|l| l.starts_with("skipped") && l.contains("broken.off")),
            "{log:?}"
        );
        return;
    }
    // The flow runs in a child process so that its stdout and stderr can be read whole.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_library_reports_to_its_observer_and_prints_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHAPECLF_SILENT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "the library wrote to stderr:\n{stderr}"
    );
    // Only the test harness's own lines are on stdout.
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("running ")
                || line.starts_with("test ")
                || line.starts_with("test result"),
            "the library wrote to stdout: {line:?}\n{stdout}"
        );
    }
}

/// A model folder written before model specs (format 1: flat settings, `net` or `cnn`) is
/// still read and predicts the same; an unknown format is refused naming its version.
#[test]
fn format_1_model_folders_are_still_read() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    let files = synth::write_dataset(&meshes, 4, 1, 0).unwrap();
    let features = d.path().join("features");
    let opts = ExtractOptions {
        config: small_descriptors(),
        ..Default::default()
    };
    let silent = shapeclf::observe::Silent;
    extract::run(&meshes, &features, &opts, &silent).unwrap();
    let out = d.path().join("mlp");
    let mut cfg = TrainConfig::defaults(ModelKind::Mlp);
    cfg.epochs = 4;
    // Format 1 knew only a constant learning rate and raw histograms.
    cfg.schedule = shapeclf::train::LrSchedule::Constant;
    cfg.histograms = shapeclf::train::HistogramMap::None;
    workflow::train_model(&features, &out, &cfg, &silent).unwrap();
    let before = inference::predict(&out, &files[..3], 3).unwrap();

    let path = out.join("config.json");
    let v2: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let t = &v2["train"];
    let m = &t["model"];
    let v1 = serde_json::json!({
        "tool": "shapeclf",
        "tool_version": "0.1.0",
        "format_version": 1,
        "train": {
            "model": "mlp", "backend": t["backend"], "seed": t["seed"], "epochs": t["epochs"],
            "lr": t["lr"], "batch_size": t["batch_size"], "weight_decay": t["weight_decay"],
            "optimizer": t["optimizer"], "hidden": m["hidden"], "activation": m["activation"],
            "dropout": m["dropout"], "val_fraction": t["val_fraction"], "patience": t["patience"],
            "class_weight": t["class_weight"], "positive": null, "tune_weight_decay": false,
            "channels": [], "flip": false, "jitter": 0
        },
        "net": v2["network"].as_object().map(|o| {
            let mut o = o.clone();
            o.remove("kind");
            o
        }),
        "weights_hash": v2["weights_hash"],
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&v1).unwrap()).unwrap();
    let config = shapeclf::model_dir::read_config(&path).unwrap();
    assert_eq!(
        config.train, cfg,
        "format 1 reads back as the settings trained with"
    );
    let after = inference::predict(&out, &files[..3], 3).unwrap();
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.top, b.top);
    }

    let mut future = v2.clone();
    future["format_version"] = 99.into();
    std::fs::write(&path, serde_json::to_vec(&future).unwrap()).unwrap();
    let err = inference::predict(&out, &files[..1], 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("format 99"), "{err}");
}

/// Descriptor settings small enough for a test run.
fn small_descriptors() -> DescriptorConfig {
    DescriptorConfig {
        d2_points: 256,
        sdf_points: 64,
        sdf_rays: 8,
        ..Default::default()
    }
}

/// Issue #25: `workflow::features` with the settings of some flags writes what `shapeclf
/// features` with those flags writes: the same table, cache and view images byte for byte, and
/// the same manifest apart from the run's wall time. Once with the defaults, once with flags
/// that each change a number.
#[test]
fn the_library_features_call_writes_what_the_command_writes() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    synth::write_dataset(&meshes, 3, 4, 0).unwrap();
    let small = [
        "--d2-points",
        "256",
        "--sdf-points",
        "32",
        "--sdf-rays",
        "8",
        "--view-res",
        "16",
    ];
    let flags: [&[&str]; 2] = [
        &[],
        &[
            "--seed",
            "5",
            "--d2-pairs",
            "5000",
            "--sh-shells",
            "4",
            "--sh-degrees",
            "3",
            "--views",
            "dodecahedron",
            "--align",
            "none",
            "--view-channels",
            "depth+shade",
            "--view-augment",
            "1",
            "--up",
            "y",
        ],
    ];
    let base = extract::FeatureSettings {
        d2_points: 256,
        sdf_points: 32,
        sdf_rays: 8,
        view_res: 16,
        ..Default::default()
    };
    let settings = [
        base.clone(),
        extract::FeatureSettings {
            seed: 5,
            d2_pairs: Some(5000),
            sh_shells: Some(4),
            sh_degrees: Some(3),
            layout: shapeclf::descriptors::views::ViewLayout::Dodecahedron,
            align: shapeclf::descriptors::views::Align::None,
            view_channels: Some(shapeclf::descriptors::views::ViewChannels::DepthShade),
            view_augment: Some(1),
            up: shapeclf::descriptors::views::UpAxis::Y,
            ..base
        },
    ];
    // A folder's files apart from its lock (which holds the process that wrote it), and its
    // manifest apart from the run's wall time.
    let contents = |dir: &Path| {
        let mut files = common::files_under(dir);
        files.retain(|(p, _)| p != Path::new(".shapeclf.lock"));
        let at = files
            .iter()
            .position(|(p, _)| p == Path::new("manifest.json"))
            .unwrap();
        let mut m: serde_json::Value = serde_json::from_slice(&files.remove(at).1).unwrap();
        m["wall_seconds"] = serde_json::Value::Null;
        (m, files)
    };
    for (i, (extra, s)) in flags.iter().zip(&settings).enumerate() {
        let (cli, lib) = (
            d.path().join(format!("cli{i}")),
            d.path().join(format!("lib{i}")),
        );
        let mut args = vec!["features", common::s(&meshes), "--out", common::s(&cli)];
        args.extend(small);
        args.extend(*extra);
        common::shapeclf_ok(&args);
        workflow::features(&meshes, &lib, s, &shapeclf::observe::Silent).unwrap();
        let ((ma, a), (mb, b)) = (contents(&cli), contents(&lib));
        assert_eq!(ma, mb, "flags {extra:?}");
        assert!(
            a.iter().any(|(p, _)| p.extension() == Some("png".as_ref())),
            "no view images"
        );
        let names = |f: &[(std::path::PathBuf, Vec<u8>)]| {
            f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b), "flags {extra:?}");
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(x == y, "{} differs with flags {extra:?}", name.display());
        }
    }
}
