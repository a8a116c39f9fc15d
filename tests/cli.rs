//! The `shapeclf` binary end to end on a small synthetic dataset.

use common::{fails, manifest, ok, s, shapeclf, text};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[test]
fn features_end_to_end_with_broken_files_and_determinism() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    ok(&shapeclf(&[
        "synth",
        s(&meshes),
        "--per-class",
        "5",
        "--seed",
        "3",
    ]));
    // Broken files among good ones: each must be listed, the rest must still become rows.
    let bad = meshes.join("mug/train");
    std::fs::write(bad.join("zz_empty.stl"), b"").unwrap();
    std::fs::write(bad.join("zz_garbage.off"), b"not a mesh at all").unwrap();
    std::fs::write(bad.join("zz_huge.off"), b"OFF\n1000000000000 1 0\n").unwrap();
    std::fs::write(bad.join("notes.txt"), b"ignored").unwrap();

    let (f1, f2) = (d.path().join("f1"), d.path().join("f2"));
    let out = ok(&shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&f1),
        "--no-views",
        "-j",
        "1",
    ]));
    assert!(out.contains("48 meshes: 45 ok, 3 failed"), "{out}");
    assert!(out.contains("zz_huge.off"), "{out}");
    ok(&shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&f2),
        "--no-views",
        "-j",
        "2",
    ]));
    let t1 = std::fs::read(f1.join("descriptors.csv")).unwrap();
    let t2 = std::fs::read(f2.join("descriptors.csv")).unwrap();
    assert!(t1 == t2, "tables differ between --jobs 1 and --jobs 2");

    let text = String::from_utf8(t1).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("path,class,split,d2_00,"));
    assert!(header.contains(",d2_63,sdf_00,") && header.contains(",sdf_31,"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 45);
    let paths: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "rows sorted by path");
    assert!(rows.iter().any(|r| r.contains(",test,")));

    let m = manifest(&f1);
    assert_eq!(m["counts"]["found"], 48);
    assert_eq!(m["counts"]["failed"], 3);
    assert_eq!(m["seed"], 0);
    assert_eq!(m["descriptors"]["d2_bins"], 64);
    let failed = m["failed"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .all(|f| !f["error"].as_str().unwrap().is_empty())
    );
    assert!(
        failed.iter().any(|f| f["path"] == "mug/train/zz_empty.stl"
            && f["error"].as_str().unwrap().contains("empty"))
    );

    // --no-views writes no views; a default run writes one tiled PNG per row.
    assert!(!f1.join("views").exists());
    assert!(m["views"].is_null());
    let fv = d.path().join("fv");
    ok(&shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&fv),
        "--view-res",
        "16",
    ]));
    let mv = manifest(&fv);
    assert_eq!(mv["views"]["count"], 12);
    assert_eq!(mv["views"]["config"]["resolution"], 16);
    assert_eq!(mv["views"]["config"]["channels"], "depth+shade");
    for p in &paths {
        let png = fv.join("views").join(format!("{p}.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        // 4 x 3 views of 16 pixels, the depth grid over the shading grid.
        assert_eq!((img.width(), img.height()), (64, 96));
    }
    assert_eq!(
        std::fs::read(fv.join("descriptors.csv")).unwrap(),
        std::fs::read(f1.join("descriptors.csv")).unwrap(),
        "views do not change the descriptors"
    );

    // --strict turns the same run into a failure, still writing the table.
    let out = shapeclf(&["features", s(&meshes), "--out", s(&f2), "--strict"]);
    assert_eq!(out.status.code(), Some(3));

    // Another seed gives other values.
    let f3 = d.path().join("f3");
    ok(&shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&f3),
        "--seed",
        "1",
    ]));
    assert_ne!(
        std::fs::read(f3.join("descriptors.csv")).unwrap(),
        std::fs::read(f1.join("descriptors.csv")).unwrap()
    );
}

#[test]
fn flat_layout_gets_a_split_and_empty_dirs_fail_clearly() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("flat");
    for class in ["a", "b"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..5 {
            let m = shapeclf::synth::shape(
                if class == "a" {
                    shapeclf::synth::ShapeClass::Mug
                } else {
                    shapeclf::synth::ShapeClass::Table
                },
                &mut {
                    use rand::SeedableRng;
                    rand_chacha::ChaCha8Rng::seed_from_u64(i)
                },
            );
            shapeclf::synth::write_mesh(&root.join(class).join(format!("{i}.obj")), &m, false)
                .unwrap();
        }
    }
    let out_dir = d.path().join("f");
    ok(&shapeclf(&["features", s(&root), "--out", s(&out_dir)]));
    let text = std::fs::read_to_string(out_dir.join("descriptors.csv")).unwrap();
    assert_eq!(text.matches(",test,").count(), 2, "one in five per class");

    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = shapeclf(&["features", s(&empty), "--out", s(&out_dir)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mesh files"));
    // The earlier table is untouched.
    assert_eq!(
        std::fs::read_to_string(out_dir.join("descriptors.csv")).unwrap(),
        text
    );
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// A dataset, its features, and logistic and MLP models trained on them, built once and
/// shared by the train, compare and predict cases below.
struct Trained {
    _dir: tempfile::TempDir,
    meshes: PathBuf,
    features: PathBuf,
    models: PathBuf,
}

fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let meshes = d.path().join("meshes");
        let features = d.path().join("features");
        let models = d.path().join("models");
        ok(&shapeclf(&[
            "synth",
            s(&meshes),
            "--per-class",
            "10",
            "--seed",
            "5",
        ]));
        ok(&shapeclf(&["features", s(&meshes), "--out", s(&features)]));
        for model in ["logistic", "mlp"] {
            let text = ok(&shapeclf(&[
                "train",
                "--model",
                model,
                "--features",
                s(&features),
                "--out",
                s(&models.join(model)),
                "--epochs",
                "60",
            ]));
            assert!(
                text.contains("precision") && text.contains("confusion matrix"),
                "{text}"
            );
        }
        Trained {
            _dir: d,
            meshes,
            features,
            models,
        }
    })
}

fn mug(t: &Trained) -> PathBuf {
    t.meshes.join("mug/test/mug_0004.off")
}

#[test]
fn train_writes_a_complete_model_folder() {
    let t = trained();
    for model in ["logistic", "mlp"] {
        let out = t.models.join(model);
        for f in [
            "model.bpk",
            "config.json",
            "classes.json",
            "normalization.json",
            "features_manifest.json",
            "report.json",
            "report.md",
            "confusion.png",
            "curves.png",
        ] {
            assert!(out.join(f).is_file(), "{model}: {f} missing");
        }
        let r: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
        let acc = r["accuracy"].as_f64().unwrap();
        assert!(acc > 0.6, "{model}: test accuracy {acc}");
        assert_eq!(r["classes"].as_array().unwrap().len(), 9);
        assert_eq!(r["confusion_matrix"].as_array().unwrap().len(), 9);
        let hist = r["history"].as_array().unwrap();
        assert!(!hist.is_empty() && hist[0]["loss"].as_f64().is_some());
        assert_eq!(
            &read(&out.join("features_manifest.json")),
            &read(&t.features.join("manifest.json"))
        );
    }
}

#[test]
fn compare_puts_the_models_side_by_side() {
    let t = trained();
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    for m in ["logistic", "mlp"] {
        copy_dir(&t.models.join(m), &models.join(m));
    }
    let text = ok(&shapeclf(&["compare", "--models", s(&models)]));
    assert!(text.contains("logistic") && text.contains("mlp"), "{text}");
    assert!(models.join("comparison.md").is_file() && models.join("comparison.png").is_file());
}

#[test]
fn predict_reports_each_mesh_and_exits_3_when_some_fail() {
    let t = trained();
    let mug = mug(t);
    let partial = shapeclf(&[
        "predict",
        "--model",
        s(&t.models.join("mlp")),
        s(&mug),
        "/no/such.off",
    ]);
    assert_eq!(partial.status.code(), Some(3));
    let text = String::from_utf8_lossy(&partial.stdout).into_owned();
    assert!(
        text.contains("mug_0004.off: ") && text.contains("/no/such.off: error"),
        "{text}"
    );
    let json = ok(&shapeclf(&[
        "predict",
        "--model",
        s(&t.models.join("logistic")),
        "--json",
        "--top",
        "2",
        s(&mug),
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["top"].as_array().unwrap().len(), 2);
}

#[test]
fn repeats_report_every_seed_and_their_spread() {
    let t = trained();
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    let out = models.join("logistic3");
    let text = ok(&shapeclf(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&t.features),
        "--out",
        s(&out),
        "--epochs",
        "40",
        "--seed",
        "7",
        "--repeats",
        "3",
    ]));
    assert!(text.contains("over 3 seeds"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    let runs = r["repeats"].as_array().unwrap();
    let seeds: Vec<u64> = runs.iter().map(|x| x["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [7, 8, 9]);
    assert_eq!(
        runs[0]["accuracy"], r["accuracy"],
        "the folder's own seed comes first"
    );
    let acc: Vec<f64> = runs
        .iter()
        .map(|x| x["accuracy"].as_f64().unwrap())
        .collect();
    let mean = acc.iter().sum::<f64>() / 3.0;
    let sd = (acc.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((r["spread"]["accuracy"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((r["spread"]["accuracy"]["std"].as_f64().unwrap() - sd).abs() < 1e-12);
    let cmp = ok(&shapeclf(&["compare", "--models", s(&models)]));
    assert!(cmp.contains("± ") && cmp.contains("(n=3)"), "{cmp}");
    fails(
        &shapeclf(&[
            "train",
            "--model",
            "logistic",
            "--features",
            s(&t.features),
            "--out",
            s(&d.path().join("x")),
            "--repeats",
            "0",
        ]),
        2,
        "--repeats",
    );
}

#[test]
fn one_class_against_the_rest() {
    let t = trained();
    let d = tempfile::tempdir().unwrap();
    let text = ok(&shapeclf(&[
        "train",
        "--model",
        "logistic",
        "--positive",
        "mug",
        "--features",
        s(&t.features),
        "--out",
        s(&d.path().join("mug")),
        "--epochs",
        "60",
    ]));
    assert!(text.contains("not-mug"), "{text}");
}

#[test]
fn a_corrupt_or_mismatched_model_is_a_clear_error() {
    let t = trained();
    let mug = mug(t);
    let d = tempfile::tempdir().unwrap();
    let broken = d.path().join("broken");
    copy_dir(&t.models.join("mlp"), &broken);
    let w = read(&broken.join("normalization.json")).replace("\"d2_00\"", "\"x2_00\"");
    std::fs::write(broken.join("normalization.json"), w).unwrap();
    fails(
        &shapeclf(&["predict", "--model", s(&broken), s(&mug)]),
        1,
        "columns",
    );
    let bytes = std::fs::read(t.models.join("mlp/model.bpk")).unwrap();
    std::fs::write(broken.join("model.bpk"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(
        t.models.join("mlp/normalization.json"),
        broken.join("normalization.json"),
    )
    .unwrap();
    fails(
        &shapeclf(&["predict", "--model", s(&broken), s(&mug)]),
        1,
        "weights",
    );
    fails(
        &shapeclf(&["predict", "--model", s(&d.path().join("nope")), s(&mug)]),
        1,
        "no such model folder",
    );
}

#[test]
fn bad_feature_tables_are_refused_with_the_reason() {
    let t = trained();
    let d = tempfile::tempdir().unwrap();
    fails(
        &shapeclf(&[
            "train",
            "--model",
            "mlp",
            "--features",
            s(&d.path().join("nope")),
        ]),
        1,
        "nope",
    );
    let table = read(&t.features.join("descriptors.csv"));
    let header = table.lines().next().unwrap();
    let only_mugs: String = std::iter::once(header)
        .chain(table.lines().filter(|l| l.contains(",mug,")))
        .map(|l| format!("{l}\n"))
        .collect();
    let cases: [(&str, String, &str); 3] = [
        ("one class", only_mugs, "at least two classes"),
        (
            "no test rows",
            table.replace(",test,", ",train,"),
            "no test rows",
        ),
        ("empty", String::new(), "features"),
    ];
    for (case, csv, words) in cases {
        let one = d.path().join(case.replace(' ', "_"));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::copy(t.features.join("manifest.json"), one.join("manifest.json")).unwrap();
        std::fs::write(one.join("descriptors.csv"), csv).unwrap();
        let out = shapeclf(&[
            "train",
            "--model",
            "logistic",
            "--features",
            s(&one),
            "--out",
            s(&d.path().join("m").join(case.replace(' ', "_"))),
        ]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(words),
            "{case}: expected {words:?}: {}",
            text(&out)
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

#[test]
fn cnn_trains_on_views_predicts_and_reports_bad_views() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    let features = d.path().join("features");
    ok(&shapeclf(&[
        "synth",
        s(&meshes),
        "--per-class",
        "6",
        "--seed",
        "7",
    ]));
    // Depth alone and no rotated copies, so that the sizes below count meshes.
    ok(&shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&features),
        "--view-res",
        "16",
        "--align",
        "none",
    ]));
    let table = read(&features.join("descriptors.csv"));
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    // One view image is garbage, one has another size: both are skipped and reported.
    let views = features.join("views");
    std::fs::write(views.join(format!("{}.png", rows[0])), b"not a png").unwrap();
    image::GrayImage::new(10, 10)
        .save(views.join(format!("{}.png", rows[1])))
        .unwrap();

    let cnn = d.path().join("models/cnn");
    let train = |out: &Path, feats: &Path| {
        shapeclf(&[
            "train",
            "--model",
            "cnn",
            "--features",
            s(feats),
            "--out",
            s(out),
            "--epochs",
            "4",
            "--channels",
            "8,16",
            "--hidden",
            "32",
        ])
    };
    let out = train(&cnn, &features);
    let text = ok(&out);
    assert!(text.contains("confusion matrix"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(rows[0]) && stderr.contains(rows[1]),
        "{stderr}"
    );
    for f in [
        "model.bpk",
        "config.json",
        "report.json",
        "report.md",
        "confusion.png",
        "curves.png",
        "filters.png",
        "feature_maps.png",
    ] {
        assert!(cnn.join(f).is_file(), "{f} missing");
    }
    assert!(!cnn.join("normalization.json").exists());
    let r: serde_json::Value = serde_json::from_str(&read(&cnn.join("report.json"))).unwrap();
    assert_eq!(r["model"], "cnn");
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|f| f["error"].as_str().unwrap().contains("10x10")),
        "{skipped:?}"
    );
    let md = read(&cnn.join("report.md"));
    assert!(
        md.contains("2 mesh(es) whose inputs could not be read are left out")
            && md.contains(rows[0]),
        "{md}"
    );
    // The comparison page says the CNN's counts leave them out.
    ok(&shapeclf(&[
        "compare",
        "--models",
        s(&d.path().join("models")),
    ]));
    let html = read(&d.path().join("models/comparison.html"));
    assert!(html.contains("(2 meshes left out)"), "{html}");
    assert_eq!(
        r["train_size"].as_u64().unwrap()
            + r["val_size"].as_u64().unwrap()
            + r["test_size"].as_u64().unwrap(),
        rows.len() as u64 - 2
    );
    let filters = image::open(cnn.join("filters.png")).unwrap();
    assert!(filters.width() > 100, "8 magnified filters per row");

    // Predict renders the new mesh's views with the model's settings.
    let mug = std::fs::read_dir(meshes.join("mug/test"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let json = ok(&shapeclf(&[
        "predict",
        "--model",
        s(&cnn),
        "--json",
        s(&mug),
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top = v[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let p: f64 = top.iter().map(|t| t[1].as_f64().unwrap()).sum();
    assert!(p > 0.0 && p <= 1.0 + 1e-5);

    // Training on a random 3 of each shape's views: recorded in the model's settings, and
    // the model still reads every view when it is tested and predicts.
    let few = d.path().join("models/few");
    ok(&shapeclf(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&features),
        "--out",
        s(&few),
        "--epochs",
        "2",
        "--channels",
        "8,16",
        "--hidden",
        "32",
        "--train-views",
        "3",
    ]));
    let c: serde_json::Value = serde_json::from_str(&read(&few.join("config.json"))).unwrap();
    assert_eq!(c["train"]["model"]["train_views"], 3, "{c}");
    ok(&shapeclf(&["predict", "--model", s(&few), s(&mug)]));

    // A model whose manifest records other views than the network takes is refused.
    let m = read(&cnn.join("features_manifest.json"))
        .replace("\"resolution\": 16", "\"resolution\": 32");
    std::fs::write(cnn.join("features_manifest.json"), m).unwrap();
    let out = shapeclf(&["predict", "--model", s(&cnn), s(&mug)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("views"));

    // Features without views: a clear error saying what to do.
    let nv = d.path().join("noviews");
    ok(&shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&nv),
        "--no-views",
    ]));
    let out = train(&d.path().join("models/x"), &nv);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-views"));
}

mod common;

#[test]
fn sh_adds_named_columns_last_and_bad_values_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("m");
    for (class, shape) in [
        ("mug", shapeclf::synth::ShapeClass::Mug),
        ("table", shapeclf::synth::ShapeClass::Table),
    ] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..3 {
            let m = shapeclf::synth::shape(shape, &mut {
                use rand::SeedableRng;
                rand_chacha::ChaCha8Rng::seed_from_u64(i)
            });
            shapeclf::synth::write_mesh(&root.join(class).join(format!("{i}.off")), &m, false)
                .unwrap();
        }
    }
    let small = ["--no-views", "--d2-points", "256", "--sdf-points", "32"];
    let out_dir = d.path().join("f");
    let mut args = vec!["features", s(&root), "--out", s(&out_dir)];
    args.extend(small);
    args.extend(["--sh-shells", "2", "--sh-degrees", "3"]);
    ok(&shapeclf(&args));
    let table = std::fs::read_to_string(out_dir.join("descriptors.csv")).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header[header.len() - 7..],
        [
            "shape_log_area",
            "sh_r00_l00",
            "sh_r00_l01",
            "sh_r00_l02",
            "sh_r01_l00",
            "sh_r01_l01",
            "sh_r01_l02"
        ]
    );
    assert_eq!(
        manifest(&out_dir)["descriptors"]["sh"],
        serde_json::json!({"shells": 2, "degrees": 3, "points": 8192})
    );
    let bad_dir = d.path().join("bad");
    let mut args = vec!["features", s(&root), "--out", s(&bad_dir)];
    args.extend(small);
    args.extend(["--sh-degrees", "0"]);
    // As the other descriptor parameters: refused before anything is created.
    // A wrong argument: 2, as documented (issue #23; it was 1).
    fails(
        &shapeclf(&args),
        2,
        "invalid setting: --sh-degrees is 0; at least 1",
    );
    assert!(!bad_dir.exists());
}
