//! glTF 2.0, binary (`.glb`) and JSON (`.gltf`): the document through the gltf crate, the
//! geometry read here from the buffer bytes, every range checked before anything is allocated.
//!
//! Every triangle primitive (triangles, strips, fans) of every node of the default scene (else of
//! all scenes, else of all root nodes, else every mesh once) is placed by its node's world
//! transform and merged into one mesh; point and line primitives are skipped, and a file with
//! nothing else fails saying how many. Buffers may be the GLB binary chunk, base64 data URIs, or
//! files in the `.gltf`'s folder (never outside it). Draco and meshopt compression, other
//! required extensions that change geometry, sparse accessors and non-float positions are refused
//! by name.
//!
//! Load memory is bounded by the input: the merged mesh may hold at most [`BYTES_PER_INPUT_BYTE`]
//! bytes per byte of the file and the external buffers it reads, so a scene that instances one
//! mesh a million times from a few bytes of JSON fails instead of filling memory.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ::gltf::accessor::{DataType, Dimensions};
use ::gltf::buffer::Source;
use ::gltf::json;
use ::gltf::mesh::{Mode, Semantic};
use ::gltf::{Accessor, Document};

use super::{MeshError, RawMesh};

mod head;
mod reader;
mod transform;
mod walk;

use head::*;
use reader::*;
use transform::*;

const F: &str = "glTF";

fn err(msg: impl Into<String>) -> MeshError {
    MeshError::parse(F, msg)
}

/// Bytes of merged mesh (12 per vertex, 12 per triangle) allowed per byte of input.
const BYTES_PER_INPUT_BYTE: u64 = 16;

const DRACO: &str = "KHR_draco_mesh_compression";

/// Extensions a file may require that leave the geometry read here as it is (materials, textures,
/// lights; quantised positions are refused by the accessor check instead).
const HARMLESS_EXTENSIONS: &[&str] = &[
    "KHR_lights_punctual",
    "KHR_materials_anisotropy",
    "KHR_materials_clearcoat",
    "KHR_materials_dispersion",
    "KHR_materials_emissive_strength",
    "KHR_materials_ior",
    "KHR_materials_iridescence",
    "KHR_materials_pbrSpecularGlossiness",
    "KHR_materials_sheen",
    "KHR_materials_specular",
    "KHR_materials_transmission",
    "KHR_materials_unlit",
    "KHR_materials_variants",
    "KHR_materials_volume",
    "KHR_mesh_quantization",
    "KHR_texture_basisu",
    "KHR_texture_transform",
    "EXT_texture_avif",
    "EXT_texture_webp",
];

/// Parses glTF or GLB bytes; external buffers are read from `dir` (none without it).
pub(super) fn parse(bytes: &[u8], ext: &str, dir: Option<&Path>) -> Result<RawMesh, MeshError> {
    let (json_bytes, bin) = container(bytes, ext)?;
    let doc = document(json_bytes)?;
    let mut r = Reader {
        doc: &doc,
        bin,
        dir,
        buffers: vec![None; doc.buffers().len()],
        external: Vec::new(),
        input_bytes: bytes.len() as u64,
    };
    r.read()
}

/// The files named by a glTF's external buffers, resolved against `dir`; empty when the bytes are
/// not glTF or name none. Never fails: a file that cannot be parsed names nothing.
pub(super) fn linked_files(bytes: &[u8], ext: &str, dir: &Path) -> Vec<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Outline<'a> {
        #[serde(default, borrow)]
        buffers: Vec<BufferOutline<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct BufferOutline<'a> {
        #[serde(default, borrow)]
        uri: Option<Cow<'a, str>>,
    }
    let Ok((json_bytes, _)) = container(bytes, ext) else {
        return Vec::new();
    };
    let Ok(outline) = serde_json::from_slice::<Outline>(json_bytes) else {
        return Vec::new();
    };
    outline
        .buffers
        .iter()
        .filter_map(|b| b.uri.as_deref())
        .filter(|u| !u.starts_with("data:"))
        .filter_map(|u| relative_path(u).ok())
        .map(|p| dir.join(p))
        // Each file once, in the order first named: many buffers may name one file.
        .fold(Vec::new(), |mut out, p| {
            if !out.contains(&p) {
                out.push(p);
            }
            out
        })
}

/// Splits the input into its JSON and (for GLB) binary chunk.
fn container<'a>(bytes: &'a [u8], ext: &str) -> Result<(&'a [u8], Option<&'a [u8]>), MeshError> {
    if bytes.starts_with(b"glTF") {
        return split_glb(bytes);
    }
    if ext == "glb" {
        return Err(err(format!(
            "GLB: bad magic {:?}, expected \"glTF\" (not a binary glTF file)",
            String::from_utf8_lossy(&bytes[..bytes.len().min(4)])
        )));
    }
    Ok((bytes, None))
}

const CHUNK_JSON: u32 = 0x4E4F_534A;
const CHUNK_BIN: u32 = 0x004E_4942;

/// The JSON chunk and the first binary chunk of a GLB file, after checking its header.
fn split_glb(bytes: &[u8]) -> Result<(&[u8], Option<&[u8]>), MeshError> {
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes.len() < 20 {
        return Err(err(format!(
            "GLB truncated: {} bytes, less than the 12-byte header and one chunk header",
            bytes.len()
        )));
    }
    let version = word(4);
    if version != 2 {
        return Err(err(format!(
            "GLB version {version}: only glTF 2.0 (GLB version 2) is supported"
        )));
    }
    let length = word(8) as usize;
    if length > bytes.len() {
        return Err(err(format!(
            "GLB header length says {length} bytes but the file has {} (truncated)",
            bytes.len()
        )));
    }
    if length < 20 {
        return Err(err(format!(
            "GLB header length says {length} bytes, less than a header and one chunk"
        )));
    }
    let (mut json, mut bin) = (None, None);
    let mut at = 12;
    while at + 8 <= length {
        let (len, ty) = (word(at) as usize, word(at + 4));
        let start = at + 8;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= length)
            .ok_or_else(|| {
                err(format!(
                    "GLB chunk at byte {at} claims {len} bytes, more than the {} left (truncated)",
                    length - start
                ))
            })?;
        let chunk = &bytes[start..end];
        if json.is_none() {
            if ty != CHUNK_JSON {
                return Err(err(format!(
                    "GLB: the first chunk is of type {ty:#010x}, not JSON"
                )));
            }
            json = Some(chunk);
        } else if ty == CHUNK_BIN && bin.is_none() {
            bin = Some(chunk);
        }
        // Chunks of other types are ignored, as the specification asks.
        at = end;
    }
    let json = json.ok_or_else(|| err("GLB has no JSON chunk"))?;
    Ok((json, bin))
}

/// The glTF document: version and required extensions checked first (for clear errors), then
/// the gltf crate's validation (every index in range, every enumeration known).
fn document(json_bytes: &[u8]) -> Result<Document, MeshError> {
    let head: Head = serde_json::from_slice(json_bytes).map_err(|e| err(format!("JSON: {e}")))?;
    if let Some(v) = head.asset.as_ref().and_then(|a| a.version.as_deref())
        && !v.starts_with("2.")
    {
        return Err(err(format!(
            "asset version {v:?}: only glTF 2.0 is supported"
        )));
    }
    // The document's arrays become structures of up to 200 bytes per element: refuse JSON that
    // lists far more of them than its size suggests (`[{},{},...]`) before building them.
    let held = head.held_bytes();
    let limit = JSON_BYTES_PER_BYTE * json_bytes.len() as u64 + 64 * 1024;
    if held > limit {
        return Err(err(format!(
            "the JSON's {} bytes list {} objects ({held} bytes once read), more than \
             {JSON_BYTES_PER_BYTE} per byte: not a real scene",
            json_bytes.len(),
            head.objects()
        )));
    }
    let mut root: json::Root =
        json::deserialize::from_slice(json_bytes).map_err(|e| err(format!("JSON: {e}")))?;
    for name in &root.extensions_required {
        match name.as_str() {
            DRACO => {
                return Err(err(
                    "Draco-compressed meshes (KHR_draco_mesh_compression) are not supported; \
                     export without Draco compression",
                ));
            }
            "EXT_meshopt_compression" | "KHR_meshopt_compression" => {
                return Err(err(format!(
                    "meshopt-compressed buffers ({name}) are not supported; export without compression"
                )));
            }
            n if HARMLESS_EXTENSIONS.contains(&n) => {}
            n => {
                return Err(err(format!(
                    "the file requires extension {n}, which is not supported"
                )));
            }
        }
    }
    // Checked above; the crate would refuse every extension it was not built with.
    root.extensions_required.clear();
    // The crate's validation looks up each POSITION accessor before checking its index
    // (gltf-json 1.4.1 panics on one out of range): check those first.
    let positions = json::validation::Checked::Valid(json::mesh::Semantic::Positions);
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (k, p) in mesh.primitives.iter().enumerate() {
            if let Some(i) = p.attributes.get(&positions)
                && i.value() >= root.accessors.len()
            {
                return Err(err(format!(
                    "invalid document: meshes[{m}].primitives[{k}].attributes[\"POSITION\"]: \
                     accessor {} does not exist ({} accessors)",
                    i.value(),
                    root.accessors.len()
                )));
            }
        }
    }
    use json::validation::Validate;
    let mut errors = Vec::new();
    root.validate(&root, json::Path::new, &mut |path, e| {
        let path = path();
        // POSITION bounds are required by the specification but never needed here, and some
        // exporters leave them out.
        if !(path.as_str().ends_with(".min") || path.as_str().ends_with(".max")) {
            errors.push(format!("{path}: {e}"));
        }
    });
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(3);
        errors.truncate(3);
        // Draco-compressed accessors have no bufferView: say why, when the file says it uses it.
        let draco = root.extensions_used.iter().any(|e| e == DRACO);
        return Err(err(format!(
            "invalid document: {}{}{}",
            errors.join("; "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            },
            if draco {
                "; the file uses Draco compression (KHR_draco_mesh_compression), which is not \
                 supported"
            } else {
                ""
            }
        )));
    }
    Ok(Document::from_json_without_validation(root))
}

/// The message of a parse error without its format prefix, for nesting.
fn strip(e: MeshError) -> String {
    match e {
        MeshError::Parse { msg, .. } => msg,
        e => e.to_string(),
    }
}

/// Decodes a base64 `data:` URI; anything else (no comma, not base64, bad base64) is an error
/// that quotes at most 60 characters of the URI's head.
pub(crate) fn decode_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let (head, data) = uri
        .split_once(',')
        .ok_or("data URI without a comma before its data")?;
    if !head.ends_with(";base64") {
        return Err(format!(
            "data URI {:?} is not base64",
            crate::text::ellipsize(head, 60)
        ));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(data)
        .map_err(|e| format!("data URI is not valid base64: {e}"))
}

/// The relative file path an external buffer URI names, percent-decoded; refused when it is
/// absolute, has a scheme (`http:`, `file:`) or climbs out of the file's folder with `..`.
fn relative_path(uri: &str) -> Result<PathBuf, &'static str> {
    let bytes = uri.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            decoded.push((h * 16 + l) as u8);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(decoded).map_err(|_| "is not UTF-8 once decoded")?;
    if s.is_empty() {
        return Err("is empty");
    }
    if s.contains('\0') {
        return Err("contains a NUL byte");
    }
    let first = s.split(['/', '\\']).next().unwrap_or("");
    if first.contains(':') {
        return Err("has a scheme or drive (only files beside the glTF are read)");
    }
    if s.starts_with(['/', '\\']) {
        return Err("is an absolute path (only files beside the glTF are read)");
    }
    if s.split(['/', '\\']).any(|c| c == "..") {
        return Err("leaves the file's folder with '..' (only files beside the glTF are read)");
    }
    Ok(PathBuf::from(s))
}

#[cfg(test)]
mod tests;
