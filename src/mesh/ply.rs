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
    let perr = |e: ply_rs_bw::parser::ParseError| MeshError::parse(F, human(&e));
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

/// The PLY reader's error as a sentence: its messages carry Rust debug output (`ParseFloatError
/// { kind: Invalid }`, `Scalar(Float)`) and tab-indented details, which are rewritten here.
fn human(e: &ply_rs_bw::parser::ParseError) -> String {
    let text = e.to_string();
    let text = match e.line() {
        Some(n) => text
            .strip_prefix(&format!("Line {n}: "))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    };
    let mut parts = text.split("\n\t");
    let head = parts.next().unwrap_or_default().trim();
    let detail = |key: &str| {
        text.split("\n\t")
            .find_map(|p| p.strip_prefix(key))
            .map(|v| v.trim_matches('\''))
            .map(|v| {
                format!(
                    "{:?}",
                    crate::text::ellipsize(v.trim_end_matches(['\n', '\r']), 40)
                )
            })
            .unwrap_or_default()
    };
    let quoted = |s: &str| s.split('\'').nth(1).map(type_name).unwrap_or_default();
    let what = if head.starts_with("Parse error") {
        format!("{} is not a number", detail("Value: "))
    } else if head.starts_with("Couldn't parse element line")
        || head.starts_with("Couldn't read element line")
    {
        format!("expected a line of numbers, found {}", detail("String: "))
    } else if head.starts_with("Couldn't parse line") || head.starts_with("Expected magic number") {
        format!("not a PLY header line: {}", detail("String: "))
    } else if head.starts_with("Expected element of type") {
        format!("a line ends early: expected another {} value", quoted(head))
    } else if let Some(rest) = head.strip_prefix("Couldn't parse element at index ") {
        let i = rest.split(':').next().unwrap_or_default();
        format!("element {i} of a list is not a whole number")
    } else if head.starts_with("Property '") {
        "a property line before any element line".to_string()
    } else if head.starts_with("Found contradicting format definition") {
        "two different format lines".to_string()
    } else if let Some(rest) = head.strip_prefix("PLY property '") {
        let name = rest.split('\'').next().unwrap_or_default();
        let ty = rest
            .split("declared type ")
            .nth(1)
            .and_then(|t| t.split(" is ").next());
        format!(
            "property {name:?} has a type this reader cannot take ({})",
            ty.map(type_name).unwrap_or_default()
        )
    } else {
        // The reader's own sentences (end of file, bad list lengths, no format line), without
        // any debug detail after them.
        head.trim_end_matches('.').to_string()
    };
    match e.line() {
        Some(n) => format!("line {n}: {what}"),
        None => what,
    }
}

/// `Scalar(Float)` as `float`, `List(UChar, Int)` as `list of int`.
fn type_name(debug: &str) -> String {
    let inner = |s: &str| s.trim().trim_end_matches(')').to_ascii_lowercase();
    if let Some(t) = debug.strip_prefix("Scalar(") {
        inner(t)
    } else if let Some(t) = debug.strip_prefix("List(") {
        format!("list of {}", inner(t.split(',').nth(1).unwrap_or(t)))
    } else {
        debug.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #23: PLY errors printed Rust debug structures (`ParseFloatError { kind: Invalid }`).
    #[test]
    fn ply_errors_read_as_sentences_not_debug_structs() {
        let head = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n\
                    property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n";
        let cases = [
            (
                format!("{head}0 abc 0\n1 0 0\n0 1 0\n3 0 1 2\n"),
                "found \"0 abc 0\"",
            ),
            (format!("{head}0 1.5.3 0\n1 0 0\n0 1 0\n3 0 1 2\n"), "1.5.3"),
            (
                format!("{head}0 0\n1 0 0\n0 1 0\n3 0 1 2\n"),
                "found \"0 0\"",
            ),
            (
                format!("{head}0 0 0\n1 0 0\n0 1 0\n3 0 x 2\n"),
                "found \"3 0 x 2\"",
            ),
            (
                head.replace("property float x", "property flot x") + "0 0 0\n",
                "not a PLY header line",
            ),
            (
                "ply\nformat ascii 1.0\nproperty float x\nend_header\n".to_string(),
                "before any element",
            ),
            (
                "format ascii 1.0\nply\n".to_string(),
                "not a PLY header line",
            ),
            (
                format!("{head}0 0 0 \u{1}\n1 0 0\n0 1 0\n3 0 1 2\n"),
                "\\u{1}",
            ),
        ];
        for (ply, want) in cases {
            let e = parse(ply.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} in {e:?}");
            for debug in [
                "{ ", "\t", "\n", "Scalar(", "Some(", "kind:", "Error:", "String:",
            ] {
                assert!(!e.contains(debug), "{debug:?} in {e:?}");
            }
        }
    }

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
