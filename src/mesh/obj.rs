//! Wavefront OBJ through tobj: polygons triangulated, relative (negative) indices resolved,
//! materials ignored so a missing `.mtl` file never fails a load.

use super::{MeshError, RawMesh};

pub(super) fn parse(bytes: &[u8]) -> Result<RawMesh, MeshError> {
    let opts = tobj::LoadOptions {
        triangulate: true,
        single_index: false,
        ignore_points: true,
        ignore_lines: true,
    };
    // tobj stops at the first non-UTF-8 line with a bare "read error"; names and comments in
    // Latin-1 are common, so decode leniently and let the geometry speak.
    let mut text = String::from_utf8_lossy(bytes);
    // A backslash at the end of a line continues it (part of the format; tobj does not know it).
    if text.contains("\\\n") || text.contains("\\\r\n") {
        text = text.replace("\\\r\n", " ").replace("\\\n", " ").into();
    }
    let mut reader = std::io::BufReader::new(text.as_bytes());
    // Shape classification needs geometry only; never open material files.
    let (models, _materials) =
        tobj::load_obj_buf(&mut reader, &opts, |_| Ok((Vec::new(), Default::default())))
            .map_err(|e| MeshError::parse("OBJ", e.to_string()))?;
    let mut mesh = RawMesh::default();
    for model in models {
        let m = model.mesh;
        let base = u32::try_from(mesh.vertices.len())
            .map_err(|_| MeshError::parse("OBJ", "more than 2^32 vertices"))?;
        mesh.vertices
            .extend(m.positions.chunks_exact(3).map(|p| [p[0], p[1], p[2]]));
        for t in m.indices.chunks_exact(3) {
            mesh.triangles.push([base + t[0], base + t[1], base + t[2]]);
        }
    }
    if mesh.vertices.is_empty() {
        // tobj drops objects without faces, so this also covers point-only files.
        return Err(MeshError::parse(
            "OBJ",
            "no faces (no `f` lines with three or more vertices)",
        ));
    }
    Ok(mesh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quads_relative_indices_and_missing_mtl() {
        let s =
            "mtllib missing.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nusemtl red\nf -4 -3 -2 -1\n";
        let m = parse(s.as_bytes()).unwrap();
        assert_eq!(m.vertices.len(), 4);
        assert_eq!(m.triangles.len(), 2);
    }

    #[test]
    fn slash_forms_and_groups() {
        let s = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvn 0 0 1\ng a\nf 1/1/1 2/1/1 3/1/1\ng b\nv 0 0 1\nf 1//1 2//1 4//1\n";
        let m = parse(s.as_bytes()).unwrap();
        assert_eq!(m.triangles.len(), 2);
        for t in &m.triangles {
            assert!(t.iter().all(|&i| (i as usize) < m.vertices.len()));
        }
    }

    #[test]
    fn out_of_range_index_is_an_error() {
        let e = parse(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n").unwrap_err();
        assert!(e.to_string().contains("OBJ"), "{e}");
    }
}
