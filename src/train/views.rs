//! Depth views as training input: every view of a set of shapes kept as bytes, turned into a
//! `[shapes, views, R, R]` batch of floats with seeded augmentation.

use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::fit::Batcher;
use crate::seeding::Stream;

/// Depth views of a set of shapes, kept as bytes (a quarter of the memory of floats) and turned
/// into floats one batch at a time.
#[derive(Debug, Clone, Default)]
pub struct ViewSet {
    /// `len * views * resolution^2` pixels, shape after shape, view after view, row-major.
    pub pixels: Vec<u8>,
    /// Class index of each shape.
    pub y: Vec<usize>,
    /// Mesh path of each shape.
    pub paths: Vec<String>,
    /// Views per shape.
    pub views: usize,
    /// Pixels per side.
    pub resolution: usize,
    /// Augmentation applied to training batches (none by default).
    pub augment: AugmentSpec,
    /// Where the views stay when they are not held in `pixels`: each batch reads its shapes'
    /// view images from the feature folder, so memory follows the batch, not the dataset.
    pub disk: Option<std::sync::Arc<ViewFiles>>,
}

/// The view images of a feature folder, read on demand.
#[derive(Debug, Clone)]
pub struct ViewFiles {
    /// The feature folder.
    pub dir: std::path::PathBuf,
    /// The views' settings, as its manifest records them.
    pub config: crate::descriptors::views::ViewConfig,
}

/// Which augmentations training batches get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AugmentSpec {
    /// A random mirror image of each shape.
    pub flip: bool,
    /// Random shifts of up to this many pixels.
    pub jitter: usize,
}

impl ViewSet {
    /// Shapes.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no shapes.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Pixels of one shape's views, from memory or (for a set on disk) read from its image.
    /// An image that can no longer be read (it was checked when the set was made) gives blank
    /// views rather than stopping training.
    pub fn shape_pixels(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        let n = self.views * self.resolution * self.resolution;
        match &self.disk {
            None => std::borrow::Cow::Borrowed(&self.pixels[i * n..(i + 1) * n]),
            Some(f) => std::borrow::Cow::Owned(
                crate::view_store::read_view_file(&f.dir, &self.paths[i], &f.config)
                    .map(|v| v.pixels)
                    .ok()
                    .filter(|p| p.len() == n)
                    .unwrap_or_else(|| vec![0; n]),
            ),
        }
    }
}

impl Batcher for ViewSet {
    type Input = Tensor<4>;
    const STREAM: Stream = Stream::ViewBatches;
    const EVAL_CHUNK: usize = 32;
    const SECOND_PASS: bool = false;

    fn len(&self) -> usize {
        self.y.len()
    }

    fn labels(&self) -> &[usize] {
        &self.y
    }

    fn subset(&self, idx: &[usize]) -> ViewSet {
        let mut s = ViewSet {
            views: self.views,
            resolution: self.resolution,
            augment: self.augment,
            disk: self.disk.clone(),
            ..Default::default()
        };
        for &i in idx {
            if self.disk.is_none() {
                s.pixels.extend_from_slice(&self.shape_pixels(i));
            }
            s.y.push(self.y[i]);
            s.paths.push(self.paths[i].clone());
        }
        s
    }

    fn batch(&self, idx: &[usize], rng: Option<&mut ChaCha8Rng>, device: &Device) -> Tensor<4> {
        use rayon::prelude::*;
        let r = self.resolution;
        let mut x = Vec::with_capacity(idx.len() * self.views * r * r);
        // A set on disk reads the batch's images in parallel (a few KB each), then augments
        // in order, so the random draws do not depend on where the views are kept.
        let read: Vec<std::borrow::Cow<'_, [u8]>> = if self.disk.is_some() {
            idx.par_iter().map(|&i| self.shape_pixels(i)).collect()
        } else {
            idx.iter().map(|&i| self.shape_pixels(i)).collect()
        };
        match rng {
            Some(rng) => {
                for px in &read {
                    let aug = Augment::draw(rng, self.augment.flip, self.augment.jitter);
                    push_views(&mut x, px, r, aug);
                }
            }
            None => {
                for px in &read {
                    push_views(&mut x, px, r, Augment::default());
                }
            }
        }
        Tensor::from_data(TensorData::new(x, [idx.len(), self.views, r, r]), device)
    }
}

/// Seeded augmentation of one shape's views: an optional mirror image and a shift of up to
/// `jitter` pixels, the same for all views of the shape (a rigid change of the shape, not of
/// one camera).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augment {
    /// Flip every view left to right.
    pub flip: bool,
    /// Horizontal shift in pixels.
    pub dx: i32,
    /// Vertical shift in pixels.
    pub dy: i32,
}

impl Augment {
    /// Draws an augmentation allowed by `cfg`.
    pub fn draw(rng: &mut impl Rng, flip: bool, jitter: usize) -> Augment {
        let j = jitter as i32;
        Augment {
            flip: flip && rng.random::<bool>(),
            dx: if j > 0 { rng.random_range(-j..=j) } else { 0 },
            dy: if j > 0 { rng.random_range(-j..=j) } else { 0 },
        }
    }
}

/// Appends the views `src` (`views * r * r` bytes) as floats in [0, 1] to `out`, augmented.
pub fn push_views(out: &mut Vec<f32>, src: &[u8], r: usize, aug: Augment) {
    const SCALE: f32 = 1.0 / 255.0;
    if aug == Augment::default() {
        out.extend(src.iter().map(|&p| f32::from(p) * SCALE));
        return;
    }
    let ri = r as i32;
    for view in src.chunks_exact(r * r) {
        for y in 0..ri {
            let sy = y - aug.dy;
            for x in 0..ri {
                let sx = x - aug.dx;
                let sx = if aug.flip { ri - 1 - sx } else { sx };
                let v = if (0..ri).contains(&sy) && (0..ri).contains(&sx) {
                    f32::from(view[(sy * ri + sx) as usize]) * SCALE
                } else {
                    0.0
                };
                out.push(v);
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::CnnConfig;
    use crate::train::{
        CnnSpec, ModelSpec, TrainConfig, accuracy, argmax_rows, predict_proba, train_cnn,
    };

    #[test]
    fn augmentation_flips_and_shifts_with_background_fill() {
        // One 3x3 view: 1..9.
        let src: Vec<u8> = (1..=9).collect();
        let mut out = Vec::new();
        push_views(&mut out, &src, 3, Augment::default());
        assert_eq!(out[4], 5.0 / 255.0);
        let px = |aug| {
            let mut o = Vec::new();
            push_views(&mut o, &src, 3, aug);
            o.iter()
                .map(|v| (v * 255.0).round() as u8)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            px(Augment {
                flip: true,
                dx: 0,
                dy: 0
            }),
            vec![3, 2, 1, 6, 5, 4, 9, 8, 7]
        );
        assert_eq!(
            px(Augment {
                flip: false,
                dx: 1,
                dy: 0
            }),
            vec![0, 1, 2, 0, 4, 5, 0, 7, 8]
        );
        assert_eq!(
            px(Augment {
                flip: false,
                dx: 0,
                dy: -1
            }),
            vec![4, 5, 6, 7, 8, 9, 0, 0, 0]
        );
    }

    /// Two classes a CNN tells apart only by shape in the image: a bright square against a
    /// bright cross, at random positions and brightness.
    #[test]
    fn cnn_learns_squares_from_crosses() {
        let (r, v) = (16usize, 2usize);
        let set = crate::fixtures::squares_and_crosses(96, v, 3);
        let test_idx: Vec<usize> = (64..96).collect();
        let train_set = set.subset(&(0..64).collect::<Vec<_>>());
        let test_set = set.subset(&test_idx);
        let mut cfg = TrainConfig::defaults(crate::models::ModelKind::Cnn);
        cfg.epochs = 12;
        cfg.val_fraction = 0.0;
        if let ModelSpec::Cnn(CnnSpec { jitter, .. }) = &mut cfg.model {
            *jitter = 1;
        }
        let net_cfg = CnnConfig {
            channels: vec![8, 16],
            features: 32,
            dropout: 0.2,
            ..CnnConfig::new(v, r, 2)
        };
        let device = Device::flex();
        let t = train_cnn(&cfg, &net_cfg, &train_set, &device, |_| {});
        let pred = argmax_rows(&predict_proba(&t.net, &test_set, &device), 2);
        let acc = accuracy(&pred, &test_set.y);
        assert!(acc > 0.9, "test accuracy {acc}");
        assert!(t.history[0].loss > t.history.last().unwrap().loss);
        assert_eq!(t.best_epoch, 12);
    }
}
