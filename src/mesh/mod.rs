//! Triangle meshes: loading from OBJ, OFF, STL, PLY and glTF, validation, clean-up,
//! normalisation and area-weighted surface sampling.

mod align;
mod geometry;

pub(crate) use geometry::{check_claim, triangle_cross};
mod gltf;
mod obj;
mod off;
mod ply;
mod sample;
mod stl;
mod winding;

use std::path::{Path, PathBuf};

pub use sample::{SurfaceSampler, SurfaceSamples};

/// 3D vector type shared with parry3d.
pub use parry3d::math::Vec3;

/// File extensions (lower case) that [`load`] understands.
pub const MESH_EXTENSIONS: [&str; 6] = ["obj", "off", "stl", "ply", "glb", "gltf"];

/// Why a mesh file could not be turned into a usable [`Mesh`].
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// The extension is not one of [`MESH_EXTENSIONS`].
    #[error("unsupported file type {0:?} (expected .obj, .off, .stl, .ply, .glb or .gltf)")]
    UnsupportedFormat(String),
    /// The file has no bytes at all.
    #[error("file is empty")]
    Empty,
    /// The file does not follow its format; the message says where and how.
    #[error("{format}: {msg}")]
    Parse {
        /// Format name (`OFF`, `OBJ`, `STL`, `PLY`, `glTF`).
        format: &'static str,
        /// What is wrong, with a line or record number where known.
        msg: String,
    },
    /// A header claims more elements than the file's size can hold.
    #[error(
        "{format}: header claims {claimed}, more than the file's {bytes} bytes can hold (truncated file or corrupt header)"
    )]
    ClaimsTooMuch {
        /// Format name.
        format: &'static str,
        /// The claim, in words (e.g. `10000000 vertices and 3 faces`).
        claimed: String,
        /// Actual size of the file.
        bytes: u64,
    },
    /// The data parsed but is not a usable surface.
    #[error("{0}")]
    Invalid(String),
    /// Not a regular file (a FIFO, a device such as `/dev/zero`, a socket, a folder).
    #[error("not a regular file; not read")]
    NotRegular,
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("file is {bytes} bytes, more than the {limit}-byte limit for a mesh file")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The mesh is larger than the user's `--max-faces` limit.
    #[error("mesh has {faces} triangles, more than the limit of {limit}")]
    TooManyFaces {
        /// Triangles in the mesh.
        faces: usize,
        /// The limit.
        limit: usize,
    },
}

impl MeshError {
    pub(crate) fn parse(format: &'static str, msg: impl Into<String>) -> Self {
        MeshError::Parse {
            format,
            msg: msg.into(),
        }
    }
}

/// A triangle soup before validation: vertex positions and triangle indices as the file gave them.
#[derive(Debug, Default, Clone)]
pub struct RawMesh {
    /// Vertex positions.
    pub vertices: Vec<[f32; 3]>,
    /// Triangles as indices into `vertices` (polygons already fan-triangulated).
    pub triangles: Vec<[u32; 3]>,
}

impl RawMesh {
    /// Fan-triangulates a polygon given by vertex indices and appends its triangles.
    pub(crate) fn push_polygon(&mut self, poly: &[u32]) {
        for k in 1..poly.len().saturating_sub(1) {
            self.triangles.push([poly[0], poly[k], poly[k + 1]]);
        }
    }
}

/// A clean, validated triangle mesh: finite coordinates, indices in range, no degenerate faces.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// Vertex positions.
    pub(crate) vertices: Vec<Vec3>,
    /// Triangles as indices into `vertices`.
    pub(crate) triangles: Vec<[u32; 3]>,
}

/// What loading and cleaning a mesh found, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadStats {
    /// Triangles in the file after triangulating polygons.
    pub faces_in: usize,
    /// Degenerate triangles dropped (repeated index or zero area).
    pub degenerate_dropped: usize,
    /// Whether triangles were flipped to make the surface face outwards (all of them, or those
    /// wound against their neighbours: [`Mesh::orient_consistently`]).
    pub flipped: bool,
}

/// Largest mesh file read (4 GiB): far above real meshes (a 5M-triangle binary STL is 250 MB),
/// and a guard against reading without end from something that only looks like a file.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Reads the bytes of a mesh file after the checks every command applies: a regular file
/// (symbolic links followed), at most [`MAX_FILE_BYTES`], and never more than the size it had
/// when opened (a file that grows while read is cut there).
pub fn read_file(path: &Path) -> Result<Vec<u8>, MeshError> {
    use std::io::Read;
    // Checked before opening: opening a FIFO would wait for a writer for ever.
    if !std::fs::metadata(path)?.is_file() {
        return Err(MeshError::NotRegular);
    }
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(MeshError::NotRegular);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(MeshError::TooLarge {
            bytes: meta.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(meta.len()).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a mesh file, choosing the parser by extension, and returns the cleaned, normalised mesh.
pub fn load(path: &Path) -> Result<(Mesh, LoadStats), MeshError> {
    clean(load_raw(path)?)
}

/// [`load`] on bytes already read from `path` (whose extension names the format), so a caller
/// that also hashes the file reads it once. A glTF's external buffers are read from `path`'s
/// folder.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<(Mesh, LoadStats), MeshError> {
    clean(parse_bytes_at(path, bytes)?)
}

/// Validates, normalises and orients a parsed mesh: what [`load`] does after parsing, for a
/// mesh held in memory (fails as loading a file holding it would).
pub fn clean(raw: RawMesh) -> Result<(Mesh, LoadStats), MeshError> {
    let (mut mesh, mut stats) = Mesh::from_raw(raw)?;
    mesh.normalize();
    stats.flipped = mesh.orient_consistently() > 0;
    Ok((mesh, stats))
}

/// Reads a mesh file into a [`RawMesh`] without validating it.
pub fn load_raw(path: &Path) -> Result<RawMesh, MeshError> {
    mesh_extension(path)?;
    let bytes = read_file(path)?;
    parse_bytes_at(path, &bytes)
}

/// [`parse_bytes`] on bytes read from `path`: the format from its extension, and the files a
/// glTF names (external buffers) read from `path`'s folder, through [`read_file`].
pub fn parse_bytes_at(path: &Path, bytes: &[u8]) -> Result<RawMesh, MeshError> {
    parse_in(&mesh_extension(path)?, bytes, Some(folder(path)))
}

/// The files besides `path` itself that loading it reads (a glTF's external buffers), so that a
/// caller recognising unchanged files by their bytes can hash these too. Empty for other formats
/// and for files that do not parse.
pub fn linked_files(path: &Path, bytes: &[u8]) -> Vec<PathBuf> {
    match mesh_extension(path).as_deref() {
        Ok(ext @ ("glb" | "gltf")) => self::gltf::linked_files(bytes, ext, folder(path)),
        _ => Vec::new(),
    }
}

/// Decodes a glTF buffer's base64 `data:` URI, as the glTF loader does: the bytes, or why not.
/// Public for the fuzz target `gltf_data_uri`.
pub fn decode_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    self::gltf::decode_data_uri(uri)
}

/// The folder a mesh file's relative references start from.
fn folder(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// The lower-case extension of a mesh path, or an error for an unsupported one.
fn mesh_extension(path: &Path) -> Result<String, MeshError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if MESH_EXTENSIONS.contains(&ext.as_str()) {
        Ok(ext)
    } else {
        Err(MeshError::UnsupportedFormat(ext))
    }
}

/// The UTF-8 byte-order mark.
pub(crate) const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// Parses mesh bytes in the format named by `ext` (`obj`, `off`, `stl`, `ply`, `glb`, `gltf`).
/// With bytes alone a glTF's external buffers cannot be found: see [`parse_bytes_at`].
pub fn parse_bytes(ext: &str, bytes: &[u8]) -> Result<RawMesh, MeshError> {
    parse_in(ext, bytes, None)
}

fn parse_in(ext: &str, bytes: &[u8], dir: Option<&Path>) -> Result<RawMesh, MeshError> {
    if bytes.is_empty() {
        return Err(MeshError::Empty);
    }
    // Editors on Windows put a UTF-8 byte-order mark before text headers. Binary STL is left
    // alone: its 80-byte header is free-form and its offsets are fixed.
    let text = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    match ext {
        "off" => off::parse(text),
        "obj" => obj::parse(text),
        "stl" => stl::parse(bytes),
        "ply" => ply::parse(text),
        "glb" | "gltf" => self::gltf::parse(text, ext, dir),
        other => Err(MeshError::UnsupportedFormat(other.to_string())),
    }
}

/// Whether a path has one of the [`MESH_EXTENSIONS`].
pub fn is_mesh_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MESH_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// A folder given where meshes were expected holds no mesh file at any depth.
#[derive(Debug, thiserror::Error)]
#[error("{} holds no mesh files ({})", .0.display(), MESH_EXTENSIONS.join(", "))]
pub struct NoMeshFiles(pub PathBuf);

/// `paths` with each folder replaced by every mesh file in it and below it, sorted, hidden
/// entries (a name starting with `.`) left out; other paths are kept as given, in order, for
/// the loader to judge. What `shapeclf predict` and the Python `Model.predict` classify. A
/// folder without meshes is an error: nothing would be classified, which is never what was
/// meant. Symbolic links are followed, as `features` follows them (a folder reached twice, by
/// a link loop or two links, is read once); a mesh-named link that leads nowhere is kept, for
/// the loader to report. Unreadable subfolders are skipped.
pub fn expand_mesh_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, NoMeshFiles> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            if !seen.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut subdirs = Vec::new();
            for e in entries.flatten() {
                if e.file_name().as_encoded_bytes().starts_with(b".") {
                    continue;
                }
                let p = e.path();
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_dir() => subdirs.push(p),
                    _ if is_mesh_path(&p) => found.push(p),
                    _ => {}
                }
            }
            // Subfolders are walked in name order (the stack pops the last pushed first), so
            // a folder reached by two links is listed under the same one on every machine,
            // not under whichever the file system happened to list first.
            subdirs.sort();
            stack.extend(subdirs.into_iter().rev());
        }
        if found.is_empty() {
            return Err(NoMeshFiles(path.clone()));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
