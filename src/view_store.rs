//! The views of a feature folder on disk: one tiled grayscale PNG per mesh (one grid per
//! channel, stacked top to bottom: [`Views::tile`]), and one more per augmented rendering of a
//! training mesh ([`crate::features::augmented_view_file`]), written by `features` and read
//! back, checked, by training. Both directions live here so the format has one owner. A folder
//! written before channels existed holds depth alone, which is the one-channel layout.

use std::collections::HashMap;
use std::path::{Component, Path};

use image::ImageEncoder;

use crate::descriptors::views::{ViewConfig, Views};
use crate::features::{self, Manifest};

/// Writes tiled views as a grayscale PNG, atomically; returns the hash of its bytes.
pub fn write_view_file(v: &Views, cfg: &ViewConfig, path: &Path) -> std::io::Result<String> {
    let (w, h, img) = v.tile(cfg.grid_columns());
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&img, w, h, image::ExtendedColorType::L8)
        .map_err(std::io::Error::other)?;
    crate::io::write_bytes_atomic(path, &png)?;
    Ok(features::hash_hex(&png))
}

/// Whether the view image at `path` is still the one whose hash was recorded (`want`).
pub fn view_file_unchanged(path: &Path, want: Option<&str>) -> bool {
    let Some(want) = want else { return false };
    // A view image is a few KB; anything far larger is not ours.
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= 64 << 20 => {}
        _ => return false,
    }
    std::fs::read(path).is_ok_and(|b| features::hash_hex(&b) == want)
}

/// The hash of every view image a feature folder's committed generation wrote, as its
/// `mesh_cache.json` records them: what training checks each image against, so an image
/// rewritten by a later run that never committed (killed, out of disk, other view flags) is
/// refused instead of trained on under the old manifest.
#[derive(Debug, Clone, Default)]
pub struct RecordedViews {
    /// Table path -> hash of its own image, then of each augmented rendering.
    by_path: HashMap<String, Vec<Option<String>>>,
}

impl RecordedViews {
    /// Reads the record of the generation `manifest` describes, in `features_dir`. The cache
    /// file must be byte for byte the one the manifest was committed with.
    pub fn read(features_dir: &Path, manifest: &Manifest) -> Result<RecordedViews, String> {
        let file = features_dir.join(manifest.files().cache);
        let stale = |why: &str| {
            format!(
                "{}: {why}, so its view images cannot be checked: rerun `shapeclf features` with the same settings into {}",
                file.display(),
                features_dir.display()
            )
        };
        let bytes = std::fs::read(&file).map_err(|e| stale(&format!("cannot be read ({e})")))?;
        if manifest.cache_hash.as_deref() != Some(features::hash_hex(&bytes).as_str()) {
            return Err(stale(
                "is not the cache the manifest was written with (another run changed it)",
            ));
        }
        let cache: Vec<crate::features::CachedMesh> =
            serde_json::from_slice(&bytes).map_err(|e| stale(&format!("is corrupt ({e})")))?;
        let by_path = cache
            .into_iter()
            .map(|c| {
                let hashes = std::iter::once(c.view_hash)
                    .chain(c.augmented_hashes.into_iter().map(Some))
                    .collect();
                (c.path, hashes)
            })
            .collect();
        Ok(RecordedViews { by_path })
    }

    /// The recorded hash of copy `copy` (0: its own views) of the row at `rel`, if any.
    pub fn hash(&self, rel: &str, copy: usize) -> Option<&str> {
        self.by_path.get(rel)?.get(copy)?.as_deref()
    }
}

/// Why a view image could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewError {
    /// Missing, corrupt or of another size: the row is left out.
    Unreadable(String),
    /// Readable, but not the image the folder's committed generation wrote: the folder is
    /// inconsistent and nothing should be trained on it.
    Stale(String),
}

impl std::fmt::Display for ViewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ViewError::Unreadable(m) | ViewError::Stale(m) => f.write_str(m),
        }
    }
}

/// Reads the tiled view image of the mesh at table path `rel`, checking its size against `cfg`
/// before decoding anything.
pub fn read_view_file(features_dir: &Path, rel: &str, cfg: &ViewConfig) -> Result<Views, String> {
    read_view_copy(features_dir, rel, 0, cfg, None).map_err(|e| e.to_string())
}

/// [`read_view_file`] of copy `copy` of the mesh's views: 0 its own, `k` its `k`-th augmented
/// rendering. With `recorded`, a sound image must be byte for byte the one the folder's
/// committed generation wrote ([`ViewError::Stale`] otherwise); a missing or damaged one is
/// [`ViewError::Unreadable`].
pub fn read_view_copy(
    features_dir: &Path,
    rel: &str,
    copy: usize,
    cfg: &ViewConfig,
    recorded: Option<&RecordedViews>,
) -> Result<Views, ViewError> {
    use ViewError::Unreadable as Bad;
    let rel_path = Path::new(rel);
    if rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Bad(format!(
            "table path {rel:?} leaves the features folder; refusing to read its views"
        )));
    }
    let file = features::view_copy_file(features_dir, rel, copy);
    let (n, r) = (cfg.count(), cfg.resolution);
    let (w, h) = Views::tiled_size(cfg);
    // Read once (a view image is a few KB); its header is checked before anything is decoded,
    // and a file far larger than any PNG of that size could be is refused unread.
    let limit = 16 * u64::from(w) * u64::from(h) + (1 << 20);
    let len = std::fs::metadata(&file)
        .map_err(|e| Bad(format!("{}: cannot open view image: {e}", file.display())))?
        .len();
    if len > limit {
        return Err(Bad(format!(
            "{}: {len} bytes, more than a {w}x{h} view image can hold",
            file.display()
        )));
    }
    let bytes = std::fs::read(&file)
        .map_err(|e| Bad(format!("{}: cannot open view image: {e}", file.display())))?;
    let png =
        || image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Png);
    let dims = png()
        .into_dimensions()
        .map_err(|e| Bad(format!("{}: corrupt view image: {e}", file.display())))?;
    if dims != (w, h) {
        return Err(Bad(format!(
            "{}: view image is {}x{}, the manifest says {n} views of {r}x{r} with {} channel(s) ({w}x{h}): \
             rerun `shapeclf features` with the same settings into this folder (it re-renders every view that does not match)",
            file.display(),
            dims.0,
            dims.1,
            cfg.channels.count()
        )));
    }
    let mut reader = png();
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(limit);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| Bad(format!("{}: corrupt view image: {e}", file.display())))?
        .into_luma8();
    let views = Views::untile(w, h, img.as_raw(), cfg)
        .map_err(|e| Bad(format!("{}: {e}", file.display())))?;
    // A damaged image is left out above; a sound one that is not the recorded one is a view
    // of another generation, which no row may silently take.
    if let Some(rec) = recorded
        && rec.hash(rel, copy) != Some(features::hash_hex(&bytes).as_str())
    {
        return Err(ViewError::Stale(format!(
            "{}: not the view image this feature folder's manifest was written with (a later `features` run rewrote it and did not finish, or ran with other view settings): \
             rerun `shapeclf features` with the same settings into {}",
            file.display(),
            features_dir.display()
        )));
    }
    Ok(views)
}
