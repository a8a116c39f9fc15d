//! Triangle meshes: loading from OBJ, OFF, STL, PLY and glTF, validation, clean-up,
//! normalisation and area-weighted surface sampling.

mod align;
mod gltf;
mod obj;
mod off;
mod ply;
mod sample;
mod stl;

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
    pub vertices: Vec<Vec3>,
    /// Triangles as indices into `vertices`.
    pub triangles: Vec<[u32; 3]>,
}

/// What loading and cleaning a mesh found, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadStats {
    /// Triangles in the file after triangulating polygons.
    pub faces_in: usize,
    /// Degenerate triangles dropped (repeated index or zero area).
    pub degenerate_dropped: usize,
    /// Whether all triangles were flipped to make the surface face outwards.
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

/// Validates, normalises and orients a parsed mesh.
fn clean(raw: RawMesh) -> Result<(Mesh, LoadStats), MeshError> {
    let (mut mesh, mut stats) = Mesh::from_raw(raw)?;
    mesh.normalize();
    stats.flipped = mesh.orient_outward();
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

impl Mesh {
    /// Validates a raw mesh and drops degenerate triangles.
    ///
    /// Fails on non-finite coordinates, out-of-range indices, or when no triangle with area is left.
    pub fn from_raw(raw: RawMesh) -> Result<(Mesh, LoadStats), MeshError> {
        if raw.vertices.is_empty() {
            return Err(MeshError::Invalid("no vertices".into()));
        }
        if raw.triangles.is_empty() {
            return Err(MeshError::Invalid("no faces".into()));
        }
        if let Some(i) = raw
            .vertices
            .iter()
            .position(|v| !v.iter().all(|c| c.is_finite()))
        {
            return Err(MeshError::Invalid(format!(
                "vertex {i} has a non-finite coordinate ({:?})",
                raw.vertices[i]
            )));
        }
        let nv = raw.vertices.len();
        if let Some((f, t)) = raw
            .triangles
            .iter()
            .enumerate()
            .find(|(_, t)| t.iter().any(|&i| i as usize >= nv))
        {
            return Err(MeshError::Invalid(format!(
                "face {f} references vertex {} but there are only {nv} vertices",
                t.iter().max().unwrap_or(&0)
            )));
        }
        // Same size and alignment: the collect reuses the raw buffer instead of copying it.
        let vertices: Vec<Vec3> = raw.vertices.into_iter().map(Vec3::from_array).collect();
        // Zero area relative to the model's own size, so units do not matter.
        let (lo, hi) = vertices.iter().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), v| (lo.min(*v), hi.max(*v)),
        );
        let diag2 = (0..3)
            .map(|k| (f64::from(hi[k]) - f64::from(lo[k])).powi(2))
            .sum::<f64>();
        let min_area = diag2 * 1e-14;
        let faces_in = raw.triangles.len();
        let mut triangles = raw.triangles;
        triangles.retain(|&[a, b, c]| {
            if a == b || b == c || a == c {
                return false;
            }
            double_area(&vertices, [a, b, c]) * 0.5 > min_area
        });
        if triangles.is_empty() {
            return Err(MeshError::Invalid(format!(
                "all {faces_in} faces are degenerate (zero area)"
            )));
        }
        let stats = LoadStats {
            faces_in,
            degenerate_dropped: faces_in - triangles.len(),
            flipped: false,
        };
        Ok((
            Mesh {
                vertices,
                triangles,
            },
            stats,
        ))
    }

    /// Area of each triangle.
    pub fn triangle_areas(&self) -> Vec<f32> {
        self.triangles
            .iter()
            .map(|&t| 0.5 * triangle_cross(&self.vertices, t).length())
            .collect()
    }

    /// Total surface area.
    pub fn area(&self) -> f64 {
        self.triangle_areas().iter().map(|&a| f64::from(a)).sum()
    }

    /// Unit normal of triangle `i` (by its winding).
    pub fn face_normal(&self, i: usize) -> Vec3 {
        triangle_cross(&self.vertices, self.triangles[i]).normalize_or_zero()
    }

    /// Centres the mesh on its area-weighted surface centroid and scales it so the farthest
    /// referenced vertex lies at distance 1: descriptors then compare shape, not pose or size.
    ///
    /// Works in f64, so files in any units (edges of 1e-15 or 1e25) come out the same.
    pub fn normalize(&mut self) {
        let mut acc = [0f64; 3];
        let mut total = 0f64;
        for &t in &self.triangles {
            let [p, q, r] = t.map(|i| dvec(self.vertices[i as usize]));
            let a = double_area_of(p, q, r);
            for k in 0..3 {
                acc[k] += a * (p[k] + q[k] + r[k]);
            }
            total += a;
        }
        let centroid = acc.map(|c| c / (3.0 * total));
        let offset = |v: &Vec3| [0, 1, 2].map(|k| f64::from(v[k]) - centroid[k]);
        let mut used = vec![false; self.vertices.len()];
        for t in &self.triangles {
            for &i in t {
                used[i as usize] = true;
            }
        }
        let radius = self
            .vertices
            .iter()
            .zip(&used)
            .filter(|(_, u)| **u)
            .map(|(v, _)| offset(v).iter().map(|d| d * d).sum::<f64>())
            .fold(0f64, f64::max)
            .sqrt();
        let inv = if radius > 0.0 && radius.is_finite() {
            1.0 / radius
        } else {
            1.0
        };
        for v in &mut self.vertices {
            *v = Vec3::from_array(offset(v).map(|d| (d * inv) as f32));
        }
    }

    /// Signed volume enclosed by the surface (positive when the faces point outwards).
    ///
    /// For open surfaces this is the volume of the cones from the origin, still a fair vote on
    /// whether most faces point outwards.
    pub fn signed_volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|&[a, b, c]| {
                let (a, b, c) = (
                    self.vertices[a as usize],
                    self.vertices[b as usize],
                    self.vertices[c as usize],
                );
                f64::from(a.dot(b.cross(c))) / 6.0
            })
            .sum()
    }

    /// Flips every triangle when the surface mostly faces inwards, so that `-normal` points into
    /// the solid as the SDF needs. Returns whether it flipped.
    pub fn orient_outward(&mut self) -> bool {
        if self.signed_volume() < 0.0 {
            for t in &mut self.triangles {
                t.swap(1, 2);
            }
            true
        } else {
            false
        }
    }
}

/// Twice a triangle's area, in f64: in f32 the square of the cross product overflows for edges
/// over about 1e9 units and underflows below about 1e-9.
#[inline]
pub(crate) fn double_area(v: &[Vec3], t: [u32; 3]) -> f64 {
    let [a, b, c] = t.map(|i| dvec(v[i as usize]));
    double_area_of(a, b, c)
}

#[inline]
fn dvec(v: Vec3) -> [f64; 3] {
    [f64::from(v.x), f64::from(v.y), f64::from(v.z)]
}

#[inline]
fn double_area_of(a: [f64; 3], b: [f64; 3], c: [f64; 3]) -> f64 {
    let (u, w) = (
        [0, 1, 2].map(|k| b[k] - a[k]),
        [0, 1, 2].map(|k| c[k] - a[k]),
    );
    let n = [
        u[1] * w[2] - u[2] * w[1],
        u[2] * w[0] - u[0] * w[2],
        u[0] * w[1] - u[1] * w[0],
    ];
    (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt()
}

/// Cross product of a triangle's edges: its normal scaled by twice its area.
#[inline]
pub(crate) fn triangle_cross(v: &[Vec3], [a, b, c]: [u32; 3]) -> Vec3 {
    let a = v[a as usize];
    (v[b as usize] - a).cross(v[c as usize] - a)
}

/// Fails with [`MeshError::ClaimsTooMuch`] when `needed` bytes exceed the `available` ones.
pub(crate) fn check_claim(
    format: &'static str,
    needed: u128,
    available: usize,
    claimed: impl FnOnce() -> String,
) -> Result<(), MeshError> {
    if needed > available as u128 {
        return Err(MeshError::ClaimsTooMuch {
            format,
            claimed: claimed(),
            bytes: available as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
