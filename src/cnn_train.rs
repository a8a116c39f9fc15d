//! The learned side's data and training loop: depth views read back from a feature folder, seeded
//! augmentation, minibatch training of the multi-view CNN with early stopping, evaluation.

use std::path::{Component, Path};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::descriptors::views::{ViewConfig, Views};
use crate::features::{self, Failure, ViewsInfo};
use crate::models::{CnnConfig, Mvcnn, nll_loss, probabilities};
use crate::train::{
    EarlyStopping, EpochStats, Samples, TrainConfig, argmax_rows, one_run_at_a_time,
    sample_weights, score, validation_split,
};

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

    /// Pixels of one shape's views.
    pub fn shape_pixels(&self, i: usize) -> &[u8] {
        let n = self.views * self.resolution * self.resolution;
        &self.pixels[i * n..(i + 1) * n]
    }

    fn subset(&self, idx: &[usize]) -> ViewSet {
        let mut s = ViewSet {
            views: self.views,
            resolution: self.resolution,
            ..Default::default()
        };
        for &i in idx {
            s.pixels.extend_from_slice(self.shape_pixels(i));
            s.y.push(self.y[i]);
            s.paths.push(self.paths[i].clone());
        }
        s
    }
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

/// Reads the views of every row of `samples` from a feature folder whose manifest recorded
/// `info`. Rows whose image is missing, corrupt or of another size are left out and returned
/// with their reasons.
pub fn load_views(
    features_dir: &Path,
    info: &ViewsInfo,
    samples: &Samples,
) -> (ViewSet, Vec<Failure>) {
    let cfg = &info.config;
    let read: Vec<Result<Views, String>> = samples
        .paths
        .par_iter()
        .map(|p| read_view_file(features_dir, p, cfg))
        .collect();
    let mut set = ViewSet {
        views: cfg.count(),
        resolution: cfg.resolution,
        ..Default::default()
    };
    let mut skipped = Vec::new();
    for (i, r) in read.into_iter().enumerate() {
        match r {
            Ok(v) => {
                set.pixels.extend_from_slice(&v.pixels);
                set.y.push(samples.y[i]);
                set.paths.push(samples.paths[i].clone());
            }
            Err(error) => skipped.push(Failure {
                path: samples.paths[i].clone(),
                error,
            }),
        }
    }
    (set, skipped)
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

fn batch_tensor(x: Vec<f32>, shapes: usize, set: &ViewSet, device: &Device) -> Tensor<4> {
    let r = set.resolution;
    Tensor::from_data(TensorData::new(x, [shapes, set.views, r, r]), device)
}

/// Class probabilities, row-major `[shapes, classes]`, of every shape in `set`.
pub fn predict_proba(net: &Mvcnn, set: &ViewSet, device: &Device) -> Vec<f32> {
    const CHUNK: usize = 32;
    let mut out = Vec::new();
    let mut x = Vec::new();
    for start in (0..set.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(set.len());
        x.clear();
        for i in start..end {
            push_views(
                &mut x,
                set.shape_pixels(i),
                set.resolution,
                Augment::default(),
            );
        }
        let p = probabilities(net.forward(batch_tensor(x.clone(), end - start, set, device)));
        out.extend(
            p.into_data()
                .try_to_vec::<f32>()
                .expect("float probabilities"),
        );
    }
    out
}

/// A trained CNN and how training went.
pub struct TrainedCnn {
    /// The network, in inference mode on the plain (non-autodiff) device.
    pub net: Mvcnn,
    /// Its shape.
    pub config: CnnConfig,
    /// Per-epoch history; `train_accuracy` is measured on the augmented batches as they were
    /// trained (a second pass over the training views would cost a third of an epoch).
    pub history: Vec<EpochStats>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Training shapes (after the validation split).
    pub train_size: usize,
    /// Validation shapes.
    pub val_size: usize,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// The epoch in which the loss became NaN or infinite, if it did; training stopped there
    /// and the model must not be used.
    pub diverged: Option<usize>,
    /// Training shapes per second (forward and backward, views of a shape counted once).
    pub samples_per_second: f64,
}

/// Trains the multi-view CNN on `data` (all views of the training shapes), with the
/// hyperparameters of `cfg`, calling `on_epoch` after each epoch.
pub fn train(
    cfg: &TrainConfig,
    net_config: &CnnConfig,
    data: &ViewSet,
    device: &Device,
    mut on_epoch: impl FnMut(&EpochStats),
) -> TrainedCnn {
    let k = net_config.classes;
    let _guard = one_run_at_a_time();
    device.seed(cfg.seed);
    let ad = device.clone().autodiff();
    let (tr_idx, va_idx) = validation_split(&data.y, cfg.val_fraction, cfg.seed);
    let tr = data.subset(&tr_idx);
    let va = data.subset(&va_idx);
    let weights = sample_weights(&tr.y, k, cfg.class_weight);
    let mut net = net_config.init(&ad);
    let mut optim = cfg.optimizer();
    let mut rng = crate::seeding::rng(cfg.seed, crate::seeding::Stream::ViewBatches);
    let mut order: Vec<usize> = (0..tr.len()).collect();
    let bs = cfg.batch_size.max(1);
    let shape_len = data.views * data.resolution * data.resolution;

    let start = Instant::now();
    let mut samples = 0usize;
    let mut history = Vec::new();
    let mut stopping = EarlyStopping::new(cfg.patience);
    let (mut by, mut bw) = (Vec::new(), Vec::new());
    let mut diverged = None;
    'epochs: for epoch in 1..=cfg.epochs.max(1) {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches, mut correct) = (0f64, 0usize, 0usize);
        for chunk in order.chunks(bs) {
            let mut bx = Vec::with_capacity(chunk.len() * shape_len);
            by.clear();
            bw.clear();
            for &i in chunk {
                let aug = Augment::draw(&mut rng, cfg.flip, cfg.jitter);
                push_views(&mut bx, tr.shape_pixels(i), tr.resolution, aug);
                by.push(tr.y[i]);
                bw.push(weights[i]);
            }
            let logits = net.forward(batch_tensor(bx, chunk.len(), &tr, &ad));
            let loss = nll_loss(logits.clone(), &by, &bw);
            let pred = argmax_rows(
                &logits
                    .detach()
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("float logits"),
                k,
            );
            correct += pred.iter().zip(&by).filter(|(a, b)| a == b).count();
            let l = loss.clone().into_scalar::<f32>();
            if !l.is_finite() {
                // Weights past this point are garbage: stop, and let the caller refuse them.
                diverged = Some(epoch);
                break 'epochs;
            }
            loss_sum += f64::from(l);
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(cfg.lr, net, grads);
            samples += chunk.len();
        }
        let (val_accuracy, val_loss) = if va.is_empty() {
            (None, None)
        } else {
            let (acc, nll) = score(&predict_proba(&net.valid(), &va, device), &va.y, k);
            (Some(acc), Some(nll))
        };
        let stats = EpochStats {
            epoch,
            loss: loss_sum / batches.max(1) as f64,
            train_accuracy: correct as f64 / tr.len().max(1) as f64,
            val_accuracy,
            val_loss,
        };
        on_epoch(&stats);
        let stop = stopping.observe(&stats, || net.valid());
        history.push(stats);
        if stop {
            break;
        }
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let (net, best_epoch) = stopping.finish(|| net.valid(), history.len());
    TrainedCnn {
        net,
        config: net_config.clone(),
        history,
        best_epoch,
        train_size: tr.len(),
        val_size: va.len(),
        train_seconds,
        samples_per_second: samples as f64 / train_seconds.max(1e-9),
        diverged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::accuracy;

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
        let mut rng = crate::descriptors::rng_for(3, 1);
        let mut set = ViewSet {
            views: v,
            resolution: r,
            ..Default::default()
        };
        for i in 0..96 {
            let class = i % 2;
            for _ in 0..v {
                let mut img = vec![0u8; r * r];
                let (cx, cy) = (rng.random_range(4..12), rng.random_range(4..12));
                let b = rng.random_range(120..255u8);
                for y in 0..r {
                    for x in 0..r {
                        let (ax, ay) = ((x as i32 - cx).abs(), (y as i32 - cy).abs());
                        let on = if class == 0 {
                            ax <= 2 && ay <= 2
                        } else {
                            (ax == 0 && ay <= 3) || (ay == 0 && ax <= 3)
                        };
                        if on {
                            img[y * r + x] = b;
                        }
                    }
                }
                set.pixels.extend(img);
            }
            set.y.push(class);
            set.paths.push(format!("s{i}"));
        }
        let test_idx: Vec<usize> = (64..96).collect();
        let train_set = set.subset(&(0..64).collect::<Vec<_>>());
        let test_set = set.subset(&test_idx);
        let mut cfg = TrainConfig::defaults(crate::models::ModelKind::Cnn);
        cfg.epochs = 12;
        cfg.val_fraction = 0.0;
        cfg.jitter = 1;
        let net_cfg = CnnConfig {
            channels: vec![8, 16],
            features: 32,
            dropout: 0.2,
            ..CnnConfig::new(v, r, 2)
        };
        let device = Device::flex();
        let t = train(&cfg, &net_cfg, &train_set, &device, |_| {});
        let pred = argmax_rows(&predict_proba(&t.net, &test_set, &device), 2);
        let acc = accuracy(&pred, &test_set.y);
        assert!(acc > 0.9, "test accuracy {acc}");
        assert!(t.history[0].loss > t.history.last().unwrap().loss);
        assert_eq!(t.best_epoch, 12);
    }
}
