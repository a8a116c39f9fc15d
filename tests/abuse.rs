//! What a careless or unlucky user does: output folders that hold other things, interrupted and
//! concurrent runs, odd file names, absurd parameters, special files and tampered model folders.
//! Each test reproduces one defect found by abuse testing and checks its fix.

use common::{fails, ok, s, shapeclf, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
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

/// A small dataset with its features and a trained logistic model, built once.
struct Fixture {
    _dir: tempfile::TempDir,
    meshes: PathBuf,
    features: PathBuf,
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
        let mut args = vec!["features", s(&meshes), "--out", s(&features)];
        args.extend(FAST);
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
            features,
            model,
        }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(listing(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn train_into(features: &Path, out: &Path) -> Output {
    shapeclf(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(features),
        "--out",
        s(out),
        "--weight-decay",
        "0.001",
    ])
}

// 1. `train --out` never deletes what is not a model folder.

#[test]
fn train_refuses_to_replace_a_folder_of_user_data() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let mydata = d.path().join("mydata");
    copy_dir(&f.meshes, &mydata);
    let before = listing(&mydata);
    fails(
        &train_into(&f.features, &mydata),
        1,
        "not a shapeclf model folder",
    );
    assert_eq!(listing(&mydata), before, "the user's files are untouched");
}

#[test]
fn train_refuses_to_replace_its_own_feature_folder() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let fx = d.path().join("fx");
    copy_dir(&f.features, &fx);
    let before = listing(&fx);
    fails(&train_into(&fx, &fx), 1, "not a shapeclf model folder");
    assert_eq!(listing(&fx), before);
}

#[test]
fn train_refuses_to_replace_a_file() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let afile = d.path().join("afile");
    std::fs::write(&afile, b"precious").unwrap();
    fails(&train_into(&f.features, &afile), 1, "is not a folder");
    assert_eq!(std::fs::read(&afile).unwrap(), b"precious");
    let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing written beside it");
}

#[test]
fn train_replaces_an_empty_folder_or_a_model_folder_and_stale_staging() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m");
    std::fs::create_dir(&out).unwrap();
    // What a train killed mid-write leaves: a staging folder of a dead process.
    let stale = d.path().join(".m.staging-999999999");
    std::fs::create_dir(&stale).unwrap();
    ok(&train_into(&f.features, &out));
    assert!(out.join("config.json").is_file());
    assert!(!stale.exists(), "stale staging folder removed");
    ok(&train_into(&f.features, &out));
    let left: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["m"]);
}

// 2 and 4. One generation per folder, one run per folder, views checked on reuse.

#[test]
fn features_refuses_a_folder_another_run_holds() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("f");
    let lock = shapeclf::io::FolderLock::acquire(&out).unwrap();
    let r = shapeclf(&["features", s(&f.meshes), "--out", s(&out)]);
    fails(&r, 1, "being written by another shapeclf run");
    assert!(String::from_utf8_lossy(&r.stderr).contains(&std::process::id().to_string()));
    drop(lock);
    let mut args = vec!["features", s(&f.meshes), "--out", s(&out)];
    args.extend(FAST);
    ok(&shapeclf(&args));
}

#[test]
fn features_refuses_a_folder_that_is_not_a_feature_folder() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("notes");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("thesis.tex"), b"x").unwrap();
    fails(
        &shapeclf(&["features", s(&f.meshes), "--out", s(&out)]),
        1,
        "not a shapeclf feature folder",
    );
    // An unwritable place is found before any mesh is computed.
    let blocked = d.path().join("afile");
    std::fs::write(&blocked, b"x").unwrap();
    let r = shapeclf(&["features", s(&f.meshes), "--out", s(&blocked.join("sub"))]);
    fails(&r, 1, "cannot lock");
    // Refused before the run's banner, that is before any mesh was read.
    assert!(!String::from_utf8_lossy(&r.stderr).contains("CPU ray casting"));
}

#[test]
fn reused_rows_whose_views_changed_are_rendered_again() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("f");
    copy_dir(&f.features, &out);
    let table = std::fs::read_to_string(out.join("descriptors.csv")).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let view = |r: &str| shapeclf::features::view_file(&out, r);
    let good = std::fs::read(view(rows[0])).unwrap();
    // One view of another size (another run's), one corrupt, one of another mesh.
    image::GrayImage::new(8, 6).save(view(rows[0])).unwrap();
    std::fs::write(view(rows[1]), b"\x89PNG garbage").unwrap();
    std::fs::copy(view(rows[3]), view(rows[2])).unwrap();
    let mut args = vec!["features", s(&f.meshes), "--out", s(&out)];
    args.extend(FAST);
    ok(&shapeclf(&args));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["counts"]["reused"].as_u64().unwrap() as usize,
        rows.len() - 3
    );
    assert_eq!(std::fs::read(view(rows[0])).unwrap(), good);
    assert_eq!(
        std::fs::read_to_string(out.join("descriptors.csv")).unwrap(),
        table
    );
    // A run with another resolution renders every view again, at that resolution.
    let args = [
        "features",
        s(&f.meshes),
        "--out",
        s(&out),
        "--d2-points",
        "128",
        "--sdf-points",
        "64",
        "--view-res",
        "8",
    ];
    ok(&shapeclf(&args));
    for r in &rows {
        let (w, h) = image::image_dimensions(view(r)).unwrap();
        // 4 x 3 views of 8 pixels, depth over shading.
        assert_eq!((w, h), (32, 48), "{r}");
    }
}

/// Random double Ctrl-C and kills while a run with seed 0 replaces a folder written with seed
/// 1: afterwards the folder always reads as one complete generation of one seed, and a rerun
/// with either seed gives exactly that seed's table.
#[test]
fn interrupted_rewrites_always_leave_one_generation() {
    use rand::{Rng, SeedableRng};
    use std::process::Stdio;
    use std::time::Duration;
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let base = |seed: &str, out: &Path| {
        let mut a = vec![
            "features".to_string(),
            s(&f.meshes).to_string(),
            "--out".into(),
            s(out).to_string(),
            "--seed".into(),
            seed.into(),
            "--no-views".into(),
        ];
        a.extend(FAST[..4].iter().map(|x| x.to_string()));
        a
    };
    let reference = |seed: &str| {
        let out = d.path().join(format!("ref{seed}"));
        ok(&shapeclf(
            &base(seed, &out)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ));
        std::fs::read(out.join("descriptors.csv")).unwrap()
    };
    let refs = [reference("0"), reference("1")];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let mut outcomes = [0usize; 3];
    for trial in 0..18 {
        let out = d.path().join(format!("t{trial}"));
        ok(&shapeclf(
            &base("1", &out)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_shapeclf"))
            .args(base("0", &out))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        if trial % 3 == 2 {
            let _ = child.kill();
        } else {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        }
        child.wait().unwrap();
        // A reader completes or discards what the interrupted run left, and sees one seed.
        let (table, m) = shapeclf::features::read_folder(&out).unwrap();
        assert_eq!(
            shapeclf::features::table_matches_manifest(&out, &m),
            Some(true),
            "trial {trial}: table and manifest of different runs"
        );
        let cache = std::fs::read(out.join("mesh_cache.json")).unwrap();
        assert_eq!(
            m.cache_hash.as_deref(),
            Some(shapeclf::features::hash_hex(&cache).as_str())
        );
        let bytes = std::fs::read(out.join("descriptors.csv")).unwrap();
        let want = &refs[m.seed as usize];
        if m.counts.not_reached == 0 {
            assert_eq!(&bytes, want, "trial {trial}: seed {} table", m.seed);
        } else {
            // A partial table of seed 0: every row it has is seed 0's row.
            let want = String::from_utf8_lossy(want);
            for line in String::from_utf8_lossy(&bytes).lines() {
                assert!(want.lines().any(|l| l == line), "trial {trial}: {line}");
            }
        }
        outcomes[if m.seed == 1 {
            0
        } else if m.counts.not_reached > 0 {
            1
        } else {
            2
        }] += 1;
        assert!(!table.rows.is_empty());
        // Rerunning with seed 1 gives seed 1's table exactly, reusing nothing of seed 0.
        ok(&shapeclf(
            &base("1", &out)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ));
        assert_eq!(std::fs::read(out.join("descriptors.csv")).unwrap(), refs[1]);
        let strays: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.ends_with(".next") || n.contains("commit"))
            .collect();
        assert!(strays.is_empty(), "trial {trial}: {strays:?}");
    }
    eprintln!("outcomes (old kept, partial new, complete new): {outcomes:?}");
}

/// Two runs with different view sizes started together into one folder, many times: one of
/// them is refused (or they run one after the other), and every row's view image always has the
/// size the manifest says.
#[test]
fn concurrent_runs_never_mix_views() {
    use std::process::Stdio;
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    for trial in 0..6 {
        let out = d.path().join(format!("t{trial}"));
        let start = |res: &str| {
            Command::new(env!("CARGO_BIN_EXE_shapeclf"))
                .args([
                    "features",
                    s(&f.meshes),
                    "--out",
                    s(&out),
                    "--view-res",
                    res,
                ])
                .args(&FAST[..4])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start("16"), start("24"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let refused = [&a, &b]
            .iter()
            .filter(|o| String::from_utf8_lossy(&o.stderr).contains("being written by another"))
            .count();
        assert!(a.status.success() || b.status.success(), "trial {trial}");
        assert!(
            refused + [&a, &b].iter().filter(|o| o.status.success()).count() == 2,
            "trial {trial}: each run either succeeded or was refused"
        );
        let (table, m) = shapeclf::features::read_folder(&out).unwrap();
        let views = m.views.unwrap();
        for r in &table.rows {
            shapeclf::view_store::read_view_file(&out, &r.path, &views.config)
                .unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        }
    }
}

// 3 and 8. File names.

#[cfg(unix)]
#[test]
fn names_differing_only_in_invalid_utf8_stay_apart() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("m");
    let train = meshes.join("c/train");
    std::fs::create_dir_all(&train).unwrap();
    let a = common::GOOD_OFF;
    let b = a.replace("0 0 1\n3", "0 0 3\n3");
    std::fs::write(train.join(OsStr::from_bytes(b"a\xff.off")), a).unwrap();
    std::fs::write(train.join(OsStr::from_bytes(b"a\xfe.off")), &b).unwrap();
    std::fs::write(train.join("b.off"), a).unwrap();
    let out = d.path().join("f");
    let mut args = vec!["features", s(&meshes), "--out", s(&out)];
    args.extend(FAST);
    ok(&shapeclf(&args));
    let t = shapeclf::features::FeatureTable::read_csv(&out.join("descriptors.csv")).unwrap();
    let paths: Vec<&str> = t.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["c/train/a%FE.off", "c/train/a%FF.off", "c/train/b.off"]
    );
    assert_ne!(t.rows[0].values, t.rows[1].values);
    let v = |p: &str| std::fs::read(shapeclf::features::view_file(&out, p)).unwrap();
    assert_ne!(v(paths[0]), v(paths[1]));
    ok(&shapeclf(&args));
    let again = shapeclf::features::FeatureTable::read_csv(&out.join("descriptors.csv")).unwrap();
    assert_eq!(again, t, "a rerun keeps them apart");
}

#[test]
fn a_long_file_name_keeps_its_row() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("m");
    let train = meshes.join("c/train");
    std::fs::create_dir_all(&train).unwrap();
    // Names of 250, 254 and 255 bytes: the first view name fits, the others are cut and hashed.
    for n in [246, 250, 251] {
        let long = format!("{}.off", "x".repeat(n));
        std::fs::write(train.join(&long), common::GOOD_OFF).unwrap();
    }
    let out = d.path().join("f");
    let mut args = vec!["features", s(&meshes), "--out", s(&out), "--strict"];
    args.extend(FAST);
    ok(&shapeclf(&args));
    let t = shapeclf::features::FeatureTable::read_csv(&out.join("descriptors.csv")).unwrap();
    assert_eq!(t.rows.len(), 3);
    let views: std::collections::BTreeSet<PathBuf> = t
        .rows
        .iter()
        .map(|r| shapeclf::features::view_file(&out, &r.path))
        .collect();
    assert_eq!(views.len(), 3, "distinct view files");
    for v in &views {
        assert!(v.is_file(), "{}", v.display());
    }
}

// 5. Training that cannot give a usable model.

#[test]
fn bad_hyperparameters_are_refused_before_training() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m");
    let cases: [(&[&str], &str); 8] = [
        (&["--lr", "1e30"], "--lr"),
        (&["--lr", "inf"], "--lr"),
        (&["--weight-decay", "nan"], "--weight-decay"),
        (&["--weight-decay", "inf"], "--weight-decay"),
        (&["--weight-decay=-1"], "--weight-decay"),
        (&["--dropout", "1"], "--dropout"),
        (&["--hidden", "100000,100000"], "--hidden"),
        (&["--epochs", "0"], "--epochs"),
    ];
    for (extra, words) in cases {
        let mut args = vec![
            "train",
            "--model",
            "mlp",
            "--features",
            s(&f.features),
            "--out",
            s(&out),
        ];
        args.extend(extra);
        // Usage errors, as for `features`: exit 2.
        fails(&shapeclf(&args), 2, words);
        assert!(!out.exists(), "{extra:?}: no model written");
    }
}

#[test]
fn zero_spread_in_normalization_never_gives_nan() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m");
    copy_dir(&f.model, &m);
    let path = m.join("normalization.json");
    let mut n: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for v in n["std"].as_array_mut().unwrap() {
        *v = 0.0.into();
    }
    std::fs::write(&path, serde_json::to_vec(&n).unwrap()).unwrap();
    let mesh = first_mesh(&f.meshes);
    let out = ok(&shapeclf(&[
        "predict",
        "--model",
        s(&m),
        s(&mesh),
        "--json",
    ]));
    let preds: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (_, p) in preds[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t[0].clone(), t[1].clone()))
    {
        assert!(p.as_f64().is_some_and(f64::is_finite), "{out}");
    }
    // A NaN spread is refused as a damaged file.
    n["std"][0] = (-1.0).into();
    std::fs::write(&path, serde_json::to_vec(&n).unwrap()).unwrap();
    fails(
        &shapeclf(&["predict", "--model", s(&m), s(&mesh)]),
        1,
        "normalization.json",
    );
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

// 6. Unbounded reads and sizes.

#[cfg(unix)]
#[test]
fn predict_refuses_special_files_without_hanging() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let zero = d.path().join("zero.off");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = d.path().join("pipe.off");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A hang guard, not a speed test: reading the FIFO would block for ever.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(["predict", "--model", s(&f.model), s(&zero), s(&fifo)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed().as_secs() > 120 {
            child.kill().unwrap();
            panic!("predict hung on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("not a regular file").count(), 2, "{stdout}");
    // Some classified, some not: its own exit code.
    let good = first_mesh(&f.meshes);
    let out = shapeclf(&["predict", "--model", s(&f.model), s(&good), s(&zero)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn synth_never_writes_over_a_users_folder() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let mine = d.path().join("mine");
    copy_dir(&f.meshes, &mine);
    let before = listing(&mine);
    fails(&shapeclf(&["synth", s(&mine)]), 1, "is not empty");
    assert_eq!(listing(&mine), before);
}

#[test]
fn synth_refuses_a_subdivision_that_cannot_fit() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m");
    fails(
        &shapeclf(&["synth", s(&out), "--subdivide", "20"]),
        1,
        "triangles",
    );
    assert!(!out.exists());
}

#[test]
fn a_few_shapes_per_class_still_train_and_test() {
    let f = fixture();
    // The fixture has 4 shapes per class: every class has a test shape, so training ran.
    let t =
        shapeclf::features::FeatureTable::read_csv(&f.features.join("descriptors.csv")).unwrap();
    for c in t.classes() {
        assert!(
            t.rows
                .iter()
                .any(|r| r.class == c && r.split == shapeclf::dataset::Split::Test),
            "{c} has no test shape"
        );
    }
    assert!(f.model.join("report.json").is_file());
}

// 7. Descriptor parameters.

#[test]
fn descriptor_parameters_are_validated_and_slow_ones_announced() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("f");
    for (flag, value) in [
        ("--d2-pairs", "0"),
        ("--d2-points", "1000000"),
        ("--sdf-rays", "100000"),
    ] {
        fails(
            &shapeclf(&["features", s(&f.meshes), "--out", s(&out), flag, value]),
            // A wrong argument: 2, as documented (issue #23; it was 1).
            2,
            // Named by the flag the user typed, though the library names its setting.
            &format!("invalid setting: {flag} is {value}"),
        );
        assert!(!out.exists(), "{flag}: nothing created");
    }
    let r = shapeclf(&[
        "features",
        s(&f.meshes),
        "--out",
        s(&out),
        "--no-views",
        "--sdf-points",
        "64",
        "--d2-points",
        "8000",
        "--d2-pairs",
        "30000000",
    ]);
    ok(&r);
    assert!(String::from_utf8_lossy(&r.stderr).contains("warning: D2 uses"));
}

// Tampered model folders, compare, exit codes, messages.

#[test]
fn tampered_model_folders_are_named_not_used() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let mesh = first_mesh(&f.meshes);
    let m = d.path().join("flipped");
    copy_dir(&f.model, &m);
    let mut w = std::fs::read(m.join("model.bpk")).unwrap();
    let i = w.len() - 5;
    w[i] ^= 0x10;
    std::fs::write(m.join("model.bpk"), w).unwrap();
    fails(
        &shapeclf(&["predict", "--model", s(&m), s(&mesh)]),
        1,
        "checksum",
    );
    let m = d.path().join("dup");
    copy_dir(&f.model, &m);
    let mut classes: Vec<String> =
        serde_json::from_slice(&std::fs::read(m.join("classes.json")).unwrap()).unwrap();
    classes[1] = classes[0].clone();
    std::fs::write(
        m.join("classes.json"),
        serde_json::to_vec(&classes).unwrap(),
    )
    .unwrap();
    fails(
        &shapeclf(&["predict", "--model", s(&m), s(&mesh)]),
        1,
        "listed twice",
    );
}

#[test]
fn compare_names_broken_reports_and_goes_on() {
    let f = fixture();
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    for n in [
        "good",
        "impossible",
        "badseed",
        "badspread",
        "truncated",
        "missing",
    ] {
        copy_dir(&f.model, &models.join(n));
    }
    let r = |n: &str| models.join(n).join("report.json");
    let mut rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r("impossible")).unwrap()).unwrap();
    let good = rep.clone();
    rep["accuracy"] = 7.5.into();
    std::fs::write(r("impossible"), serde_json::to_vec(&rep).unwrap()).unwrap();
    // Seeds of a --repeats report: an impossible seed's score, and a spread that is not the
    // seeds' (each would be averaged or shown as the model's score).
    let seed = |seed: u64, accuracy: f64| {
        serde_json::json!({"seed": seed, "accuracy": accuracy, "mean_class_accuracy": 0.5,
            "macro_f1": 0.5, "train_seconds": 1.0, "best_epoch": 1})
    };
    let ms = |mean: f64, std: f64| serde_json::json!({"mean": mean, "std": std});
    let acc = good["accuracy"].as_f64().unwrap();
    let mut rep = good.clone();
    rep["repeats"] = serde_json::json!([seed(good["seed"].as_u64().unwrap(), acc), seed(1, 3.0)]);
    std::fs::write(r("badseed"), serde_json::to_vec(&rep).unwrap()).unwrap();
    rep["repeats"] = serde_json::json!([seed(good["seed"].as_u64().unwrap(), acc), seed(1, acc)]);
    rep["spread"] = serde_json::json!({"runs": 2, "accuracy": ms(0.99, 0.0),
        "mean_class_accuracy": ms(0.5, 0.0), "macro_f1": ms(0.5, 0.0)});
    std::fs::write(r("badspread"), serde_json::to_vec(&rep).unwrap()).unwrap();
    let full = std::fs::read(r("truncated")).unwrap();
    std::fs::write(r("truncated"), &full[..full.len() / 2]).unwrap();
    std::fs::remove_file(r("missing")).unwrap();
    let out = shapeclf(&["compare", "--models", s(&models)]);
    let stdout = ok(&out);
    assert!(stdout.contains("good"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    for (n, why) in [
        ("impossible", "outside [0, 1]"),
        ("badseed", "seed 1's accuracy is 3"),
        ("badspread", "not that of the seeds listed"),
        ("truncated", "unreadable"),
        ("missing", "no report.json"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(n) && l.contains(why)),
            "{n}: {err}"
        );
    }
}

#[test]
fn errors_print_their_cause_once() {
    let d = tempfile::tempdir().unwrap();
    let out = shapeclf(&[
        "predict",
        "--model",
        s(&d.path().join("nope")),
        s(&d.path().join("x.off")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("no such model folder").count(), 1, "{err}");
    // Argument errors are clap's exit code 2, as the README says.
    assert_eq!(shapeclf(&["train"]).status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn dangling_links_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let train = d.path().join("m/c/train");
    std::fs::create_dir_all(&train).unwrap();
    std::fs::write(train.join("ok.off"), common::GOOD_OFF).unwrap();
    std::os::unix::fs::symlink("/nonexistent.off", train.join("gone.off")).unwrap();
    let out = d.path().join("f");
    let r = shapeclf(&[
        "features",
        s(&d.path().join("m")),
        "--out",
        s(&out),
        "--no-views",
        "--d2-points",
        "128",
    ]);
    let stdout = ok(&r);
    assert!(
        stdout.contains("failed: c/train/gone.off: dangling symbolic link"),
        "{stdout}"
    );
}

mod common;
