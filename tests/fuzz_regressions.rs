//! Inputs kept from fuzzing (`fuzz/`, cargo-fuzz): every file under
//! `tests/fuzz_regressions/<target>/` goes through the reader that target fuzzes and must give Ok
//! or a clear error, never a panic. Crashes the fuzzers found are kept here once fixed, with a
//! sample of the corpus they grew.

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn mesh_loaders_never_panic_on_kept_inputs() {
    for ext in ["off", "obj", "stl", "ply", "gltf"] {
        for (name, bytes) in inputs(ext) {
            let r = std::panic::catch_unwind(|| {
                if let Ok(raw) = shapeclf::mesh::parse_bytes(ext, &bytes) {
                    let _ = shapeclf::mesh::Mesh::from_raw(raw);
                }
            });
            assert!(r.is_ok(), "{name} panicked the {ext} loader");
        }
    }
}

#[test]
fn table_and_manifest_readers_never_panic_on_kept_inputs() {
    for (name, bytes) in inputs("table") {
        let r = std::panic::catch_unwind(|| {
            shapeclf::features::FeatureTable::parse_csv(&bytes[..], Path::new("t.csv")).is_ok()
        });
        assert!(r.is_ok(), "{name} panicked the table reader");
    }
    for (name, bytes) in inputs("parquet") {
        let r = std::panic::catch_unwind(|| {
            shapeclf::features::FeatureTable::parse_parquet(bytes.clone(), Path::new("t.parquet"))
                .is_ok()
        });
        assert!(r.is_ok(), "{name} panicked the Parquet table reader");
    }
    for (name, bytes) in inputs("manifest") {
        let text = String::from_utf8_lossy(&bytes);
        let r = std::panic::catch_unwind(|| {
            shapeclf::features::Manifest::parse(&text, Path::new("m.json")).is_ok()
        });
        assert!(r.is_ok(), "{name} panicked the manifest reader");
    }
}

/// The `gltf_data_uri` target's kept inputs, among them issue #23's multibyte text before the
/// comma, which panicked ("not a char boundary").
#[test]
fn data_uri_parser_never_panics_on_kept_inputs() {
    for (name, bytes) in inputs("data_uri") {
        let text = String::from_utf8_lossy(&bytes);
        let r = std::panic::catch_unwind(|| {
            let _ = shapeclf::mesh::decode_data_uri(&text);
            let _ = shapeclf::mesh::decode_data_uri(&format!("data:{text}"));
        });
        assert!(r.is_ok(), "{name} panicked the data URI parser");
    }
    let e = shapeclf::mesh::decode_data_uri(&format!("data:{},AAAA", "é".repeat(40))).unwrap_err();
    assert!(e.contains("not base64"), "{e}");
}
