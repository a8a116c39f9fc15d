//! Every kind of broken mesh file named in the foundation issue fails with a reason, never a panic.

use std::path::Path;

use shapeclf::mesh::{self, MeshError};

fn load(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    mesh::load(&p).map(|_| ()).map_err(|e| e.to_string())
}

fn expect_err(dir: &Path, name: &str, bytes: &[u8], want: &str) {
    let e = load(dir, name, bytes).expect_err(name);
    assert!(
        e.to_lowercase().contains(&want.to_lowercase()),
        "{name}: error {e:?} does not mention {want:?}"
    );
}

const GOOD_OFF: &str =
    "OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n";

#[test]
fn good_files_in_every_format_load() {
    let d = tempfile::tempdir().unwrap();
    for ext in ["off", "obj", "stl", "ply"] {
        let raw = mesh::parse_bytes("off", GOOD_OFF.as_bytes()).unwrap();
        let p = d.path().join(format!("t.{ext}"));
        shapeclf::synth::write_mesh(&p, &raw, false).unwrap();
        let (m, stats) = mesh::load(&p).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(m.triangles.len(), 4, "{ext}");
        assert_eq!(stats.faces_in, 4);
        let r = m.vertices.iter().map(|v| v.length()).fold(0.0, f32::max);
        assert!((r - 1.0).abs() < 1e-5, "{ext}: normalised radius {r}");
    }
}

#[test]
fn empty_truncated_and_garbage() {
    let d = tempfile::tempdir().unwrap();
    for ext in ["off", "obj", "stl", "ply"] {
        expect_err(d.path(), &format!("empty.{ext}"), b"", "empty");
    }
    expect_err(
        d.path(),
        "trunc.off",
        &GOOD_OFF.as_bytes()[..40],
        "truncated",
    );
    expect_err(
        d.path(),
        "garbage.off",
        b"\x00\xff\x13garbage\n1 2 3",
        "OFF header",
    );
    expect_err(
        d.path(),
        "garbage.obj",
        b"\x00\xff\x13 no geometry here\n",
        "no faces",
    );
    expect_err(d.path(), "garbage.stl", b"\x00\xffnot an stl", "STL");
    expect_err(d.path(), "garbage.ply", b"\x00\xff not a ply", "PLY");
    expect_err(d.path(), "unknown.xyz", b"1 2 3", "unsupported");
}

#[test]
fn non_finite_coordinates() {
    let d = tempfile::tempdir().unwrap();
    for bad in ["nan", "inf", "-inf", "1e39"] {
        let s = GOOD_OFF.replace("1 0 0\n", &format!("1 {bad} 0\n"));
        expect_err(d.path(), &format!("{bad}.off"), s.as_bytes(), "non-finite");
    }
    let obj = "v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n";
    expect_err(d.path(), "nan.obj", obj.as_bytes(), "non-finite");
}

#[test]
fn bad_indices() {
    let d = tempfile::tempdir().unwrap();
    let s = GOOD_OFF.replace("3 1 2 3\n", "3 1 2 9\n");
    expect_err(d.path(), "range.off", s.as_bytes(), "outside");
    let s = GOOD_OFF.replace("3 1 2 3\n", "3 1 2 -4\n");
    expect_err(d.path(), "neg.off", s.as_bytes(), "vertex -4");
    expect_err(
        d.path(),
        "range.obj",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n",
        "out of bounds",
    );
    let ply = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n";
    expect_err(d.path(), "range.ply", ply.as_bytes(), "references vertex 7");
}

#[test]
fn degenerate_and_faceless() {
    let d = tempfile::tempdir().unwrap();
    let s = "OFF\n3 2 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n3 0 0 1\n";
    expect_err(d.path(), "degen.off", s.as_bytes(), "degenerate");
    expect_err(
        d.path(),
        "nofaces.off",
        b"OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n",
        "no faces",
    );
    expect_err(
        d.path(),
        "points.obj",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\n",
        "no faces",
    );
    let ply = "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n";
    expect_err(d.path(), "cloud.ply", ply.as_bytes(), "no face element");
}

#[test]
fn huge_header_counts_fail_without_allocating() {
    let d = tempfile::tempdir().unwrap();
    expect_err(
        d.path(),
        "huge.off",
        b"OFF\n1000000000000 1000000000000 0\n0 0 0\n",
        "more than the file",
    );
    expect_err(
        d.path(),
        "huge_glued.off",
        b"OFF1000000000000 5 0\n",
        "more than the file",
    );
    let mut stl = vec![0u8; 80];
    stl.extend(u32::MAX.to_le_bytes());
    stl.extend([0u8; 50]);
    expect_err(d.path(), "huge.stl", &stl, "more than the file");
    let ply = "ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\nproperty float x\nproperty float y\nproperty float z\nelement face 1000000000000\nproperty list uchar int vertex_indices\nend_header\n";
    expect_err(d.path(), "huge.ply", ply.as_bytes(), "more than the file");
}

#[test]
fn broken_stl_and_ply() {
    let d = tempfile::tempdir().unwrap();
    let ascii = "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0\n";
    expect_err(
        d.path(),
        "broken.stl",
        ascii.as_bytes(),
        "vertex needs 3 numbers",
    );
    // A binary STL one byte short of its last record.
    let mut stl = vec![0u8; 80];
    stl.extend(2u32.to_le_bytes());
    stl.extend([0u8; 99]);
    expect_err(d.path(), "short.stl", &stl, "more than the file");
    let ply = "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n\x00\x00";
    expect_err(d.path(), "short.ply", ply.as_bytes(), "PLY");
    expect_err(
        d.path(),
        "badhdr.ply",
        b"ply\nformat nonsense 9\nend_header\n",
        "PLY",
    );
}

#[test]
fn twenty_megabyte_single_line() {
    let d = tempfile::tempdir().unwrap();
    let line = vec![b'7'; 20 << 20];
    expect_err(d.path(), "line.off", &line, "OFF header");
    let mut obj = b"v ".to_vec();
    obj.extend(&line);
    expect_err(d.path(), "line.obj", &obj, "OBJ");
    expect_err(d.path(), "line.stl", &line, "more than the file");
    expect_err(d.path(), "line.ply", &line, "PLY");
}

#[test]
fn errors_are_typed() {
    let e = mesh::parse_bytes("off", b"OFF\n99999999999 0 0\n").unwrap_err();
    assert!(matches!(e, MeshError::ClaimsTooMuch { .. }));
}
