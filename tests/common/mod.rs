//! Test inputs shared by several test binaries.

#![allow(dead_code)]

/// A valid tetrahedron in OFF.
pub const GOOD_OFF: &str =
    "OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n";

const PLY_HEAD: &str = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n\
    property float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n\
    end_header\n";

/// One broken file of every class the foundation issue names, in every format it applies to:
/// file name, bytes, and words its error must contain.
pub fn broken() -> Vec<(String, Vec<u8>, &'static str)> {
    let mut v: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    let mut add = |name: &str, bytes: &[u8], why: &'static str| {
        v.push((name.to_string(), bytes.to_vec(), why));
    };
    for ext in ["off", "obj", "stl", "ply"] {
        add(&format!("empty.{ext}"), b"", "empty");
    }
    add("truncated.off", &GOOD_OFF.as_bytes()[..40], "truncated");
    add("garbage.off", b"\x00\xff\x13garbage\n1 2 3", "OFF header");
    add("garbage.obj", b"\x00\xff\x13 no geometry\n", "no faces");
    add("garbage.stl", b"\x00\xffnot an stl", "STL");
    add("garbage.ply", b"\x00\xff not a ply", "PLY");
    for bad in ["nan", "inf", "-inf", "1e39"] {
        let s = GOOD_OFF.replace("1 0 0\n", &format!("1 {bad} 0\n"));
        add(&format!("nonfinite_{bad}.off"), s.as_bytes(), "non-finite");
    }
    add(
        "nan.obj",
        b"v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n",
        "non-finite",
    );
    let s = GOOD_OFF.replace("3 1 2 3\n", "3 1 2 9\n");
    add("range.off", s.as_bytes(), "outside");
    let s = GOOD_OFF.replace("3 1 2 3\n", "3 1 2 -4\n");
    add("negative.off", s.as_bytes(), "vertex -4");
    add(
        "range.obj",
        b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n",
        "out of bounds",
    );
    let ply = format!("{PLY_HEAD}0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n");
    add("range.ply", ply.as_bytes(), "references vertex 7");
    add(
        "degenerate.off",
        b"OFF\n3 2 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n3 0 0 1\n",
        "degenerate",
    );
    add(
        "nofaces.off",
        b"OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n",
        "no faces",
    );
    add("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces");
    add(
        "huge.off",
        b"OFF\n1000000000000 1000000000000 0\n0 0 0\n",
        "more than the file",
    );
    add(
        "huge_glued.off",
        b"OFF1000000000000 5 0\n",
        "more than the file",
    );
    let mut stl = vec![0u8; 80];
    stl.extend(u32::MAX.to_le_bytes());
    stl.extend([0u8; 50]);
    add("huge.stl", &stl, "more than the file");
    add(
        "huge.ply",
        b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\nproperty float x\n\
          property float y\nproperty float z\nelement face 1000000000000\n\
          property list uchar int vertex_indices\nend_header\n",
        "more than the file",
    );
    add(
        "broken_ascii.stl",
        b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0\n",
        "vertex needs 3 numbers",
    );
    let mut short = vec![0u8; 80];
    short.extend(2u32.to_le_bytes());
    short.extend([0u8; 99]);
    add("short_binary.stl", &short, "more than the file");
    add(
        "bad_header.ply",
        b"ply\nformat nonsense 9\nend_header\n",
        "PLY",
    );
    add(
        "cloud.ply",
        b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n\
          property float z\nend_header\n0 0 0\n",
        "no face element",
    );
    let short_ply = PLY_HEAD.replace("ascii", "binary_little_endian") + "\0\0";
    add("short_binary.ply", short_ply.as_bytes(), "PLY");
    // A 20 MB single line in every format.
    let line = vec![b'7'; 20 << 20];
    add("line.off", &line, "OFF header");
    add("line.obj", &[b"v ".as_slice(), &line].concat(), "OBJ");
    add("line.stl", &line, "more than the file");
    add("line.ply", &line, "PLY");
    v
}
