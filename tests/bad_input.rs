//! Every kind of broken mesh file named in the foundation issue fails with a reason, never a panic.

mod common;

use std::path::Path;

use common::{GOOD_OFF, broken};
use shapeclf::mesh::{self, MeshError};

fn load(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    mesh::load(&p).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn good_files_in_every_format_load() {
    let d = tempfile::tempdir().unwrap();
    for ext in ["off", "obj", "stl", "ply", "glb", "gltf"] {
        let raw = mesh::parse_bytes("off", GOOD_OFF.as_bytes()).unwrap();
        let p = d.path().join(format!("t.{ext}"));
        shapeclf::synth::write_mesh(&p, &raw, false).unwrap();
        let (m, stats) = mesh::load(&p).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(m.triangles().len(), 4, "{ext}");
        assert_eq!(stats.faces_in, 4);
        let r = m.vertices().iter().map(|v| v.length()).fold(0.0, f32::max);
        assert!((r - 1.0).abs() < 1e-5, "{ext}: normalised radius {r}");
    }
}

/// Empty, truncated, garbage, NaN and inf coordinates, out-of-range and negative indices,
/// only-degenerate faces, no faces, huge header counts, broken STL and PLY, a 20 MB single line,
/// broken GLB containers and glTF documents (lying accessors, missing or escaping external
/// buffers, Draco, meshopt, sparse, integer positions, points only): each fails with an error that
/// says why.
#[test]
fn every_broken_file_fails_with_its_reason() {
    let d = tempfile::tempdir().unwrap();
    let cases = broken();
    assert!(cases.len() >= 30);
    for (name, bytes, want) in cases {
        let e = load(d.path(), &name, &bytes).expect_err(&name);
        assert!(
            e.to_lowercase().contains(&want.to_lowercase()),
            "{name}: error {e:?} does not mention {want:?}"
        );
    }
}

#[test]
fn unknown_extension_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let e = load(d.path(), "unknown.xyz", b"1 2 3").unwrap_err();
    assert!(e.to_lowercase().contains("unsupported"), "{e}");
}

#[test]
fn errors_are_typed() {
    let e = mesh::parse_bytes("off", b"OFF\n99999999999 0 0\n").unwrap_err();
    assert!(matches!(e, MeshError::ClaimsTooMuch { .. }));
}

/// Broken and foreign Parquet tables fail with a reason, never a panic: cut anywhere, garbage,
/// a codec shapeclf does not read (named), a page header that lies about its size.
#[test]
fn broken_parquet_tables_fail_with_their_reason() {
    use shapeclf::features::FeatureTable;
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/parquet");
    let good = std::fs::read(kept.join("shapeclf_small.parquet")).unwrap();
    let p = Path::new("t.parquet");
    assert_eq!(
        FeatureTable::parse_parquet(good.clone(), p)
            .unwrap()
            .rows
            .len(),
        3
    );
    // pyarrow's own Snappy file reads too.
    let foreign = std::fs::read(kept.join("pyarrow_snappy.parquet")).unwrap();
    assert_eq!(
        FeatureTable::parse_parquet(foreign, p).unwrap().rows.len(),
        2
    );
    let zstd = std::fs::read(kept.join("pyarrow_zstd.parquet")).unwrap();
    let e = FeatureTable::parse_parquet(zstd, p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not supported"), "{e}");
    for (bytes, want) in [
        (good[..good.len() / 2].to_vec(), "not a Parquet table"),
        (b"PAR1garbagePAR1".to_vec(), "not a Parquet table"),
        (Vec::new(), "not a Parquet table"),
    ] {
        let e = FeatureTable::parse_parquet(bytes, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
}
