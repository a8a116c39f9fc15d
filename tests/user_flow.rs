//! Issue #24: what a new user sees on the way from their meshes to a comparison: the page and
//! pictures say how many seeds stand behind a score and how far they spread, and every picture
//! says what it shows.

mod common;

use std::path::Path;

use common::{s, shapeclf_ok};

/// The models section of `comparison.html`, tags dropped, one cell per `|`.
fn models_section(html: &str) -> String {
    let start = html.find("id=\"models\"").expect("models section");
    let end = start + html[start..].find("</section>").unwrap();
    let mut out = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push('|');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether the top `band` rows of a picture hold dark pixels (a title) on white.
fn has_title(png: &Path, band: u32) -> bool {
    let img = image::open(png).unwrap().into_rgb8();
    let dark = (0..img.width())
        .flat_map(|x| (0..band).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count();
    dark > 20
}

#[test]
fn the_page_shows_every_seeds_spread_and_every_picture_a_title() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats, models) = (
        d.path().join("m"),
        d.path().join("f"),
        d.path().join("models"),
    );
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "4", "--seed", "2"]);
    shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&feats),
        "--view-res",
        "16",
    ]);
    shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&feats),
        "--out",
        s(&models.join("lg")),
        "--epochs",
        "5",
        "--repeats",
        "3",
    ]);
    shapeclf_ok(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&feats),
        "--out",
        s(&models.join("cnn")),
        "--epochs",
        "1",
        "--channels",
        "4",
        "--hidden",
        "8",
    ]);
    shapeclf_ok(&["compare", "--models", s(&models)]);
    let html = std::fs::read_to_string(models.join("comparison.html")).unwrap();
    // The header names the dataset the models were trained on, from their feature manifest.
    assert!(
        html.contains("; dataset <code>"),
        "no dataset in the page's header"
    );
    let table = models_section(&html);
    let row = |name: &str| -> Vec<String> {
        let at = table.find(&format!("|{name}|")).unwrap();
        table[at..]
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .take(6)
            .map(String::from)
            .collect()
    };
    // A folder trained with --repeats 3: three seeds, each score as mean ± std.
    let lg = row("lg");
    assert_eq!(lg[2], "3", "{lg:?}");
    assert!(lg[3..6].iter().all(|c| c.contains(" ± ")), "{lg:?}");
    // One seed: one score, and the count says 1, not the seed's number.
    let cnn = row("cnn");
    assert_eq!(cnn[2], "1", "{cnn:?}");
    assert!(!cnn[3].contains('±'), "{cnn:?}");

    // More seeds of the same method in folders of their own, one trained before and one after
    // a rerun of `features` that changed nothing: one row of five seeds (the logistic
    // regression's weight decay is cross-validated per seed, and may differ between them).
    let lg_seed = |name: &str, seed: &str| {
        shapeclf_ok(&[
            "train",
            "--model",
            "logistic",
            "--features",
            s(&feats),
            "--out",
            s(&models.join(name)),
            "--epochs",
            "5",
            "--seed",
            seed,
        ]);
    };
    lg_seed("lg1", "1");
    lg_seed("lg5", "5");
    shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&feats),
        "--view-res",
        "16",
    ]);
    lg_seed("lg6", "6");
    // Seed 1 of `--repeats 3` is the model `--seed 1` trains.
    let report = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(models.join(name).join("report.json")).unwrap())
            .unwrap()
    };
    let (repeat1, alone) = (&report("lg")["repeats"][1], report("lg1"));
    assert_eq!(repeat1["seed"], 1);
    assert_eq!(repeat1["accuracy"], alone["accuracy"]);
    assert_eq!(repeat1["macro_f1"], alone["macro_avg"]["f1"]);
    shapeclf_ok(&["compare", "--models", s(&models)]);
    let html = std::fs::read_to_string(models.join("comparison.html")).unwrap();
    let table = models_section(&html);
    let lg = table
        .split('|')
        .map(str::trim)
        .skip_while(|c| !c.starts_with("lg"))
        .filter(|c| !c.is_empty())
        .take(3)
        .collect::<Vec<_>>();
    assert_eq!(lg[0], "lg, lg1, lg5, lg6", "{table}");
    assert_eq!(lg[2], "5", "{lg:?}");

    // Every picture has a title.
    for png in [
        models.join("comparison.png"),
        models.join("lg/confusion.png"),
        models.join("lg/curves.png"),
        models.join("cnn/filters.png"),
        models.join("cnn/feature_maps.png"),
    ] {
        assert!(has_title(&png, 30), "{} has no title", png.display());
    }
}

/// Under nohup or Slurm (stderr a file, not a terminal) a run still says how far it is: a
/// line per epoch with its rate and ETA, and the meshes' count when they are done.
#[test]
fn a_log_gets_progress_lines_with_rate_and_eta() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats) = (d.path().join("m"), d.path().join("f"));
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "3"]);
    let out = shapeclf_ok(&["features", s(&meshes), "--out", s(&feats), "--no-views"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("meshes: 27/27 (100%)"), "{err}");
    assert!(err.contains("meshes/s"), "{err}");
    let out = shapeclf_ok(&[
        "train",
        "--model",
        "mlp",
        "--features",
        s(&feats),
        "--out",
        s(&d.path().join("mlp")),
        "--epochs",
        "4",
        "--patience",
        "0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let epochs: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("mlp: epoch "))
        .collect();
    // Epochs this fast get a line a second, and always the first and the last.
    assert!((2..=4).contains(&epochs.len()), "{err}");
    assert!(epochs[0].contains("epoch 1/4 (25%)"), "{}", epochs[0]);
    assert!(
        epochs[0].contains("s/epoch") && epochs[0].contains("eta "),
        "{}",
        epochs[0]
    );
    assert!(epochs[0].contains("loss "), "{}", epochs[0]);
    let last = epochs.last().unwrap();
    assert!(
        last.contains("epoch 4/4") && !last.contains("eta"),
        "{last}"
    );
    // A logistic regression's 300 epochs in well under a second do not flood the log.
    let out = shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&feats),
        "--out",
        s(&d.path().join("lg")),
        "--weight-decay",
        "0.01",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines = err
        .lines()
        .filter(|l| l.starts_with("logistic: epoch "))
        .count();
    assert!((2..=30).contains(&lines), "{lines} epoch lines:\n{err}");
}

/// `shapeclf` run in `dir`.
fn shapeclf_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The commonest first mistakes are answered with the command that fixes them, and `predict`
/// takes what a user would type: a model kind, a folder of meshes.
#[test]
fn the_commonest_mistakes_name_the_next_command() {
    let d = tempfile::tempdir().unwrap();
    let here = d.path();
    // Training before features.
    let out = shapeclf_in(here, &["train", "--model", "logistic"]);
    common::fails(
        &out,
        1,
        "shapeclf features <your meshes folder> --out features",
    );
    // Comparing before training.
    std::fs::create_dir(here.join("models")).unwrap();
    let out = shapeclf_in(here, &["compare"]);
    common::fails(
        &out,
        1,
        "shapeclf train --model logistic --out models/logistic",
    );
    // A model kind where a folder is wanted, before any model exists.
    shapeclf_ok(&["synth", s(&here.join("meshes")), "--per-class", "3"]);
    let out = shapeclf_in(here, &["predict", "--model", "mlp", "meshes/mug"]);
    common::fails(&out, 1, "shapeclf train --model mlp --out models/mlp");
    // The meshes folder given as the features: the command that makes them.
    let out = shapeclf_in(here, &["train", "--model", "mlp", "--features", "meshes"]);
    common::fails(&out, 1, "`shapeclf features meshes --out features`");
    // A dataset folder that does not exist: refused, and no output folder left behind.
    let out = shapeclf_in(here, &["features", "nope", "--out", "fy"]);
    common::fails(&out, 1, "cannot read dataset folder nope");
    assert!(!here.join("fy").exists());
    // A dataset in the split-first layout (one level off): nothing where the layout reads;
    // the error says what lies below and how to move it, and leaves no output folder.
    for (from, to) in [("mug/train", "sf/train/mug"), ("mug/test", "sf/test/mug")] {
        std::fs::create_dir_all(here.join(to).parent().unwrap()).unwrap();
        common::copy_dir(&here.join("meshes").join(from), &here.join(to));
    }
    let out = shapeclf_in(here, &["features", "sf", "--out", "fz"]);
    common::fails(
        &out,
        1,
        "move each ROOT/train/<class>/ to ROOT/<class>/train/",
    );
    assert!(!here.join("fz").exists());
    // Then the real thing: the kind names models/mlp, a folder is every mesh in it.
    let ok = |args: &[&str]| {
        let out = shapeclf_in(here, args);
        assert!(out.status.success(), "{args:?}: {}", common::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["features", "meshes", "--no-views"]);
    ok(&["train", "--model", "mlp", "--epochs", "3"]);
    let text = ok(&["predict", "--model", "mlp", "meshes/mug"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "every mug, train and test: {text}");
    assert!(lines.iter().all(|l| l.starts_with("meshes/mug/")), "{text}");
    // A kind with no folder lists the folders there are.
    let out = shapeclf_in(here, &["predict", "--model", "cnn", "meshes/mug"]);
    common::fails(&out, 1, "model folders here: models/mlp");
    // A folder without meshes is said to be one.
    std::fs::create_dir(here.join("empty")).unwrap();
    let out = shapeclf_in(here, &["predict", "--model", "mlp", "empty"]);
    common::fails(&out, 1, "holds no mesh files");
}

/// Every command's `--help` fits on a screen, says where the full reference is, shows each
/// default, and leaks no Rust names.
#[test]
fn help_fits_on_a_screen_and_shows_every_default() {
    for cmd in [
        "features", "train", "synth", "predict", "compare", "merge", "demo",
    ] {
        for flag in ["--help", "-h"] {
            let out = shapeclf_ok(&[cmd, flag]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let lines = text.lines().count();
            assert!(lines <= 40, "{cmd} {flag}: {lines} lines\n{text}");
            assert!(
                !text.contains("crate::") && !text.contains("Ring12"),
                "{text}"
            );
            // Each option line says its default, or is a switch, or needs none.
            for l in text.lines().filter(|l| l.trim_start().starts_with("--")) {
                let switch = !l.contains(" <");
                let required = l.contains("--model <MODEL>") && cmd == "train";
                assert!(
                    switch
                        || required
                        || l.contains("default")
                        || ["--model <", "--shards", "--positive", "--out <OUT>  "]
                            .iter()
                            .any(|x| l.contains(x)),
                    "{cmd}: no default shown in {l:?}"
                );
            }
        }
    }
    let features =
        String::from_utf8_lossy(&shapeclf_ok(&["features", "--help"]).stdout).into_owned();
    assert!(features.contains("docs/REFERENCE.md"), "{features}");
    let synth = String::from_utf8_lossy(&shapeclf_ok(&["synth", "--help"]).stdout).into_owned();
    assert!(synth.contains("(default: off,obj,stl,ply)"), "{synth}");
}

/// `compare` ranks together only models tested on the same meshes and classes: the same
/// dataset under other feature settings is one ranking, another dataset or a one-against-the-
/// rest task is refused with the groups named.
#[test]
fn compare_never_ranks_models_of_different_datasets_together() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    shapeclf_ok(&["synth", s(&p("a")), "--per-class", "3", "--seed", "1"]);
    shapeclf_ok(&["synth", s(&p("b")), "--per-class", "4", "--seed", "2"]);
    for (data, feats, extra) in [
        ("a", "fa", "none"),
        ("a", "fa_pca", "pca"),
        ("b", "fb", "none"),
    ] {
        shapeclf_ok(&[
            "features",
            s(&p(data)),
            "--out",
            s(&p(feats)),
            "--no-views",
            "--align",
            extra,
        ]);
    }
    let train = |feats: &str, out: &str, extra: &[&str]| {
        let mut args = vec!["train", "--model", "logistic", "--features"];
        let (f, o) = (p(feats), p(out));
        args.extend([s(&f), "--out", s(&o), "--epochs", "3"]);
        args.extend(extra);
        shapeclf_ok(&args);
    };
    // The same dataset typed another way.
    let spelled = format!("{}/./../a/", p("a").display());
    shapeclf_ok(&[
        "features",
        &spelled,
        "--out",
        s(&p("fa_spelled")),
        "--no-views",
    ]);
    train("fa", "same/none", &[]);
    train("fa_pca", "same/pca", &[]);
    train("fa_spelled", "same/spelled", &[]);
    // The same meshes under two feature settings, and typed two ways: one ranking.
    shapeclf_ok(&["compare", "--models", s(&p("same"))]);
    // Another dataset in the same folder: refused, each group named.
    train("fb", "same/other", &[]);
    let out = common::shapeclf(&["compare", "--models", s(&p("same"))]);
    common::fails(&out, 1, "different datasets or tasks");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("none, pca, spelled (dataset") && err.contains("other (dataset"),
        "{err}"
    );
    std::fs::remove_dir_all(p("same/other")).unwrap();
    // A copied folder is the same seed of the same method: its run counts once. So are the
    // folders trained on the same table made again (without views, --align changes nothing;
    // the dataset typed another way neither): one row, one seed.
    common::copy_dir(&p("same/none"), &p("same/none_copy"));
    shapeclf_ok(&["compare", "--models", s(&p("same"))]);
    let html = std::fs::read_to_string(p("same/comparison.html")).unwrap();
    assert!(
        models_section(&html).contains("|none, none_copy, pca, spelled|")
            && html.contains("; 3 more run(s) of these seeds, in another folder, counted once"),
        "{}",
        models_section(&html)
    );
    // A one-against-the-rest model on the same meshes is another task.
    train("fa", "same/mug", &["--positive", "mug"]);
    common::fails(
        &common::shapeclf(&["compare", "--models", s(&p("same"))]),
        1,
        "different datasets or tasks",
    );
    // A flat dataset (<class>/*.off) is split by the feature seed: the same files and classes
    // under two seeds are two test sets, never one ranking.
    for e in std::fs::read_dir(p("a")).unwrap() {
        let class = e.unwrap().path();
        if !class.is_dir() {
            continue;
        }
        let flat = p("flat").join(class.file_name().unwrap());
        std::fs::create_dir_all(&flat).unwrap();
        for split in ["train", "test"] {
            for f in std::fs::read_dir(class.join(split)).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, flat.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    for seed in ["0", "1"] {
        let feats = format!("flat_f{seed}");
        shapeclf_ok(&[
            "features",
            s(&p("flat")),
            "--out",
            s(&p(&feats)),
            "--no-views",
            "--seed",
            seed,
        ]);
        train(&feats, &format!("flat_models/s{seed}"), &[]);
    }
    let out = common::shapeclf(&["compare", "--models", s(&p("flat_models"))]);
    common::fails(&out, 1, "different datasets or tasks");
    common::fails(&out, 1, "were tested on other test meshes");
}

/// Each epoch's numbers are appended as they come to a file that can be followed while the
/// model trains, and the finished model folder keeps the whole log, every seed's epochs.
#[test]
fn epochs_are_logged_as_they_come_and_kept_in_the_model_folder() {
    use std::io::BufRead;
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats, out) = (d.path().join("m"), d.path().join("f"), d.path().join("mlp"));
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "3"]);
    shapeclf_ok(&["features", s(&meshes), "--out", s(&feats), "--no-views"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args([
            "train",
            "--model",
            "mlp",
            "--features",
            s(&feats),
            "--out",
            s(&out),
        ])
        .args(["--epochs", "1500", "--repeats", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut live = None;
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("each epoch is logged as it ends in ").nth(1) {
            live = Some(std::path::PathBuf::from(
                rest.split(" (kept").next().unwrap(),
            ));
            break;
        }
        line.clear();
    }
    let live = live.expect("the log's place is said");
    // Followed while training runs: lines appear before the run ends.
    let mut seen = 0;
    while child.try_wait().unwrap().is_none() && seen < 3 {
        seen = std::fs::read_to_string(&live).map_or(0, |t| t.lines().count());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(seen >= 3, "only {seen} lines while training ran");
    std::io::copy(&mut err, &mut std::io::sink()).unwrap();
    assert!(child.wait().unwrap().success());
    let kept = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    let mut rows = kept.lines();
    assert_eq!(
        rows.next(),
        Some("seed,epoch,loss,train_accuracy,val_accuracy,val_loss,seconds")
    );
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert_eq!(rows.len(), 3000, "both seeds' epochs");
    assert_eq!((rows[0][0], rows[0][1]), ("0", "1"));
    assert_eq!((rows[2999][0], rows[2999][1]), ("1", "1500"));
    assert!(
        rows.iter()
            .all(|r| r.len() == 7 && r[2].parse::<f64>().is_ok())
    );
    assert!(!live.exists(), "the staging folder became the model folder");
}

/// The demo end to end on a small set, and its dataset reused only when it is whole and made
/// with the settings asked for: another seed's set, or an interrupted run's part, is refused by
/// name instead of silently standing in.
#[test]
fn demo_runs_and_reuses_only_its_own_whole_dataset() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("demo");
    let small = ["demo", "--dir", s(&dir), "--per-class", "3"];
    let out = common::ok(&common::shapeclf(&small));
    assert!(out.contains("comparison.html"), "{out}");
    let meshes = dir.join("meshes/demo");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(meshes.join(".shapeclf-synth.json")).unwrap())
            .unwrap();
    assert_eq!(record["options"]["per_class"], 3, "{record}");
    // Written beside its place and moved in whole: nothing else is left in meshes/.
    let names: Vec<_> = std::fs::read_dir(dir.join("meshes"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["demo"]);

    let other = common::shapeclf(&[&small[..], &["--seed", "1"]].concat());
    assert_ne!(other.status.code(), Some(0), "{}", common::text(&other));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("--per-class 3 --seed 0") && err.contains("remove it"),
        "{err}"
    );

    std::fs::remove_file(meshes.join(".shapeclf-synth.json")).unwrap();
    let part = common::shapeclf(&small);
    let err = String::from_utf8_lossy(&part.stderr);
    assert!(
        part.status.code() != Some(0) && err.contains("no record of a complete demo dataset"),
        "{}",
        common::text(&part)
    );
}

/// A mesh file copied into both splits is found by its bytes and warned of by `features` and by
/// `train`, as are meshes that failed and so are scored nowhere: a user learns why a score may
/// flatter before reading it.
#[test]
fn copies_across_splits_and_failed_meshes_are_warned_of() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats) = (d.path().join("m"), d.path().join("f"));
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "3"]);
    let train_dir = meshes.join("mug/train");
    let mut files: Vec<_> = std::fs::read_dir(&train_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let copy = meshes.join("mug/test").join(format!(
        "copy_{}",
        files[0].file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(&files[0], &copy).unwrap();
    std::fs::write(meshes.join("cup/train/broken.off"), "OFF\n3 1 0\n0 0 0\n").unwrap();
    // One shape under two classes; a class left with no test meshes, another with no
    // training meshes.
    let other = meshes.join("cup/train").join(format!(
        "dup_{}",
        files[1].file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(&files[1], &other).unwrap();
    std::fs::remove_dir_all(meshes.join("bowl/test")).unwrap();
    std::fs::remove_dir_all(meshes.join("vase/train")).unwrap();
    let out = shapeclf_ok(&["features", s(&meshes), "--out", s(&feats), "--no-views"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 test mesh(es) are byte for byte training meshes")
            && err.contains("mug/test/copy_"),
        "{err}"
    );
    assert!(
        err.contains("1 mesh file(s) are byte for byte a file of another class")
            && err.contains("cup/train/dup_"),
        "{err}"
    );
    assert!(
        err.contains("1 class(es) have no test meshes: bowl (")
            && err.contains("1 class(es) have no training meshes: vase ("),
        "{err}"
    );
    let m = d.path().join("model");
    let out = shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&feats),
        "--out",
        s(&m),
        "--epochs",
        "3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 test mesh(es) are byte for byte training meshes")
            && err.contains("have no test meshes: bowl"),
        "{err}"
    );
    assert!(err.contains("1 mesh(es) failed in `features`"), "{err}");
}

/// A model folder records its feature folder so that `compare` finds it from any working
/// folder: the page shows the split counts and the views wherever it is run from.
#[test]
fn compare_finds_the_features_from_any_working_folder() {
    let d = tempfile::tempdir().unwrap();
    let run_in = |dir: &Path, args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let project = d.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    run_in(&project, &["synth", "m", "--per-class", "3", "--seed", "2"]);
    run_in(
        &project,
        &["features", "m", "--out", "f", "--view-res", "16"],
    );
    run_in(
        &project,
        &[
            "train",
            "--model",
            "logistic",
            "--features",
            "f",
            "--out",
            "models/lg",
            "--epochs",
            "3",
        ],
    );
    let models = project.join("models");
    run_in(d.path(), &["compare", "--models", s(&models)]);
    let html = std::fs::read_to_string(models.join("comparison.html")).unwrap();
    assert!(
        html.contains("Meshes per class and split"),
        "no split counts"
    );
    assert!(!html.contains("No depth views are shown"), "no views");
    assert!(html.contains("data:image/png;base64"), "no images");
}
