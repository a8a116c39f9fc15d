//! Interrupted and repeated `features` runs: Ctrl-C writes what is done and a rerun finishes it,
//! SIGKILL leaves the earlier outputs intact, and unchanged files are never recomputed.

use common::{manifest, s};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shapeclf"))
}

fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run shapeclf");
    assert!(
        out.status.success(),
        "{args:?}: exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn table(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("descriptors.csv")).unwrap()
}

/// Starts `features` on one thread and signals it once its first view image exists (so the run
/// is under way), or after `fallback`.
fn start_and_signal(meshes: &Path, out: &Path, signal: &str, extra: &[&str]) -> Child {
    let mut child = bin()
        .args(["features", s(meshes), "--out", s(out), "-j", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let views = out.join("views");
    while t.elapsed() < Duration::from_secs(20) {
        let started = std::fs::read_dir(&views)
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if started {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    let sig = match signal {
        "-KILL" => {
            child.kill().unwrap();
            return child;
        }
        "-TERM" => nix::sys::signal::Signal::SIGTERM,
        _ => nix::sys::signal::Signal::SIGINT,
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    child
}

fn dataset(dir: &Path) -> std::path::PathBuf {
    let meshes = dir.join("meshes");
    // 3 per class of 9 classes, subdivided: large enough that a run takes a few seconds on one
    // thread, so a signal lands mid-run.
    run(&[
        "synth",
        s(&meshes),
        "--per-class",
        "3",
        "--seed",
        "11",
        "--subdivide",
        "3",
    ]);
    meshes
}

#[test]
fn reruns_reuse_unchanged_rows_and_recompute_changed_ones() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    run(&["synth", s(&meshes), "--per-class", "3", "--seed", "2"]);
    let out = d.path().join("f");
    run(&["features", s(&meshes), "--out", s(&out), "--no-views"]);
    let first = table(&out);
    assert_eq!(manifest(&out)["counts"]["reused"], 0);

    let o = run(&["features", s(&meshes), "--out", s(&out), "--no-views"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("27 rows reused"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(table(&out), first, "a resumed table is byte-identical");

    // Change one file's bytes (a comment keeps it valid), delete another: one recomputed, one
    // row gone, the rest reused.
    let class_dir = meshes.join("mug/train");
    let mut files: Vec<_> = std::fs::read_dir(&class_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let off = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "off"))
        .expect("an OFF mug");
    let mut bytes = std::fs::read(off).unwrap();
    bytes.extend_from_slice(b"\n# edited\n");
    std::fs::write(off, bytes).unwrap();
    let gone = files.iter().find(|p| *p != off).unwrap();
    std::fs::remove_file(gone).unwrap();
    run(&["features", s(&meshes), "--out", s(&out), "--no-views"]);
    let m = manifest(&out);
    assert_eq!(m["counts"]["ok"], 26);
    assert_eq!(m["counts"]["reused"], 25);

    // Rows written by another build of the same version (another source hash) are computed
    // again: a change to how numbers are computed must not mix old rows with new ones.
    let build = manifest(&out)["tool_version"].as_str().unwrap().to_string();
    let version = String::from_utf8_lossy(&run(&["--version"]).stdout).to_string();
    assert_eq!(version.trim(), format!("shapeclf {build}"));
    assert!(
        build.starts_with(concat!(env!("CARGO_PKG_VERSION"), "+")),
        "{build}"
    );
    let mpath = out.join("manifest.json");
    let mut m = manifest(&out);
    m["tool_version"] = concat!(env!("CARGO_PKG_VERSION"), "+0000000000000000").into();
    std::fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    run(&["features", s(&meshes), "--out", s(&out), "--no-views"]);
    let m = manifest(&out);
    assert_eq!(
        (m["counts"]["reused"].as_u64(), m["tool_version"].as_str()),
        (Some(0), Some(build.as_str()))
    );

    // Other parameters or --fresh reuse nothing.
    run(&[
        "features",
        s(&meshes),
        "--out",
        s(&out),
        "--no-views",
        "--seed",
        "9",
    ]);
    assert_eq!(manifest(&out)["counts"]["reused"], 0);
    run(&[
        "features",
        s(&meshes),
        "--out",
        s(&out),
        "--no-views",
        "--seed",
        "9",
        "--fresh",
    ]);
    assert_eq!(manifest(&out)["counts"]["reused"], 0);
}

#[test]
fn ctrl_c_writes_what_is_done_and_a_rerun_finishes_it() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path());
    let reference = d.path().join("reference");
    run(&["features", s(&meshes), "--out", s(&reference), "--fresh"]);

    // Ctrl-C, and SIGTERM as a job scheduler sends it at a time limit, on preemption or on
    // eviction: the same stop, so a task stopped that way resumes on its rerun.
    for signal in ["-INT", "-TERM"] {
        let out = d.path().join(format!("f{signal}"));
        let child = start_and_signal(&meshes, &out, signal, &[]);
        let o = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(130),
            "{signal}: {stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.contains("rerun the same command"), "{stdout}");
        let m = manifest(&out);
        let done = m["counts"]["ok"].as_u64().unwrap();
        assert!(m["counts"]["not_reached"].as_u64().unwrap() > 0);
        assert!(done > 0 && done < 27, "{signal}: {done} rows");

        run(&["features", s(&meshes), "--out", s(&out)]);
        let m = manifest(&out);
        assert_eq!(m["counts"]["reused"].as_u64().unwrap(), done);
        assert_eq!(m["counts"]["ok"], 27);
        assert_eq!(
            table(&out),
            table(&reference),
            "{signal}: interrupted + resumed == one run"
        );
    }
}

#[test]
fn sigkill_leaves_earlier_outputs_intact() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path());
    let out = d.path().join("f");
    run(&["features", s(&meshes), "--out", s(&out)]);
    let before = table(&out);
    let manifest_before = std::fs::read(out.join("manifest.json")).unwrap();

    // Views are rewritten in place by the new run; the table and manifest must not change.
    std::fs::remove_dir_all(out.join("views")).unwrap();
    let mut child = start_and_signal(&meshes, &out, "-KILL", &["--fresh"]);
    child.wait().unwrap();
    assert_eq!(table(&out), before);
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        manifest_before
    );

    // The next run checks each file and reuses every row whose view image is back.
    run(&["features", s(&meshes), "--out", s(&out)]);
    assert_eq!(table(&out), before);
    assert!(manifest(&out)["counts"]["reused"].as_u64().unwrap() > 0);
}

#[test]
fn killed_training_leaves_the_previous_model_folder_whole() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    run(&["synth", s(&meshes), "--per-class", "6", "--seed", "4"]);
    let features = d.path().join("f");
    run(&["features", s(&meshes), "--out", s(&features), "--no-views"]);
    let models = d.path().join("models");
    let out = models.join("mlp");
    let train = |epochs: &str, seed: &str| {
        let mut c = bin();
        c.args(["train", "--model", "mlp", "--features", s(&features)])
            .args(["--out", s(&out), "--epochs", epochs, "--seed", seed])
            .args(["--patience", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    assert!(train("20", "1").status().unwrap().success());
    let snapshot = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&out);

    // Killed mid-training: the folder is exactly as it was.
    let mut child = train("100000", "2").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(snapshot(&out), before);

    // A finished run replaces the folder whole and leaves nothing hidden behind.
    assert!(train("20", "3").status().unwrap().success());
    assert_ne!(snapshot(&out), before);
    let left: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["mlp".to_string()]);
}

mod common;

/// Polls `ready` every 20 ms for up to 60 s.
fn wait_for(ready: impl Fn() -> bool) {
    let t = Instant::now();
    while !ready() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path());
    let reference = d.path().join("reference");
    run(&["features", s(&meshes), "--out", s(&reference), "--fresh"]);

    // Checkpoints as often as they may be written; SIGKILL once one holds three rows. Without
    // checkpoints a killed first run leaves no table at all.
    let out = d.path().join("f");
    let mut child = bin()
        .args(["features", s(&meshes), "--out", s(&out), "-j", "1"])
        .args(["--checkpoint-every", "0.001"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rows = || {
        std::fs::read(out.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|m| m["counts"]["ok"].as_u64())
            .unwrap_or(0)
    };
    wait_for(|| rows() >= 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = rows();
    assert!((3..27).contains(&saved), "{saved} rows checkpointed");
    assert!(manifest(&out)["counts"]["not_reached"].as_u64().unwrap() > 0);

    let o = run(&["features", s(&meshes), "--out", s(&out)]);
    let m = manifest(&out);
    assert!(
        m["counts"]["reused"].as_u64().unwrap() >= saved,
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(m["counts"]["ok"], 27);
    assert_eq!(m["counts"]["not_reached"], 0);
    assert_eq!(
        table(&out),
        table(&reference),
        "killed + resumed == one run"
    );

    // A bad interval is a usage error.
    let o = bin()
        .args(["features", s(&meshes), "--out", s(&out)])
        .args(["--checkpoint-every", "-1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_stopped_rerun_keeps_the_rows_it_did_not_reach() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path());
    let out = d.path().join("f");
    run(&["features", s(&meshes), "--out", s(&out)]);
    let before = String::from_utf8(table(&out)).unwrap();

    // New meshes that sort first (edited copies: new content), so a rerun on one thread is
    // stopped while computing them, before it reaches the old ones.
    let mut copied = 0;
    for class in ["bowl", "cup", "mug"] {
        let dest = meshes.join(format!("aaa{class}/train"));
        std::fs::create_dir_all(&dest).unwrap();
        for e in std::fs::read_dir(meshes.join(class).join("train")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "off") {
                let mut b = std::fs::read(&p).unwrap();
                b.extend_from_slice(b"\n# copy\n");
                std::fs::write(dest.join(p.file_name().unwrap()), b).unwrap();
                copied += 1;
            }
        }
    }
    assert!(copied >= 3, "{copied}");
    let child = bin()
        .args(["features", s(&meshes), "--out", s(&out), "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| {
        std::fs::read_dir(out.join("views/aaabowl"))
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = manifest(&out);
    let ok = m["counts"]["ok"].as_u64().unwrap();
    assert!(m["counts"]["not_reached"].as_u64().unwrap() > 0);
    // Every old row is still there, unchanged, beside the new ones done.
    let after = String::from_utf8(table(&out)).unwrap();
    for line in before.lines() {
        assert!(after.lines().any(|l| l == line), "row lost: {line}");
    }
    assert!(ok > 27 && ok < 27 + copied as u64, "{ok} rows");

    // The rerun checks the kept rows against their files and reuses them.
    run(&["features", s(&meshes), "--out", s(&out)]);
    let m = manifest(&out);
    assert_eq!(m["counts"]["reused"].as_u64().unwrap(), ok);
    assert_eq!(m["counts"]["ok"].as_u64().unwrap(), 27 + copied as u64);
}
