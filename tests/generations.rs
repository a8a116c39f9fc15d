//! Issue #23: a result is used only with what it was computed from. Views belong to the
//! generation their manifest committed, a model folder's settings get the checks `features`
//! gives its flags, and a mesh's numbers do not depend on how its path is spelled. (A full
//! disk: `tests/full_disk.rs`.)

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{copy_dir, fails, ok, s, shapeclf, shapeclf_ok, text};

/// A small dataset, its features (views of 16 px, two channels under `--align pca`) and one
/// model of each kind, built once for the cases below.
struct Fixture {
    _dir: tempfile::TempDir,
    meshes: PathBuf,
    features: PathBuf,
    models: PathBuf,
}

const KINDS: [&str; 4] = ["logistic", "mlp", "cnn", "fusion"];

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let meshes = d.path().join("meshes");
        let features = d.path().join("features");
        let models = d.path().join("models");
        common::small_view_features(&meshes, &features, 4, 3, 1);
        for kind in KINDS {
            let mut args = vec![
                "train",
                "--model",
                kind,
                "--features",
                s(&features),
                "--out",
            ];
            let out = models.join(kind);
            args.push(s(&out));
            args.extend(["--epochs", if kind == "logistic" { "20" } else { "3" }]);
            if kind == "cnn" || kind == "fusion" {
                args.extend(["--channels", "4,8", "--hidden", "16"]);
            }
            shapeclf_ok(&args);
        }
        Fixture {
            _dir: d,
            meshes,
            features,
            models,
        }
    })
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Sets the field at JSON `pointer` of the file `p` to `value`, as a hand edit would.
fn edit_json(p: &Path, pointer: &str, value: serde_json::Value) {
    let mut v = json(p);
    *v.pointer_mut(pointer).expect("the field exists") = value;
    std::fs::write(p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Every PNG under `dir`, relative.
fn pngs(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            pngs(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "png") {
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
        }
    }
}

/// #23.12: `predict` on a test mesh gives exactly the probability the report recorded for it,
/// for every model kind, whatever way the mesh's path is spelled.
#[test]
fn predict_reproduces_the_reports_probabilities_for_every_model_kind() {
    let f = fixture();
    for kind in KINDS {
        let report = json(&f.models.join(kind).join("report.json"));
        let preds = report["predictions"].as_array().unwrap();
        assert!(preds.len() >= 9, "{kind}: {} test predictions", preds.len());
        // The dataset spelled another way than `features` saw it: `a/./b/../b/c`.
        let spelled: Vec<String> = preds
            .iter()
            .map(|p| {
                let rel = p["path"].as_str().unwrap();
                let class = rel.split('/').next().unwrap();
                format!("{}/./{class}/../{rel}", f.meshes.display())
            })
            .collect();
        let mut args = vec!["predict", "--model"];
        let model = f.models.join(kind);
        args.push(s(&model));
        args.push("--json");
        args.extend(spelled.iter().map(String::as_str));
        let out: serde_json::Value = serde_json::from_str(&ok(&shapeclf(&args))).unwrap();
        for (p, got) in preds.iter().zip(out.as_array().unwrap()) {
            let (class, prob) = (&got["top"][0][0], got["top"][0][1].as_f64().unwrap());
            assert_eq!(class, &p["predicted"], "{kind}: {}", p["path"]);
            let want = p["probability"].as_f64().unwrap();
            assert!(
                (prob - want).abs() <= 1e-5,
                "{kind}: {}: predict gives {prob}, the report {want}",
                p["path"]
            );
        }
    }
}

/// #23.12, the cause: a mesh's descriptors come from its content, so a copy of a mesh under
/// another name and folder gets the same row.
#[test]
fn a_meshs_descriptors_do_not_depend_on_its_path() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("other");
    for (class, name) in [("mug", "renamed.off"), ("zz", "x.off")] {
        std::fs::create_dir_all(data.join(class).join("train")).unwrap();
        std::fs::create_dir_all(data.join(class).join("test")).unwrap();
        std::fs::copy(
            f.meshes.join("mug/train/mug_0000.off"),
            data.join(class).join("train").join(name),
        )
        .unwrap();
    }
    let out = d.path().join("f");
    shapeclf_ok(&[
        "features",
        s(&data),
        "--out",
        s(&out),
        "--align",
        "pca",
        "--view-res",
        "16",
        "--view-augment",
        "1",
    ]);
    let row = |table: &Path, path: &str| -> Vec<String> {
        let text = std::fs::read_to_string(table.join("descriptors.csv")).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{path},")))
            .unwrap_or_else(|| panic!("{path} not in {}", table.display()));
        line.split(',').skip(3).map(String::from).collect()
    };
    let original = row(&f.features, "mug/train/mug_0000.off");
    assert_eq!(row(&out, "mug/train/renamed.off"), original);
    assert_eq!(row(&out, "zz/train/x.off"), original);
    // Its augmented rendering, drawn from the mesh's own seed, is the same image too.
    assert_eq!(
        std::fs::read(f.features.join("views/mug/train/mug_0000.off~aug1.png")).unwrap(),
        std::fs::read(out.join("views/zz/train/x.off~aug1.png")).unwrap()
    );
}

/// #23.2: view images that a later run rewrote without committing (killed, out of disk, other
/// view flags) are refused by `train`, in memory and on disk, and a rerun of `features` with
/// the folder's own settings repairs the folder.
#[test]
fn train_refuses_views_of_another_generation() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let feats = d.path().join("f");
    copy_dir(&f.features, &feats);
    // What a killed `features --up y` leaves: some images of the new settings under the old
    // manifest (the same size, so nothing but their content tells them apart).
    let other = d.path().join("other");
    shapeclf_ok(&[
        "features",
        s(&f.meshes),
        "--out",
        s(&other),
        "--align",
        "pca",
        "--view-res",
        "16",
        "--view-augment",
        "1",
        "--up",
        "y",
        "--seed",
        "9",
    ]);
    let mut images = Vec::new();
    pngs(&other.join("views"), &other, &mut images);
    images.sort();
    let mut replaced = 0;
    for rel in images.iter().step_by(7) {
        let new = std::fs::read(other.join(rel)).unwrap();
        if new != std::fs::read(feats.join(rel)).unwrap() {
            std::fs::write(feats.join(rel), new).unwrap();
            replaced += 1;
        }
    }
    assert!(replaced >= 3, "{replaced} images differ");
    for extra in [&[][..], &["--views-in-memory"][..]] {
        let mut args = vec!["train", "--model", "cnn", "--features", s(&feats)];
        let out = d.path().join("m");
        args.extend(["--out", s(&out), "--epochs", "1", "--channels", "4"]);
        args.extend(extra);
        fails(&shapeclf(&args), 1, "not the view image");
        assert!(!out.exists(), "no model is written");
    }
    // Fusion reads the same views.
    fails(
        &shapeclf(&[
            "train",
            "--model",
            "fusion",
            "--features",
            s(&feats),
            "--out",
            s(&d.path().join("fu")),
            "--epochs",
            "1",
        ]),
        1,
        "not the view image",
    );
    // Rerunning with the folder's own settings re-renders exactly those images.
    let rerun = ok(&shapeclf(&[
        "features",
        s(&f.meshes),
        "--out",
        s(&feats),
        "--align",
        "pca",
        "--view-res",
        "16",
        "--view-augment",
        "1",
    ]));
    assert!(!rerun.is_empty());
    shapeclf_ok(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&feats),
        "--out",
        s(&d.path().join("m")),
        "--epochs",
        "1",
        "--channels",
        "4",
    ]);
}

/// #23.2, the record itself: a `mesh_cache.json` that is not the manifest's is refused, since
/// the views could not be checked against it.
#[test]
fn train_refuses_views_it_cannot_check() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let feats = d.path().join("f");
    copy_dir(&f.features, &feats);
    let cache = feats.join("mesh_cache.json");
    let mut c = json(&cache);
    c[0]["view_rays"] = serde_json::json!(1);
    std::fs::write(&cache, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    let out = shapeclf(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&feats),
        "--out",
        s(&d.path().join("m")),
        "--epochs",
        "1",
    ]);
    fails(&out, 1, "is not the cache the manifest was written with");
    // The descriptor models do not read views: they still train.
    shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&feats),
        "--out",
        s(&d.path().join("lg")),
        "--epochs",
        "2",
    ]);
}

/// #23.2 while training runs: an image kept on disk that changes after it was checked is
/// recorded, so the run can refuse the model instead of training on a blank shape.
#[test]
fn a_view_image_changed_during_training_is_caught() {
    use shapeclf::train::{Copies, Keep, load_views};
    use shapeclf::view_store::RecordedViews;
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let feats = d.path().join("f");
    copy_dir(&f.features, &feats);
    let (table, manifest, _) = shapeclf::features::read_folder_checked(&feats).unwrap();
    let data = shapeclf::train::prepare(&table, None).unwrap();
    let info = manifest.views.as_ref().unwrap();
    let rec = std::sync::Arc::new(RecordedViews::read(&feats, &manifest).unwrap());
    let (set, skipped) =
        load_views(&feats, info, &rec, &data.test, Keep::Disk, Copies::Original).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(set.read_failure(), None);
    let first = shapeclf::features::view_file(&feats, &set.paths[0]);
    let second = shapeclf::features::view_file(&feats, &set.paths[1]);
    std::fs::copy(&second, &first).unwrap();
    assert!(set.shape_pixels(1).iter().any(|&p| p != 0));
    assert_eq!(set.read_failure(), None);
    assert!(set.shape_pixels(0).iter().all(|&p| p == 0));
    let why = set.read_failure().expect("the change is recorded");
    assert!(why.contains("not the view image"), "{why}");
}

/// Where the views are held changes no number: a set that fits `SHAPECLF_VIEW_BYTES` is held
/// in memory, one over it is read batch by batch, and both train the same model; a budget that
/// is not a number is warned of, and the default used.
#[test]
fn views_held_in_memory_or_read_per_batch_train_the_same_model() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let train = |name: &str, budget: Option<&str>| {
        let out = d.path().join(name);
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"));
        c.args(["train", "--model", "cnn", "--features", s(&f.features)]);
        c.args(["--out", s(&out), "--epochs", "2", "--channels", "4"]);
        match budget {
            Some(b) => c.env("SHAPECLF_VIEW_BYTES", b),
            None => c.env_remove("SHAPECLF_VIEW_BYTES"),
        };
        let run = c.output().unwrap();
        ok(&run);
        let report = json(&out.join("report.json"));
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        (
            report["predictions"].clone(),
            report["history"].clone(),
            stderr,
        )
    };
    let held = train("held", None);
    assert!(held.2.contains("views held in memory"), "{}", held.2);
    let disk = train("disk", Some("0"));
    assert!(disk.2.contains("batch by batch"), "{}", disk.2);
    let junk = train("junk", Some("lots"));
    assert!(
        junk.2
            .contains("warning: SHAPECLF_VIEW_BYTES=\"lots\" is not a number"),
        "{}",
        junk.2
    );
    assert!(junk.2.contains("views held in memory"), "{}", junk.2);
    assert!(held.0.as_array().is_some_and(|p| !p.is_empty()));
    assert_eq!(held.0, disk.0);
    assert_eq!(held.0, junk.0);
    assert!(held.1.as_array().is_some_and(|h| h.len() == 2));
    assert_eq!(held.1, disk.1);
}

/// #23.8: a model folder whose feature settings were edited into ones `features` refuses is
/// refused when loaded, before any mesh is touched.
#[test]
fn predict_checks_the_settings_a_model_folder_records() {
    let f = fixture();
    let mesh = f.meshes.join("mug/test/mug_0003.off");
    let cases: [(&str, &str, serde_json::Value, &str); 5] = [
        (
            "logistic",
            "/descriptors/d2_points",
            5_000_000.into(),
            "d2_points is 5000000",
        ),
        ("logistic", "/descriptors/d2_pairs", 0.into(), "d2_pairs"),
        ("mlp", "/descriptors/hist_max", 0.0.into(), "hist_max"),
        (
            "cnn",
            "/views/config/layout",
            "dodecahedron".into(),
            "renders 20",
        ),
        (
            "fusion",
            "/views/config/resolution",
            100_000.into(),
            "view_res is 100000",
        ),
    ];
    for (kind, pointer, value, words) in cases {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join(kind);
        copy_dir(&f.models.join(kind), &m);
        edit_json(&m.join("features_manifest.json"), pointer, value);
        let out = shapeclf(&["predict", "--model", s(&m), s(&mesh)]);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{kind} {pointer}: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(words) && err.contains("retrain"),
            "{kind} {pointer}: {}",
            text(&out)
        );
    }
}

/// A feature folder whose manifest was edited into settings `features` refuses is refused by
/// `train` with the setting named, before it sizes any work from them: an augment count of a
/// trillion once made training allocate for that many renderings per mesh and abort.
#[test]
fn train_checks_the_settings_a_feature_manifest_records() {
    let f = fixture();
    for (pointer, value, words) in [
        (
            "/views/config/augment",
            serde_json::Value::from(1_000_000_000_000u64),
            "view_augment",
        ),
        ("/views/count", 7.into(), "records 7 views"),
        ("/descriptors/d2_pairs", 0.into(), "d2_pairs"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let feats = d.path().join("f");
        copy_dir(&f.features, &feats);
        edit_json(&feats.join("manifest.json"), pointer, value);
        let m = d.path().join("m");
        let out = shapeclf(&[
            "train",
            "--model",
            "cnn",
            "--features",
            s(&feats),
            "--out",
            s(&m),
            "--epochs",
            "1",
            "--channels",
            "4,8",
            "--hidden",
            "16",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        // A clear error, not success and not a panic (101).
        assert!(
            matches!(out.status.code(), Some(c) if c != 0 && c != 101),
            "{pointer}: {}",
            text(&out)
        );
        assert!(
            err.contains(words) && err.contains("edited or damaged") && !err.contains("panicked"),
            "{pointer}: {}",
            text(&out)
        );
        assert!(!m.exists(), "{pointer}: no model folder is left");
    }
}

/// A folder merged with `--allow-missing` holds part of the dataset: `train` says so, naming
/// the shards, so its scores are not read as the whole set's.
#[test]
fn train_warns_on_a_feature_folder_merged_with_shards_left_out() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats) = (d.path().join("m"), d.path().join("f"));
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "3"]);
    shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&feats),
        "--no-views",
        "--shard",
        "0/2",
    ]);
    shapeclf_ok(&["merge", s(&feats), "--allow-missing"]);
    let out = shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&feats),
        "--out",
        s(&d.path().join("lg")),
        "--epochs",
        "2",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is incomplete") && err.contains("shards left out or unfinished: 1/2"),
        "{err}"
    );
}

/// The comparison page shows a mistake's depth views, and the split counts, only from the
/// generation of the feature folder the models were trained on: once `features` has rewritten
/// the folder (here with other views and another seed), the page says why it shows none instead
/// of showing the new images as the ones the network saw.
#[test]
fn compare_shows_only_the_views_a_model_was_trained_on() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats, models) = (
        d.path().join("m"),
        d.path().join("f"),
        d.path().join("models"),
    );
    common::small_view_features(&meshes, &feats, 4, 3, 0);
    let cnn = models.join("cnn");
    shapeclf_ok(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&feats),
        "--out",
        s(&cnn),
        "--epochs",
        "1",
        "--channels",
        "2,2",
        "--hidden",
        "4",
    ]);
    let page = || {
        shapeclf_ok(&["compare", "--models", s(&models)]);
        std::fs::read_to_string(models.join("comparison.html")).unwrap()
    };
    let before = page();
    assert!(
        before.contains("misclassified by at least one model"),
        "no mistakes to show"
    );
    assert!(before.contains("<img class=\"views\""));
    assert!(before.contains("Meshes per class and split"));
    assert!(!before.contains("No depth views are shown"));

    shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&feats),
        "--align",
        "none",
        "--view-res",
        "16",
        "--view-augment",
        "0",
        "--seed",
        "9",
    ]);
    let after = page();
    assert!(!after.contains("<img class=\"views\""));
    assert!(!after.contains("Meshes per class and split"));
    assert!(after.contains("No depth views are shown"));
}

/// A CNN trained on Burn's generic operations (`SHAPECLF_CNN_KERNELS=burn`) says so in its
/// backend, which a resume compares: the two round differently, so mixing them is warned of.
#[test]
fn the_backend_names_the_cnn_operations_that_trained() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args([
            "train",
            "--model",
            "cnn",
            "--features",
            s(&f.features),
            "--out",
            s(&m),
        ])
        .args(["--epochs", "1", "--channels", "2,2", "--hidden", "4"])
        .env("SHAPECLF_CNN_KERNELS", "burn")
        .output()
        .unwrap();
    ok(&out);
    let generic = json(&m.join("report.json"))["backend"].to_string();
    assert!(generic.contains("generic CNN operations"), "{generic}");
    let own = json(&f.models.join("cnn/report.json"))["backend"].to_string();
    assert!(!own.contains("generic"), "{own}");
}

/// Settings the views' size rules out are refused once it is known, naming the flag; flags the
/// chosen model does not use are warned of rather than silently written into its config; the
/// CNN's parameter cap counts its view descriptor's layer.
#[test]
fn train_refuses_what_the_views_rule_out_and_warns_of_unused_flags() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--features", s(&f.features), "--out", s(&m)];
        args.extend(extra);
        shapeclf(&args)
    };
    // 16-pixel views: five halvings leave no map; a 16-pixel shift leaves no picture.
    let cases: [(&[&str], &str); 3] = [
        (
            &["--model", "cnn", "--channels", "2,2,2,2,2"],
            "allow at most 4",
        ),
        (
            &["--model", "cnn", "--channels", "2,2", "--jitter", "16"],
            "--jitter 16",
        ),
        (
            &[
                "--model",
                "cnn",
                "--channels",
                "16,32,1024",
                "--hidden",
                "65536",
            ],
            "parameters",
        ),
    ];
    for (extra, words) in cases {
        let out = train(extra);
        assert!(
            matches!(out.status.code(), Some(1 | 2))
                && String::from_utf8_lossy(&out.stderr).contains(words),
            "{extra:?}: {}",
            text(&out)
        );
        assert!(!m.exists(), "{extra:?}: no model written");
    }
    let out = train(&[
        "--model",
        "logistic",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--channels",
        "4",
        "--patience",
        "3",
    ]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    for w in [
        "--hidden does not apply to --model logistic",
        "--channels does not apply to --model logistic",
        "--patience needs a validation split",
    ] {
        assert!(err.contains(w), "{w}: {err}");
    }
}
