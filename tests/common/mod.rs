//! Test inputs shared by several test binaries.

#![allow(dead_code)]

pub mod shards;

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
    for ext in ["off", "obj", "stl", "ply", "glb", "gltf"] {
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
    add("line.glb", &line, "magic");
    add("line.gltf", &line, "JSON");
    for (name, bytes, why) in broken_gltf() {
        add(&name, &bytes, why);
    }
    v
}

/// The tetrahedron of [`GOOD_OFF`] as a mesh to write in other formats.
pub fn tet() -> shapeclf::mesh::RawMesh {
    shapeclf::mesh::parse_bytes("off", GOOD_OFF.as_bytes()).unwrap()
}

/// The tetrahedron as a `.gltf` document (buffer in a data URI), to edit.
fn tet_gltf() -> serde_json::Value {
    serde_json::from_slice(&shapeclf::synth::gltf_bytes(&tet())).unwrap()
}

/// Broken glTF and GLB files: the container, the JSON, the claims, the data, the references.
fn broken_gltf() -> Vec<(String, Vec<u8>, &'static str)> {
    let mut v: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    let glb = shapeclf::synth::glb_bytes(&tet());
    let mut add = |name: &str, bytes: Vec<u8>, why: &'static str| {
        v.push((name.to_string(), bytes, why));
    };
    let edit = |f: &dyn Fn(&mut [u8])| {
        let mut b = glb.clone();
        f(&mut b);
        b
    };
    add("truncated.glb", glb[..glb.len() - 20].to_vec(), "truncated");
    add("header_only.glb", glb[..14].to_vec(), "truncated");
    add(
        "magic.glb",
        edit(&|b| b[..4].copy_from_slice(b"glTf")),
        "magic",
    );
    add("version1.glb", edit(&|b| b[4] = 1), "GLB version 1");
    add(
        "length.glb",
        edit(&|b| b[8..12].copy_from_slice(&7u32.to_le_bytes())),
        "header length says 7 bytes",
    );
    add(
        "json_garbage.glb",
        edit(&|b| b[20..28].copy_from_slice(b"\x00garbage")),
        "JSON",
    );
    add("garbage.gltf", b"\x00\xff not json".to_vec(), "JSON");
    let gltf = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut j = tet_gltf();
        f(&mut j);
        serde_json::to_vec(&j).unwrap()
    };
    add(
        "huge_count.gltf",
        gltf(&|j| j["accessors"][0]["count"] = 1_000_000_000_000u64.into()),
        "claims 1000000000000 elements",
    );
    add(
        "huge_view.gltf",
        gltf(&|j| j["bufferViews"][1]["byteLength"] = (1u64 << 40).into()),
        "runs past the end of buffer 0",
    );
    let mut bad = tet();
    bad.triangles[3] = [1, 2, 9];
    add(
        "range.glb",
        shapeclf::synth::glb_bytes(&bad),
        "references vertex 9",
    );
    let mut nan = tet();
    nan.vertices[1][1] = f32::NAN;
    add("nan.glb", shapeclf::synth::glb_bytes(&nan), "non-finite");
    add(
        "missing_buffer.gltf",
        gltf(&|j| j["buffers"][0]["uri"] = "missing.bin".into()),
        "external buffer \"missing.bin\" (missing)",
    );
    add(
        "escape.gltf",
        gltf(&|j| j["buffers"][0]["uri"] = "../../etc/passwd".into()),
        "leaves the file's folder",
    );
    add(
        "draco.gltf",
        gltf(&|j| {
            j["extensionsUsed"] = serde_json::json!(["KHR_draco_mesh_compression"]);
            j["extensionsRequired"] = serde_json::json!(["KHR_draco_mesh_compression"]);
        }),
        "Draco-compressed meshes (KHR_draco_mesh_compression) are not supported",
    );
    add(
        "meshopt.gltf",
        gltf(&|j| j["extensionsRequired"] = serde_json::json!(["EXT_meshopt_compression"])),
        "EXT_meshopt_compression",
    );
    add(
        "points.gltf",
        gltf(&|j| j["meshes"][0]["primitives"][0]["mode"] = 0.into()),
        "no triangle primitives (1 point/line primitives skipped)",
    );
    add(
        "sparse.gltf",
        gltf(&|j| {
            j["accessors"][0]["sparse"] = serde_json::json!({
                "count": 1,
                "indices": {"bufferView": 1, "componentType": 5125},
                "values": {"bufferView": 0}
            })
        }),
        "sparse accessors are not supported",
    );
    add(
        "int_positions.gltf",
        gltf(&|j| j["accessors"][0]["componentType"] = 5125.into()),
        "positions must be float VEC3",
    );
    v
}

/// Runs the `shapeclf` binary with `args`.
pub fn shapeclf(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(args)
        .output()
        .expect("run shapeclf")
}

/// A run's exit code, stdout and stderr, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the run succeeded and returns its stdout.
pub fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts exit code `code` and that stderr contains `words`.
pub fn fails(out: &std::process::Output, code: i32, words: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(words), "expected {words:?} in\n{}", text(out));
}

/// Runs the `shapeclf` binary and asserts it succeeded, showing its output when not.
pub fn shapeclf_ok(args: &[&str]) -> std::process::Output {
    let out = shapeclf(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    out
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A feature folder's `manifest.json`.
pub fn manifest(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// `json` and `bin` as a GLB file (the buffer's `uri` dropped: it is the binary chunk).
pub fn glb(json: &serde_json::Value, bin: &[u8]) -> Vec<u8> {
    let mut j = json.clone();
    if let Some(b) = j["buffers"][0].as_object_mut() {
        b.remove("uri");
    }
    let mut text = serde_json::to_vec(&j).unwrap();
    text.resize(text.len().next_multiple_of(4), b' ');
    let mut bin = bin.to_vec();
    bin.resize(bin.len().next_multiple_of(4), 0);
    let total = 12 + 8 + text.len() + 8 + bin.len();
    let mut out = b"glTF".to_vec();
    for w in [2, total as u32, text.len() as u32, 0x4E4F_534A] {
        out.extend(w.to_le_bytes());
    }
    out.extend(text);
    for w in [bin.len() as u32, 0x004E_4942] {
        out.extend(w.to_le_bytes());
    }
    out.extend(bin);
    out
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A small synthetic dataset in `meshes` (`synth --per-class N --seed S`) and its feature folder
/// `features` with views of 16 px in two channels (`--align pca`) and `augment` rotated copies.
pub fn small_view_features(
    meshes: &std::path::Path,
    features: &std::path::Path,
    per_class: u32,
    seed: u64,
    augment: u32,
) {
    let (n, sd, aug) = (per_class.to_string(), seed.to_string(), augment.to_string());
    shapeclf_ok(&["synth", s(meshes), "--per-class", &n, "--seed", &sd]);
    shapeclf_ok(&[
        "features",
        s(meshes),
        "--out",
        s(features),
        "--align",
        "pca",
        "--view-res",
        "16",
        "--view-augment",
        &aug,
    ]);
}

/// Files under `dir` (recursively, hidden ones too) by their path inside it, with their
/// contents, sorted by path.
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}
