//! Property tests for every reader of untrusted bytes (the mesh loaders, the feature table,
//! the manifest): whatever the bytes, the result is `Ok` or an error, never a panic, and the
//! memory held at any moment while reading stays within a bound proportional to the input's size.
//! A header that claims 10^12 vertices (a glTF accessor that claims 10^12 elements) must fail
//! before it allocates for them.
//!
//! Memory is measured by a counting global allocator: live bytes of the calling thread, their peak
//! above the level at the start of the call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use shapeclf::mesh::{Mesh, RawMesh};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// const-initialised thread-locals without destructors, so counting never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes held by this thread while `f` runs, above what it held before.
fn peak_during(f: impl FnOnce()) -> usize {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    f();
    (PEAK.with(Cell::get) - start).max(0) as usize
}

/// The bound: 32 bytes held per input byte (a polygon line `f 1 2 3 ...` of two bytes per index
/// becomes a 12-byte triangle, and vectors grow by doubling), plus fixed buffers (readers,
/// parser state).
fn bound(len: usize) -> usize {
    32 * len + 256 * 1024
}

/// Runs one reader on `bytes` under the bound; a panic fails the test (and proptest shrinks it).
fn check(kind: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let peak = peak_during(|| read(kind, bytes));
    prop_assert!(
        peak <= bound(bytes.len()),
        "{kind}: {} input bytes held {peak} bytes (bound {})",
        bytes.len(),
        bound(bytes.len())
    );
    Ok(())
}

fn read(kind: &str, bytes: &[u8]) {
    match kind {
        "table" => {
            let _ = shapeclf::features::FeatureTable::parse_csv(bytes, Path::new("t.csv"));
        }
        "parquet" => {
            let _ = shapeclf::features::FeatureTable::parse_parquet(
                bytes.to_vec(),
                Path::new("t.parquet"),
            );
        }
        "manifest" => {
            let text = String::from_utf8_lossy(bytes);
            let _ = shapeclf::features::Manifest::parse(&text, Path::new("m.json"));
        }
        ext => {
            // The whole loading path: parse, validate, drop degenerate faces, normalise.
            if let Ok(raw) = shapeclf::mesh::parse_bytes(ext, bytes)
                && let Ok((mut m, _)) = Mesh::from_raw(raw)
            {
                m.normalize();
                m.orient_outward();
            }
        }
    }
}

const MESH_KINDS: [&str; 6] = ["off", "obj", "stl", "ply", "glb", "gltf"];

/// Valid files to mutate: the fuzzers' seeds and an 1280-triangle sphere in every format
/// (ASCII and binary where the format has both).
fn valid_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (kind, dir) in [
        ("off", "mesh_off"),
        ("obj", "mesh_obj"),
        ("stl", "mesh_stl"),
        ("ply", "mesh_ply"),
        ("gltf", "mesh_gltf"),
        ("table", "feature_table"),
        ("parquet", "feature_table_parquet"),
        ("manifest", "manifest"),
    ] {
        for e in std::fs::read_dir(seeds.join(dir)).unwrap() {
            let p = e.unwrap().path();
            // GLB seeds also go through the magic check that only `.glb` makes.
            let kind = if p.extension().is_some_and(|e| e == "glb") {
                "glb"
            } else {
                kind
            };
            out.push((kind, std::fs::read(&p).unwrap()));
        }
    }
    let m = shapeclf::synth::icosphere(3);
    let raw = RawMesh {
        vertices: m.vertices().iter().map(|v| v.to_array()).collect(),
        triangles: m.triangles().to_vec(),
    };
    let dir = tempfile::tempdir().unwrap();
    for kind in MESH_KINDS {
        let p = dir.path().join(format!("s.{kind}"));
        shapeclf::synth::write_mesh(&p, &raw, kind == "off").unwrap();
        out.push((kind, std::fs::read(&p).unwrap()));
    }
    out
}

/// One edit of a valid file: overwrite a byte, cut the file, or splice in a large number (the
/// way a header lies about its counts).
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Truncate(usize),
    Number(usize, u64),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Set(at, b) => {
                if !bytes.is_empty() {
                    bytes[at % n] = b;
                }
            }
            Edit::Truncate(at) => bytes.truncate(at % n),
            Edit::Number(at, v) => {
                let at = (at % n).min(bytes.len());
                let text = v.to_string();
                bytes.splice(at..at, text.bytes());
            }
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Set(a, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(a, v)| Edit::Number(a, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_stay_bounded(
        kind in prop::sample::select(vec!["off", "obj", "stl", "ply", "glb", "gltf", "table", "parquet", "manifest"]),
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        check(kind, &bytes)?;
    }

    #[test]
    fn arbitrary_text_after_a_valid_header_stays_bounded(
        kind in prop::sample::select(vec!["off", "obj", "stl", "ply"]),
        body in "[0-9 .eE+\\-\nfv/#]{0,2000}",
    ) {
        // Headers that pass the first checks, so the body reaches the deeper parsing code.
        let header = match kind {
            "off" => "OFF\n",
            "obj" => "v 0 0 0\nv 1 0 0\nv 0 1 0\n",
            "stl" => "solid s\n",
            _ => "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n\
                  property float z\nelement face 1\nproperty list uchar int vertex_indices\n\
                  end_header\n",
        };
        let bytes = [header.as_bytes(), body.as_bytes()].concat();
        check(kind, &bytes)?;
    }

    #[test]
    fn gltf_fields_set_to_any_number_stay_bounded(
        field in 0..GLTF_FIELDS.len(),
        value in prop_oneof![any::<u64>(), 0u64..70_000],
        binary in any::<bool>(),
    ) {
        // Every number the loader trusts to find data (counts, offsets, strides, lengths, modes,
        // component types, indices of other objects), set to anything.
        let mut j = gltf_json();
        set(&mut j, GLTF_FIELDS[field], value.into());
        let (kind, bytes) = if binary {
            ("glb", common::glb(&j, &gltf_bin()))
        } else {
            ("gltf", serde_json::to_vec(&j).unwrap())
        };
        check(kind, &bytes)?;
    }

    #[test]
    fn edited_valid_files_stay_bounded(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let inputs = valid_inputs_cached();
        let (kind, bytes) = &inputs[pick.index(inputs.len())];
        check(kind, &apply(bytes.clone(), &edits))?;
    }
}

/// JSON paths of the numbers in a glTF that say where data is.
const GLTF_FIELDS: [&str; 17] = [
    "/accessors/0/count",
    "/accessors/1/count",
    "/accessors/0/byteOffset",
    "/accessors/1/byteOffset",
    "/accessors/0/componentType",
    "/accessors/1/componentType",
    "/accessors/0/bufferView",
    "/bufferViews/0/byteLength",
    "/bufferViews/1/byteOffset",
    "/bufferViews/0/byteStride",
    "/bufferViews/1/byteStride",
    "/buffers/0/byteLength",
    "/meshes/0/primitives/0/mode",
    "/meshes/0/primitives/0/indices",
    "/nodes/0/mesh",
    "/nodes/0/children/0",
    "/scene",
];

/// A 80-triangle sphere as glTF (JSON with a data-URI buffer), two nodes deep.
fn gltf_json() -> serde_json::Value {
    let m = shapeclf::synth::icosphere(1);
    let raw = RawMesh {
        vertices: m.vertices().iter().map(|v| v.to_array()).collect(),
        triangles: m.triangles().to_vec(),
    };
    let mut j: serde_json::Value =
        serde_json::from_slice(&shapeclf::synth::gltf_bytes(&raw)).unwrap();
    j["nodes"] = serde_json::json!([{"children": [1], "scale": [2, 2, 2]}, {"mesh": 0}]);
    j
}

/// The binary buffer behind [`gltf_json`]'s data URI, for the GLB form.
fn gltf_bin() -> Vec<u8> {
    use base64::Engine;
    let j = gltf_json();
    let uri = j["buffers"][0]["uri"].as_str().unwrap();
    let data = uri.split_once(',').unwrap().1;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

/// Sets the value at a JSON pointer, making the objects on the way.
fn set(j: &mut serde_json::Value, pointer: &str, v: serde_json::Value) {
    let mut at = j;
    for key in pointer.split('/').skip(1) {
        at = match key.parse::<usize>() {
            Ok(i) if at.is_array() => &mut at[i],
            _ => &mut at[key],
        };
    }
    *at = v;
}

fn valid_inputs_cached() -> &'static [(&'static str, Vec<u8>)] {
    static CELL: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>> = std::sync::OnceLock::new();
    CELL.get_or_init(valid_inputs)
}

/// Headers that claim far more than the file holds fail at once, holding almost nothing.
#[test]
fn lying_headers_allocate_nothing_they_claim() {
    let mut stl = vec![0u8; 80];
    stl.extend_from_slice(&u32::MAX.to_le_bytes());
    stl.extend_from_slice(&[0u8; 50]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "off",
            b"OFF\n1000000000000 1000000000000 0\n0 0 0\n".to_vec(),
        ),
        ("off", b"OFF4000000000 4000000000 0\n0 0 0\n".to_vec()),
        ("stl", stl),
        (
            "ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n\
              property float x\nproperty float y\nproperty float z\nend_header\n\0\0\0\0"
                .to_vec(),
        ),
        (
            "ply",
            b"ply\nformat ascii 1.0\nelement vertex 4000000000\nproperty float x\n\
              property float y\nproperty float z\nend_header\n0 0 0\n"
                .to_vec(),
        ),
    ];
    let mut cases = cases;
    // glTF: an accessor, a bufferView and a buffer that claim 10^12, a GLB header that claims
    // 4 GB, a scene instancing its mesh 20,000 times, a JSON of 200,000 empty nodes.
    for (field, v) in [
        ("/accessors/0/count", 1_000_000_000_000u64),
        ("/accessors/1/count", 1_000_000_000_000),
        ("/bufferViews/0/byteLength", 1_000_000_000_000),
        ("/buffers/0/byteLength", 1_000_000_000_000),
    ] {
        let mut j = gltf_json();
        set(&mut j, field, v.into());
        cases.push(("gltf", serde_json::to_vec(&j).unwrap()));
        cases.push(("glb", common::glb(&j, &gltf_bin())));
    }
    let mut lying = common::glb(&gltf_json(), &gltf_bin());
    lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(("glb", lying));
    let mut j = gltf_json();
    j["nodes"] = serde_json::json!(vec![serde_json::json!({"mesh": 0}); 20_000]);
    j["scenes"][0]["nodes"] = (0..20_000).collect();
    cases.push(("gltf", serde_json::to_vec(&j).unwrap()));
    let empty = format!(
        "{{\"asset\":{{\"version\":\"2.0\"}},\"nodes\":[{}]}}",
        vec!["{}"; 200_000].join(",")
    );
    cases.push(("gltf", empty.into_bytes()));
    for (kind, bytes) in cases {
        let peak = peak_during(|| {
            let r = shapeclf::mesh::parse_bytes(kind, &bytes);
            assert!(r.is_err(), "{kind} header lie was accepted");
        });
        assert!(
            peak <= bound(bytes.len()),
            "{kind}: held {peak} bytes for a {}-byte lie",
            bytes.len()
        );
    }
}

/// The bound is not loose for valid input: a real file is read within it, and reading it does
/// hold memory (the counter works).
#[test]
fn valid_files_fit_the_bound() {
    for (kind, bytes) in valid_inputs_cached() {
        let peak = peak_during(|| read(kind, bytes));
        assert!(peak > 0, "{kind}: the counter saw nothing");
        assert!(
            peak <= bound(bytes.len()),
            "{kind}: {} bytes held {peak}",
            bytes.len()
        );
    }
}

/// Dense inputs of about 1 MB, the worst amplification each format allows for valid content
/// (short polygon indices fanned into many triangles, minimal vertex lines): within the bound.
#[test]
fn dense_megabyte_inputs_fit_the_bound() {
    let fan = |prefix: &str, n: usize| {
        let mut s = String::from(prefix);
        for k in 0..n {
            s.push_str(if k % 2 == 0 { " 1" } else { " 2" });
        }
        s
    };
    let n = 500_000;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "obj",
            format!("v 0 0 0\nv 1 0 0\nv 0 1 0\n{}\n", fan("f 3", n)).into_bytes(),
        ),
        (
            "off",
            format!(
                "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n{}\n",
                fan(&format!("{} 0", n + 1), n)
            )
            .into_bytes(),
        ),
        ("obj", "v 0 0 0\n".repeat(130_000).into_bytes()),
        (
            "off",
            format!(
                "OFF\n{} 1 0\n{}3 0 1 2\n",
                170_000,
                "0 0 0\n".repeat(170_000)
            )
            .into_bytes(),
        ),
        (
            "obj",
            format!("v 0 0 0\nv 1 0 0\nv 0 1 0\n{}", "f 1 2 3\n".repeat(130_000)).into_bytes(),
        ),
    ];
    let faces = 110_000;
    cases.push((
        "ply",
        format!(
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n\
             property float z\nelement face {faces}\nproperty list uchar int vertex_indices\n\
             end_header\n0 0 0\n1 0 0\n0 1 0\n{}",
            "3 0 1 2\n".repeat(faces)
        )
        .into_bytes(),
    ));
    // glTF's densest valid content: a triangle strip of u8 indices, one byte per triangle, over
    // 256 vertices, as a GLB.
    let mut j = gltf_json();
    let verts: Vec<u8> = (0..256u32)
        .flat_map(|k| [k as f32, (k * k % 251) as f32, (k % 7) as f32])
        .flat_map(f32::to_le_bytes)
        .collect();
    let strip: Vec<u8> = (0..1_000_000u32).map(|k| (k % 256) as u8).collect();
    j["accessors"] = serde_json::json!([
        {"bufferView": 0, "componentType": 5126, "count": 256, "type": "VEC3"},
        {"bufferView": 1, "componentType": 5121, "count": strip.len(), "type": "SCALAR"},
    ]);
    j["bufferViews"] = serde_json::json!([
        {"buffer": 0, "byteOffset": 0, "byteLength": verts.len()},
        {"buffer": 0, "byteOffset": verts.len(), "byteLength": strip.len()},
    ]);
    j["buffers"][0]["byteLength"] = (verts.len() + strip.len()).into();
    j["meshes"][0]["primitives"][0]["mode"] = 5.into();
    cases.push(("glb", common::glb(&j, &[verts, strip].concat())));
    for (kind, bytes) in cases {
        let peak = peak_during(|| read(kind, &bytes));
        eprintln!(
            "{kind}: {} bytes held {peak} ({:.1}x)",
            bytes.len(),
            peak as f64 / bytes.len() as f64
        );
        assert!(
            peak <= bound(bytes.len()),
            "{kind}: {} bytes held {peak}",
            bytes.len()
        );
    }
}

mod common;
