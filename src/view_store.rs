//! The views of a feature folder on disk: one tiled grayscale PNG per mesh (one grid per
//! channel, stacked top to bottom: [`tile`]), and one more per augmented rendering of a
//! training mesh ([`crate::features::augmented_view_file`]), written by `features` and read
//! back, checked, by training. Both directions live here so the format has one owner. A folder
//! written before channels existed holds depth alone, which is the one-channel layout.

use std::collections::HashMap;
use std::path::{Component, Path};

use image::ImageEncoder;

use crate::descriptors::views::{ViewConfig, Views};
use crate::features::{self, Manifest};

/// Width and height of the tiled image of `cfg`'s views: a grid of `grid_columns` views
/// per row, one grid per channel stacked top to bottom (depth on top).
pub fn tiled_size(cfg: &ViewConfig) -> (u32, u32) {
    let (r, cols) = (cfg.resolution, cfg.grid_columns());
    let rows = cfg.count().div_ceil(cols);
    ((cols * r) as u32, (rows * r * cfg.channels.count()) as u32)
}

/// All views tiled into one grayscale image, `columns` per row, one grid per channel
/// stacked top to bottom: (width, height, pixels). Lossless, and a person sees each
/// channel as a picture.
pub fn tile(v: &Views, columns: usize) -> (u32, u32, Vec<u8>) {
    let r = v.resolution;
    let rows = v.count.div_ceil(columns);
    let (w, grid_h) = (columns * r, rows * r);
    let h = grid_h * v.channels;
    let mut img = vec![0u8; w * h];
    for c in 0..v.channels {
        for i in 0..v.count {
            let (gx, gy) = (i % columns, i / columns);
            for y in 0..r {
                let dst = (c * grid_h + gy * r + y) * w + gx * r;
                img[dst..dst + r].copy_from_slice(&v.plane(i, c)[y * r..(y + 1) * r]);
            }
        }
    }
    (w as u32, h as u32, img)
}

/// Reads tiled views back from a grid image ([`tile`]'s layout for `cfg`).
pub fn untile(w: u32, h: u32, img: &[u8], cfg: &ViewConfig) -> Result<Views, String> {
    let (r, n, cols, ch) = (
        cfg.resolution,
        cfg.count(),
        cfg.grid_columns(),
        cfg.channels.count(),
    );
    let (ew, eh) = tiled_size(cfg);
    if w != ew || h != eh || img.len() != (w * h) as usize {
        return Err(format!(
            "view image is {w}x{h}, expected {ew}x{eh} for {n} views of {r}x{r} with {ch} channel(s)"
        ));
    }
    let grid_h = n.div_ceil(cols) * r;
    let mut pixels = Vec::with_capacity(n * ch * r * r);
    for v in 0..n {
        for c in 0..ch {
            let (gx, gy) = (v % cols, v / cols);
            for y in 0..r {
                let src = (c * grid_h + gy * r + y) * w as usize + gx * r;
                pixels.extend_from_slice(&img[src..src + r]);
            }
        }
    }
    Ok(Views {
        pixels,
        count: n,
        channels: ch,
        resolution: r,
        rays: 0,
        hits: 0,
    })
}

/// Writes tiled views as a grayscale PNG, atomically; returns the hash of its bytes.
pub fn write_view_file(v: &Views, cfg: &ViewConfig, path: &Path) -> std::io::Result<String> {
    let (w, h, img) = tile(v, cfg.grid_columns());
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
    let (w, h) = tiled_size(cfg);
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
        .map_err(|e| Bad(format!("{}: corrupt view image: {e}", file.display())))?;
    // Only what `features` writes: a 16-bit, palette or colour image of the right size would
    // otherwise be converted into other pixels without a word.
    if img.color() != image::ColorType::L8 {
        return Err(Bad(format!(
            "{}: view image is {:?}, not the 8-bit greyscale `shapeclf features` writes",
            file.display(),
            img.color()
        )));
    }
    let img = img.into_luma8();
    let views =
        untile(w, h, img.as_raw(), cfg).map_err(|e| Bad(format!("{}: {e}", file.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::views::{ViewChannels, ViewLayout, render_mesh};

    /// Each layout, depth alone and with shading: the image is one grid per channel stacked
    /// top to bottom, reads back exactly, and an image of another size is refused.
    #[test]
    fn tiled_views_read_back_exactly_and_other_sizes_are_refused() {
        for layout in [ViewLayout::Ring12, ViewLayout::Dodecahedron] {
            let depth = ViewConfig {
                layout,
                resolution: 16,
                channels: ViewChannels::Depth,
                augment: 0,
                ..Default::default()
            };
            let shaded = ViewConfig {
                channels: ViewChannels::DepthShade,
                ..depth
            };
            for cfg in [depth, shaded] {
                let v = render_mesh(crate::synth::icosphere(2), &cfg);
                let (w, h, img) = tile(&v, cfg.grid_columns());
                assert_eq!((w, h), tiled_size(&cfg));
                assert_eq!(img.len(), (w * h) as usize);
                assert_eq!(untile(w, h, &img, &cfg).unwrap().pixels, v.pixels);
                assert!(untile(w, h + 16, &img, &cfg).is_err());
                assert!(untile(w, h / 2, &img[..img.len() / 2], &cfg).is_err());
            }
            assert_eq!(tiled_size(&shaded).1, 2 * tiled_size(&depth).1);
            // The depth grid comes first: a shaded image's top half is the depth image.
            let (_, _, one) = tile(&render_mesh(crate::synth::icosphere(2), &depth), 4);
            let (_, _, two) = tile(&render_mesh(crate::synth::icosphere(2), &shaded), 4);
            assert_eq!(&two[..one.len()], &one[..]);
        }
    }

    /// A PNG of the right size but not 8-bit greyscale (16-bit depth here) is refused, not
    /// converted into other pixels.
    #[test]
    fn a_view_image_of_another_pixel_type_is_refused() {
        let cfg = ViewConfig {
            resolution: 16,
            channels: ViewChannels::Depth,
            ..Default::default()
        };
        let d = tempfile::tempdir().unwrap();
        let rel = "c/train/a.off";
        let file = features::view_file(d.path(), rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let (w, h) = tiled_size(&cfg);
        image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(w, h, image::Luma([40000u16]))
            .save_with_format(&file, image::ImageFormat::Png)
            .unwrap();
        let e = read_view_file(d.path(), rel, &cfg).unwrap_err();
        assert!(e.contains("not the 8-bit greyscale"), "{e}");
        image::GrayImage::from_pixel(w, h, image::Luma([7]))
            .save_with_format(&file, image::ImageFormat::Png)
            .unwrap();
        assert!(
            read_view_file(d.path(), rel, &cfg)
                .unwrap()
                .pixels
                .iter()
                .all(|&p| p == 7)
        );
    }
}
