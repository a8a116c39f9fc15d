//! Unit tests of the parent module.

use super::*;

fn tri(vertices: Vec<[f32; 3]>, triangles: Vec<[u32; 3]>) -> RawMesh {
    RawMesh {
        vertices,
        triangles,
    }
}

#[test]
fn rejects_nan_and_out_of_range() {
    let e = Mesh::from_raw(tri(vec![[0.0, 0.0, f32::NAN]; 3], vec![[0, 1, 2]])).unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let e = Mesh::from_raw(tri(vec![[0.0; 3]; 3], vec![[0, 1, 7]])).unwrap_err();
    assert!(e.to_string().contains("vertex 7"), "{e}");
}

#[test]
fn drops_degenerate_and_fails_when_none_left() {
    let v = vec![
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [2.0, 0.0, 0.0],
    ];
    let (m, s) = Mesh::from_raw(tri(v.clone(), vec![[0, 1, 2], [0, 0, 1], [0, 1, 3]])).unwrap();
    assert_eq!(m.triangles.len(), 1);
    assert_eq!(s.degenerate_dropped, 2);
    let e = Mesh::from_raw(tri(v, vec![[0, 1, 3], [1, 1, 2]])).unwrap_err();
    assert!(e.to_string().contains("degenerate"), "{e}");
}

/// The zero-area cut-off scales with the part of the model faces use: a stray unused vertex far
/// away neither drops small real faces nor makes the mesh "all degenerate".
#[test]
fn an_unused_far_vertex_drops_no_face() {
    let s = 0.01f32; // faces of area 5e-5 on a model 0.01 across
    let v = vec![
        [0.0, 0.0, 0.0],
        [s, 0.0, 0.0],
        [0.0, s, 0.0],
        [0.0, 0.0, s],
        [1e5, 0.0, 0.0],
    ];
    let faces = vec![[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]];
    let (m, st) = Mesh::from_raw(tri(v, faces)).unwrap();
    assert_eq!((m.triangles.len(), st.degenerate_dropped), (4, 0));
}

#[test]
fn normalize_centres_and_scales() {
    // A unit square far from the origin, scaled by 100.
    let v = vec![
        [100.0, 100.0, 5.0],
        [300.0, 100.0, 5.0],
        [300.0, 300.0, 5.0],
        [100.0, 300.0, 5.0],
    ];
    let (mut m, _) = Mesh::from_raw(tri(v, vec![[0, 1, 2], [0, 2, 3]])).unwrap();
    m.normalize();
    let max = m.vertices.iter().map(|v| v.length()).fold(0.0, f32::max);
    assert!((max - 1.0).abs() < 1e-6);
    let c = m.vertices.iter().fold(Vec3::ZERO, |a, v| a + *v) / 4.0;
    assert!(c.length() < 1e-6);
}

#[test]
fn orient_outward_flips_inverted_tetrahedron() {
    let v = vec![
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
    ];
    // Inward-facing winding.
    let t = vec![[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]];
    let (mut m, _) = Mesh::from_raw(tri(v, t)).unwrap();
    m.normalize();
    assert!(m.signed_volume() < 0.0);
    assert!(m.orient_outward());
    assert!(m.signed_volume() > 0.0);
    assert!(!m.orient_outward());
}

#[cfg(unix)]
#[test]
fn folders_expand_through_symbolic_links_once() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let put = |p: &str| {
        let p = r.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    };
    put("elsewhere/glass/a.off");
    put("set/cup/b.stl");
    put("set/.hidden/c.off");
    std::os::unix::fs::symlink(r.join("elsewhere/glass"), r.join("set/glass")).unwrap();
    // A loop back to the top, and a mesh-named link that leads nowhere (kept for the loader).
    std::os::unix::fs::symlink(r.join("set"), r.join("set/cup/loop")).unwrap();
    std::os::unix::fs::symlink(r.join("gone.off"), r.join("set/cup/gone.off")).unwrap();
    let got = super::expand_mesh_paths(&[r.join("set")]).unwrap();
    let rel: Vec<String> = got
        .iter()
        .map(|p| p.strip_prefix(r).unwrap().display().to_string())
        .collect();
    assert_eq!(
        rel,
        ["set/cup/b.stl", "set/cup/gone.off", "set/glass/a.off"]
    );
}

/// A folder linked twice is listed once, under the link first in name order, whatever order
/// the file system lists the links in: the same names on every machine.
#[cfg(unix)]
#[test]
fn a_folder_linked_twice_is_listed_under_the_first_link_by_name() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("store/mug")).unwrap();
    std::fs::write(r.join("store/mug/a.off"), b"x").unwrap();
    std::fs::create_dir_all(r.join("set")).unwrap();
    // Many aliases, so that a walk in the file system's own order would very likely not
    // take the first by name.
    for name in ["q", "c", "x", "b", "m", "z", "k"] {
        std::os::unix::fs::symlink(r.join("store/mug"), r.join("set").join(name)).unwrap();
    }
    let got = super::expand_mesh_paths(&[r.join("set")]).unwrap();
    assert_eq!(got, [r.join("set/b/a.off")]);
}
