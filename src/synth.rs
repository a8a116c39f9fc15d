//! Procedurally modelled shapes for the built-in demo and the tests: mugs against look-alikes
//! without a handle (cup, glass, bowl, bottle, vase) and unrelated furniture (table, chair, lamp),
//! random in proportions, tessellation and heading, written in the ModelNet layout in the four
//! classic formats (and, on request, glTF).

use std::f32::consts::{PI, TAU};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::mesh::{Mesh, RawMesh, Vec3};

/// The classes `synth` writes; `mug` is the seed's own case.
pub const CLASSES: [&str; 9] = [
    "bottle", "bowl", "chair", "cup", "glass", "lamp", "mug", "table", "vase",
];

/// A class of synthetic shape: what [`shape`] can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShapeClass {
    /// A narrow-necked revolved shell.
    Bottle,
    /// A wide shallow shell.
    Bowl,
    /// Four legs, a seat and a back.
    Chair,
    /// A tapered shell without a handle: a mug's look-alike.
    Cup,
    /// A tall thin shell.
    Glass,
    /// A base, a stem and a shade.
    Lamp,
    /// A shell with a handle.
    Mug,
    /// Four legs and a top.
    Table,
    /// A revolved bulging shell.
    Vase,
}

impl std::fmt::Display for ShapeClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ShapeClass {
    /// Every class, in [`CLASSES`] order (folder names sort the same way).
    pub const ALL: [ShapeClass; 9] = [
        ShapeClass::Bottle,
        ShapeClass::Bowl,
        ShapeClass::Chair,
        ShapeClass::Cup,
        ShapeClass::Glass,
        ShapeClass::Lamp,
        ShapeClass::Mug,
        ShapeClass::Table,
        ShapeClass::Vase,
    ];

    /// The folder name.
    pub fn name(self) -> &'static str {
        CLASSES[self as usize]
    }

    /// The class with this folder name, if there is one.
    pub fn parse(name: &str) -> Option<ShapeClass> {
        CLASSES
            .iter()
            .position(|c| *c == name)
            .map(|i| ShapeClass::ALL[i])
    }
}

/// Accumulates triangles from primitives.
#[derive(Default)]
struct Builder {
    v: Vec<[f32; 3]>,
    t: Vec<[u32; 3]>,
}

impl Builder {
    fn vert(&mut self, p: Vec3) -> u32 {
        self.v.push(p.to_array());
        (self.v.len() - 1) as u32
    }

    /// Revolves a profile of (radius, height) points about +z with `seg` segments. Points with
    /// radius 0 become single pole vertices. Facing follows the profile's direction: walking the
    /// profile from the bottom axis out and up gives outward normals.
    fn revolve(&mut self, profile: &[(f32, f32)], seg: usize) {
        let rings: Vec<Vec<u32>> = profile
            .iter()
            .map(|&(r, z)| {
                if r <= 1e-6 {
                    vec![self.vert(Vec3::new(0.0, 0.0, z))]
                } else {
                    (0..seg)
                        .map(|k| {
                            let a = k as f32 / seg as f32 * TAU;
                            self.vert(Vec3::new(r * a.cos(), r * a.sin(), z))
                        })
                        .collect()
                }
            })
            .collect();
        for w in rings.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            for k in 0..seg {
                let k1 = (k + 1) % seg;
                match (a.len(), b.len()) {
                    (1, 1) => {}
                    (1, _) => self.t.push([a[0], b[k1], b[k]]),
                    (_, 1) => self.t.push([a[k], a[k1], b[0]]),
                    _ => {
                        self.t.push([a[k], a[k1], b[k1]]);
                        self.t.push([a[k], b[k1], b[k]]);
                    }
                }
            }
        }
    }

    /// An axis-aligned box.
    fn cuboid(&mut self, c: Vec3, h: Vec3) {
        let b = self.v.len() as u32;
        for k in 0..8 {
            let s = Vec3::new(
                if k & 1 == 0 { -1.0 } else { 1.0 },
                if k & 2 == 0 { -1.0 } else { 1.0 },
                if k & 4 == 0 { -1.0 } else { 1.0 },
            );
            self.vert(c + s * h);
        }
        for f in [
            [0, 2, 3, 1],
            [4, 5, 7, 6],
            [0, 1, 5, 4],
            [2, 6, 7, 3],
            [0, 4, 6, 2],
            [1, 3, 7, 5],
        ] {
            self.t.push([b + f[0], b + f[1], b + f[2]]);
            self.t.push([b + f[0], b + f[2], b + f[3]]);
        }
    }

    /// A closed cylinder from `base` upwards.
    fn cylinder(&mut self, base: Vec3, r: f32, h: f32, seg: usize) {
        let start = self.v.len();
        self.revolve(&[(0.0, 0.0), (r, 0.0), (r, h), (0.0, h)], seg);
        for p in &mut self.v[start..] {
            p[0] += base.x;
            p[1] += base.y;
            p[2] += base.z;
        }
    }

    /// A capped tube of radius `r` swept along a polyline.
    fn tube(&mut self, path: &[Vec3], r: f32, seg: usize) {
        let mut rings = Vec::new();
        for (i, &p) in path.iter().enumerate() {
            let d = if i + 1 < path.len() {
                path[i + 1] - p
            } else {
                p - path[i - 1]
            }
            .normalize();
            let (u, w) = d.any_orthonormal_pair();
            let ring: Vec<u32> = (0..seg)
                .map(|k| {
                    let a = k as f32 / seg as f32 * TAU;
                    self.vert(p + (u * a.cos() + w * a.sin()) * r)
                })
                .collect();
            rings.push(ring);
        }
        for w in rings.windows(2) {
            for k in 0..seg {
                let k1 = (k + 1) % seg;
                self.t.push([w[0][k], w[0][k1], w[1][k1]]);
                self.t.push([w[0][k], w[1][k1], w[1][k]]);
            }
        }
        let (first, last) = (rings[0].clone(), rings[rings.len() - 1].clone());
        for k in 1..seg - 1 {
            self.t.push([first[0], first[k + 1], first[k]]);
            self.t.push([last[0], last[k], last[k + 1]]);
        }
    }

    fn finish(self, rng: &mut ChaCha8Rng) -> RawMesh {
        // A random heading about the up axis: classes must not be told apart by pose.
        let yaw = rng.random::<f32>() * TAU;
        let (s, c) = yaw.sin_cos();
        RawMesh {
            vertices: self
                .v
                .iter()
                .map(|&[x, y, z]| [c * x - s * y, s * x + c * y, z])
                .collect(),
            triangles: self.t,
        }
    }
}

fn between(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Profile of an open-topped shell of revolution: outer wall from bottom radius `rb` to top
/// radius `rt` over height `h`, wall thickness `th`; `bulge` bows the wall outwards.
fn shell_profile(rb: f32, rt: f32, h: f32, th: f32, bulge: f32, rings: usize) -> Vec<(f32, f32)> {
    let wall = |t: f32| rb + (rt - rb) * t + bulge * (PI * t).sin();
    let mut p = vec![(0.0, 0.0)];
    for i in 0..=rings {
        let t = i as f32 / rings as f32;
        p.push((wall(t), h * t));
    }
    for i in (0..=rings).rev() {
        let t = i as f32 / rings as f32;
        let z = th + (h - th) * t;
        p.push(((wall(t) - th).max(th * 0.5), z));
    }
    p.push((0.0, th));
    p
}

/// Builds one random shape of `class`.
pub fn shape(class: ShapeClass, rng: &mut ChaCha8Rng) -> RawMesh {
    use ShapeClass as C;
    let mut b = Builder::default();
    let seg = rng.random_range(12..40);
    let rings = rng.random_range(3..12);
    match class {
        C::Mug | C::Cup => {
            let r = between(rng, 0.35, 0.5);
            let h = between(rng, 0.8, 1.2);
            let th = between(rng, 0.03, 0.06);
            let taper = if class == C::Cup {
                between(rng, 0.0, 0.25)
            } else {
                between(rng, -0.03, 0.05)
            };
            b.revolve(&shell_profile(r, r * (1.0 + taper), h, th, 0.0, rings), seg);
            if class == C::Mug {
                let (z0, z1) = (h * between(rng, 0.15, 0.3), h * between(rng, 0.7, 0.85));
                let reach = r * between(rng, 0.45, 0.8);
                let n = rng.random_range(6..14);
                let path: Vec<Vec3> = (0..=n)
                    .map(|i| {
                        let a = i as f32 / n as f32 * PI;
                        let zc = 0.5 * (z0 + z1);
                        Vec3::new(
                            r - th * 0.5 + reach * a.sin(),
                            0.0,
                            zc - 0.5 * (z1 - z0) * a.cos(),
                        )
                    })
                    .collect();
                b.tube(&path, r * between(rng, 0.07, 0.12), rng.random_range(6..12));
            }
        }
        C::Glass => {
            let r = between(rng, 0.25, 0.35);
            let h = between(rng, 1.4, 2.0);
            b.revolve(
                &shell_profile(
                    r,
                    r * between(rng, 1.0, 1.35),
                    h,
                    between(rng, 0.015, 0.03),
                    0.0,
                    rings,
                ),
                seg,
            );
        }
        C::Bowl => {
            let r = between(rng, 0.8, 1.0);
            let depth = between(rng, 0.35, 0.6);
            let th = between(rng, 0.03, 0.06);
            let n = rings + 4;
            let mut p = vec![(0.0, 0.0)];
            let foot = between(rng, 0.2, 0.4);
            for i in 0..=n {
                let t = i as f32 / n as f32;
                p.push((
                    foot + (r - foot) * (t * PI / 2.0).sin(),
                    depth * (1.0 - (t * PI / 2.0).cos()),
                ));
            }
            for i in (0..=n).rev() {
                let t = i as f32 / n as f32;
                p.push((
                    ((foot + (r - foot) * (t * PI / 2.0).sin()) - th).max(th),
                    th + (depth - th) * (1.0 - (t * PI / 2.0).cos()),
                ));
            }
            p.push((0.0, th));
            b.revolve(&p, seg);
        }
        C::Bottle => {
            let r = between(rng, 0.25, 0.4);
            let h = between(rng, 1.0, 1.6);
            let neck = r * between(rng, 0.25, 0.4);
            let shoulder = h * between(rng, 0.55, 0.7);
            let top = h * between(rng, 1.3, 1.5);
            let mut p = vec![(0.0, 0.0), (r, 0.0), (r, shoulder)];
            for i in 1..rings.max(3) {
                let t = i as f32 / rings.max(3) as f32;
                p.push((
                    neck + (r - neck) * (1.0 - t * t),
                    shoulder + (h - shoulder) * t,
                ));
            }
            p.extend([
                (neck, h),
                (neck, top),
                (neck * 1.2, top),
                (neck * 1.2, top + 0.04),
                (0.0, top + 0.04),
            ]);
            b.revolve(&p, seg);
        }
        C::Vase => {
            let r = between(rng, 0.3, 0.45);
            let h = between(rng, 1.2, 1.8);
            let bulge = between(rng, 0.15, 0.35);
            let mouth = r * between(rng, 0.6, 1.1);
            b.revolve(
                &shell_profile(
                    r * 0.7,
                    mouth,
                    h,
                    between(rng, 0.02, 0.04),
                    bulge,
                    rings + 6,
                ),
                seg,
            );
        }
        C::Table => {
            let (w, d) = (between(rng, 0.8, 1.4), between(rng, 0.5, 1.0));
            let h = between(rng, 0.6, 0.9);
            let top = between(rng, 0.03, 0.07);
            b.cuboid(
                Vec3::new(0.0, 0.0, h),
                Vec3::new(w / 2.0, d / 2.0, top / 2.0),
            );
            let leg = between(rng, 0.03, 0.06);
            let inset = between(rng, 0.85, 0.95);
            for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let c = Vec3::new(sx * w / 2.0 * inset, sy * d / 2.0 * inset, h / 2.0);
                b.cuboid(c, Vec3::new(leg, leg, h / 2.0));
            }
        }
        C::Chair => {
            let w = between(rng, 0.45, 0.6);
            let h = between(rng, 0.4, 0.5);
            let leg = between(rng, 0.02, 0.04);
            b.cuboid(Vec3::new(0.0, 0.0, h), Vec3::new(w / 2.0, w / 2.0, 0.03));
            for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let c = Vec3::new(sx * (w / 2.0 - leg), sy * (w / 2.0 - leg), h / 2.0);
                b.cuboid(c, Vec3::new(leg, leg, h / 2.0));
            }
            let back = between(rng, 0.4, 0.6);
            b.cuboid(
                Vec3::new(0.0, -w / 2.0 + 0.02, h + back / 2.0),
                Vec3::new(w / 2.0, 0.02, back / 2.0),
            );
        }
        C::Lamp => {
            let base = between(rng, 0.25, 0.4);
            b.cylinder(Vec3::ZERO, base, 0.05, seg);
            let pole = between(rng, 0.9, 1.4);
            b.cylinder(Vec3::new(0.0, 0.0, 0.05), 0.025, pole, seg.min(16));
            let (r0, r1) = (between(rng, 0.3, 0.45), between(rng, 0.12, 0.25));
            let hs = between(rng, 0.3, 0.45);
            let z0 = pole - hs * 0.5;
            let th = 0.015;
            // An open conical shade: outer surface then inner, joined at both rims.
            let p = [(r0, z0), (r1, z0 + hs), (r1 - th, z0 + hs), (r0 - th, z0)];
            let mut q = p.to_vec();
            q.push(p[0]);
            b.revolve(&q, seg);
        }
    }
    b.finish(rng)
}

/// A unit icosphere subdivided `level` times, for tests and as a reference shape.
pub fn icosphere(level: u32) -> Mesh {
    let t = (1.0 + 5f32.sqrt()) / 2.0;
    let mut v: Vec<Vec3> = [
        (-1.0, t, 0.0),
        (1.0, t, 0.0),
        (-1.0, -t, 0.0),
        (1.0, -t, 0.0),
        (0.0, -1.0, t),
        (0.0, 1.0, t),
        (0.0, -1.0, -t),
        (0.0, 1.0, -t),
        (t, 0.0, -1.0),
        (t, 0.0, 1.0),
        (-t, 0.0, -1.0),
        (-t, 0.0, 1.0),
    ]
    .iter()
    .map(|&(x, y, z)| Vec3::new(x, y, z).normalize())
    .collect();
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    for _ in 0..level {
        let mut mid = std::collections::HashMap::new();
        let mut next = Vec::with_capacity(f.len() * 4);
        let mut m = |a: u32, b: u32, v: &mut Vec<Vec3>| -> u32 {
            *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                v.push(((v[a as usize] + v[b as usize]) * 0.5).normalize());
                (v.len() - 1) as u32
            })
        };
        for [a, b, c] in f {
            let (ab, bc, ca) = (m(a, b, &mut v), m(b, c, &mut v), m(c, a, &mut v));
            next.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        f = next;
    }
    Mesh {
        vertices: v,
        triangles: f,
    }
}

/// Writes `mesh` in the format of `path`'s extension (off, obj, stl binary, ply binary, glb,
/// gltf with its buffer in a data URI).
/// `glued_off_header` writes ModelNet's `OFF<nv> <nf> 0` header on one line.
pub fn write_mesh(path: &Path, mesh: &RawMesh, glued_off_header: bool) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
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

/// Splits every triangle into four at its edge midpoints, `levels` times: the same shape with
/// 4^levels times the triangles, for benchmarks at realistic mesh sizes.
pub fn subdivide(mut mesh: RawMesh, levels: u32) -> RawMesh {
    for _ in 0..levels {
        let mut mid: std::collections::HashMap<(u32, u32), u32> = std::collections::HashMap::new();
        let mut tris = Vec::with_capacity(mesh.triangles.len() * 4);
        let v = &mut mesh.vertices;
        let mut m = |a: u32, b: u32| -> u32 {
            *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                let (p, q) = (v[a as usize], v[b as usize]);
                v.push([
                    (p[0] + q[0]) / 2.0,
                    (p[1] + q[1]) / 2.0,
                    (p[2] + q[2]) / 2.0,
                ]);
                (v.len() - 1) as u32
            })
        };
        for &[a, b, c] in &mesh.triangles {
            let (ab, bc, ca) = (m(a, b), m(b, c), m(c, a));
            tris.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        mesh.triangles = tris;
    }
    mesh
}

/// Most triangles one synthetic mesh may have after subdivision (about 800 MB as binary STL).
pub const MAX_TRIANGLES: u64 = 16_000_000;

/// Refuses, up front, a subdivision level whose meshes would not fit in memory or on disk,
/// saying how many triangles it would make.
pub fn check_size(per_class: usize, levels: u32) -> Result<(), String> {
    let base = ShapeClass::ALL
        .iter()
        .map(|c| shape(*c, &mut ChaCha8Rng::seed_from_u64(0)).triangles.len() as u64)
        .max()
        .unwrap_or(0);
    let per_mesh = base.saturating_mul(4u64.saturating_pow(levels));
    if per_mesh > MAX_TRIANGLES {
        return Err(format!(
            "--subdivide {levels} would make meshes of about {per_mesh} triangles each ({} in all); at most {MAX_TRIANGLES} triangles per mesh are allowed",
            per_mesh.saturating_mul((per_class * CLASSES.len()) as u64)
        ));
    }
    Ok(())
}

/// Whether shape `i` of `per_class` goes to the test split: one in five, and at least one per
/// class whenever a class has two or more shapes.
fn is_test(i: usize, per_class: usize) -> bool {
    i % 5 == 4 || ((2..5).contains(&per_class) && i == per_class - 1)
}

/// The formats [`write_dataset`] cycles through: the demo's dataset, unchanged since before
/// glTF, depends on this order.
pub const DEFAULT_FORMATS: [&str; 4] = ["off", "obj", "stl", "ply"];

/// Every format [`write_mesh`] writes.
pub const WRITABLE_FORMATS: [&str; 6] = ["off", "obj", "stl", "ply", "glb", "gltf"];

/// Writes `per_class` shapes of every class under `dir/<class>/{train,test}/` (one in five to
/// test, at least one per class), cycling through [`DEFAULT_FORMATS`], each subdivided `levels`
/// times. Returns the files written.
pub fn write_dataset(
    dir: &Path,
    per_class: usize,
    seed: u64,
    levels: u32,
) -> std::io::Result<Vec<PathBuf>> {
    write_dataset_in(dir, per_class, seed, levels, &DEFAULT_FORMATS)
}

/// [`write_dataset`] cycling through `formats` (each one of [`WRITABLE_FORMATS`]): shape `i` of
/// a class is written as `formats[i % formats.len()]`. The shapes are the same whatever the
/// formats; only their files differ.
pub fn write_dataset_in(
    dir: &Path,
    per_class: usize,
    seed: u64,
    levels: u32,
    formats: &[&str],
) -> std::io::Result<Vec<PathBuf>> {
    if formats.is_empty() || formats.iter().any(|f| !WRITABLE_FORMATS.contains(f)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "formats {formats:?}: expected one or more of {}",
                WRITABLE_FORMATS.join(", ")
            ),
        ));
    }
    // Never written over a user's files (a ModelNet folder holds `chair/train/chair_0001.off`
    // too), and never by two runs at once.
    // Checked before the lock file is made (a refused folder is left exactly as it was) and
    // again under the lock (another run may have started writing in between).
    let foreign = || {
        std::fs::read_dir(dir)
            .is_ok_and(|r| r.flatten().any(|e| e.file_name() != crate::io::LOCK_FILE))
    };
    let refused = foreign();
    let _lock = if refused {
        None
    } else {
        Some(crate::io::FolderLock::acquire(dir).map_err(std::io::Error::other)?)
    };
    if refused || foreign() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} is not empty: synth writes only into a new or empty folder, so no file of yours is replaced",
                dir.display()
            ),
        ));
    }
    let mut written = Vec::new();
    for (ci, &kind) in ShapeClass::ALL.iter().enumerate() {
        let class = kind.name();
        let mut rng = crate::seeding::rng(seed, crate::seeding::Stream::SynthClass(ci));
        for i in 0..per_class {
            let split = if is_test(i, per_class) {
                "test"
            } else {
                "train"
            };
            let ext = formats[i % formats.len()];
            let sub = dir.join(class).join(split);
            std::fs::create_dir_all(&sub)?;
            let path = sub.join(format!("{class}_{i:04}.{ext}"));
            let mesh = subdivide(shape(kind, &mut rng), levels);
            write_mesh(&path, &mesh, i % 8 == 0)?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_builds_a_valid_outward_mesh() {
        for class in ShapeClass::ALL {
            for s in 0..3 {
                let mut rng = ChaCha8Rng::seed_from_u64(s);
                let raw = shape(class, &mut rng);
                let (mut m, _) = Mesh::from_raw(raw).unwrap_or_else(|e| panic!("{class}: {e}"));
                m.normalize();
                assert!(m.signed_volume() > 0.0, "{class} faces inwards");
            }
        }
    }

    #[test]
    fn every_class_gets_a_test_shape_and_huge_sizes_are_refused() {
        for n in 2..12 {
            let tests = (0..n).filter(|&i| is_test(i, n)).count();
            assert!(tests >= 1 && tests < n, "{n} shapes: {tests} test");
        }
        // The demo's split (40 per class) is unchanged: every fifth shape.
        assert_eq!((0..40).filter(|&i| is_test(i, 40)).count(), 8);
        assert!(check_size(40, 2).is_ok());
        let e = check_size(40, 20).unwrap_err();
        assert!(e.contains("triangles"), "{e}");
        assert!(check_size(1, 40).is_err(), "no overflow");
    }

    #[test]
    fn subdivision_keeps_the_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let raw = shape(ShapeClass::Mug, &mut rng);
        let (a, _) = Mesh::from_raw(raw.clone()).unwrap();
        let fine = subdivide(raw.clone(), 2);
        assert_eq!(fine.triangles.len(), raw.triangles.len() * 16);
        let (b, _) = Mesh::from_raw(fine).unwrap();
        assert!((a.area() - b.area()).abs() < 1e-3 * a.area());
        assert!((a.signed_volume() - b.signed_volume()).abs() < 1e-3 * a.signed_volume().abs());
    }

    #[test]
    fn gltf_round_trips_and_default_formats_are_unchanged() {
        let raw = shape(ShapeClass::Mug, &mut ChaCha8Rng::seed_from_u64(2));
        let d = tempfile::tempdir().unwrap();
        for ext in ["glb", "gltf"] {
            let p = d.path().join(format!("m.{ext}"));
            write_mesh(&p, &raw, false).unwrap();
            let back = crate::mesh::load_raw(&p).unwrap();
            assert_eq!(back.vertices, raw.vertices, "{ext}");
            assert_eq!(back.triangles, raw.triangles, "{ext}");
        }
        // The default cycle is the one the demo dataset was made with.
        let a = write_dataset(&d.path().join("a"), 5, 1, 0).unwrap();
        let ext = |p: &PathBuf| p.extension().unwrap().to_str().unwrap().to_string();
        let cups: Vec<String> = a
            .iter()
            .filter(|p| p.starts_with(d.path().join("a/cup")))
            .map(ext)
            .collect();
        assert_eq!(cups, ["off", "obj", "stl", "ply", "off"]);
        // Other formats: the same shapes in other files.
        let b = write_dataset_in(&d.path().join("b"), 5, 1, 0, &["glb", "gltf"]).unwrap();
        assert_eq!(b.iter().filter(|p| ext(p) == "glb").count(), 27);
        for (pa, pb) in a.iter().zip(&b) {
            let area = |p: &Path| {
                Mesh::from_raw(crate::mesh::load_raw(p).unwrap())
                    .unwrap()
                    .0
                    .area()
            };
            let (x, y) = (area(pa), area(pb));
            assert!((x - y).abs() <= 1e-6 * x, "{}: {x} vs {y}", pb.display());
        }
        assert!(write_dataset_in(&d.path().join("c"), 1, 1, 0, &["fbx"]).is_err());
        assert!(write_dataset_in(&d.path().join("c"), 1, 1, 0, &[]).is_err());
    }

    #[test]
    fn icosphere_is_closed_and_round() {
        let m = icosphere(3);
        assert_eq!(m.triangles.len(), 20 * 64);
        let vol = m.signed_volume();
        assert!(
            (vol - 4.0 / 3.0 * std::f64::consts::PI).abs() < 0.05,
            "{vol}"
        );
    }
}
