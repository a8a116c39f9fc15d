//! PLY (ASCII and binary, both endians) through ply-rs-bw, reading `vertex` x/y/z and
//! `face` `vertex_indices`/`vertex_index` lists into compact elements; other elements are skipped.

use std::io::BufReader;

use ply_rs_bw::parser::{Parser, Reader};
use ply_rs_bw::ply::{Encoding, PropertyAccess, PropertyAccessResult, PropertyType, ScalarType};

use super::{MeshError, RawMesh, check_claim};

const F: &str = "PLY";

#[derive(Default)]
struct Vertex([f32; 3]);

impl Vertex {
    fn set(&mut self, name: &str, v: f64) -> PropertyAccessResult {
        let k = match name {
            "x" => 0,
            "y" => 1,
            "z" => 2,
            _ => return PropertyAccessResult::Ignored,
        };
        self.0[k] = v as f32;
        PropertyAccessResult::Set
    }
}

impl PropertyAccess for Vertex {
    fn new() -> Self {
        Self::default()
    }
    fn set_float(&mut self, name: &str, v: f32) -> PropertyAccessResult {
        self.set(name, f64::from(v))
    }
    fn set_double(&mut self, name: &str, v: f64) -> PropertyAccessResult {
        self.set(name, v)
    }
    fn set_int(&mut self, name: &str, v: i32) -> PropertyAccessResult {
        self.set(name, f64::from(v))
    }
    fn set_short(&mut self, name: &str, v: i16) -> PropertyAccessResult {
        self.set(name, f64::from(v))
    }
}

/// A face's vertex indices; `None` marks a negative index, reported by the caller.
#[derive(Default)]
struct Face(Option<Vec<u32>>);

fn is_index_list(name: &str) -> bool {
    name == "vertex_indices" || name == "vertex_index"
}

impl Face {
    fn set<T: TryInto<u32> + Copy>(&mut self, name: &str, v: &[T]) -> PropertyAccessResult {
        if !is_index_list(name) {
            return PropertyAccessResult::Ignored;
        }
        self.0 = v.iter().map(|&i| i.try_into().ok()).collect();
        PropertyAccessResult::Set
    }
}

impl PropertyAccess for Face {
    fn new() -> Self {
        Face(Some(Vec::new()))
    }
    fn set_list_int(&mut self, name: &str, v: Vec<i32>) -> PropertyAccessResult {
        self.set(name, &v)
    }
    fn set_list_uint(&mut self, name: &str, v: Vec<u32>) -> PropertyAccessResult {
        self.set(name, &v)
    }
    fn set_list_short(&mut self, name: &str, v: Vec<i16>) -> PropertyAccessResult {
        self.set(name, &v)
    }
    fn set_list_ushort(&mut self, name: &str, v: Vec<u16>) -> PropertyAccessResult {
        self.set(name, &v)
    }
    fn set_list_char(&mut self, name: &str, v: Vec<i8>) -> PropertyAccessResult {
        self.set(name, &v)
    }
    fn set_list_uchar(&mut self, name: &str, v: Vec<u8>) -> PropertyAccessResult {
        self.set(name, &v)
    }
}

/// Elements other than vertices and faces: read and dropped.
struct Skip;

impl PropertyAccess for Skip {
    fn new() -> Self {
        Skip
    }
}

fn scalar_size(t: &ScalarType) -> u128 {
    match t {
        ScalarType::Char | ScalarType::UChar => 1,
        ScalarType::Short | ScalarType::UShort => 2,
        ScalarType::Int | ScalarType::UInt | ScalarType::Float => 4,
        ScalarType::Double => 8,
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<RawMesh, MeshError> {
    let perr = |e: ply_rs_bw::parser::ParseError| MeshError::parse(F, e.to_string());
    let mut reader = Reader::new(BufReader::new(bytes));
    let header = Parser::<Skip>::new()
        .read_header(&mut reader)
        .map_err(perr)?;
    // Every element takes at least one byte in ASCII ("0\n" per line) and its fixed-size
    // properties in binary: bound all claims by the file before reading any of them.
    let needed: u128 = header
        .elements
        .values()
        .map(|e| {
            let per: u128 = match header.encoding {
                Encoding::Ascii => 1,
                _ => e
                    .properties
                    .values()
                    .map(|p| match &p.data_type {
                        PropertyType::Scalar(t) => scalar_size(t),
                        PropertyType::List(c, _) => scalar_size(c),
                    })
                    .sum::<u128>()
                    .max(1),
            };
            e.count as u128 * per
        })
        .sum();
    check_claim(F, needed, bytes.len(), || {
        header
            .elements
            .values()
            .map(|e| format!("{} {}", e.count, e.name))
            .collect::<Vec<_>>()
            .join(", ")
    })?;

    let mut vertices: Option<Vec<Vertex>> = None;
    let mut faces: Option<Vec<Face>> = None;
    for el in header.elements.values() {
        match el.name.as_str() {
            "vertex" => {
                vertices = Some(
                    Parser::<Vertex>::new()
                        .read_payload_for_element(&mut reader, el, &header)
                        .map_err(perr)?,
                )
            }
            "face" => {
                faces = Some(
                    Parser::<Face>::new()
                        .read_payload_for_element(&mut reader, el, &header)
                        .map_err(perr)?,
                )
            }
            _ => {
                Parser::<Skip>::new()
                    .read_payload_for_element(&mut reader, el, &header)
                    .map_err(perr)?;
            }
        }
    }
    let vertices = vertices.ok_or_else(|| MeshError::parse(F, "no vertex element"))?;
    let faces = faces.ok_or_else(|| MeshError::parse(F, "no face element (a point cloud?)"))?;
    let mut mesh = RawMesh {
        vertices: vertices.into_iter().map(|v| v.0).collect(),
        triangles: Vec::with_capacity(faces.len()),
    };
    for (k, f) in faces.iter().enumerate() {
        let poly = f
            .0
            .as_ref()
            .ok_or_else(|| MeshError::parse(F, format!("face {k} has a negative vertex index")))?;
        mesh.push_polygon(poly);
    }
    Ok(mesh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_with_extra_properties() {
        let s = "ply\nformat ascii 1.0\ncomment x\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0 1\n1 0 0 2\n1 1 0 3\n0 1 0 4\n4 0 1 2 3\n";
        let m = parse(s.as_bytes()).unwrap();
        assert_eq!(m.vertices[2], [1.0, 1.0, 0.0]);
        assert_eq!(m.triangles, vec![[0, 1, 2], [0, 2, 3]]);
    }

    #[test]
    fn binary_little_endian() {
        let mut b = b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty double x\nproperty double y\nproperty double z\nelement face 1\nproperty list uchar uint vertex_index\nend_header\n".to_vec();
        for v in [[0.0f64, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] {
            for c in v {
                b.extend(c.to_le_bytes());
            }
        }
        b.push(3);
        for i in [0u32, 1, 2] {
            b.extend(i.to_le_bytes());
        }
        let m = parse(&b).unwrap();
        assert_eq!(m.vertices[1], [1.0, 0.0, 0.0]);
        assert_eq!(m.triangles, vec![[0, 1, 2]]);
    }

    #[test]
    fn huge_counts_and_truncation() {
        let s = "ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
        let e = parse(s.as_bytes()).unwrap_err();
        assert!(matches!(e, MeshError::ClaimsTooMuch { .. }), "{e}");
        let s = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n";
        assert!(parse(s.as_bytes()).is_err());
        let s = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 -1 2\n";
        let e = parse(s.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }
}
