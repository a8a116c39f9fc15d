//! Augmented renderings and multi-channel views through the library: what `features
//! --view-augment K --view-channels depth+shade` writes, what training reads of it, and that a
//! model trained on it predicts (and refuses features of another channel count).

use std::path::{Path, PathBuf};

use shapeclf::dataset::Split;
use shapeclf::descriptors::DescriptorConfig;
use shapeclf::descriptors::views::{ViewChannels, ViewConfig};
use shapeclf::extract::{self, ExtractOptions, Extraction};
use shapeclf::features::CachedMesh;
use shapeclf::features::{augmented_view_file, view_file};
use shapeclf::models::ModelKind;
use shapeclf::models::{FusionSpec, ModelSpec};
use shapeclf::observe::Silent;
use shapeclf::train::TrainConfig;
use shapeclf::train::{Copies, Keep, load_views};
use shapeclf::view_store::RecordedViews;
use shapeclf::{inference, synth, workflow};

const K: usize = 2;

fn small_descriptors() -> DescriptorConfig {
    DescriptorConfig {
        d2_points: 256,
        sdf_points: 64,
        sdf_rays: 8,
        triples: 2000,
        ..Default::default()
    }
}

fn extract_into(meshes: &Path, out: &Path, seed: u64, views: ViewConfig) -> Extraction {
    let opts = ExtractOptions {
        config: small_descriptors(),
        seed,
        views: Some((views, out.to_path_buf())),
        resume_from: Some(out.to_path_buf()),
        ..Default::default()
    };
    extract::run(meshes, out, &opts, &Silent).unwrap()
}

fn augmented(channels: ViewChannels) -> ViewConfig {
    ViewConfig {
        resolution: 16,
        channels,
        augment: K,
        ..Default::default()
    }
}

/// Two shapes per class: one to train, one to test.
fn dataset(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let meshes = dir.join("meshes");
    let files = synth::write_dataset(&meshes, 2, 0, 0).unwrap();
    (meshes, files)
}

fn cache(dir: &Path) -> Vec<CachedMesh> {
    serde_json::from_slice(&std::fs::read(dir.join(shapeclf::features::CACHE_FILE)).unwrap())
        .unwrap()
}

#[test]
fn augmented_renderings_are_recorded_for_training_meshes_only_and_seeded() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, files) = dataset(d.path());
    let cfg = augmented(ViewChannels::Depth);
    let a = d.path().join("a");
    let ex = extract_into(&meshes, &a, 0, cfg);
    assert_eq!(ex.manifest.counts.ok, files.len());
    let info = ex.manifest.views.as_ref().unwrap();
    assert_eq!(info.config.augment, K);
    assert!(
        info.augmented_naming
            .as_deref()
            .unwrap()
            .contains("~aug<k>")
    );
    let rows = &ex.table.rows;
    let n_train = rows.iter().filter(|r| r.split == Split::Train).count();
    let n_test = rows.len() - n_train;
    assert!(n_train > 0 && n_test > 0);
    let by_path: std::collections::HashMap<String, CachedMesh> =
        cache(&a).into_iter().map(|c| (c.path.clone(), c)).collect();
    for r in rows {
        let want = match r.split {
            Split::Train => K,
            Split::Test => 0,
        };
        assert!(view_file(&a, &r.path).is_file());
        for k in 1..=K + 1 {
            assert_eq!(
                augmented_view_file(&a, &r.path, k).is_file(),
                k <= want,
                "{} copy {k}",
                r.path
            );
        }
        assert_eq!(by_path[&r.path].augmented_hashes.len(), want, "{}", r.path);
        if want > 0 {
            let own = std::fs::read(view_file(&a, &r.path)).unwrap();
            let turned = std::fs::read(augmented_view_file(&a, &r.path, 1)).unwrap();
            assert_ne!(own, turned, "{}: a rotation changes the views", r.path);
        }
    }

    // The same seed renders the same copies; another seed other ones.
    let b = d.path().join("b");
    extract_into(&meshes, &b, 0, cfg);
    let c = d.path().join("c");
    extract_into(&meshes, &c, 1, cfg);
    let copies = |dir: &Path| -> Vec<Vec<u8>> {
        rows.iter()
            .filter(|r| r.split == Split::Train)
            .flat_map(|r| (1..=K).map(move |k| (r.path.clone(), k)))
            .map(|(p, k)| std::fs::read(augmented_view_file(dir, &p, k)).unwrap())
            .collect()
    };
    let (ca, cb, cc) = (copies(&a), copies(&b), copies(&c));
    assert_eq!(ca.len(), n_train * K);
    assert_eq!(ca, cb);
    let same = ca.iter().zip(&cc).filter(|(x, y)| x == y).count();
    assert_eq!(same, 0, "another seed, other rotations");

    // A rerun reuses every row while the copies are intact, and re-renders a mesh whose copy
    // was damaged.
    let ex2 = extract_into(&meshes, &a, 0, cfg);
    assert_eq!(ex2.manifest.counts.reused, rows.len());
    let damaged = rows.iter().find(|r| r.split == Split::Train).unwrap();
    std::fs::write(augmented_view_file(&a, &damaged.path, K), b"not a png").unwrap();
    let ex3 = extract_into(&meshes, &a, 0, cfg);
    assert_eq!(ex3.manifest.counts.reused, rows.len() - 1);
    assert_eq!(
        std::fs::read(augmented_view_file(&a, &damaged.path, K)).unwrap(),
        ca[rows
            .iter()
            .filter(|r| r.split == Split::Train)
            .position(|r| r.path == damaged.path)
            .unwrap()
            * K
            + K
            - 1]
    );

    // Training reads every copy of a training mesh and only the views of a test mesh.
    let (table, manifest, _) = shapeclf::features::read_folder_checked(&a).unwrap();
    let data = shapeclf::train::prepare(&table, None).unwrap();
    let info = manifest.views.as_ref().unwrap();
    let rec = std::sync::Arc::new(RecordedViews::read(&a, &manifest).unwrap());
    let (train, s1) = load_views(
        &a,
        info,
        &rec,
        &data.train,
        Keep::Disk,
        Copies::WithAugmented,
    )
    .unwrap();
    let (test, s2) =
        load_views(&a, info, &rec, &data.test, Keep::Memory, Copies::Original).unwrap();
    assert!(s1.is_empty() && s2.is_empty(), "{s1:?} {s2:?}");
    assert_eq!(train.len(), n_train * (K + 1));
    assert_eq!(test.len(), n_test);
    assert!(test.copies.is_empty());
    for i in 0..train.len() {
        assert_eq!(train.copy(i), i % (K + 1));
    }
    // Copy k of a mesh is its k-th augmented image, read from disk.
    let first =
        shapeclf::view_store::read_view_copy(&a, &train.paths[1], 1, &info.config, Some(&rec));
    assert_eq!(
        train.shape_pixels(1).as_ref(),
        first.unwrap().pixels.as_slice()
    );
    // A missing copy is left out alone, named; its mesh still trains.
    std::fs::remove_file(augmented_view_file(&a, &train.paths[0], 1)).unwrap();
    let (fewer, s3) = load_views(
        &a,
        info,
        &rec,
        &data.train,
        Keep::Disk,
        Copies::WithAugmented,
    )
    .unwrap();
    assert_eq!(fewer.len(), n_train * (K + 1) - 1);
    assert_eq!(s3.len(), 1);
    assert!(s3[0].path.contains("augmented rendering 1"), "{:?}", s3[0]);
}

#[test]
fn a_cnn_and_fusion_train_on_every_copy_of_two_channel_views_and_predict() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, files) = dataset(d.path());
    let features = d.path().join("features");
    let ex = extract_into(&meshes, &features, 0, augmented(ViewChannels::DepthShade));
    let n_train = ex
        .table
        .rows
        .iter()
        .filter(|r| r.split == Split::Train)
        .count();
    let n_test = ex.table.rows.len() - n_train;
    // The views of a test mesh: two stacked grids, depth over shading.
    let test_mesh = ex
        .table
        .rows
        .iter()
        .find(|r| r.split == Split::Test)
        .unwrap();
    let img = image::open(view_file(&features, &test_mesh.path)).unwrap();
    assert_eq!((img.width(), img.height()), (4 * 16, 2 * 3 * 16));
    let models = d.path().join("models");
    for kind in [ModelKind::Cnn, ModelKind::Fusion] {
        let mut cfg = TrainConfig::defaults(kind);
        cfg.epochs = 1;
        cfg.val_fraction = 0.0;
        if let ModelSpec::Cnn(c) | ModelSpec::Fusion(FusionSpec { cnn: c, .. }) = &mut cfg.model {
            c.channels = vec![4, 8];
            c.features = 16;
        }
        let out = models.join(kind.name());
        let r = workflow::train_model(&features, &out, &cfg, &Silent).unwrap();
        assert_eq!(r.train_size, n_train * (K + 1), "{}", kind.name());
        assert_eq!(r.test_size, n_test, "{}", kind.name());
        let p = inference::predict(&out, &files[..2], 2).unwrap();
        assert!(
            p.iter().all(|p| p.error.is_none() && p.top.len() == 2),
            "{p:?}"
        );
        // Features of another channel count than the network's are refused, saying why.
        let manifest = out.join(shapeclf::model_dir::MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.contains("depth+shade"));
        std::fs::write(
            &manifest,
            text.replace(r#""channels": "depth+shade","#, "")
                .replace(r#""channels":"depth+shade","#, ""),
        )
        .unwrap();
        let err = inference::predict(&out, &files[..1], 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 channel(s) per view") && err.contains("built for 2"),
            "{err}"
        );
    }
}

#[test]
fn the_command_line_refuses_view_options_without_views_and_too_many_copies() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, _) = dataset(d.path());
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
            .args(["features", meshes.to_str().unwrap(), "--out"])
            .arg(d.path().join("f"))
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for extra in [
        &["--no-views", "--view-augment", "2"][..],
        &["--no-views", "--view-channels", "depth+shade"][..],
    ] {
        let (code, err) = run(extra);
        assert_eq!(code, Some(2), "{extra:?}: {err}");
        assert!(err.contains("cannot be used with"), "{err}");
    }
    let (code, err) = run(&["--view-augment", "65"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--view-augment is 65"), "{err}");
    assert!(!d.path().join("f").join("manifest.json").exists());
}

#[test]
fn align_pca_defaults_to_shading_and_three_copies_and_sh_is_on_unless_refused() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, _) = dataset(d.path());
    let small = [
        "--view-res",
        "16",
        "--d2-points",
        "256",
        "--sdf-points",
        "32",
        "--sdf-rays",
        "8",
    ];
    let manifest = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = d.path().join(name);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
            .args(["features", meshes.to_str().unwrap(), "--out"])
            .arg(&out)
            .args(small)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
    };
    // Depth alone and no copies are left out of the manifest, as before the options.
    let views = |m: &serde_json::Value| {
        let v = &m["views"]["config"];
        (
            v["channels"].as_str().unwrap_or("depth").to_string(),
            v["augment"].as_u64().unwrap_or(0),
        )
    };
    // The defaults: the principal axes, which bring shading and three copies.
    let plain = manifest("plain", &[]);
    assert_eq!(plain["views"]["config"]["align"], "pca");
    assert_eq!(views(&plain), ("depth+shade".into(), 3));
    assert_eq!(plain["descriptors"]["sh"]["shells"], 8, "SH on by default");
    let none = manifest("none", &["--align", "none"]);
    assert!(
        none["views"]["config"]["align"].is_null(),
        "none is not written"
    );
    assert_eq!(views(&none), ("depth".into(), 0));
    let pca = manifest("pca", &["--align", "pca", "--no-sh"]);
    assert_eq!(views(&pca), ("depth+shade".into(), 3));
    assert!(pca["descriptors"]["sh"].is_null(), "--no-sh");
    let asked = manifest(
        "asked",
        &[
            "--align",
            "pca",
            "--view-augment",
            "0",
            "--view-channels",
            "depth",
        ],
    );
    assert_eq!(views(&asked), ("depth".into(), 0));
}
