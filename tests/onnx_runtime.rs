//! `shapeclf export --onnx` run in onnxruntime: for every model kind, the exported graph gives
//! `shapeclf predict`'s probabilities within 1e-5 on every test mesh, from the raw descriptor
//! row and the view stack (pixel bytes times 1/255), once the ONNX checker has passed it.
//! Needs a Python with onnx, onnxruntime, NumPy and Pillow: `SHAPECLF_PYTHON` names it
//! (`.ci/run` makes a virtual environment and sets it, and sets `CI`, where a missing one fails
//! the test), else `python3`; without them the test is skipped with a notice.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, ok, s, shapeclf, shapeclf_ok};

/// Runs each exported model on the inputs the test wrote and prints the probabilities as JSON.
const RUN: &str = r#"
import json, sys
import numpy as np
import onnx
import onnxruntime as ort

model, n = sys.argv[1], int(sys.argv[2])
# The ONNX project's own checker, with shape inference, before running it.
onnx.checker.check_model(onnx.load(model), full_check=True)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
feeds = {}
for i in session.get_inputs():
    shape = [n] + [int(d) for d in i.shape[1:]]
    feeds[i.name] = np.fromfile(sys.argv[3] + "/" + i.name + ".f32", dtype="<f4").reshape(shape)
(p,) = session.run(["probabilities"], feeds)
meta = session.get_modelmeta().custom_metadata_map
print(json.dumps({"p": p.astype(float).tolist(), "classes": json.loads(meta["classes"]),
                  "inputs": [i.name for i in session.get_inputs()]}))
"#;

fn python() -> Option<String> {
    let python = std::env::var("SHAPECLF_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import onnx, onnxruntime, numpy, PIL"])
        .output();
    if probe.as_ref().is_ok_and(|o| o.status.success()) {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide onnxruntime ({python} has none)"
    );
    eprintln!("skipped: {python} lacks onnxruntime (pip install onnx onnxruntime numpy pillow)");
    None
}

/// Every test mesh of `root` (`<class>/test/<file>`), sorted.
fn test_meshes(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for class in std::fs::read_dir(root).unwrap() {
        let dir = class.unwrap().path().join("test");
        for f in std::fs::read_dir(&dir).into_iter().flatten() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

fn f32_file(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// The graph's inputs for `meshes`, computed as `predict` computes them, written as raw
/// little-endian floats `descriptors.f32` and `views.f32` in `dir`.
fn write_inputs(model: &Path, meshes: &[PathBuf], dir: &Path) {
    let saved =
        shapeclf::model_dir::SavedModel::load(model, &burn::tensor::Device::flex()).unwrap();
    let m = &saved.manifest;
    let views = m.views.as_ref().map(|v| v.config);
    let (mut rows, mut pixels) = (Vec::new(), Vec::new());
    for path in meshes {
        let f = shapeclf::extract::process_file_with_views(
            path,
            &m.descriptors,
            m.seed,
            None,
            views.as_ref(),
        )
        .unwrap();
        rows.extend(f.descriptors.values);
        if let Some(v) = f.descriptors.views {
            pixels.extend(v.pixels.iter().map(|&p| f32::from(p) * (1.0 / 255.0)));
        }
    }
    f32_file(&dir.join("descriptors.f32"), &rows);
    f32_file(&dir.join("views.f32"), &pixels);
}

/// Trains `kind` with `extra` flags on `features` into `models/<name>`, exports it, and checks
/// onnxruntime against `predict` on `meshes`.
struct Case<'a> {
    name: &'a str,
    kind: &'a str,
    extra: &'a [&'a str],
}

fn check(python: &str, work: &Path, features: &Path, meshes: &[PathBuf], case: Case) {
    let Case { name, kind, extra } = case;
    let model = work.join("models").join(name);
    let mut args = vec![
        "train",
        "--model",
        kind,
        "--features",
        s(features),
        "--out",
        s(&model),
    ];
    args.extend(extra);
    shapeclf_ok(&args);
    let onnx = work.join(format!("{name}.onnx"));
    let said = ok(&shapeclf(&["export", s(&model), "--onnx", s(&onnx)]));
    assert!(said.contains("probabilities"), "{said}");

    let inputs = work.join(format!("{name}-inputs"));
    std::fs::create_dir_all(&inputs).unwrap();
    write_inputs(&model, meshes, &inputs);
    let run = Command::new(python)
        .args(["-c", RUN, s(&onnx), &meshes.len().to_string(), s(&inputs)])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{name}: onnxruntime: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let classes: Vec<String> = serde_json::from_value(got["classes"].clone()).unwrap();

    let mut args = vec!["predict", "--model", s(&model), "--json", "--top", "100"];
    args.extend(meshes.iter().map(|p| s(p)));
    let want: serde_json::Value = serde_json::from_str(&ok(&shapeclf(&args))).unwrap();
    let want = want.as_array().unwrap();
    assert_eq!(want.len(), meshes.len());
    let mut worst = 0f64;
    for (i, w) in want.iter().enumerate() {
        let row = got["p"][i].as_array().unwrap();
        assert_eq!(row.len(), classes.len(), "{name}");
        let top = w["top"].as_array().unwrap();
        assert_eq!(top.len(), classes.len(), "{name}: {}", w["path"]);
        for entry in top {
            let class = entry[0].as_str().unwrap();
            let c = classes.iter().position(|x| x == class).unwrap();
            let (p, q) = (row[c].as_f64().unwrap(), entry[1].as_f64().unwrap());
            worst = worst.max((p - q).abs());
            assert!(
                (p - q).abs() <= 1e-5,
                "{name}: {}: class {class}: onnxruntime {p}, predict {q}",
                w["path"]
            );
        }
    }
    eprintln!(
        "{name}: {} meshes, inputs {}, largest difference {worst:.2e}",
        meshes.len(),
        got["inputs"]
    );
}

#[test]
fn onnxruntime_gives_predicts_probabilities_for_every_model_kind() {
    let Some(python) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    let features = d.path().join("features");
    // Views of 16 px in two channels (depth and shading, as `--align pca` renders them).
    common::small_view_features(&meshes, &features, 5, 4, 0);
    let tests = test_meshes(&meshes);
    assert!(tests.len() >= 9, "{} test meshes", tests.len());
    let cases = [
        Case {
            name: "logistic",
            kind: "logistic",
            extra: &["--epochs", "30"],
        },
        Case {
            name: "mlp",
            kind: "mlp",
            extra: &[
                "--epochs",
                "20",
                "--histograms",
                "sqrt",
                "--activation",
                "leaky-relu",
            ],
        },
        // Two blocks take 16 px to the 4x4 grid; one block leaves 8x8, average-pooled in the
        // graph.
        Case {
            name: "cnn",
            kind: "cnn",
            extra: &["--epochs", "2", "--channels", "4,8", "--hidden", "16"],
        },
        Case {
            name: "fusion",
            kind: "fusion",
            extra: &[
                "--epochs",
                "2",
                "--channels",
                "4",
                "--hidden",
                "16",
                "--histograms",
                "sqrt",
            ],
        },
    ];
    for case in cases {
        check(&python, d.path(), &features, &tests, case);
    }
    readme_example_classifies_from_the_view_images(&python, d.path(), &features, &tests);

    // Two classes: logistic regression has one logit and a sigmoid.
    let two = d.path().join("two");
    for class in ["mug", "bowl"] {
        copy_dir(&meshes.join(class), &two.join(class));
    }
    let two_features = d.path().join("two-features");
    shapeclf_ok(&["features", s(&two), "--out", s(&two_features)]);
    let case = Case {
        name: "logistic-two-classes",
        kind: "logistic",
        extra: &["--epochs", "30"],
    };
    check(&python, d.path(), &two_features, &test_meshes(&two), case);
}

/// `examples/onnx_classify.py` (the reference's onnxruntime example) reads a mesh's views
/// from the feature folder's tiled image and gives `predict`'s top class and probability.
fn readme_example_classifies_from_the_view_images(
    python: &str,
    work: &Path,
    features: &Path,
    meshes: &[PathBuf],
) {
    let model = work.join("models").join("cnn");
    let onnx = work.join("cnn.onnx");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/onnx_classify.py");
    let mut args = vec!["predict", "--model", s(&model), "--json"];
    args.extend(meshes.iter().map(|p| s(p)));
    let want: serde_json::Value = serde_json::from_str(&ok(&shapeclf(&args))).unwrap();
    for (mesh, w) in meshes.iter().zip(want.as_array().unwrap()) {
        // views/<class>/test/<file>.png
        let n = mesh.components().count();
        let rel: PathBuf = mesh.components().skip(n - 3).collect();
        let png = features
            .join("views")
            .join(format!("{}.png", rel.display()));
        let out = Command::new(python)
            .args([s(&example), s(&onnx), s(&png)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        let (class, p) = said.trim().split_once(' ').unwrap();
        assert_eq!(
            class,
            w["top"][0][0].as_str().unwrap(),
            "{}",
            mesh.display()
        );
        let q = w["top"][0][1].as_f64().unwrap();
        let p: f64 = p.parse().unwrap();
        assert!(
            (p - q).abs() <= 1e-5,
            "{}: example {p}, predict {q}",
            mesh.display()
        );
    }
}

/// A folder that is not a model, and a file that cannot be written, are clear errors that leave
/// nothing behind.
#[test]
fn export_refuses_what_is_not_a_model_and_leaves_no_file() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = d.path().join("m.onnx");
    let r = shapeclf(&["export", s(&empty), "--onnx", s(&out)]);
    assert!(!r.status.success());
    let err = common::text(&r);
    assert!(
        err.contains("config.json") || err.contains("model"),
        "{err}"
    );
    assert!(!out.exists());
    let r = shapeclf(&["export", s(&empty), "--onnx"]);
    assert!(!r.status.success());
}
