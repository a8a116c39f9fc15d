//! The depth views of a feature folder on disk: one tiled grayscale PNG per mesh, written by
//! `features` and read back, checked, by training. Both directions live here so the format has
//! one owner.

use std::path::{Component, Path};

use image::ImageEncoder;
use rayon::prelude::*;

use crate::descriptors::views::{ViewConfig, Views};
use crate::features::{self, Failure, ViewsInfo};
use crate::train::views::ViewFiles;
use crate::train::{Samples, ViewSet};

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

/// Reads the tiled view image of the mesh at table path `rel`, checking its size against `cfg`
/// before decoding anything.
pub fn read_view_file(features_dir: &Path, rel: &str, cfg: &ViewConfig) -> Result<Views, String> {
    let rel_path = Path::new(rel);
    if rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "table path {rel:?} leaves the features folder; refusing to read its views"
        ));
    }
    let file = features::view_file(features_dir, rel);
    let (n, r, cols) = (cfg.count(), cfg.resolution, cfg.grid_columns());
    let (w, h) = ((cols * r) as u32, (n.div_ceil(cols) * r) as u32);
    // Read once (a view image is a few KB); its header is checked before anything is decoded,
    // and a file far larger than any PNG of that size could be is refused unread.
    let limit = 16 * u64::from(w) * u64::from(h) + (1 << 20);
    let len = std::fs::metadata(&file)
        .map_err(|e| format!("{}: cannot open view image: {e}", file.display()))?
        .len();
    if len > limit {
        return Err(format!(
            "{}: {len} bytes, more than a {w}x{h} view image can hold",
            file.display()
        ));
    }
    let bytes = std::fs::read(&file)
        .map_err(|e| format!("{}: cannot open view image: {e}", file.display()))?;
    let png =
        || image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Png);
    let dims = png()
        .into_dimensions()
        .map_err(|e| format!("{}: corrupt view image: {e}", file.display()))?;
    if dims != (w, h) {
        return Err(format!(
            "{}: view image is {}x{}, the manifest says {n} views of {r}x{r} ({w}x{h}): \
             rerun `shapeclf features` with the same settings into this folder (it re-renders every view that does not match)",
            file.display(),
            dims.0,
            dims.1
        ));
    }
    let mut reader = png();
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(limit);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("{}: corrupt view image: {e}", file.display()))?
        .into_luma8();
    Views::untile(w, h, img.as_raw(), cfg).map_err(|e| format!("{}: {e}", file.display()))
}

/// Where a [`load_views`] set keeps its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// All in memory: fastest, and memory grows with the dataset.
    Memory,
    /// On disk, each batch read from the view images: memory follows the batch.
    Disk,
}

/// Reads the views of every row of `samples` from a feature folder whose manifest recorded
/// `info`, checking every image. Rows whose image is missing, corrupt or of another size are
/// left out and returned with their reasons. With [`Keep::Disk`] the checked pixels are dropped
/// again and each batch reads its images (so a set of any size takes the memory of a batch).
pub fn load_views(
    features_dir: &Path,
    info: &ViewsInfo,
    samples: &Samples,
    keep: Keep,
) -> (ViewSet, Vec<Failure>) {
    let cfg = &info.config;
    // Checked in chunks, so a set kept on disk never holds more than a chunk's pixels.
    let mut set = ViewSet {
        views: cfg.count(),
        resolution: cfg.resolution,
        disk: (keep == Keep::Disk).then(|| {
            std::sync::Arc::new(ViewFiles {
                dir: features_dir.to_path_buf(),
                config: *cfg,
            })
        }),
        ..Default::default()
    };
    let mut skipped = Vec::new();
    for (c, chunk) in samples.paths.chunks(1024).enumerate() {
        let read: Vec<Result<Views, String>> = chunk
            .par_iter()
            .map(|p| read_view_file(features_dir, p, cfg))
            .collect();
        for (j, r) in read.into_iter().enumerate() {
            let i = c * 1024 + j;
            match r {
                Ok(v) => {
                    if keep == Keep::Memory {
                        set.pixels.extend_from_slice(&v.pixels);
                    }
                    set.y.push(samples.y[i]);
                    set.paths.push(samples.paths[i].clone());
                }
                Err(error) => skipped.push(Failure {
                    path: samples.paths[i].clone(),
                    error,
                }),
            }
        }
    }
    (set, skipped)
}
