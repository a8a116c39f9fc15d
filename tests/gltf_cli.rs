//! glTF end to end: a dataset of `.glb` and `.gltf` files of several styles (synthetic shapes,
//! a multi-node scene, a non-indexed mesh, a `.gltf` whose buffer is a `.bin` beside it) goes
//! through `features` and `train --model logistic` like any other format, and a rerun notices a
//! changed `.bin` although its `.gltf` is byte for byte the same.

use common::{manifest, s};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Value, json};

/// A mesh of `class` from a `.gltf` that synth wrote: its JSON, and its buffer decoded.
fn synth_gltf(root: &Path, class: &str) -> (Value, Vec<u8>) {
    let p = root
        .join(class)
        .join("train")
        .join(format!("{class}_0001.gltf"));
    let j: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    let uri = j["buffers"][0]["uri"].as_str().unwrap();
    let bin = base64::engine::general_purpose::STANDARD
        .decode(uri.split_once(',').unwrap().1)
        .unwrap();
    (j, bin)
}

#[test]
fn gltf_dataset_goes_through_features_and_training() {
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    common::shapeclf_ok(&[
        "synth",
        s(&meshes),
        "--per-class",
        "5",
        "--seed",
        "4",
        "--formats",
        "glb,gltf",
    ]);
    let extra = meshes.join("mug").join("train");

    // A scene: a parent turned and moved, holding the mug twice, scaled and side by side.
    let (mut j, bin) = synth_gltf(&meshes, "mug");
    j["nodes"] = json!([
        {"children": [1, 2], "rotation": [0, 0, 0.38268343, 0.9238795], "translation": [5, 0, 1]},
        {"mesh": 0, "scale": [0.5, 0.5, 0.5]},
        {"mesh": 0, "translation": [3, 0, 0], "scale": [0.5, 0.5, 0.5]},
    ]);
    std::fs::write(extra.join("scene.glb"), common::glb(&j, &bin)).unwrap();

    // Non-indexed: the indices dropped, the positions listed triangle by triangle.
    let (mut j, bin) = synth_gltf(&meshes, "cup");
    let nv = j["accessors"][0]["count"].as_u64().unwrap() as usize;
    let idx: Vec<usize> = bin[12 * nv..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize)
        .collect();
    let soup: Vec<u8> = idx
        .iter()
        .flat_map(|&i| bin[12 * i..12 * i + 12].to_vec())
        .collect();
    j["meshes"][0]["primitives"][0]
        .as_object_mut()
        .unwrap()
        .remove("indices");
    j["accessors"] =
        json!([{"bufferView": 0, "componentType": 5126, "count": idx.len(), "type": "VEC3"}]);
    j["bufferViews"] = json!([{"buffer": 0, "byteLength": soup.len()}]);
    j["buffers"] = json!([{"byteLength": soup.len()}]);
    std::fs::write(extra.join("soup.glb"), common::glb(&j, &soup)).unwrap();

    // A .gltf with its buffer in a file beside it, its name percent-encoded.
    let (mut j, bin) = synth_gltf(&meshes, "mug");
    j["buffers"][0]["uri"] = json!("mug%20parts.bin");
    std::fs::write(extra.join("external.gltf"), serde_json::to_vec(&j).unwrap()).unwrap();
    std::fs::write(extra.join("mug parts.bin"), &bin).unwrap();

    let found = 9 * 5 + 3;
    let features = d.path().join("features");
    let run = || {
        common::shapeclf_ok(&[
            "features",
            s(&meshes),
            "--out",
            s(&features),
            "--view-res",
            "16",
            "--strict",
        ])
    };
    run();
    let m = manifest(&features);
    assert_eq!(m["counts"]["found"], found, "{m}");
    assert_eq!(m["counts"]["ok"], found, "{}", m["failed"]);
    let table =
        shapeclf::features::FeatureTable::read_csv(&features.join("descriptors.csv")).unwrap();
    let row = |t: &shapeclf::features::FeatureTable, name: &str| {
        t.rows
            .iter()
            .find(|r| r.path == format!("mug/train/{name}"))
            .unwrap_or_else(|| panic!("{name} is not a row"))
            .values
            .clone()
    };
    for name in ["scene.glb", "soup.glb", "external.gltf"] {
        row(&table, name);
        assert!(
            features
                .join(format!("views/mug/train/{name}.png"))
                .is_file()
        );
    }

    // Same .gltf, changed .bin: that row is computed again, every other one reused.
    let mut bin = bin;
    let x = f32::from_le_bytes(bin[..4].try_into().unwrap()) + 0.4;
    bin[..4].copy_from_slice(&x.to_le_bytes());
    std::fs::write(extra.join("mug parts.bin"), &bin).unwrap();
    run();
    let m = manifest(&features);
    assert_eq!(m["counts"]["reused"], found - 1, "{m}");
    let again =
        shapeclf::features::FeatureTable::read_csv(&features.join("descriptors.csv")).unwrap();
    assert_ne!(row(&table, "external.gltf"), row(&again, "external.gltf"));
    assert_eq!(row(&table, "scene.glb"), row(&again, "scene.glb"));

    let out = common::shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&features),
        "--out",
        s(&d.path().join("model")),
        "--epochs",
        "30",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("confusion matrix"), "{text}");

    // And predicts like any other format: a scene, a non-indexed mesh, an external buffer.
    let files: Vec<PathBuf> = ["scene.glb", "soup.glb", "external.gltf"]
        .iter()
        .map(|n| extra.join(n))
        .collect();
    let mut args = vec!["predict", "--model"];
    let model = d.path().join("model");
    args.push(s(&model));
    args.extend(files.iter().map(|p| s(p)));
    let out = common::shapeclf_ok(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    for n in ["scene.glb: ", "soup.glb: ", "external.gltf: "] {
        let line = text
            .lines()
            .find(|l| l.contains(n))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(!line.contains("error"), "{line}");
    }
}

mod common;
