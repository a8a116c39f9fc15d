//! Sharded `features` runs and `merge`: four shards merge into the table, cache, manifest and
//! views one unsharded run writes (byte for byte, the manifest's run fields aside), a shard
//! killed mid-way and rerun changes nothing, parts made differently or missing are refused by
//! name, the index comes from Slurm's or Kubernetes' variables, and the merged folder trains.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shapeclf"));
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_STEP",
        "JOB_COMPLETION_INDEX",
    ] {
        c.env_remove(v);
    }
    c
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

fn fails(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("run shapeclf");
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Small descriptor settings: the test is about the split of work, not the descriptors.
const FAST: &[&str] = &[
    "--d2-points",
    "256",
    "--sdf-points",
    "64",
    "--sdf-rays",
    "8",
    "--view-res",
    "16",
];

/// A synthetic dataset in the ModelNet layout, plus a class folder without train/test (split
/// by the seeded shuffle of the whole class, which no shard sees whole) holding a broken file.
fn dataset(dir: &Path, subdivide: &str) -> PathBuf {
    let meshes = dir.join("meshes");
    run(&[
        "synth",
        s(&meshes),
        "--per-class",
        "3",
        "--seed",
        "4",
        "--subdivide",
        subdivide,
    ]);
    let loose = meshes.join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    for i in 0..9 {
        std::fs::write(loose.join(format!("t{i}.off")), common::GOOD_OFF).unwrap();
    }
    std::fs::write(loose.join("broken.off"), b"OFF\n4 4 0\n0 0 0\n").unwrap();
    meshes
}

fn features(meshes: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["features", s(meshes), "--out", s(out), "--seed", "5"];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    run(&args)
}

fn cleared_manifest(dir: &Path) -> Vec<u8> {
    let m = shapeclf::features::Manifest::read(&dir.join("manifest.json")).unwrap();
    serde_json::to_vec_pretty(&shapeclf::merge::run_fields_cleared(&m)).unwrap()
}

/// Every file under `dir/views`, by relative path, with its bytes.
fn views(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                match std::fs::read(&p) {
                    Ok(bytes) => out.push((rel, bytes)),
                    // Polled while a run writes: a temporary file renamed into place meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => panic!("{}: {e}", p.display()),
                }
            }
        }
    }
    let mut v = Vec::new();
    if dir.join("views").is_dir() {
        walk(&dir.join("views"), &dir.join("views"), &mut v);
    }
    v.sort();
    v
}

/// The merged folder against the single run's: table and cache byte for byte, the manifest
/// byte for byte once the run fields are cleared, and every view image.
fn assert_same_as_single(single: &Path, merged: &Path, table: &str) {
    assert_eq!(
        std::fs::read(single.join(table)).unwrap(),
        std::fs::read(merged.join(table)).unwrap(),
        "{table} differs"
    );
    assert_eq!(
        std::fs::read(single.join("mesh_cache.json")).unwrap(),
        std::fs::read(merged.join("mesh_cache.json")).unwrap()
    );
    assert_eq!(
        String::from_utf8(cleared_manifest(single)).unwrap(),
        String::from_utf8(cleared_manifest(merged)).unwrap()
    );
    let (a, b) = (views(single), views(merged));
    assert!(!a.is_empty());
    assert_eq!(
        a.iter().map(|v| &v.0).collect::<Vec<_>>(),
        b.iter().map(|v| &v.0).collect::<Vec<_>>()
    );
    assert!(a == b, "view images differ");
}

#[test]
fn four_shards_merge_into_the_single_run_and_train() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path(), "0");
    let single = d.path().join("single");
    features(&meshes, &single, &["-j", "2"]);
    let sharded = d.path().join("sharded");
    let mut rows = 0;
    for i in 0..4 {
        let shard = format!("{i}/4");
        let out = features(&meshes, &sharded, &["--shard", &shard, "-j", "1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("shard {i}/4 (from --shard)")),
            "{err}"
        );
        let m = shapeclf::features::Manifest::read(
            &sharded.join(format!("manifest.shard-{i}-of-4.json")),
        )
        .unwrap();
        assert!(
            m.counts.ok > 0,
            "shard {i} is empty: the hash does not spread"
        );
        rows += m.counts.ok;
        // No shard writes the whole folder's files.
        assert!(!sharded.join("manifest.json").exists());
    }
    let out = run(&["merge", s(&sharded)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("merged 4 shard(s) of 4"), "{text}");
    assert!(text.contains("failed: loose/broken.off"), "{text}");
    assert_same_as_single(&single, &sharded, "descriptors.csv");
    let (table, m) = shapeclf::features::read_folder(&sharded).unwrap();
    assert_eq!(table.rows.len(), rows);
    assert_eq!(m.counts.failed, 1);
    assert_eq!(
        shapeclf::features::table_matches_manifest(&sharded, &m),
        Some(true)
    );
    // The folder trains as an unsharded one does, and a rerun of the whole folder reuses
    // every merged row.
    run(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&sharded),
        "--out",
        s(&d.path().join("model")),
        "--epochs",
        "5",
        "--weight-decay",
        "0.001",
    ]);
    let out = features(&meshes, &sharded, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{rows} rows reused")), "{text}");
}

#[test]
fn parquet_shards_merge_into_the_single_parquet_run_and_train_to_the_csv_model() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path(), "0");
    let (csv, pq, sharded) = (
        d.path().join("csv"),
        d.path().join("pq"),
        d.path().join("sharded"),
    );
    features(&meshes, &csv, &["--no-views"]);
    features(&meshes, &pq, &["--no-views", "--format", "parquet"]);
    assert!(pq.join("descriptors.parquet").is_file());
    assert!(!pq.join("descriptors.csv").exists());
    for i in 0..3 {
        let shard = format!("{i}/3");
        features(
            &meshes,
            &sharded,
            &["--no-views", "--format", "parquet", "--shard", &shard],
        );
    }
    run(&["merge", s(&sharded)]);
    let a = std::fs::read(pq.join("descriptors.parquet")).unwrap();
    assert_eq!(
        a,
        std::fs::read(sharded.join("descriptors.parquet")).unwrap()
    );
    assert_eq!(cleared_manifest(&pq), cleared_manifest(&sharded));
    // Same rows as the CSV, value for value.
    let (tc, _) = shapeclf::features::read_folder(&csv).unwrap();
    let (tp, _) = shapeclf::features::read_folder(&pq).unwrap();
    assert_eq!(tc, tp);
    // Both train to the same model: the same predictions for every mesh, to the last digit,
    // and the same training history. (model.bpk itself differs between any two runs: Burn
    // gives every parameter a random id.)
    let mut all: Vec<String> = Vec::new();
    for e in walk_files(&meshes) {
        if shapeclf::mesh::is_mesh_path(&e) && !e.ends_with("broken.off") {
            all.push(e.display().to_string());
        }
    }
    let mut seen = Vec::new();
    for (name, dir) in [("from_csv", &csv), ("from_parquet", &pq)] {
        let out = d.path().join(name);
        run(&[
            "train",
            "--model",
            "mlp",
            "--features",
            s(dir),
            "--out",
            s(&out),
            "--epochs",
            "5",
            "--hidden",
            "16",
        ]);
        let mut args = vec!["predict", "--model", s(&out), "--json", "--top", "9"];
        args.extend(all.iter().map(String::as_str));
        let p = run(&args).stdout;
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        seen.push((p, r["history"].clone(), r["confusion_matrix"].clone()));
    }
    assert!(!seen[0].0.is_empty());
    assert!(seen[0] == seen[1], "CSV and Parquet trained differently");
}

fn walk_files(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Starts shard `shard` on one thread and kills it (SIGKILL) once its first view image exists.
fn start_and_kill(meshes: &Path, out: &Path, shard: &str, signal: nix::sys::signal::Signal) {
    let mut args = vec![
        "features".to_string(),
        s(meshes).into(),
        "--out".into(),
        s(out).into(),
        "--seed".into(),
        "5".into(),
        "-j".into(),
        "1".into(),
        "--shard".into(),
        shard.into(),
    ];
    args.extend(FAST.iter().map(|a| a.to_string()));
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let before = views(out).len();
    while t.elapsed() < Duration::from_secs(30) && views(out).len() <= before {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    child.wait().unwrap();
}

#[test]
fn a_shard_killed_mid_way_and_rerun_merges_the_same() {
    let d = tempfile::tempdir().unwrap();
    // Subdivided twice: a shard takes seconds on one thread, so the kill lands mid-run.
    let meshes = dataset(d.path(), "2");
    let single = d.path().join("single");
    features(&meshes, &single, &[]);
    let sharded = d.path().join("sharded");
    for i in [0, 2] {
        features(&meshes, &sharded, &["--shard", &format!("{i}/3")]);
    }
    // Ctrl-C: the shard writes what it did; merge names it as unfinished and writes nothing.
    start_and_kill(&meshes, &sharded, "1/3", nix::sys::signal::Signal::SIGINT);
    let m = shapeclf::features::Manifest::read(&sharded.join("manifest.shard-1-of-3.json"));
    if let Ok(m) = m
        && m.counts.not_reached > 0
    {
        let e = fails(&["merge", s(&sharded)]);
        assert!(e.contains("shard 1/3: interrupted"), "{e}");
        assert!(!sharded.join("manifest.json").exists());
    }
    // Then killed outright in its rerun, then run to the end.
    start_and_kill(&meshes, &sharded, "1/3", nix::sys::signal::Signal::SIGKILL);
    let out = features(&meshes, &sharded, &["--shard", "1/3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("shard 1/3 done"), "{text}");
    run(&["merge", s(&sharded)]);
    assert_same_as_single(&single, &sharded, "descriptors.csv");
}

#[test]
fn merge_refuses_parts_made_differently_or_missing_naming_them() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path(), "0");
    let out = d.path().join("f");
    let args = |i: u32, seed: &str| {
        let shard = format!("{i}/4");
        let mut a = vec![
            "features".to_string(),
            s(&meshes).into(),
            "--out".into(),
            s(&out).into(),
            "--no-views".into(),
            "--seed".into(),
            seed.into(),
            "--shard".into(),
            shard,
        ];
        a.extend(FAST.iter().map(|a| a.to_string()));
        a
    };
    let run_s = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run_s(args(0, "5"));
    run_s(args(1, "5"));
    // Two shards missing: named, non-zero, nothing written.
    let e = fails(&["merge", s(&out)]);
    assert!(e.contains("2 of 4 shards missing"), "{e}");
    assert!(
        e.contains("shard 2/4: no manifest.shard-2-of-4.json"),
        "{e}"
    );
    assert!(e.contains("shard 3/4"), "{e}");
    assert!(!out.join("manifest.json").exists());
    // --allow-missing merges what is there and says what it left out.
    let o = run(&["merge", s(&out), "--allow-missing"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("left out shard 2/4"), "{err}");
    let (t, _) = shapeclf::features::read_folder(&out).unwrap();
    assert!(
        t.rows
            .iter()
            .all(|r| shapeclf::shard::shard_of(&r.path, 4) < 2)
    );
    // A shard made with another seed is refused, naming both parts and the setting.
    run_s(args(2, "6"));
    run_s(args(3, "5"));
    let e = fails(&["merge", s(&out)]);
    assert!(
        e.contains(
            "manifest.shard-2-of-4.json differs from manifest.shard-0-of-4.json: seed 6 vs 5"
        ),
        "{e}"
    );
    // A part from a split of another size is refused too.
    run_s(args(2, "5"));
    let mut other = args(0, "5");
    other[8] = "0/3".into();
    run_s(other);
    let e = fails(&["merge", s(&out)]);
    assert!(
        e.contains("differs from manifest.shard-0-of-3.json: shard count 4 vs 3"),
        "{e}"
    );
    std::fs::remove_file(out.join("manifest.shard-0-of-3.json")).unwrap();
    // A part whose table was edited is refused by name.
    let t = out.join("descriptors.shard-3-of-4.csv");
    let mut bytes = std::fs::read(&t).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&t, bytes).unwrap();
    let e = fails(&["merge", s(&out)]);
    assert!(e.contains("manifest.shard-3-of-4.json"), "{e}");
    assert!(
        e.contains("descriptors.shard-3-of-4.csv is not the table"),
        "{e}"
    );
}

#[test]
fn the_index_comes_from_slurm_or_kubernetes_and_the_terminal_says_which() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path(), "0");
    let out = d.path().join("f");
    let base = |c: &mut Command| {
        c.args(["features", s(&meshes), "--out", s(&out), "--no-views"])
            .args(FAST);
    };
    let mut c = bin();
    base(&mut c);
    let o = c
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("shard 1/2 (from Slurm's job array"), "{err}");
    assert!(out.join("manifest.shard-1-of-2.json").is_file());
    let mut c = bin();
    base(&mut c);
    let o = c
        .env("JOB_COMPLETION_INDEX", "0")
        .args(["--shards", "2"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard 0/2 (from Kubernetes' Indexed Job"),
        "{err}"
    );
    // `--shard none` declines the array's shard: a whole folder, in a folder of its own.
    let whole = d.path().join("whole");
    let o = bin()
        .args(["features", s(&meshes), "--out", s(&whole), "--no-views"])
        .args(FAST)
        .args(["--shard", "none"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("shard 1/2"));
    assert!(whole.join("manifest.json").is_file());
    // An index without a count is refused, not guessed.
    let mut c = bin();
    base(&mut c);
    let o = c.env("JOB_COMPLETION_INDEX", "0").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--shards N is not"));
    run(&["merge", s(&out)]);
    // Two runs of one shard at once: the second is refused while the first holds its lock.
    let _held =
        shapeclf::io::FolderLock::acquire_named(&out, ".shapeclf.shard-0-of-2.lock").unwrap();
    let e = fails(&[
        "features",
        s(&meshes),
        "--out",
        s(&out),
        "--no-views",
        "--shard",
        "0/2",
    ]);
    assert!(e.contains("being written by another shapeclf run"), "{e}");
}

/// Merge pointed at a folder of the user's, or at a path that does not exist, writes nothing:
/// not even its lock file, and no folder is created.
#[test]
fn merge_leaves_a_folder_without_parts_untouched() {
    let d = tempfile::tempdir().unwrap();
    let notes = d.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("thesis.tex"), b"x").unwrap();
    assert!(fails(&["merge", s(&notes)]).contains("no shard parts"));
    let names: Vec<_> = std::fs::read_dir(&notes)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["thesis.tex"]);
    let missing = d.path().join("missing");
    assert!(fails(&["merge", s(&missing)]).contains("no shard parts"));
    assert!(!missing.exists());
}

#[test]
fn shards_with_augmented_two_channel_views_merge_into_the_single_run_and_train_on_every_copy() {
    let d = tempfile::tempdir().unwrap();
    let meshes = dataset(d.path(), "0");
    let extra = ["--view-augment", "2", "--view-channels", "depth+shade"];
    let single = d.path().join("single");
    features(&meshes, &single, &extra);
    let sharded = d.path().join("sharded");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let mut args = vec!["--shard", shard.as_str()];
        args.extend_from_slice(&extra);
        features(&meshes, &sharded, &args);
    }
    run(&["merge", s(&sharded)]);
    // The augmented renderings are view images like the others: the same in both folders.
    assert_same_as_single(&single, &sharded, "descriptors.csv");
    let (table, m) = shapeclf::features::read_folder(&sharded).unwrap();
    let cfg = m.views.as_ref().unwrap().config;
    assert_eq!(cfg.augment, 2);
    assert_eq!(cfg.channels.count(), 2);
    let n_train = table
        .rows
        .iter()
        .filter(|r| r.split == shapeclf::dataset::Split::Train)
        .count();
    let n_test = table.rows.len() - n_train;
    let augmented = views(&sharded)
        .iter()
        .filter(|(p, _)| p.contains("~aug"))
        .count();
    assert_eq!(augmented, 2 * n_train);
    let model = d.path().join("model");
    run(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&sharded),
        "--out",
        s(&model),
        "--epochs",
        "1",
        "--channels",
        "4",
        "--hidden",
        "8",
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["train_size"], 3 * n_train);
    assert_eq!(report["test_size"], n_test);
}
