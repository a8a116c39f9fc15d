//! Valid files written the way real exporters write them (`tests/awkward/`): byte-order marks,
//! CRLF, tabs, upper-case STL keywords, COFF/NOFF/CNOFF columns, counts on the header line, OBJ
//! line continuations, `w` and colour columns, negative and slashed indices, PLY in big-endian,
//! with colours, edges, `vertex_index` and `uint8`/`ushort` lists, binary STL with trailing
//! padding, solid names in UTF-8 and Latin-1, units from 1e-30 to 1e30, glTF as Blender (GLB,
//! node hierarchy, +Y up, u16 indices, normals and UVs), three.js (data-URI `.gltf`, interleaved
//! or one bufferView per attribute, `matrix` or TRS), trimesh (GLB, u32 indices, `extras`), the
//! Khronos tutorial (no scenes, no bounds) and a strip optimiser (u8 strip, an unknown GLB chunk)
//! write it (`scripts/make_awkward_gltf.py`). Each is a tetrahedron (a few hold more): every one
//! must load with the right triangles, and all of them must become rows of one `features` run.

use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/awkward");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 40, "corpus went missing: {}", files.len());
    files
}

/// Triangles each file holds: a tetrahedron unless named here.
fn expected_triangles(name: &str) -> usize {
    match name {
        "quad.off" => 3,      // a quad fanned into two, plus one triangle
        "twosolids.stl" => 8, // two solids in one file
        _ => 4,
    }
}

#[test]
fn every_awkward_file_loads_whole() {
    for p in corpus() {
        let name = p.file_name().unwrap().to_str().unwrap();
        let (m, stats) = shapeclf::mesh::load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.triangles().len(), expected_triangles(name), "{name}");
        assert_eq!(stats.degenerate_dropped, 0, "{name}");
        // A column misread as a coordinate would move vertices off the unit tetrahedron:
        // after normalising, its vertices all lie on the unit sphere only for the real shape.
        let r = m.vertices().iter().map(|v| v.length()).fold(0.0, f32::max);
        assert!((r - 1.0).abs() < 1e-5, "{name}: radius {r}");
        assert!(m.area() > 0.5, "{name}: area {}", m.area());
    }
}

#[test]
fn awkward_files_match_the_plain_tetrahedron() {
    // Same shape whatever the spelling: same normalised area as the plain OFF.
    let plain = shapeclf::mesh::parse_bytes(
        "off",
        b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n",
    )
    .unwrap();
    let (mut plain, _) = shapeclf::mesh::Mesh::from_raw(plain).unwrap();
    plain.normalize();
    for p in corpus() {
        let name = p.file_name().unwrap().to_str().unwrap();
        if expected_triangles(name) != 4 {
            continue;
        }
        let (m, _) = shapeclf::mesh::load(&p).unwrap();
        assert!(
            (m.area() - plain.area()).abs() < 1e-4,
            "{name}: area {} vs {}",
            m.area(),
            plain.area()
        );
    }
}

#[test]
fn features_makes_a_row_of_every_awkward_file() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("data");
    for (k, p) in corpus().iter().enumerate() {
        // Two classes so the split and the table have something to do.
        let class = if k % 2 == 0 { "a" } else { "b" };
        let dir = root.join(class).join("train");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(["features", "--no-views", "--strict", "--out"])
        .arg(d.path().join("f"))
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = shapeclf::features::Manifest::read(&d.path().join("f/manifest.json")).unwrap();
    assert_eq!(m.counts.ok, corpus().len());
    assert_eq!(m.counts.failed, 0);
}
