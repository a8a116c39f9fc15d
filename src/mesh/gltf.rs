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
        .collect()
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

/// Bytes the document's structures may take per byte of JSON.
const JSON_BYTES_PER_BYTE: u64 = 16;

/// What the document holds, read without building it: the version, and how many elements each
/// top-level array has.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    asset: Option<Asset>,
    #[serde(default)]
    accessors: Count,
    #[serde(default)]
    animations: Count,
    #[serde(default)]
    buffers: Count,
    #[serde(default)]
    buffer_views: Count,
    #[serde(default)]
    cameras: Count,
    #[serde(default)]
    images: Count,
    #[serde(default)]
    materials: Count,
    #[serde(default)]
    meshes: Count,
    #[serde(default)]
    nodes: Count,
    #[serde(default)]
    samplers: Count,
    #[serde(default)]
    scenes: Count,
    #[serde(default)]
    skins: Count,
    #[serde(default)]
    textures: Count,
}

#[derive(serde::Deserialize)]
struct Asset {
    version: Option<String>,
}

impl Head {
    fn counts(&self) -> [(u64, usize); 13] {
        use std::mem::size_of;
        [
            (self.accessors.0, size_of::<json::Accessor>()),
            (self.animations.0, size_of::<json::Animation>()),
            (self.buffers.0, size_of::<json::Buffer>()),
            (self.buffer_views.0, size_of::<json::buffer::View>()),
            (self.cameras.0, size_of::<json::Camera>()),
            (self.images.0, size_of::<json::Image>()),
            (self.materials.0, size_of::<json::Material>()),
            (self.meshes.0, size_of::<json::Mesh>()),
            (self.nodes.0, size_of::<json::Node>()),
            (self.samplers.0, size_of::<json::texture::Sampler>()),
            (self.scenes.0, size_of::<json::Scene>()),
            (self.skins.0, size_of::<json::Skin>()),
            (self.textures.0, size_of::<json::Texture>()),
        ]
    }

    fn held_bytes(&self) -> u64 {
        self.counts().iter().map(|&(n, size)| n * size as u64).sum()
    }

    fn objects(&self) -> u64 {
        self.counts().iter().map(|&(n, _)| n).sum()
    }
}

/// The length of a JSON array, its elements skipped without being kept.
#[derive(Default)]
struct Count(u64);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// Column-major 4x4 transform, in f64 so deep hierarchies and extreme units keep their precision.
type Mat = [f64; 16];

const IDENTITY: Mat = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

fn mul(a: &Mat, b: &Mat) -> Mat {
    let mut m = [0.0; 16];
    for c in 0..4 {
        for r in 0..4 {
            m[c * 4 + r] = (0..4).map(|k| a[k * 4 + r] * b[c * 4 + k]).sum();
        }
    }
    m
}

/// A node's local transform: its matrix, or translation * rotation * scale.
fn local(node: &json::Node) -> Mat {
    if let Some(m) = node.matrix {
        return m.map(f64::from);
    }
    let [tx, ty, tz] = node.translation.unwrap_or([0.0; 3]).map(f64::from);
    let [sx, sy, sz] = node.scale.unwrap_or([1.0; 3]).map(f64::from);
    let [x, y, z, w] = node
        .rotation
        .map_or([0.0, 0.0, 0.0, 1.0], |q| q.0.map(f64::from));
    // Unit quaternions are required; normalising forgives rounding in the file.
    let n = (x * x + y * y + z * z + w * w).sqrt();
    let [x, y, z, w] = if n > 0.0 && n.is_finite() {
        [x / n, y / n, z / n, w / n]
    } else {
        [0.0, 0.0, 0.0, 1.0]
    };
    [
        (1.0 - 2.0 * (y * y + z * z)) * sx,
        2.0 * (x * y + z * w) * sx,
        2.0 * (x * z - y * w) * sx,
        0.0,
        2.0 * (x * y - z * w) * sy,
        (1.0 - 2.0 * (x * x + z * z)) * sy,
        2.0 * (y * z + x * w) * sy,
        0.0,
        2.0 * (x * z + y * w) * sz,
        2.0 * (y * z - x * w) * sz,
        (1.0 - 2.0 * (x * x + y * y)) * sz,
        0.0,
        tx,
        ty,
        tz,
        1.0,
    ]
}

/// Determinant of the linear part: negative for a mirroring transform.
fn det3(m: &Mat) -> f64 {
    m[0] * (m[5] * m[10] - m[9] * m[6]) - m[4] * (m[1] * m[10] - m[9] * m[2])
        + m[8] * (m[1] * m[6] - m[5] * m[2])
}

/// Where an accessor's elements lie: buffer, first byte, distance between elements, count.
#[derive(Clone, Copy)]
struct Slab {
    buffer: usize,
    start: usize,
    stride: usize,
    count: usize,
    kind: DataType,
}

/// One triangle primitive, its accessors checked against the buffers.
#[derive(Clone, Copy)]
struct Prim {
    positions: Slab,
    indices: Option<Slab>,
    mode: Mode,
    triangles: usize,
}

impl Prim {
    /// Bytes this primitive adds to the merged mesh (12 per vertex and per triangle), plus a
    /// fixed cost so that even empty instances count against the budget.
    fn cost(&self) -> u64 {
        12 * (self.positions.count as u64 + self.triangles as u64) + 64
    }
}

struct Reader<'a> {
    doc: &'a Document,
    bin: Option<&'a [u8]>,
    dir: Option<&'a Path>,
    /// Buffer bytes, loaded when an accessor first needs them.
    buffers: Vec<Option<Cow<'a, [u8]>>>,
    /// Bytes of the file and of the external buffers read.
    input_bytes: u64,
}

/// What walking the scene found.
#[derive(Default)]
struct Totals {
    vertices: u64,
    triangles: u64,
    cost: u64,
    skipped: usize,
}

impl<'a> Reader<'a> {
    fn read(&mut self) -> Result<RawMesh, MeshError> {
        // Each mesh's primitives, checked once however many nodes use the mesh.
        let mut plans: Vec<Option<Vec<Option<Prim>>>> = vec![None; self.doc.meshes().len()];
        let mut totals = Totals::default();
        self.walk(&mut |this: &mut Self, mesh, _world| {
            if plans[mesh].is_none() {
                plans[mesh] = Some(this.plan(mesh)?);
            }
            for p in plans[mesh].as_deref().unwrap_or_default() {
                match p {
                    Some(p) => {
                        totals.vertices += p.positions.count as u64;
                        totals.triangles += p.triangles as u64;
                        totals.cost += p.cost();
                    }
                    None => {
                        totals.skipped += 1;
                        totals.cost += 64;
                    }
                }
            }
            // Checked as the walk goes, so a lying scene stops early, not after a long count.
            let budget = BYTES_PER_INPUT_BYTE * this.input_bytes + 64 * 1024;
            if totals.cost > budget {
                return Err(err(format!(
                    "the scene places more geometry than the file holds: over {} bytes of mesh \
                     from {} bytes of input (at most {BYTES_PER_INPUT_BYTE} per byte; \
                     a mesh instanced by very many nodes?)",
                    totals.cost, this.input_bytes
                )));
            }
            Ok(())
        })?;
        if totals.triangles == 0 {
            return Err(err(if totals.skipped > 0 {
                format!(
                    "no triangle primitives ({} point/line primitives skipped)",
                    totals.skipped
                )
            } else {
                "no triangle primitives in the scene".to_string()
            }));
        }
        if totals.vertices > u64::from(u32::MAX) {
            return Err(err(format!("{} vertices, more than 2^32", totals.vertices)));
        }
        let mut out = RawMesh {
            vertices: Vec::with_capacity(totals.vertices as usize),
            triangles: Vec::with_capacity(totals.triangles as usize),
        };
        self.walk(&mut |this: &mut Self, mesh, world| {
            for (k, p) in plans[mesh]
                .as_deref()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if let Some(p) = p {
                    this.emit(p, world, &mut out)
                        .map_err(|e| err(format!("mesh {mesh} primitive {k}: {e}")))?;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit(mesh, world transform)` for every mesh instance of the scene, in order.
    ///
    /// A node is placed once, however many scenes list it; a node that is the child of two nodes
    /// (a cycle, or a graph that is not a tree) fails the file.
    fn walk(
        &mut self,
        visit: &mut dyn FnMut(&mut Self, usize, &Mat) -> Result<(), MeshError>,
    ) -> Result<(), MeshError> {
        let doc = self.doc;
        let root = doc.as_json();
        let n = root.nodes.len();
        if n == 0 {
            // No nodes: a library of meshes, each placed once as it is.
            for m in 0..root.meshes.len() {
                visit(self, m, &IDENTITY)?;
            }
            return Ok(());
        }
        let mut parents = vec![0u8; n];
        for (i, node) in root.nodes.iter().enumerate() {
            for c in node.children.iter().flatten() {
                let p = &mut parents[c.value()];
                if *p > 0 {
                    return Err(err(format!(
                        "node {} is a child of more than one node (node {i} among them); \
                         glTF node hierarchies must be trees",
                        c.value()
                    )));
                }
                *p = 1;
            }
        }
        let roots: Vec<usize> = match (root.scene, root.scenes.is_empty()) {
            (Some(s), _) => root.scenes[s.value()]
                .nodes
                .iter()
                .map(|i| i.value())
                .collect(),
            (None, false) => root
                .scenes
                .iter()
                .flat_map(|s| s.nodes.iter().map(|i| i.value()))
                .collect(),
            (None, true) => (0..n).filter(|&i| parents[i] == 0).collect(),
        };
        let mut seen = vec![false; n];
        // Depth-first with an explicit path (node, next child, world transform): no recursion,
        // so a chain of a million nodes cannot overflow the stack.
        let mut path: Vec<(usize, usize, Mat)> = Vec::new();
        for r in roots {
            if std::mem::replace(&mut seen[r], true) {
                continue;
            }
            let w = local(&root.nodes[r]);
            self.place(r, &w, visit)?;
            path.push((r, 0, w));
            while let Some((node, next, w)) = path.last_mut() {
                let children = root.nodes[*node].children.as_deref().unwrap_or_default();
                let Some(c) = children.get(*next).map(|c| c.value()) else {
                    path.pop();
                    continue;
                };
                *next += 1;
                if std::mem::replace(&mut seen[c], true) {
                    continue;
                }
                let cw = mul(w, &local(&root.nodes[c]));
                self.place(c, &cw, visit)?;
                path.push((c, 0, cw));
            }
        }
        Ok(())
    }

    /// Visits a node's mesh, if it has one.
    fn place(
        &mut self,
        node: usize,
        world: &Mat,
        visit: &mut dyn FnMut(&mut Self, usize, &Mat) -> Result<(), MeshError>,
    ) -> Result<(), MeshError> {
        let doc = self.doc;
        let json = &doc.as_json().nodes[node];
        let Some(mesh) = json.mesh else {
            return Ok(());
        };
        // A skinned mesh is placed by its joints, never by its node (the specification's rule);
        // without animation that is its bind pose, the mesh's own coordinates.
        let world = if json.skin.is_some() {
            &IDENTITY
        } else {
            world
        };
        visit(self, mesh.value(), world)
    }

    /// A mesh's primitives: `None` for points and lines, which are skipped.
    fn plan(&mut self, mesh: usize) -> Result<Vec<Option<Prim>>, MeshError> {
        let doc = self.doc;
        let m = doc.meshes().nth(mesh).expect("validated mesh index");
        m.primitives()
            .map(|p| {
                let k = p.index();
                let mode = p.mode();
                if !matches!(
                    mode,
                    Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
                ) {
                    return Ok(None);
                }
                let at = |e: MeshError| err(format!("mesh {mesh} primitive {k}: {}", strip(e)));
                let pos = p.get(&Semantic::Positions).ok_or_else(|| {
                    err(format!(
                        "mesh {mesh} primitive {k} has no POSITION attribute"
                    ))
                })?;
                if pos.data_type() != DataType::F32
                    || pos.dimensions() != Dimensions::Vec3
                    || pos.normalized()
                {
                    return Err(err(format!(
                        "mesh {mesh} primitive {k}: POSITION accessor {} is {:?} {:?}{}; \
                         positions must be float VEC3 (quantized positions are not supported)",
                        pos.index(),
                        pos.dimensions(),
                        pos.data_type(),
                        if pos.normalized() { " normalized" } else { "" }
                    )));
                }
                let positions = self.slab(&pos, "POSITION").map_err(at)?;
                let indices = match p.indices() {
                    None => None,
                    Some(i) => {
                        if !matches!(i.data_type(), DataType::U8 | DataType::U16 | DataType::U32)
                            || i.dimensions() != Dimensions::Scalar
                        {
                            return Err(err(format!(
                                "mesh {mesh} primitive {k}: indices accessor {} is {:?} {:?}; \
                                 indices must be unsigned integer SCALAR",
                                i.index(),
                                i.dimensions(),
                                i.data_type()
                            )));
                        }
                        Some(self.slab(&i, "indices").map_err(at)?)
                    }
                };
                let n = indices.map_or(positions.count, |s| s.count);
                let triangles = match mode {
                    Mode::Triangles => n / 3,
                    _ => n.saturating_sub(2),
                };
                Ok(Some(Prim {
                    positions,
                    indices,
                    mode,
                    triangles,
                }))
            })
            .collect()
    }

    /// Locates an accessor's elements, checking them against its bufferView and the bufferView
    /// against its buffer: nothing the file merely claims is ever allocated.
    fn slab(&mut self, acc: &Accessor, what: &str) -> Result<Slab, MeshError> {
        let a = acc.index();
        if acc.sparse().is_some() {
            return Err(err(format!(
                "{what} accessor {a} is sparse; sparse accessors are not supported"
            )));
        }
        let Some(view) = acc.view() else {
            return Err(err(format!("{what} accessor {a} has no bufferView")));
        };
        let elem = acc.size();
        let stride = view.stride().unwrap_or(elem);
        if stride < elem {
            return Err(err(format!(
                "bufferView {} has a stride of {stride} bytes, less than the {elem}-byte elements of {what} accessor {a}",
                view.index()
            )));
        }
        let buffer = view.buffer();
        let b = buffer.index();
        let declared = buffer.length();
        let (vo, vl) = (view.offset(), view.length());
        if vo as u128 + vl as u128 > declared as u128 {
            return Err(err(format!(
                "bufferView {} (bytes {vo}..{}) runs past the end of buffer {b} ({declared} bytes)",
                view.index(),
                vo as u128 + vl as u128
            )));
        }
        let count = acc.count();
        // An empty accessor needs no bytes, but its offset must still lie within the view.
        let span = match count {
            0 => 0,
            n => (n as u128 - 1) * stride as u128 + elem as u128,
        };
        let need = acc.offset() as u128 + span;
        if need > vl as u128 {
            return Err(err(format!(
                "{what} accessor {a} claims {count} elements of {elem} bytes (stride {stride}) \
                 from byte {}, {need} bytes: more than its bufferView {} holds ({vl} bytes)",
                acc.offset(),
                view.index()
            )));
        }
        // Only now, with the claim within what the file declares, are the bytes looked at.
        self.load_buffer(b, declared)?;
        Ok(Slab {
            buffer: b,
            start: vo + acc.offset(),
            stride,
            count,
            kind: acc.data_type(),
        })
    }

    /// Makes buffer `b`'s bytes available, checking that it holds the `declared` length.
    fn load_buffer(&mut self, b: usize, declared: usize) -> Result<(), MeshError> {
        if self.buffers[b].is_some() {
            return Ok(());
        }
        let buffer = self.doc.buffers().nth(b).expect("validated buffer index");
        let (data, whence): (Cow<'a, [u8]>, String) = match buffer.source() {
            Source::Bin => {
                let bin = self.bin.filter(|_| b == 0).ok_or_else(|| {
                    err(format!(
                        "buffer {b} has no uri and the file has no GLB binary chunk for it"
                    ))
                })?;
                (Cow::Borrowed(bin), "the GLB binary chunk".to_string())
            }
            Source::Uri(uri) if uri.starts_with("data:") => (
                Cow::Owned(decode_data_uri(uri).map_err(|e| err(format!("buffer {b}: {e}")))?),
                "its data URI".to_string(),
            ),
            Source::Uri(uri) => {
                let rel = relative_path(uri)
                    .map_err(|why| err(format!("buffer {b}: external uri {uri:?} {why}")))?;
                let dir = self.dir.ok_or_else(|| {
                    err(format!(
                        "buffer {b}: external buffer {uri:?} cannot be read without the file's folder"
                    ))
                })?;
                let path = dir.join(&rel);
                let bytes = super::read_file(&path).map_err(|e| {
                    err(format!(
                        "buffer {b}: external buffer {uri:?} ({}): {e}",
                        match &e {
                            MeshError::Io(io) if io.kind() == std::io::ErrorKind::NotFound =>
                                "missing",
                            _ => "unreadable",
                        }
                    ))
                })?;
                self.input_bytes += bytes.len() as u64;
                (Cow::Owned(bytes), format!("file {uri:?}"))
            }
        };
        if data.len() < declared {
            return Err(err(format!(
                "buffer {b} declares {declared} bytes but {whence} holds {} (truncated)",
                data.len()
            )));
        }
        self.buffers[b] = Some(data);
        Ok(())
    }

    /// Appends one placed instance of a primitive to `out`.
    fn emit(&self, p: &Prim, world: &Mat, out: &mut RawMesh) -> Result<(), String> {
        let base = out.vertices.len() as u32;
        let pos = p.positions;
        let data = self.buffers[pos.buffer].as_deref().expect("loaded by slab");
        let m = world;
        let identity = *m == IDENTITY;
        for i in 0..pos.count {
            let at = pos.start + i * pos.stride;
            let c = |k: usize| {
                let o = at + 4 * k;
                f64::from(f32::from_le_bytes([
                    data[o],
                    data[o + 1],
                    data[o + 2],
                    data[o + 3],
                ]))
            };
            let (x, y, z) = (c(0), c(1), c(2));
            out.vertices.push(if identity {
                // As in the file, bit for bit (a NaN stays in its own coordinate).
                [x as f32, y as f32, z as f32]
            } else {
                [0, 1, 2].map(|r| (m[r] * x + m[4 + r] * y + m[8 + r] * z + m[12 + r]) as f32)
            });
        }
        let nv = pos.count;
        let index = |k: usize| -> Result<u32, String> {
            let v = match p.indices {
                None => k,
                Some(s) => {
                    let d = self.buffers[s.buffer].as_deref().expect("loaded by slab");
                    let o = s.start + k * s.stride;
                    match s.kind {
                        DataType::U8 => usize::from(d[o]),
                        DataType::U16 => usize::from(u16::from_le_bytes([d[o], d[o + 1]])),
                        _ => u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]) as usize,
                    }
                }
            };
            if v >= nv {
                return Err(format!(
                    "element {k} of its indices references vertex {v}, outside its {nv} \
                     POSITION vertices"
                ));
            }
            Ok(base + v as u32)
        };
        // A mirroring transform turns the winding over; turn it back.
        let flip = det3(m) < 0.0;
        for t in 0..p.triangles {
            let [a, b, c] = match p.mode {
                Mode::Triangles => [3 * t, 3 * t + 1, 3 * t + 2],
                Mode::TriangleStrip if t % 2 == 0 => [t, t + 1, t + 2],
                Mode::TriangleStrip => [t + 1, t, t + 2],
                _ => [t + 1, t + 2, 0],
            };
            let (a, b, c) = (index(a)?, index(b)?, index(c)?);
            out.triangles.push(if flip { [a, c, b] } else { [a, b, c] });
        }
        Ok(())
    }
}

/// The message of a parse error without its format prefix, for nesting.
fn strip(e: MeshError) -> String {
    match e {
        MeshError::Parse { msg, .. } => msg,
        e => e.to_string(),
    }
}

/// Decodes a base64 `data:` URI.
fn decode_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let (head, data) = uri
        .split_once(',')
        .ok_or("data URI without a comma before its data")?;
    if !head.ends_with(";base64") {
        return Err(format!(
            "data URI {:?} is not base64",
            &head[..head.len().min(60)]
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
mod tests {
    use super::*;
    use crate::mesh::{Mesh, parse_bytes};
    use serde_json::{Value, json};

    const TET: [[f32; 3]; 4] = [
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
    ];
    const TET_TRIS: [u32; 12] = [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3];

    /// A glTF with one buffer, built up accessor by accessor.
    #[derive(Default)]
    struct Build {
        bin: Vec<u8>,
        views: Vec<Value>,
        accessors: Vec<Value>,
        meshes: Vec<Value>,
    }

    impl Build {
        fn view(&mut self, bytes: &[u8]) -> usize {
            self.bin.resize(self.bin.len().next_multiple_of(4), 0);
            self.views.push(
                json!({"buffer": 0, "byteOffset": self.bin.len(), "byteLength": bytes.len()}),
            );
            self.bin.extend_from_slice(bytes);
            self.views.len() - 1
        }
        fn accessor(&mut self, a: Value) -> usize {
            self.accessors.push(a);
            self.accessors.len() - 1
        }
        fn positions(&mut self, v: &[[f32; 3]]) -> usize {
            let bytes: Vec<u8> = v.iter().flatten().flat_map(|c| c.to_le_bytes()).collect();
            let view = self.view(&bytes);
            self.accessor(json!({"bufferView": view, "componentType": 5126, "count": v.len(), "type": "VEC3"}))
        }
        fn indices(&mut self, idx: &[u32], width: usize) -> usize {
            let bytes: Vec<u8> = idx
                .iter()
                .flat_map(|&i| i.to_le_bytes()[..width].to_vec())
                .collect();
            let view = self.view(&bytes);
            let ct = match width {
                1 => 5121,
                2 => 5123,
                _ => 5125,
            };
            self.accessor(json!({"bufferView": view, "componentType": ct, "count": idx.len(), "type": "SCALAR"}))
        }
        fn mesh(&mut self, primitives: Vec<Value>) -> usize {
            self.meshes.push(json!({ "primitives": primitives }));
            self.meshes.len() - 1
        }
        /// The document with these nodes and scenes; `uri` names the buffer (none: GLB).
        fn json(&self, nodes: Value, scenes: Value, uri: Option<&str>) -> Value {
            let mut buffer = json!({"byteLength": self.bin.len()});
            if let Some(u) = uri {
                buffer["uri"] = json!(u);
            }
            json!({
                "asset": {"version": "2.0"},
                "scenes": scenes,
                "nodes": nodes,
                "meshes": self.meshes,
                "accessors": self.accessors,
                "bufferViews": self.views,
                "buffers": [buffer],
            })
        }
    }

    fn prim(pos: usize, indices: Option<usize>, mode: u32) -> Value {
        let mut p = json!({"attributes": {"POSITION": pos}, "mode": mode});
        if let Some(i) = indices {
            p["indices"] = json!(i);
        }
        p
    }

    fn glb(json: &Value, bin: &[u8]) -> Vec<u8> {
        let mut j = serde_json::to_vec(json).unwrap();
        j.resize(j.len().next_multiple_of(4), b' ');
        let mut b = bin.to_vec();
        b.resize(b.len().next_multiple_of(4), 0);
        let total = 12 + 8 + j.len() + if b.is_empty() { 0 } else { 8 + b.len() };
        let mut out = b"glTF".to_vec();
        out.extend(2u32.to_le_bytes());
        out.extend((total as u32).to_le_bytes());
        out.extend((j.len() as u32).to_le_bytes());
        out.extend(CHUNK_JSON.to_le_bytes());
        out.extend(j);
        if !b.is_empty() {
            out.extend((b.len() as u32).to_le_bytes());
            out.extend(CHUNK_BIN.to_le_bytes());
            out.extend(b);
        }
        out
    }

    fn data_uri(bin: &[u8]) -> String {
        use base64::Engine;
        format!(
            "data:application/octet-stream;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bin)
        )
    }

    /// The tetrahedron as one node, one indexed primitive of index width `width`.
    fn tet(width: usize) -> Build {
        let mut b = Build::default();
        let p = b.positions(&TET);
        let i = b.indices(&TET_TRIS, width);
        b.mesh(vec![prim(p, Some(i), 4)]);
        b
    }

    fn one_node() -> (Value, Value) {
        (json!([{"mesh": 0}]), json!([{"nodes": [0]}]))
    }

    fn tet_glb() -> Vec<u8> {
        let b = tet(4);
        let (n, s) = one_node();
        glb(&b.json(n, s, None), &b.bin)
    }

    fn gltf_err(ext: &str, bytes: &[u8]) -> String {
        parse_bytes(ext, bytes).unwrap_err().to_string()
    }

    fn normalised(raw: RawMesh) -> Mesh {
        let (mut m, _) = Mesh::from_raw(raw).unwrap();
        m.normalize();
        m
    }

    #[test]
    fn glb_data_uri_and_external_buffer_give_the_same_mesh() {
        let b = tet(4);
        let (n, s) = one_node();
        let from_glb =
            parse_bytes("glb", &glb(&b.json(n.clone(), s.clone(), None), &b.bin)).unwrap();
        assert_eq!(from_glb.vertices, TET.to_vec());
        assert_eq!(from_glb.triangles.as_flattened(), TET_TRIS);
        let uri = data_uri(&b.bin);
        let text = serde_json::to_vec(&b.json(n.clone(), s.clone(), Some(&uri))).unwrap();
        let from_uri = parse_bytes("gltf", &text).unwrap();
        assert_eq!(from_uri.vertices, from_glb.vertices);
        assert_eq!(from_uri.triangles, from_glb.triangles);
        // External, with a space in its name written %20 as exporters do.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("my tet.bin"), &b.bin).unwrap();
        let text = serde_json::to_vec(&b.json(n, s, Some("my%20tet.bin"))).unwrap();
        let p = d.path().join("t.gltf");
        std::fs::write(&p, &text).unwrap();
        let ext = crate::mesh::load_raw(&p).unwrap();
        assert_eq!(ext.vertices, from_glb.vertices);
        assert_eq!(ext.triangles, from_glb.triangles);
        assert_eq!(
            crate::mesh::linked_files(&p, &text),
            vec![d.path().join("my tet.bin")]
        );
        // Bytes alone cannot reach the folder.
        let e = gltf_err("gltf", &text);
        assert!(e.contains("without the file's folder"), "{e}");
        // Normalised as every other loader: farthest vertex at 1, same area as the OFF.
        let (m, _) = crate::mesh::load(&p).unwrap();
        let (off, _) = crate::mesh::load_bytes(
            Path::new("t.off"),
            b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n",
        )
        .unwrap();
        let r = m.vertices.iter().map(|v| v.length()).fold(0.0, f32::max);
        assert!((r - 1.0).abs() < 1e-6, "{r}");
        assert!((m.area() - off.area()).abs() < 1e-6);
    }

    #[test]
    fn node_transforms_compose_down_the_tree() {
        let mut b = Build::default();
        let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        b.mesh(vec![prim(p, None, 4)]);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        // Parent: scale 2, a quarter turn about z, then 10 along x. Child: a column-major
        // matrix moving 5 along z. Both hold the triangle.
        let mut child = [0.0f32; 16];
        for k in 0..4 {
            child[5 * k] = 1.0;
        }
        child[14] = 5.0;
        let nodes = json!([
            {"mesh": 0, "children": [1], "translation": [10, 0, 0], "rotation": [0, 0, h, h], "scale": [2, 2, 2]},
            {"mesh": 0, "matrix": child},
        ]);
        let m = parse_bytes(
            "glb",
            &glb(&b.json(nodes, json!([{"nodes": [0]}]), None), &b.bin),
        )
        .unwrap();
        let want = [
            [10.0, 0.0, 0.0],
            [10.0, 2.0, 0.0],
            [8.0, 0.0, 0.0],
            [10.0, 0.0, 10.0],
            [10.0, 2.0, 10.0],
            [8.0, 0.0, 10.0],
        ];
        assert_eq!(m.vertices.len(), 6);
        for (v, w) in m.vertices.iter().zip(want) {
            for k in 0..3 {
                assert!((v[k] - w[k]).abs() < 1e-5, "{v:?} != {w:?}");
            }
        }
        assert_eq!(m.triangles, vec![[0, 1, 2], [3, 4, 5]]);
    }

    #[test]
    fn a_skinned_mesh_ignores_its_node_transform() {
        let mut b = Build::default();
        let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        b.mesh(vec![prim(p, None, 4)]);
        let nodes =
            json!([{"mesh": 0, "skin": 0, "translation": [7, 7, 7]}, {"translation": [1, 0, 0]}]);
        let mut j = b.json(nodes, json!([{"nodes": [0, 1]}]), None);
        j["skins"] = json!([{"joints": [1]}]);
        let m = parse_bytes("glb", &glb(&j, &b.bin)).unwrap();
        assert_eq!(m.vertices[1], [1.0, 0.0, 0.0]);
    }

    #[test]
    fn a_mirroring_node_keeps_faces_facing_out() {
        let mut b = Build::default();
        let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        b.mesh(vec![prim(p, None, 4)]);
        let nodes = json!([{"mesh": 0, "scale": [-1, 1, 1]}]);
        let m = parse_bytes(
            "glb",
            &glb(&b.json(nodes, json!([{"nodes": [0]}]), None), &b.bin),
        )
        .unwrap();
        let [a, b_, c] =
            m.triangles[0].map(|i| crate::mesh::Vec3::from_array(m.vertices[i as usize]));
        assert!((b_ - a).cross(c - a).z > 0.0, "winding not restored");
    }

    #[test]
    fn non_indexed_and_every_index_width_agree() {
        let by_width: Vec<RawMesh> = [1, 2, 4]
            .iter()
            .map(|&w| {
                let b = tet(w);
                let (n, s) = one_node();
                parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap()
            })
            .collect();
        for m in &by_width[1..] {
            assert_eq!(m.vertices, by_width[0].vertices);
            assert_eq!(m.triangles, by_width[0].triangles);
        }
        let mut b = Build::default();
        let soup: Vec<[f32; 3]> = TET_TRIS.iter().map(|&i| TET[i as usize]).collect();
        let p = b.positions(&soup);
        b.mesh(vec![prim(p, None, 4)]);
        let (n, s) = one_node();
        let flat = parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap();
        assert_eq!(flat.vertices.len(), 12);
        assert_eq!(flat.triangles.len(), 4);
        let (a, b) = (normalised(flat), normalised(by_width[0].clone()));
        assert!((a.area() - b.area()).abs() < 1e-6);
    }

    #[test]
    fn strips_and_fans_become_triangles_facing_one_way() {
        let quad = [
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [1.0, 1.0, 0.0],
        ];
        let mut b = Build::default();
        let p = b.positions(&quad);
        let fan_order = b.indices(&[0, 1, 3, 2], 2);
        b.mesh(vec![prim(p, None, 5), prim(p, Some(fan_order), 6)]);
        let (n, s) = one_node();
        let m = parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap();
        // Strip 0 1 2 3: [0 1 2], [2 1 3]. Fan 0 1 3 2 over the second copy (base 4): per the
        // specification [v1 v2 v0], [v2 v3 v0].
        assert_eq!(
            m.triangles,
            vec![[0, 1, 2], [2, 1, 3], [5, 7, 4], [7, 6, 4]]
        );
        for t in &m.triangles {
            let [a, b, c] = t.map(|i| crate::mesh::Vec3::from_array(m.vertices[i as usize]));
            assert!((b - a).cross(c - a).z > 0.0, "{t:?} faces the other way");
        }
    }

    #[test]
    fn points_and_lines_are_skipped_and_counted() {
        let mut b = Build::default();
        let p = b.positions(&TET);
        let i = b.indices(&TET_TRIS, 2);
        b.mesh(vec![
            prim(p, None, 0),
            prim(p, Some(i), 1),
            prim(p, Some(i), 4),
            prim(p, None, 3),
        ]);
        let (n, s) = one_node();
        let m = parse_bytes("glb", &glb(&b.json(n.clone(), s.clone(), None), &b.bin)).unwrap();
        assert_eq!(m.triangles.len(), 4);
        b.meshes[0]["primitives"].as_array_mut().unwrap().remove(2);
        let e = gltf_err("glb", &glb(&b.json(n, s, None), &b.bin));
        assert!(
            e.contains("no triangle primitives (3 point/line primitives skipped)"),
            "{e}"
        );
    }

    #[test]
    fn which_nodes_are_placed() {
        let mut b = Build::default();
        let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        b.mesh(vec![prim(p, None, 4)]);
        let nodes = json!([{"mesh": 0}, {"mesh": 0, "translation": [0, 0, 1]}, {"mesh": 0, "children": [0]}]);
        let count = |j: Value| parse_bytes("glb", &glb(&j, &b.bin)).map(|m| m.triangles.len());
        let two_scenes = json!([{"nodes": [2]}, {"nodes": [1, 2]}]);
        // The default scene only; without one, every scene (node 2 placed once); without
        // scenes, every root node; without nodes, every mesh once.
        let mut j = b.json(nodes.clone(), two_scenes.clone(), None);
        j["scene"] = json!(1);
        assert_eq!(count(j).unwrap(), 3);
        assert_eq!(count(b.json(nodes.clone(), two_scenes, None)).unwrap(), 3);
        let mut j = b.json(nodes.clone(), json!([]), None);
        j.as_object_mut().unwrap().remove("scenes");
        assert_eq!(count(j).unwrap(), 3);
        let mut j = b.json(json!([]), json!([]), None);
        j.as_object_mut().unwrap().remove("scenes");
        assert_eq!(count(j).unwrap(), 1);
        // A node with two parents, or a cycle, is not a tree.
        let bad = json!([{"mesh": 0, "children": [1]}, {"children": [0]}, {"children": [1]}]);
        let e = count(b.json(bad, json!([{"nodes": [2]}]), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than one node"), "{e}");
        let cycle = json!([{"mesh": 0, "children": [1]}, {"children": [0]}]);
        let r = count(b.json(cycle, json!([{"nodes": [0]}]), None));
        assert_eq!(r.unwrap(), 1, "a cycle is walked once");
    }

    #[test]
    fn a_scene_instancing_far_more_than_the_file_holds_fails() {
        let mut b = Build::default();
        let soup: Vec<[f32; 3]> = (0..3000)
            .map(|k| [k as f32, (k % 7) as f32, (k % 3) as f32])
            .collect();
        let p = b.positions(&soup);
        b.mesh(vec![prim(p, None, 4)]);
        let nodes: Vec<Value> = (0..5000).map(|_| json!({"mesh": 0})).collect();
        let roots: Vec<usize> = (0..5000).collect();
        let e = gltf_err(
            "glb",
            &glb(
                &b.json(json!(nodes), json!([{"nodes": roots}]), None),
                &b.bin,
            ),
        );
        assert!(e.contains("more geometry than the file holds"), "{e}");
    }

    #[test]
    fn unsupported_content_is_refused_by_name() {
        let b = tet(2);
        let (n, s) = one_node();
        let base = b.json(n, s, None);
        let with = |f: &dyn Fn(&mut Value)| {
            let mut j = base.clone();
            f(&mut j);
            gltf_err("glb", &glb(&j, &b.bin))
        };
        let e = with(&|j| {
            j["extensionsRequired"] = json!([DRACO]);
            j["extensionsUsed"] = json!([DRACO]);
        });
        assert!(e.contains("Draco"), "{e}");
        let e = with(&|j| j["extensionsRequired"] = json!(["EXT_meshopt_compression"]));
        assert!(e.contains("meshopt"), "{e}");
        let e = with(&|j| j["extensionsRequired"] = json!(["EXT_made_up"]));
        assert!(e.contains("requires extension EXT_made_up"), "{e}");
        // Required but harmless: materials.
        let mut j = base.clone();
        j["extensionsRequired"] = json!(["KHR_materials_unlit"]);
        assert!(parse_bytes("glb", &glb(&j, &b.bin)).is_ok());
        let e = with(&|j| {
            j["extensionsUsed"] = json!([DRACO]);
            j["accessors"][0]
                .as_object_mut()
                .unwrap()
                .remove("bufferView");
        });
        assert!(
            e.contains("bufferView: Missing data") && e.contains("Draco"),
            "{e}"
        );
        let e = with(
            &|j| j["accessors"][0]["sparse"] = json!({"count": 1, "indices": {"bufferView": 1, "componentType": 5123}, "values": {"bufferView": 0}}),
        );
        assert!(e.contains("sparse"), "{e}");
        let e = with(&|j| {
            j["accessors"][0]["componentType"] = json!(5123);
            j["accessors"][0]["normalized"] = json!(true);
        });
        assert!(e.contains("positions must be float VEC3"), "{e}");
        let e = with(&|j| j["accessors"][1]["componentType"] = json!(5126));
        assert!(e.contains("indices must be unsigned"), "{e}");
        let e = with(&|j| j["asset"]["version"] = json!("1.0"));
        assert!(e.contains("only glTF 2.0"), "{e}");
        let e = with(&|j| j["meshes"][0]["primitives"][0]["indices"] = json!(7));
        assert!(e.contains("invalid document"), "{e}");
        // gltf-json's own validation would index past the accessors here (found by fuzzing).
        let e = with(&|j| j["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = json!(9));
        assert!(e.contains("accessor 9 does not exist"), "{e}");
    }

    #[test]
    fn claims_beyond_the_data_fail_before_allocating() {
        let b = tet(2);
        let (n, s) = one_node();
        let mut j = b.json(n, s, None);
        j["accessors"][0]["count"] = json!(1_000_000_000_000u64);
        let e = gltf_err("glb", &glb(&j, &b.bin));
        assert!(
            e.contains("claims 1000000000000 elements") && e.contains("bufferView 0"),
            "{e}"
        );
        let mut j2 = b.json(one_node().0, one_node().1, None);
        j2["bufferViews"][0]["byteLength"] = json!(1u64 << 40);
        let e = gltf_err("glb", &glb(&j2, &b.bin));
        assert!(e.contains("runs past the end of buffer 0"), "{e}");
        let mut j3 = b.json(one_node().0, one_node().1, None);
        j3["buffers"][0]["byteLength"] = json!(1u64 << 40);
        let e = gltf_err("glb", &glb(&j3, &b.bin));
        assert!(e.contains("declares 1099511627776 bytes"), "{e}");
    }

    #[test]
    fn json_listing_empty_objects_is_refused_before_it_is_built() {
        let nodes = vec!["{}"; 100_000].join(",");
        let text = format!("{{\"asset\":{{\"version\":\"2.0\"}},\"nodes\":[{nodes}]}}");
        let e = gltf_err("gltf", text.as_bytes());
        assert!(
            e.contains("100000 objects") && e.contains("not a real scene"),
            "{e}"
        );
    }

    #[test]
    fn bad_indices_and_positions() {
        let mut b = tet(2);
        // Index 3 of the last triangle becomes 9.
        let at = b.bin.len() - 2;
        b.bin[at] = 9;
        let (n, s) = one_node();
        let e = gltf_err("glb", &glb(&b.json(n.clone(), s.clone(), None), &b.bin));
        assert!(e.contains("references vertex 9, outside its 4"), "{e}");
        let mut b = tet(2);
        b.bin[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        let raw = parse_bytes("glb", &glb(&b.json(n, s, None), &b.bin)).unwrap();
        let e = Mesh::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }

    #[test]
    fn broken_containers() {
        let good = tet_glb();
        let e = gltf_err("glb", &good[..good.len() - 10]);
        assert!(e.contains("truncated"), "{e}");
        let e = gltf_err("glb", &good[..15]);
        assert!(e.contains("truncated"), "{e}");
        let mut bad = good.clone();
        bad[..4].copy_from_slice(b"glTf");
        assert!(gltf_err("glb", &bad).contains("magic"));
        let mut bad = good.clone();
        bad[4] = 1;
        assert!(gltf_err("glb", &bad).contains("GLB version 1"));
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&5u32.to_le_bytes());
        assert!(gltf_err("glb", &bad).contains("length"));
        let mut bad = good.clone();
        bad[20..24].copy_from_slice(b"@@@@");
        assert!(gltf_err("glb", &bad).contains("JSON"));
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(b"XXXX");
        assert!(gltf_err("glb", &bad).contains("not JSON"));
        // A GLB named .gltf is still a GLB.
        assert!(parse_bytes("gltf", &good).is_ok());
        assert!(gltf_err("gltf", b"{\"asset\": ").contains("JSON"));
    }

    #[test]
    fn external_uris_stay_in_the_folder() {
        for (uri, why) in [
            ("../up.bin", "'..'"),
            ("a/../../up.bin", "'..'"),
            ("/etc/passwd", "absolute"),
            ("%2Fetc%2Fpasswd", "absolute"),
            ("http://example.com/x.bin", "scheme"),
            ("file:///x.bin", "scheme"),
            ("C:\\x.bin", "scheme or drive"),
        ] {
            let e = relative_path(uri).unwrap_err();
            assert!(e.contains(why), "{uri}: {e}");
        }
        assert_eq!(
            relative_path("sub/a%20b.bin").unwrap(),
            PathBuf::from("sub/a b.bin")
        );
        let d = tempfile::tempdir().unwrap();
        let b = tet(2);
        let (n, s) = one_node();
        for (uri, want) in [("gone.bin", "missing"), ("dir.bin", "not a regular file")] {
            std::fs::create_dir_all(d.path().join("dir.bin")).unwrap();
            let p = d.path().join("t.gltf");
            std::fs::write(
                &p,
                serde_json::to_vec(&b.json(n.clone(), s.clone(), Some(uri))).unwrap(),
            )
            .unwrap();
            let e = crate::mesh::load(&p).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(uri), "{e}");
        }
    }
}
