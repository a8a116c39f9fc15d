//! Issue #23, what reaches people: input that once panicked (a glTF data URI), closed pipes,
//! names that are not plain text, wrong arguments and costly settings, and class names that
//! Markdown would act on. Each test reproduces one defect and checks its fix.

use common::{GOOD_OFF, fails, ok, s, shapeclf, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Fast descriptor settings for these tests.
const FAST: [&str; 6] = [
    "--d2-points",
    "128",
    "--sdf-points",
    "64",
    "--view-res",
    "16",
];

/// A small synthetic dataset, its features and a logistic model, built once.
struct Fixture {
    _dir: tempfile::TempDir,
    meshes: PathBuf,
    model: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let meshes = dir.path().join("meshes");
        let features = dir.path().join("features");
        let model = dir.path().join("models/logistic");
        ok(&shapeclf(&["synth", s(&meshes), "--per-class", "4"]));
        let mut args = vec!["features", s(&meshes), "--out", s(&features), "--no-views"];
        args.extend(&FAST[..4]);
        ok(&shapeclf(&args));
        ok(&shapeclf(&[
            "train",
            "--model",
            "logistic",
            "--features",
            s(&features),
            "--out",
            s(&model),
            "--weight-decay",
            "0.001",
        ]));
        Fixture {
            _dir: dir,
            meshes,
            model,
        }
    })
}

/// A `.gltf` tetrahedron whose buffer URI has 40 `é` before its comma.
fn multibyte_data_uri_gltf() -> Vec<u8> {
    let mut j: serde_json::Value =
        serde_json::from_slice(&shapeclf::synth::gltf_bytes(&common::tet())).unwrap();
    j["buffers"][0]["uri"] = format!("data:{},AAAA", "é".repeat(40)).into();
    serde_json::to_vec(&j).unwrap()
}

/// Two classes of tetrahedra (three each), plus `extra` files in class `b`.
fn tet_dataset(root: &Path, extra: &[(&str, &[u8])]) {
    for class in ["a", "b"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for k in 0..3 {
            std::fs::write(root.join(class).join(format!("t{k}.off")), GOOD_OFF).unwrap();
        }
    }
    for (name, bytes) in extra {
        std::fs::write(root.join("b").join(name), bytes).unwrap();
    }
}

fn no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    for word in [
        "panicked",
        "RUST_BACKTRACE",
        "internal error",
        "stack backtrace",
    ] {
        assert!(!err.contains(word), "{word}: {}", text(out));
    }
}

/// Issue #23 defect 5: `predict` panicked (exit 101, every prediction lost) and `features`
/// printed a panic on a data URI with multibyte text before its comma.
#[test]
fn a_data_uri_with_multibyte_text_fails_that_mesh_only() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.gltf");
    std::fs::write(&bad, multibyte_data_uri_gltf()).unwrap();
    let good = first_mesh(&f.meshes);
    let out = shapeclf(&[
        "predict",
        "--model",
        s(&f.model),
        s(&good),
        s(&bad),
        s(&good),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    no_panic(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[1].contains("bad.gltf: error:") && lines[1].contains("not base64"));
    assert!(
        !lines[0].contains("error") && !lines[2].contains("error"),
        "{stdout}"
    );

    let meshes = d.path().join("m");
    tet_dataset(&meshes, &[("bad.gltf", &multibyte_data_uri_gltf())]);
    let out = shapeclf(&[
        "features",
        s(&meshes),
        "--out",
        s(&d.path().join("f")),
        "--no-views",
    ]);
    no_panic(&out);
    let stdout = ok(&out);
    assert!(
        stdout.contains("failed: b/bad.gltf: glTF") && stdout.contains("not base64"),
        "{stdout}"
    );
}

/// Issue #23 defect 6: with stderr closed, `features` and `train` panicked ("failed printing
/// to stderr", exit 101) and wrote nothing.
#[test]
fn features_and_train_run_to_the_end_with_stderr_closed() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("m");
    // A broken file, so `features` has a line for stderr.
    tet_dataset(&meshes, &[("broken.off", b"OFF\n1 2")]);
    let features = d.path().join("f");
    let out = closed_stderr(&["features", s(&meshes), "--out", s(&features), "--no-views"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed: b/broken.off"));
    assert!(features.join("manifest.json").is_file());
    // --strict keeps its status.
    let args = [
        "features",
        s(&meshes),
        "--out",
        s(&features),
        "--no-views",
        "--strict",
    ];
    assert_eq!(closed_stderr(&args).status.code(), Some(3));
    let model = d.path().join("model");
    let out = closed_stderr(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&features),
        "--out",
        s(&model),
        "--weight-decay",
        "0.001",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(model.join("report.json").is_file());
    // An error still gives its status, unseen.
    let out = closed_stderr(&["predict", "--model", s(&d.path().join("nope")), "x.off"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Issue #23 defect 6: with stdout closed, every exit status became 0.
#[test]
fn exit_statuses_hold_with_stdout_closed() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let junk = d.path().join("junk.off");
    std::fs::write(&junk, b"not a mesh").unwrap();
    let predict = |meshes: &[&Path]| {
        let mut a = vec!["predict", "--model", s(&f.model)];
        a.extend(meshes.iter().map(|m| s(m)));
        closed_stdout(&a)
    };
    let good = first_mesh(&f.meshes);
    assert_eq!(predict(&[&junk]).status.code(), Some(1));
    assert_eq!(predict(&[&good, &junk]).status.code(), Some(3));
    assert_eq!(predict(&[&good]).status.code(), Some(0));
    let out = closed_stdout(&["predict", "--model", s(&f.model), s(&good), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", text(&out));

    let meshes = d.path().join("m");
    tet_dataset(&meshes, &[("broken.off", b"OFF\n1 2")]);
    let out_dir = d.path().join("f");
    let args = [
        "features",
        s(&meshes),
        "--out",
        s(&out_dir),
        "--no-views",
        "--strict",
    ];
    let out = closed_stdout(&args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(out_dir.join("manifest.json").is_file());
    let out = closed_stdout(&["features", s(&meshes), "--out", s(&out_dir), "--no-views"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Issue #23: `predict --json` gave `a\xff.off` and `a\xfe.off` the same name, and text mode
/// printed a name's escape sequences raw to the terminal.
#[cfg(unix)]
#[test]
fn predict_keeps_odd_names_apart_and_never_prints_raw_control_characters() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let name = |b: &[u8]| d.path().join(std::ffi::OsStr::from_bytes(b));
    let (ff, fe) = (name(b"a\xff.off"), name(b"a\xfe.off"));
    let red = name(b"x\x1b[31mred\x07.off");
    let junk = name(b"j\x1b]0;title\x07\n.off");
    for p in [&ff, &fe, &red] {
        std::fs::write(p, GOOD_OFF).unwrap();
    }
    std::fs::write(&junk, b"\x1b[2J not a mesh").unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_shapeclf"))
            .args(["predict", "--model", s(&f.model)])
            .args([&ff, &fe, &red, &junk])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        out
    };
    let out = run(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let encoded: Vec<&str> = (0..4)
        .map(|i| v[i]["path_encoded"].as_str().unwrap())
        .collect();
    assert!(
        encoded[0].ends_with("/a%FF.off") && encoded[1].ends_with("/a%FE.off"),
        "{v}"
    );
    assert!(
        v[2]["path"]
            .as_str()
            .unwrap()
            .ends_with("x\x1b[31mred\x07.off"),
        "{v}"
    );
    assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07));

    let out = run(&[]);
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
        "{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "one line per mesh: {stdout}");
    assert!(
        lines[0].contains("a%FF.off") && lines[1].contains("a%FE.off"),
        "{stdout}"
    );
    assert!(lines[2].contains("x\\u{1b}[31mred\\u{7}.off: "), "{stdout}");
    assert!(
        lines[3].contains("j\\u{1b}]0;title\\u{7}\\n.off: error"),
        "{stdout}"
    );
}

/// Issue #23: `--view-augment`, `--d2-pairs` and `--view-res` out of range exited 1, not the
/// documented 2 for a wrong argument; `--top 0` silently gave 1.
#[test]
fn out_of_range_arguments_are_usage_errors() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("m");
    tet_dataset(&meshes, &[]);
    let out_dir = d.path().join("f");
    for (extra, words) in [
        (&["--view-augment", "65"][..], "--view-augment is 65"),
        (&["--d2-pairs", "0"][..], "d2"),
        (&["--view-res", "4"][..], "--view-res is 4"),
        (&["--view-res", "100000"][..], "--view-res is 100000"),
        (&["--sdf-rays", "0"][..], "sdf"),
    ] {
        let mut args = vec!["features", s(&meshes), "--out", s(&out_dir)];
        args.extend(extra);
        fails(&shapeclf(&args), 2, words);
        assert!(!out_dir.exists(), "{extra:?}: nothing written");
    }
    for top in ["0", "-1"] {
        let out = shapeclf(&["predict", "--model", "m", "x.off", "--top", top]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    }
    // Errors that are not the arguments' keep status 1.
    fails(
        &shapeclf(&["features", s(&d.path().join("none")), "--out", s(&out_dir)]),
        1,
        "",
    );
}

/// Issue #23: view settings 27,733 times the default's work started without a word, though
/// the README promises a warning from 10x.
#[test]
fn costly_view_settings_are_announced_before_the_run() {
    let d = tempfile::tempdir().unwrap();
    let none = d.path().join("none");
    let out_dir = d.path().join("f");
    let base = ["features", s(&none), "--out", s(&out_dir)];
    let mut args = base.to_vec();
    args.extend([
        "--views",
        "dodecahedron",
        "--view-res",
        "512",
        "--view-augment",
        "64",
    ]);
    fails(&shapeclf(&args), 1, "6933x the default");
    let mut args = base.to_vec();
    args.extend(["--view-res", "96"]);
    let out = shapeclf(&args);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("x the default"));
}

/// Issue #23: class names went into `report.md` as they were: a `|` split the tables, a
/// newline ended them, raw HTML was rendered.
#[cfg(unix)]
#[test]
fn report_markdown_shows_odd_class_names_as_text() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("m");
    let classes = ["a|b", "<img src=x onerror=alert(1)>", "two\nlines"];
    for c in classes {
        std::fs::create_dir_all(meshes.join(c)).unwrap();
        for k in 0..3 {
            std::fs::write(meshes.join(c).join(format!("t{k}.off")), GOOD_OFF).unwrap();
        }
    }
    let features = d.path().join("f");
    let mut args = vec!["features", s(&meshes), "--out", s(&features), "--no-views"];
    args.extend(&FAST[..4]);
    ok(&shapeclf(&args));
    let model = d.path().join("models/lg");
    ok(&shapeclf(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&features),
        "--out",
        s(&model),
        "--weight-decay",
        "0.001",
    ]));
    let md = std::fs::read_to_string(model.join("report.md")).unwrap();
    // Outside code spans (where Markdown shows text as it is), no '<' is left unescaped.
    let prose: String = md.split('`').step_by(2).collect();
    assert!(!prose.replace("\\<", "").contains('<'), "raw HTML: {md}");
    assert!(md.contains("a\\|b") && !md.contains(" a|b"), "{md}");
    assert!(
        !md.contains("two\nlines") && md.contains("two\\\\nlines"),
        "{md}"
    );
    // Every row of the per-class table has its five cells.
    let table: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| class |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(table.len(), 2 + 3 + 2, "{md}");
    for row in table {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 6, "{row}");
    }
}

fn first_mesh(meshes: &Path) -> PathBuf {
    let dir = meshes.join("mug/test");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.remove(0)
}

/// Runs the binary with stderr a pipe whose reading end is closed before it starts.
fn closed_stderr(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .unwrap()
}

/// Runs the binary with stdout a pipe whose reading end is closed before it starts.
fn closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

mod common;
