//! Tests of the glTF loader.

use super::*;
use crate::mesh::{Mesh, parse_bytes};
use serde_json::{Value, json};

const TET: [[f32; 3]; 4] = [
    [0.0, 0.0, 0.0],
    [1.0, 0.0, 0.0],
    [0.0, 1.0, 0.0],
    [0.0, 0.0, 1.0],
];
const TET_TRIS: [u32; 12] = [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3];

/// A glTF with one buffer, built up accessor by accessor.
#[derive(Default)]
struct Build {
    bin: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
    meshes: Vec<Value>,
}

impl Build {
    fn view(&mut self, bytes: &[u8]) -> usize {
        self.bin.resize(self.bin.len().next_multiple_of(4), 0);
        self.views
            .push(json!({"buffer": 0, "byteOffset": self.bin.len(), "byteLength": bytes.len()}));
        self.bin.extend_from_slice(bytes);
        self.views.len() - 1
    }
    fn accessor(&mut self, a: Value) -> usize {
        self.accessors.push(a);
        self.accessors.len() - 1
    }
    fn positions(&mut self, v: &[[f32; 3]]) -> usize {
        let bytes: Vec<u8> = v.iter().flatten().flat_map(|c| c.to_le_bytes()).collect();
        let view = self.view(&bytes);
        self.accessor(
            json!({"bufferView": view, "componentType": 5126, "count": v.len(), "type": "VEC3"}),
        )
    }
    fn indices(&mut self, idx: &[u32], width: usize) -> usize {
        let bytes: Vec<u8> = idx
            .iter()
            .flat_map(|&i| i.to_le_bytes()[..width].to_vec())
            .collect();
        let view = self.view(&bytes);
        let ct = match width {
            1 => 5121,
            2 => 5123,
            _ => 5125,
        };
        self.accessor(
            json!({"bufferView": view, "componentType": ct, "count": idx.len(), "type": "SCALAR"}),
        )
    }
    fn mesh(&mut self, primitives: Vec<Value>) -> usize {
        self.meshes.push(json!({ "primitives": primitives }));
        self.meshes.len() - 1
    }
    /// The document with these nodes and scenes; `uri` names the buffer (none: GLB).
    fn json(&self, nodes: Value, scenes: Value, uri: Option<&str>) -> Value {
        let mut buffer = json!({"byteLength": self.bin.len()});
        if let Some(u) = uri {
            buffer["uri"] = json!(u);
        }
        json!({
            "asset": {"version": "2.0"},
            "scenes": scenes,
            "nodes": nodes,
            "meshes": self.meshes,
            "accessors": self.accessors,
            "bufferViews": self.views,
            "buffers": [buffer],
        })
    }
}

fn prim(pos: usize, indices: Option<usize>, mode: u32) -> Value {
    let mut p = json!({"attributes": {"POSITION": pos}, "mode": mode});
    if let Some(i) = indices {
        p["indices"] = json!(i);
    }
    p
}

fn glb(json: &Value, bin: &[u8]) -> Vec<u8> {
    let mut j = serde_json::to_vec(json).unwrap();
    j.resize(j.len().next_multiple_of(4), b' ');
    let mut b = bin.to_vec();
    b.resize(b.len().next_multiple_of(4), 0);
    let total = 12 + 8 + j.len() + if b.is_empty() { 0 } else { 8 + b.len() };
    let mut out = b"glTF".to_vec();
    out.extend(2u32.to_le_bytes());
    out.extend((total as u32).to_le_bytes());
    out.extend((j.len() as u32).to_le_bytes());
    out.extend(CHUNK_JSON.to_le_bytes());
    out.extend(j);
    if !b.is_empty() {
        out.extend((b.len() as u32).to_le_bytes());
        out.extend(CHUNK_BIN.to_le_bytes());
        out.extend(b);
    }
    out
}

fn data_uri(bin: &[u8]) -> String {
    use base64::Engine;
    format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bin)
    )
}

/// The tetrahedron as one node, one indexed primitive of index width `width`.
fn tet(width: usize) -> Build {
    let mut b = Build::default();
    let p = b.positions(&TET);
    let i = b.indices(&TET_TRIS, width);
    b.mesh(vec![prim(p, Some(i), 4)]);
    b
}

fn one_node() -> (Value, Value) {
    (json!([{"mesh": 0}]), json!([{"nodes": [0]}]))
}

fn tet_glb() -> Vec<u8> {
    let b = tet(4);
    let (n, s) = one_node();
    glb(&b.json(n, s, None), &b.bin)
}

fn gltf_err(ext: &str, bytes: &[u8]) -> String {
    parse_bytes(ext, bytes).unwrap_err().to_string()
}

fn normalised(raw: RawMesh) -> Mesh {
    let (mut m, _) = Mesh::from_raw(raw).unwrap();
    m.normalize();
    m
}

#[test]
fn glb_data_uri_and_external_buffer_give_the_same_mesh() {
    let b = tet(4);
    let (n, s) = one_node();
    let from_glb = parse_bytes("glb", &glb(&b.json(n.clone(), s.clone(), None), &b.bin)).unwrap();
    assert_eq!(from_glb.vertices, TET.to_vec());
    assert_eq!(from_glb.triangles.as_flattened(), TET_TRIS);
    let uri = data_uri(&b.bin);
    let text = serde_json::to_vec(&b.json(n.clone(), s.clone(), Some(&uri))).unwrap();
    let from_uri = parse_bytes("gltf", &text).unwrap();
    assert_eq!(from_uri.vertices, from_glb.vertices);
    assert_eq!(from_uri.triangles, from_glb.triangles);
    // External, with a space in its name written %20 as exporters do.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("my tet.bin"), &b.bin).unwrap();
    let text = serde_json::to_vec(&b.json(n, s, Some("my%20tet.bin"))).unwrap();
    let p = d.path().join("t.gltf");
    std::fs::write(&p, &text).unwrap();
    let ext = crate::mesh::load_raw(&p).unwrap();
    assert_eq!(ext.vertices, from_glb.vertices);
    assert_eq!(ext.triangles, from_glb.triangles);
    assert_eq!(
        crate::mesh::linked_files(&p, &text),
        vec![d.path().join("my tet.bin")]
    );
    // Buffers naming one file share one read of it: the mesh is the same, the file is linked
    // once, and a buffer claiming more than the file holds is still refused.
    let mut shared = b.json(one_node().0, one_node().1, Some("my%20tet.bin"));
    let buffer = shared["buffers"][0].clone();
    shared["buffers"] = json!([buffer.clone(), buffer.clone(), buffer]);
    for (i, v) in shared["bufferViews"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        v["buffer"] = json!(1 + i % 2);
    }
    let q = d.path().join("shared.gltf");
    let shared_text = serde_json::to_vec(&shared).unwrap();
    std::fs::write(&q, &shared_text).unwrap();
    let one = crate::mesh::load_raw(&q).unwrap();
    assert_eq!(
        (one.vertices, one.triangles),
        (ext.vertices.clone(), ext.triangles.clone())
    );
    assert_eq!(
        crate::mesh::linked_files(&q, &shared_text),
        vec![d.path().join("my tet.bin")]
    );
    shared["buffers"][2]["byteLength"] = json!(b.bin.len() + 4);
    std::fs::write(&q, serde_json::to_vec(&shared).unwrap()).unwrap();
    let e = crate::mesh::load_raw(&q).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    // Bytes alone cannot reach the folder.
    let e = gltf_err("gltf", &text);
    assert!(e.contains("without the file's folder"), "{e}");
    // Normalised as every other loader: farthest vertex at 1, same area as the OFF.
    let (m, _) = crate::mesh::load(&p).unwrap();
    let (off, _) = crate::mesh::load_bytes(
        Path::new("t.off"),
        b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n",
    )
    .unwrap();
    let r = m.vertices.iter().map(|v| v.length()).fold(0.0, f32::max);
    assert!((r - 1.0).abs() < 1e-6, "{r}");
    assert!((m.area() - off.area()).abs() < 1e-6);
}

#[test]
fn node_transforms_compose_down_the_tree() {
    let mut b = Build::default();
    let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    b.mesh(vec![prim(p, None, 4)]);
    let h = std::f32::consts::FRAC_1_SQRT_2;
    // Parent: scale 2, a quarter turn about z, then 10 along x. Child: a column-major
    // matrix moving 5 along z. Both hold the triangle.
    let mut child = [0.0f32; 16];
    for k in 0..4 {
        child[5 * k] = 1.0;
    }
    child[14] = 5.0;
    let nodes = json!([
        {"mesh": 0, "children": [1], "translation": [10, 0, 0], "rotation": [0, 0, h, h], "scale": [2, 2, 2]},
        {"mesh": 0, "matrix": child},
    ]);
    let m = parse_bytes(
        "glb",
        &glb(&b.json(nodes, json!([{"nodes": [0]}]), None), &b.bin),
    )
    .unwrap();
    let want = [
        [10.0, 0.0, 0.0],
        [10.0, 2.0, 0.0],
        [8.0, 0.0, 0.0],
        [10.0, 0.0, 10.0],
        [10.0, 2.0, 10.0],
        [8.0, 0.0, 10.0],
    ];
    assert_eq!(m.vertices.len(), 6);
    for (v, w) in m.vertices.iter().zip(want) {
        for k in 0..3 {
            assert!((v[k] - w[k]).abs() < 1e-5, "{v:?} != {w:?}");
        }
    }
    assert_eq!(m.triangles, vec![[0, 1, 2], [3, 4, 5]]);
}

#[test]
fn a_skinned_mesh_ignores_its_node_transform() {
    let mut b = Build::default();
    let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    b.mesh(vec![prim(p, None, 4)]);
    let nodes =
        json!([{"mesh": 0, "skin": 0, "translation": [7, 7, 7]}, {"translation": [1, 0, 0]}]);
    let mut j = b.json(nodes, json!([{"nodes": [0, 1]}]), None);
    j["skins"] = json!([{"joints": [1]}]);
    let m = parse_bytes("glb", &glb(&j, &b.bin)).unwrap();
    assert_eq!(m.vertices[1], [1.0, 0.0, 0.0]);
}

#[test]
fn a_mirroring_node_keeps_faces_facing_out() {
    let mut b = Build::default();
    let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    b.mesh(vec![prim(p, None, 4)]);
    let nodes = json!([{"mesh": 0, "scale": [-1, 1, 1]}]);
    let m = parse_bytes(
        "glb",
        &glb(&b.json(nodes, json!([{"nodes": [0]}]), None), &b.bin),
    )
    .unwrap();
    let [a, b_, c] = m.triangles[0].map(|i| crate::mesh::Vec3::from_array(m.vertices[i as usize]));
    assert!((b_ - a).cross(c - a).z > 0.0, "winding not restored");
}

#[test]
fn non_indexed_and_every_index_width_agree() {
    let by_width: Vec<RawMesh> = [1, 2, 4]
        .iter()
        .map(|&w| {
            let b = tet(w);
            let (n, s) = one_node();
            parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap()
        })
        .collect();
    for m in &by_width[1..] {
        assert_eq!(m.vertices, by_width[0].vertices);
        assert_eq!(m.triangles, by_width[0].triangles);
    }
    let mut b = Build::default();
    let soup: Vec<[f32; 3]> = TET_TRIS.iter().map(|&i| TET[i as usize]).collect();
    let p = b.positions(&soup);
    b.mesh(vec![prim(p, None, 4)]);
    let (n, s) = one_node();
    let flat = parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap();
    assert_eq!(flat.vertices.len(), 12);
    assert_eq!(flat.triangles.len(), 4);
    let (a, b) = (normalised(flat), normalised(by_width[0].clone()));
    assert!((a.area() - b.area()).abs() < 1e-6);
}

#[test]
fn strips_and_fans_become_triangles_facing_one_way() {
    let quad = [
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 1.0, 0.0],
    ];
    let mut b = Build::default();
    let p = b.positions(&quad);
    let fan_order = b.indices(&[0, 1, 3, 2], 2);
    b.mesh(vec![prim(p, None, 5), prim(p, Some(fan_order), 6)]);
    let (n, s) = one_node();
    let m = parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap();
    // Strip 0 1 2 3: [0 1 2], [2 1 3]. Fan 0 1 3 2 over the second copy (base 4): per the
    // specification [v1 v2 v0], [v2 v3 v0].
    assert_eq!(
        m.triangles,
        vec![[0, 1, 2], [2, 1, 3], [5, 7, 4], [7, 6, 4]]
    );
    for t in &m.triangles {
        let [a, b, c] = t.map(|i| crate::mesh::Vec3::from_array(m.vertices[i as usize]));
        assert!((b - a).cross(c - a).z > 0.0, "{t:?} faces the other way");
    }
}

#[test]
fn points_and_lines_are_skipped_and_counted() {
    let mut b = Build::default();
    let p = b.positions(&TET);
    let i = b.indices(&TET_TRIS, 2);
    b.mesh(vec![
        prim(p, None, 0),
        prim(p, Some(i), 1),
        prim(p, Some(i), 4),
        prim(p, None, 3),
    ]);
    let (n, s) = one_node();
    let m = parse_bytes("glb", &glb(&b.json(n.clone(), s.clone(), None), &b.bin)).unwrap();
    assert_eq!(m.triangles.len(), 4);
    b.meshes[0]["primitives"].as_array_mut().unwrap().remove(2);
    let e = gltf_err("glb", &glb(&b.json(n, s, None), &b.bin));
    assert!(
        e.contains("no triangle primitives (3 point/line primitives skipped)"),
        "{e}"
    );
}

#[test]
fn which_nodes_are_placed() {
    let mut b = Build::default();
    let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    b.mesh(vec![prim(p, None, 4)]);
    let nodes =
        json!([{"mesh": 0}, {"mesh": 0, "translation": [0, 0, 1]}, {"mesh": 0, "children": [0]}]);
    let count = |j: Value| parse_bytes("glb", &glb(&j, &b.bin)).map(|m| m.triangles.len());
    let two_scenes = json!([{"nodes": [2]}, {"nodes": [1, 2]}]);
    // The default scene only; without one, every scene (node 2 placed once); without
    // scenes, every root node; without nodes, every mesh once.
    let mut j = b.json(nodes.clone(), two_scenes.clone(), None);
    j["scene"] = json!(1);
    assert_eq!(count(j).unwrap(), 3);
    assert_eq!(count(b.json(nodes.clone(), two_scenes, None)).unwrap(), 3);
    let mut j = b.json(nodes.clone(), json!([]), None);
    j.as_object_mut().unwrap().remove("scenes");
    assert_eq!(count(j).unwrap(), 3);
    let mut j = b.json(json!([]), json!([]), None);
    j.as_object_mut().unwrap().remove("scenes");
    assert_eq!(count(j).unwrap(), 1);
    // A node with two parents, or a cycle, is not a tree.
    let bad = json!([{"mesh": 0, "children": [1]}, {"children": [0]}, {"children": [1]}]);
    let e = count(b.json(bad, json!([{"nodes": [2]}]), None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than one node"), "{e}");
}

#[test]
fn a_scene_instancing_far_more_than_the_file_holds_fails() {
    let mut b = Build::default();
    let soup: Vec<[f32; 3]> = (0..3000)
        .map(|k| [k as f32, (k % 7) as f32, (k % 3) as f32])
        .collect();
    let p = b.positions(&soup);
    b.mesh(vec![prim(p, None, 4)]);
    let nodes: Vec<Value> = (0..5000).map(|_| json!({"mesh": 0})).collect();
    let roots: Vec<usize> = (0..5000).collect();
    let e = gltf_err(
        "glb",
        &glb(
            &b.json(json!(nodes), json!([{"nodes": roots}]), None),
            &b.bin,
        ),
    );
    assert!(e.contains("more geometry than the file holds"), "{e}");
}

#[test]
fn unsupported_content_is_refused_by_name() {
    let b = tet(2);
    let (n, s) = one_node();
    let base = b.json(n, s, None);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut j = base.clone();
        f(&mut j);
        gltf_err("glb", &glb(&j, &b.bin))
    };
    let e = with(&|j| {
        j["extensionsRequired"] = json!([DRACO]);
        j["extensionsUsed"] = json!([DRACO]);
    });
    assert!(e.contains("Draco"), "{e}");
    let e = with(&|j| j["extensionsRequired"] = json!(["EXT_meshopt_compression"]));
    assert!(e.contains("meshopt"), "{e}");
    let e = with(&|j| j["extensionsRequired"] = json!(["EXT_made_up"]));
    assert!(e.contains("requires extension EXT_made_up"), "{e}");
    // Required but harmless: materials.
    let mut j = base.clone();
    j["extensionsRequired"] = json!(["KHR_materials_unlit"]);
    assert!(parse_bytes("glb", &glb(&j, &b.bin)).is_ok());
    let e = with(&|j| {
        j["extensionsUsed"] = json!([DRACO]);
        j["accessors"][0]
            .as_object_mut()
            .unwrap()
            .remove("bufferView");
    });
    assert!(
        e.contains("bufferView: Missing data") && e.contains("Draco"),
        "{e}"
    );
    let e = with(
        &|j| j["accessors"][0]["sparse"] = json!({"count": 1, "indices": {"bufferView": 1, "componentType": 5123}, "values": {"bufferView": 0}}),
    );
    assert!(e.contains("sparse"), "{e}");
    let e = with(&|j| {
        j["accessors"][0]["componentType"] = json!(5123);
        j["accessors"][0]["normalized"] = json!(true);
    });
    assert!(e.contains("positions must be float VEC3"), "{e}");
    let e = with(&|j| j["accessors"][1]["componentType"] = json!(5126));
    assert!(e.contains("indices must be unsigned"), "{e}");
    let e = with(&|j| j["asset"]["version"] = json!("1.0"));
    assert!(e.contains("only glTF 2.0"), "{e}");
    let e = with(&|j| j["meshes"][0]["primitives"][0]["indices"] = json!(7));
    assert!(e.contains("invalid document"), "{e}");
    // gltf-json's own validation would index past the accessors here (found by fuzzing).
    let e = with(&|j| j["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = json!(9));
    assert!(e.contains("accessor 9 does not exist"), "{e}");
}

#[test]
fn claims_beyond_the_data_fail_before_allocating() {
    let b = tet(2);
    let (n, s) = one_node();
    let mut j = b.json(n, s, None);
    j["accessors"][0]["count"] = json!(1_000_000_000_000u64);
    let e = gltf_err("glb", &glb(&j, &b.bin));
    assert!(
        e.contains("claims 1000000000000 elements") && e.contains("bufferView 0"),
        "{e}"
    );
    let mut j2 = b.json(one_node().0, one_node().1, None);
    j2["bufferViews"][0]["byteLength"] = json!(1u64 << 40);
    let e = gltf_err("glb", &glb(&j2, &b.bin));
    assert!(e.contains("runs past the end of buffer 0"), "{e}");
    let mut j3 = b.json(one_node().0, one_node().1, None);
    j3["buffers"][0]["byteLength"] = json!(1u64 << 40);
    let e = gltf_err("glb", &glb(&j3, &b.bin));
    assert!(e.contains("declares 1099511627776 bytes"), "{e}");
}

#[test]
fn json_listing_empty_objects_is_refused_before_it_is_built() {
    let nodes = vec!["{}"; 100_000].join(",");
    let text = format!("{{\"asset\":{{\"version\":\"2.0\"}},\"nodes\":[{nodes}]}}");
    let e = gltf_err("gltf", text.as_bytes());
    assert!(
        e.contains("100000 objects") && e.contains("not a real scene"),
        "{e}"
    );
}

#[test]
fn bad_indices_and_positions() {
    let mut b = tet(2);
    // Index 3 of the last triangle becomes 9.
    let at = b.bin.len() - 2;
    b.bin[at] = 9;
    let (n, s) = one_node();
    let e = gltf_err("glb", &glb(&b.json(n.clone(), s.clone(), None), &b.bin));
    assert!(e.contains("references vertex 9, outside its 4"), "{e}");
    let mut b = tet(2);
    b.bin[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    let raw = parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap();
    let e = Mesh::from_raw(raw).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
}

#[test]
fn broken_containers() {
    let good = tet_glb();
    let e = gltf_err("glb", &good[..good.len() - 10]);
    assert!(e.contains("truncated"), "{e}");
    let e = gltf_err("glb", &good[..15]);
    assert!(e.contains("truncated"), "{e}");
    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"glTf");
    assert!(gltf_err("glb", &bad).contains("magic"));
    let mut bad = good.clone();
    bad[4] = 1;
    assert!(gltf_err("glb", &bad).contains("GLB version 1"));
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&5u32.to_le_bytes());
    assert!(gltf_err("glb", &bad).contains("length"));
    let mut bad = good.clone();
    bad[20..24].copy_from_slice(b"@@@@");
    assert!(gltf_err("glb", &bad).contains("JSON"));
    let mut bad = good.clone();
    bad[16..20].copy_from_slice(b"XXXX");
    assert!(gltf_err("glb", &bad).contains("not JSON"));
    // A GLB named .gltf is still a GLB.
    assert!(parse_bytes("gltf", &good).is_ok());
    assert!(gltf_err("gltf", b"{\"asset\": ").contains("JSON"));
}

#[test]
fn external_uris_stay_in_the_folder() {
    for (uri, why) in [
        ("../up.bin", "'..'"),
        ("a/../../up.bin", "'..'"),
        ("/etc/passwd", "absolute"),
        ("%2Fetc%2Fpasswd", "absolute"),
        ("http://example.com/x.bin", "scheme"),
        ("file:///x.bin", "scheme"),
        ("C:\\x.bin", "scheme or drive"),
    ] {
        let e = relative_path(uri).unwrap_err();
        assert!(e.contains(why), "{uri}: {e}");
    }
    assert_eq!(
        relative_path("sub/a%20b.bin").unwrap(),
        PathBuf::from("sub/a b.bin")
    );
    let d = tempfile::tempdir().unwrap();
    let b = tet(2);
    let (n, s) = one_node();
    for (uri, want) in [("gone.bin", "missing"), ("dir.bin", "not a regular file")] {
        std::fs::create_dir_all(d.path().join("dir.bin")).unwrap();
        let p = d.path().join("t.gltf");
        std::fs::write(
            &p,
            serde_json::to_vec(&b.json(n.clone(), s.clone(), Some(uri))).unwrap(),
        )
        .unwrap();
        let e = crate::mesh::load(&p).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(uri), "{e}");
    }
}

mod uri_and_cycles;
