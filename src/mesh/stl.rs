//! STL, binary and ASCII.
//!
//! Hand-written rather than through stl_io: stl_io takes any file whose first line starts with
//! `solid ` for ASCII, and many CAD exporters write exactly that into binary headers; it also trusts
//! the binary triangle count. Here the binary layout is recognised by its exact size
//! (84 + 50 * count bytes), which a count cannot fake.

use super::{MeshError, RawMesh, check_claim};

pub(super) fn parse(bytes: &[u8]) -> Result<RawMesh, MeshError> {
    if bytes.len() >= 84 {
        let n = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as u128;
        if 84 + 50 * n == bytes.len() as u128 {
            return parse_binary(bytes, n as usize);
        }
    }
    let text = bytes.strip_prefix(super::UTF8_BOM).unwrap_or(bytes);
    let head = &text[..text.len().min(512)];
    let trimmed = head.trim_ascii_start();
    if trimmed.len() >= 5
        && trimmed[..5].eq_ignore_ascii_case(b"solid")
        && head
            .iter()
            .all(|&b| b >= 0x20 || b"\t\r\n\x0c".contains(&b))
    {
        return parse_ascii(text);
    }
    if bytes.len() < 84 {
        return Err(MeshError::parse(
            "STL",
            format!(
                "{} bytes: too short for a binary STL and not ASCII STL",
                bytes.len()
            ),
        ));
    }
    let n = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]);
    // Trailing padding after the last record is common and harmless; a shortfall is not.
    check_claim("STL", 84 + 50 * u128::from(n), bytes.len(), || {
        format!("{n} triangles")
    })?;
    parse_binary(bytes, n as usize)
}

fn parse_binary(bytes: &[u8], n: usize) -> Result<RawMesh, MeshError> {
    let mut mesh = RawMesh {
        vertices: Vec::with_capacity(3 * n),
        triangles: Vec::with_capacity(n),
    };
    let f = |r: &[u8], o: usize| f32::from_le_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
    for (k, rec) in bytes[84..].chunks_exact(50).take(n).enumerate() {
        for o in [12, 24, 36] {
            mesh.vertices
                .push([f(rec, o), f(rec, o + 4), f(rec, o + 8)]);
        }
        let b = 3 * k as u32;
        mesh.triangles.push([b, b + 1, b + 2]);
    }
    Ok(mesh)
}

fn parse_ascii(bytes: &[u8]) -> Result<RawMesh, MeshError> {
    // Solid names in Latin-1 or UTF-8 are common; only the keywords and numbers matter.
    let text = String::from_utf8_lossy(bytes);
    let mut mesh = RawMesh::default();
    let mut pending = 0usize;
    for (ln, line) in text.lines().enumerate() {
        let mut it = line.split_ascii_whitespace();
        // Keywords are lower case in the format's description; some exporters shout them.
        let keyword = it.next().unwrap_or("");
        if keyword.eq_ignore_ascii_case("vertex") {
            let mut v = [0f32; 3];
            for c in &mut v {
                *c = it.next().and_then(|t| t.parse().ok()).ok_or_else(|| {
                    MeshError::parse("STL", format!("line {}: vertex needs 3 numbers", ln + 1))
                })?;
            }
            mesh.vertices.push(v);
            pending += 1;
        } else if keyword.eq_ignore_ascii_case("endloop") {
            if pending < 3 {
                return Err(MeshError::parse(
                    "STL",
                    format!("line {}: facet with {pending} vertices", ln + 1),
                ));
            }
            // Facets with more than three vertices are polygons: fan them.
            let first = (mesh.vertices.len() - pending) as u32;
            let poly: Vec<u32> = (first..mesh.vertices.len() as u32).collect();
            mesh.push_polygon(&poly);
            pending = 0;
        }
    }
    if pending != 0 {
        return Err(MeshError::parse(
            "STL",
            "truncated: last facet has no endloop",
        ));
    }
    Ok(mesh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(header: &[u8; 80], tris: &[[[f32; 3]; 3]]) -> Vec<u8> {
        let mut b = header.to_vec();
        b.extend((tris.len() as u32).to_le_bytes());
        for t in tris {
            b.extend([0u8; 12]);
            for v in t {
                for c in v {
                    b.extend(c.to_le_bytes());
                }
            }
            b.extend([0u8; 2]);
        }
        b
    }

    const T: [[f32; 3]; 3] = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];

    #[test]
    fn binary_with_solid_header_is_binary() {
        let mut h = [b' '; 80];
        h[..12].copy_from_slice(b"solid part1 ");
        let m = parse(&binary(&h, &[T, T])).unwrap();
        assert_eq!(m.triangles.len(), 2);
        assert_eq!(m.vertices[1], [1.0, 0.0, 0.0]);
    }

    #[test]
    fn ascii() {
        let s = "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid x\n";
        let m = parse(s.as_bytes()).unwrap();
        assert_eq!(m.triangles, vec![[0, 1, 2]]);
    }

    #[test]
    fn binary_claiming_too_much() {
        let mut b = binary(&[0; 80], &[T]);
        b[80..84].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = parse(&b).unwrap_err();
        assert!(matches!(e, MeshError::ClaimsTooMuch { .. }), "{e}");
    }

    #[test]
    fn truncated_ascii() {
        let s = "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n";
        assert!(parse(s.as_bytes()).is_err());
    }
}
