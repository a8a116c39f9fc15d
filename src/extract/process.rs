//! One mesh file through loading, descriptors and views, with panics and oversize meshes
//! turned into errors.

use super::*;
use crate::mesh::RawMesh;

/// One mesh processed: its descriptors, what loading found, its triangle count.
pub struct MeshFeatures {
    /// Descriptor values and SDF counts.
    pub descriptors: Descriptors,
    /// Clean-up counts.
    pub load: LoadStats,
    /// Triangles after clean-up.
    pub triangles: usize,
}

/// Loads one mesh file and computes its descriptors. `seed` is the run's seed; each random
/// draw uses the mesh's own seed derived from it and the file's content ([`dataset::mesh_seed`]), so
/// the numbers are those `features` computes for the same file under any path.
pub fn process_file(
    path: &Path,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
) -> Result<MeshFeatures, MeshError> {
    process_file_with_views(path, cfg, seed, max_faces, None)
}

/// [`process_file`], also rendering depth views; a mesh whose views all come out empty fails.
pub fn process_file_with_views(
    path: &Path,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
    views: Option<&ViewConfig>,
) -> Result<MeshFeatures, MeshError> {
    let bytes = mesh::read_file(path)?;
    let mesh_seed = dataset::mesh_seed(seed, content_hash_with_links(path, &bytes));
    process_bytes_with_views(path, bytes, cfg, mesh_seed, max_faces, views, false)
}

/// [`process_file_with_views`] on the file's bytes, already read. They are dropped once parsed:
/// a 5M-triangle binary STL is 250 MB that the descriptors never need. `augment` (a training
/// mesh) also renders the views' augmented copies.
fn process_bytes_with_views(
    path: &Path,
    bytes: Vec<u8>,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
    views: Option<&ViewConfig>,
    augment: bool,
) -> Result<MeshFeatures, MeshError> {
    let (mesh, load) = mesh::load_bytes(path, &bytes)?;
    drop(bytes);
    process_mesh(mesh, load, cfg, seed, max_faces, views, augment)
}

/// [`process_file_with_views`] on a mesh held in memory (vertex positions and triangles, as a
/// file would hold them): cleaned and normalised as loading a file does, its random draws
/// seeded from `seed` and [`raw_mesh_hash`] of the arrays. The same arrays give the same
/// numbers every time; a file holding the same mesh is seeded from its bytes instead, so its
/// numbers differ by sampling (not by kind).
pub fn process_raw_with_views(
    raw: RawMesh,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
    views: Option<&ViewConfig>,
) -> Result<MeshFeatures, MeshError> {
    let mesh_seed = dataset::mesh_seed(seed, raw_mesh_hash(&raw));
    let (mesh, load) = mesh::clean(raw)?;
    process_mesh(mesh, load, cfg, mesh_seed, max_faces, views, false)
}

/// The content hash of a mesh held in memory, standing in for a file's
/// ([`dataset::content_hash`] of its vertex and triangle counts, then every coordinate and index
/// as little-endian bytes).
pub fn raw_mesh_hash(raw: &RawMesh) -> u64 {
    let mut bytes = Vec::with_capacity(16 + 12 * (raw.vertices.len() + raw.triangles.len()));
    bytes.extend_from_slice(&(raw.vertices.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(raw.triangles.len() as u64).to_le_bytes());
    for c in raw.vertices.iter().flatten() {
        bytes.extend_from_slice(&c.to_le_bytes());
    }
    for i in raw.triangles.iter().flatten() {
        bytes.extend_from_slice(&i.to_le_bytes());
    }
    dataset::content_hash(&bytes)
}

/// The depth views of a mesh file alone, exactly as `features` renders its view image (not
/// its augmented copies), without computing its descriptors. Fails as `features` does on a
/// mesh that cannot be loaded or whose views all come out empty.
pub fn render_file_views(
    path: &Path,
    views: &ViewConfig,
) -> Result<crate::descriptors::views::Views, MeshError> {
    let (mesh, _) = mesh::load(path)?;
    rendered(crate::descriptors::views::render_mesh(mesh, views))
}

/// [`render_file_views`] on a mesh held in memory (cleaned and normalised as a file's).
pub fn render_raw_views(
    raw: RawMesh,
    views: &ViewConfig,
) -> Result<crate::descriptors::views::Views, MeshError> {
    let (mesh, _) = mesh::clean(raw)?;
    rendered(crate::descriptors::views::render_mesh(mesh, views))
}

/// Rendered views, or the error of a mesh whose view rays all missed.
fn rendered(
    v: crate::descriptors::views::Views,
) -> Result<crate::descriptors::views::Views, MeshError> {
    if v.hits == 0 {
        return Err(MeshError::Invalid(format!(
            "all {} view rays missed the mesh: its views would be empty",
            v.rays
        )));
    }
    Ok(v)
}

/// One loaded mesh through the descriptors and views (`augment`: also the views' augmented
/// copies, for a training mesh).
fn process_mesh(
    mesh: crate::mesh::Mesh,
    load: LoadStats,
    cfg: &DescriptorConfig,
    seed: u64,
    max_faces: Option<usize>,
    views: Option<&ViewConfig>,
    augment: bool,
) -> Result<MeshFeatures, MeshError> {
    if let Some(limit) = max_faces
        && mesh.triangles.len() > limit
    {
        return Err(MeshError::TooManyFaces {
            faces: mesh.triangles.len(),
            limit,
        });
    }
    let triangles = mesh.triangles.len();
    let mut descriptors =
        descriptors::compute_with_augmented_views(mesh, cfg, seed, views, augment);
    descriptors.views = descriptors.views.map(rendered).transpose()?;
    Ok(MeshFeatures {
        descriptors,
        load,
        triangles,
    })
}

/// Runs [`process_file`] and turns a panic into that mesh's error, so one bad file cannot end a
/// run (the panic itself is still a bug to fix at its cause). `content` is the file's
/// [`content_hash_with_links`], which seeds its random draws. Returns the hashes of the view
/// images written, if any: the views, then a training mesh's augmented renderings.
pub(super) fn process_guarded(
    e: &Entry,
    bytes: Vec<u8>,
    content: u64,
    opts: &ExtractOptions,
) -> Result<(MeshFeatures, ViewHashes), String> {
    let seed = dataset::mesh_seed(opts.seed, content);
    match catch_unwind(AssertUnwindSafe(|| {
        let vcfg = opts.views.as_ref().map(|v| &v.0);
        let augment = vcfg.is_some_and(|vc| augmented_copies(vc, e.split) > 0);
        let mut f = process_bytes_with_views(
            &e.path,
            bytes,
            &opts.config,
            seed,
            opts.max_faces,
            vcfg,
            augment,
        )
        .map_err(|err| err.to_string())?;
        let mut hashes = ViewHashes::default();
        if let (Some(v), Some((vc, root))) = (&mut f.descriptors.views, &opts.views) {
            let write = |v: &mut crate::descriptors::views::Views, file: PathBuf| {
                let h = crate::view_store::write_view_file(v, vc, &file)
                    .map_err(|err| format!("cannot write its views: {err}"))?;
                // The image is on disk; keeping its pixels until the run ends would make
                // memory grow with the dataset (measured: +23 KB per mesh).
                v.pixels = Vec::new();
                Ok::<_, String>(h)
            };
            hashes.view_hash = Some(write(v, crate::features::view_file(root, &e.rel))?);
            for (k, a) in f.descriptors.augmented.iter_mut().enumerate() {
                let file = crate::features::augmented_view_file(root, &e.rel, k + 1);
                hashes.augmented_hashes.push(write(a, file)?);
            }
        }
        Ok((f, hashes))
    })) {
        Ok(r) => r,
        Err(p) => Err(panic_error(p.as_ref())),
    }
}

/// The error a caught panic of one mesh's processing becomes: that mesh fails, the run goes on.
pub fn panic_error(p: &(dyn std::any::Any + Send)) -> String {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("internal error while processing (please report): {msg}")
}

/// [`dataset::content_hash`] of a mesh file, folded with that of every file it links to (a
/// glTF's external buffers): a changed `.bin` beside an unchanged `.gltf` is a changed mesh. A
/// linked file that cannot be read counts as empty; loading then says why.
pub(super) fn content_hash_with_links(path: &Path, bytes: &[u8]) -> u64 {
    mesh::linked_files(path, bytes)
        .iter()
        .fold(dataset::content_hash(bytes), |h, p| {
            let linked = mesh::read_file(p).map_or(0, |b| dataset::content_hash(&b));
            dataset::content_hash(&[h.to_le_bytes(), linked.to_le_bytes()].concat())
        })
}
