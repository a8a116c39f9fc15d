//! One mesh file through loading, descriptors and views, with panics and oversize meshes
//! turned into errors.

use super::*;

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
    if let Some(limit) = max_faces
        && mesh.triangles.len() > limit
    {
        return Err(MeshError::TooManyFaces {
            faces: mesh.triangles.len(),
            limit,
        });
    }
    let triangles = mesh.triangles.len();
    let descriptors = descriptors::compute_with_augmented_views(mesh, cfg, seed, views, augment);
    if let Some(v) = &descriptors.views
        && v.hits == 0
    {
        return Err(MeshError::Invalid(format!(
            "all {} view rays missed the mesh: its views would be empty",
            v.rays
        )));
    }
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
pub(crate) fn panic_error(p: &(dyn std::any::Any + Send)) -> String {
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
