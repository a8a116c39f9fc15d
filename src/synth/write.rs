//! Writing a synthetic mesh in each format the readers take.

use std::io::Write;
use std::path::Path;

use crate::mesh::{RawMesh, Vec3};

/// Writes `mesh` in the format of `path`'s extension (off, obj, stl binary, ply binary, glb,
/// gltf with its buffer in a data URI).
/// `glued_off_header` writes ModelNet's `OFF<nv> <nf> 0` header on one line.
/// The file appears whole or not at all (written through a temporary sibling), so an
/// interrupted run never leaves a truncated mesh that still parses.
pub fn write_mesh(path: &Path, mesh: &RawMesh, glued_off_header: bool) -> std::io::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    crate::io::write_whole(path, |w| write_format(w, ext, mesh, glued_off_header))
}

fn write_format(
    w: &mut dyn Write,
    ext: &str,
    mesh: &RawMesh,
    glued_off_header: bool,
) -> std::io::Result<()> {
    let (v, t) = (&mesh.vertices, &mesh.triangles);
    match ext {
        "off" => {
            if glued_off_header {
                writeln!(w, "OFF{} {} 0", v.len(), t.len())?;
            } else {
                writeln!(w, "OFF\n{} {} 0", v.len(), t.len())?;
            }
            for p in v {
                writeln!(w, "{} {} {}", p[0], p[1], p[2])?;
            }
            for f in t {
                writeln!(w, "3 {} {} {}", f[0], f[1], f[2])?;
            }
        }
        "obj" => {
            writeln!(w, "# shapeclf synth")?;
            for p in v {
                writeln!(w, "v {} {} {}", p[0], p[1], p[2])?;
            }
            for f in t {
                writeln!(w, "f {} {} {}", f[0] + 1, f[1] + 1, f[2] + 1)?;
            }
        }
        "stl" => {
            let mut header = [b' '; 80];
            header[..14].copy_from_slice(b"shapeclf synth");
            w.write_all(&header)?;
            w.write_all(&(t.len() as u32).to_le_bytes())?;
            for f in t {
                let [a, b, c] = f.map(|i| Vec3::from_array(v[i as usize]));
                let n = (b - a).cross(c - a).normalize_or_zero();
                for x in [n, a, b, c] {
                    for k in x.to_array() {
                        w.write_all(&k.to_le_bytes())?;
                    }
                }
                w.write_all(&[0, 0])?;
            }
        }
        "ply" => {
            write!(
                w,
                "ply\nformat binary_little_endian 1.0\ncomment shapeclf synth\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nelement face {}\nproperty list uchar int vertex_indices\nend_header\n",
                v.len(),
                t.len()
            )?;
            for p in v {
                for k in p {
                    w.write_all(&k.to_le_bytes())?;
                }
            }
            for f in t {
                w.write_all(&[3])?;
                for &i in f {
                    w.write_all(&(i as i32).to_le_bytes())?;
                }
            }
        }
        "glb" => w.write_all(&glb_bytes(mesh))?,
        "gltf" => w.write_all(&gltf_bytes(mesh))?,
        other => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot write mesh format {other:?}"),
            ));
        }
    }
    w.flush()
}

/// A glTF 2.0 document holding `mesh` as one node with one indexed triangle primitive (float
/// positions with their bounds, u32 indices), and its binary buffer. Coordinates are written as
/// they are (+Z up, as the other formats), not turned to glTF's +Y up.
/// With `data_uri` the buffer goes into the JSON as base64.
fn gltf_parts(mesh: &RawMesh, data_uri: bool) -> (Vec<u8>, Vec<u8>) {
    let (v, t) = (&mesh.vertices, &mesh.triangles);
    let mut bin: Vec<u8> = v.iter().flatten().flat_map(|c| c.to_le_bytes()).collect();
    let pos_len = bin.len();
    bin.extend(t.iter().flatten().flat_map(|i| i.to_le_bytes()));
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for p in v {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let mut buffer = serde_json::json!({ "byteLength": bin.len() });
    if data_uri {
        use base64::Engine;
        buffer["uri"] = format!(
            "data:application/octet-stream;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&bin)
        )
        .into();
    }
    let doc = serde_json::json!({
        "asset": { "version": "2.0", "generator": "shapeclf synth" },
        "scene": 0,
        "scenes": [{ "nodes": [0] }],
        "nodes": [{ "mesh": 0 }],
        "meshes": [{ "primitives": [{ "attributes": { "POSITION": 0 }, "indices": 1, "mode": 4 }] }],
        "accessors": [
            { "bufferView": 0, "componentType": 5126, "count": v.len(), "type": "VEC3",
              "min": lo, "max": hi },
            { "bufferView": 1, "componentType": 5125, "count": 3 * t.len(), "type": "SCALAR" },
        ],
        "bufferViews": [
            { "buffer": 0, "byteOffset": 0, "byteLength": pos_len, "target": 34962 },
            { "buffer": 0, "byteOffset": pos_len, "byteLength": bin.len() - pos_len, "target": 34963 },
        ],
        "buffers": [buffer],
    });
    (serde_json::to_vec(&doc).expect("JSON of plain values"), bin)
}

/// `mesh` as a binary glTF (`.glb`): header, JSON chunk, binary chunk.
pub fn glb_bytes(mesh: &RawMesh) -> Vec<u8> {
    let (mut json, mut bin) = gltf_parts(mesh, false);
    // Chunks are 4-byte aligned: JSON padded with spaces, binary with zeros.
    json.resize(json.len().next_multiple_of(4), b' ');
    bin.resize(bin.len().next_multiple_of(4), 0);
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    for word in [2, total as u32, json.len() as u32, 0x4E4F_534A] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&json);
    for word in [bin.len() as u32, 0x004E_4942] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&bin);
    out
}

/// `mesh` as a self-contained glTF (`.gltf`): JSON with the buffer in a base64 data URI.
pub fn gltf_bytes(mesh: &RawMesh) -> Vec<u8> {
    gltf_parts(mesh, true).0
}
