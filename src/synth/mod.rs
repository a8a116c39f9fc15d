//! Procedurally modelled shapes for the built-in demo and the tests: mugs against look-alikes
//! without a handle (cup, glass, bowl, bottle, vase) and unrelated furniture (table, chair, lamp),
//! random in proportions, tessellation and heading, written in the ModelNet layout in the four
//! classic formats (and, on request, glTF).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::mesh::RawMesh;

mod realistic;
mod shapes;
mod write;

pub use realistic::perturb;

#[cfg(test)]
pub(crate) use shapes::cuboid;
pub use shapes::{icosphere, shape};
pub use write::{glb_bytes, gltf_bytes, write_mesh};

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
    /// A chair without its back (realistic set only).
    Stool,
    /// A mug with a spout (realistic set only).
    Pitcher,
    /// A table with a drawer under its top (realistic set only).
    Desk,
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

    /// The classes of the realistic set ([`SynthOptions::realistic`]): [`Self::ALL`] and three
    /// that differ from one of them only in a part (stool from chair, pitcher from mug, desk
    /// from table).
    pub const REALISTIC: [ShapeClass; 12] = [
        ShapeClass::Bottle,
        ShapeClass::Bowl,
        ShapeClass::Chair,
        ShapeClass::Cup,
        ShapeClass::Glass,
        ShapeClass::Lamp,
        ShapeClass::Mug,
        ShapeClass::Table,
        ShapeClass::Vase,
        ShapeClass::Stool,
        ShapeClass::Pitcher,
        ShapeClass::Desk,
    ];

    /// The folder name.
    pub fn name(self) -> &'static str {
        match self {
            ShapeClass::Stool => "stool",
            ShapeClass::Pitcher => "pitcher",
            ShapeClass::Desk => "desk",
            c => CLASSES[c as usize],
        }
    }

    /// The class with this folder name, if there is one.
    pub fn parse(name: &str) -> Option<ShapeClass> {
        Self::REALISTIC.into_iter().find(|c| c.name() == name)
    }
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
    let base = ShapeClass::REALISTIC
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
    write_dataset_with(
        dir,
        &SynthOptions {
            per_class,
            seed,
            levels,
            formats: formats.iter().map(|f| f.to_string()).collect(),
            realistic: false,
        },
    )
}

/// What [`write_dataset_with`] writes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SynthOptions {
    /// Shapes per class (one in five to test, at least one per class).
    pub per_class: usize,
    /// Seed for every shape.
    pub seed: u64,
    /// Times every triangle is split into four.
    pub levels: u32,
    /// Formats cycled through shape by shape (each one of [`WRITABLE_FORMATS`]).
    pub formats: Vec<String>,
    /// The realistic regime: the twelve classes of [`ShapeClass::REALISTIC`], each shape
    /// scaled unevenly, roughened, sometimes holed or given a non-manifold fin, and turned to an
    /// arbitrary 3D orientation (see [`perturb`]); a development set that is hard the way real
    /// collections are.
    pub realistic: bool,
}

/// Writes a dataset as `opts` says under `dir/<class>/{train,test}/`; returns the files written.
/// `dir` must be new or empty.
pub fn write_dataset_with(dir: &Path, opts: &SynthOptions) -> std::io::Result<Vec<PathBuf>> {
    let (per_class, seed, levels) = (opts.per_class, opts.seed, opts.levels);
    let formats: Vec<&str> = opts.formats.iter().map(String::as_str).collect();
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
    let classes: &[ShapeClass] = if opts.realistic {
        &ShapeClass::REALISTIC
    } else {
        &ShapeClass::ALL
    };
    for (ci, &kind) in classes.iter().enumerate() {
        let class = kind.name();
        let mut rng = crate::seeding::rng(seed, crate::seeding::Stream::SynthClass(ci));
        let mut pose = crate::seeding::rng(seed, crate::seeding::Stream::SynthPose(ci));
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
            let mut mesh = shape(kind, &mut rng);
            if opts.realistic {
                mesh = perturb(mesh, &mut pose);
            }
            let mesh = subdivide(mesh, levels);
            write_mesh(&path, &mesh, i % 8 == 0)?;
            written.push(path);
        }
    }
    // Written last: a dataset with this record is complete, and says what it was made with.
    crate::io::write_json_atomic(
        &dir.join(RECORD_FILE),
        &Record {
            tool: "shapeclf".into(),
            options: opts.clone(),
            files: written.len(),
        },
    )?;
    Ok(written)
}

/// The file [`write_dataset_with`] writes into the dataset's root once every mesh is written:
/// the options it was made with. Hidden, and not named as a mesh, so neither shapeclf nor a
/// script walking the dataset's files takes it for one.
pub const RECORD_FILE: &str = ".shapeclf-synth.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    tool: String,
    options: SynthOptions,
    files: usize,
}

/// The options a complete synthetic dataset in `dir` was written with; `None` when `dir` holds
/// no readable record (never written by `synth`, interrupted, or written before records were
/// kept).
pub fn recorded(dir: &Path) -> Option<SynthOptions> {
    let bytes = std::fs::read(dir.join(RECORD_FILE)).ok()?;
    let r: Record = serde_json::from_slice(&bytes).ok()?;
    (r.tool == "shapeclf").then_some(r.options)
}

#[cfg(test)]
mod tests;
