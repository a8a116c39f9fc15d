//! Views as training input: every view of a set of shapes kept as bytes, turned into a
//! `[shapes, views * channels, R, R]` batch of floats with seeded augmentation (each view's
//! channels side by side: `[shapes, views, R, R]` for depth alone, as before channels).

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::fit::Batcher;
use crate::seeding::Stream;

/// Views of a set of shapes, kept as bytes (a quarter of the memory of floats) and turned
/// into floats one batch at a time. A mesh's augmented renderings are extra shapes of the same
/// path and label ([`ViewSet::copies`]).
#[derive(Debug, Clone, Default)]
pub struct ViewSet {
    /// `len * views * channels * resolution^2` pixels, shape after shape, view after view,
    /// channel after channel, row-major.
    pub pixels: Vec<u8>,
    /// Class index of each shape.
    pub y: Vec<usize>,
    /// Mesh path of each shape.
    pub paths: Vec<String>,
    /// Which copy of its mesh's views each shape is: 0 the views themselves, `k` the `k`-th
    /// augmented rendering. Empty when every shape is its mesh's own views.
    pub copies: Vec<u32>,
    /// Views per shape.
    pub views: usize,
    /// Channels per view (0, as a `Default` set has, reads as 1: depth alone).
    pub channels: usize,
    /// Pixels per side.
    pub resolution: usize,
    /// Augmentation applied to training batches (none by default).
    pub augment: AugmentSpec,
    /// Where the views stay when they are not held in `pixels`: each batch reads its shapes'
    /// view images from the feature folder, so memory follows the batch, not the dataset.
    pub disk: Option<std::sync::Arc<ViewFiles>>,
    /// The same views held in an accelerator's memory ([`ViewSet::stage`]): batches on that
    /// device are then gathered and augmented there, with nothing but indices uploaded.
    pub staged: Option<DeviceViews>,
}

/// A view set's pixels in device memory, as floats in [0, 1]: `[shapes, planes * R * R]`.
#[derive(Debug, Clone)]
pub struct DeviceViews {
    pixels: Tensor<2>,
}

/// Environment variable: the most bytes of device memory a training set's views may take to be
/// staged there ([`ViewSet::stage`]); larger sets are assembled on the host, batch by batch.
pub const STAGE_BYTES_VAR: &str = "SHAPECLF_GPU_VIEW_BYTES";

/// Default for [`STAGE_BYTES_VAR`]: 4 GiB, which holds a ModelNet40-sized training set (about
/// 40,000 view sets of 12 two-channel 32x32 views as floats) and leaves most of any
/// training-class GPU to the network.
pub const DEFAULT_STAGE_BYTES: u64 = 4 << 30;

/// The view images of a feature folder, read on demand.
#[derive(Debug)]
pub struct ViewFiles {
    /// The feature folder.
    pub dir: std::path::PathBuf,
    /// The views' settings, as its manifest records them.
    pub config: crate::descriptors::views::ViewConfig,
    /// The hash of every image, as the folder's generation recorded them: each read is
    /// checked against it.
    pub recorded: std::sync::Arc<crate::view_store::RecordedViews>,
    /// The first image that could not be read, or was no longer the recorded one, after the
    /// set was made ([`ViewFiles::failure`]).
    pub failed: std::sync::Mutex<Option<String>>,
}

impl ViewFiles {
    /// Why a batch got a blank shape in place of an image that changed or vanished while
    /// training ran, if one did: a model trained on it must not be kept.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().map_or(None, |f| f.clone())
    }
}

/// Which augmentations training batches get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AugmentSpec {
    /// A random mirror image of each shape.
    pub flip: bool,
    /// Random shifts of up to this many pixels.
    pub jitter: usize,
    /// Views of each shape a training batch keeps, drawn at random (0, or the view count
    /// or more: all of them, in order).
    pub views: usize,
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

    /// Channels per view, at least 1.
    pub fn channel_count(&self) -> usize {
        self.channels.max(1)
    }

    /// Images per shape: views times channels.
    pub fn planes(&self) -> usize {
        self.views * self.channel_count()
    }

    /// Which copy of its mesh's views shape `i` is (0: the views themselves).
    pub fn copy(&self, i: usize) -> usize {
        self.copies.get(i).map_or(0, |&k| k as usize)
    }

    /// Pixels of one shape's views, from memory or (for a set on disk) read from its image and
    /// checked against its recorded hash. An image that can no longer be read, or changed,
    /// since the set was made gives blank views and is recorded ([`ViewFiles::failure`]), so
    /// the batch goes on and the run then fails instead of keeping the model.
    pub fn shape_pixels(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        let n = self.planes() * self.resolution * self.resolution;
        match &self.disk {
            None => std::borrow::Cow::Borrowed(&self.pixels[i * n..(i + 1) * n]),
            Some(f) => {
                let read = crate::view_store::read_view_copy(
                    &f.dir,
                    &self.paths[i],
                    self.copy(i),
                    &f.config,
                    Some(&f.recorded),
                )
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    if v.pixels.len() == n {
                        Ok(v.pixels)
                    } else {
                        Err(format!("{}: view image of another size", self.paths[i]))
                    }
                });
                std::borrow::Cow::Owned(read.unwrap_or_else(|e| {
                    if let Ok(mut first) = f.failed.lock() {
                        first.get_or_insert(e);
                    }
                    vec![0; n]
                }))
            }
        }
    }

    /// The first view image that changed or could not be read while this set was in use
    /// (only a set kept on disk reads images after it is made).
    pub fn read_failure(&self) -> Option<String> {
        self.disk.as_ref().and_then(|f| f.failure())
    }
}

impl Batcher for ViewSet {
    type Input = Tensor<4>;

    fn stream(&self) -> Stream {
        Stream::ViewBatches
    }

    fn eval_chunk(&self) -> usize {
        32
    }

    fn second_pass(&self) -> bool {
        false
    }

    fn len(&self) -> usize {
        self.y.len()
    }

    fn labels(&self) -> &[usize] {
        &self.y
    }

    fn subset(&self, idx: &[usize]) -> ViewSet {
        // A subset is staged again by whoever needs it on the device (`staged` stays empty).
        let mut s = ViewSet {
            views: self.views,
            channels: self.channels,
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
            if !self.copies.is_empty() {
                s.copies.push(self.copies[i]);
            }
        }
        s
    }

    fn batch(&self, idx: &[usize], rng: Option<&mut ChaCha8Rng>, device: &Device) -> Tensor<4> {
        use rayon::prelude::*;
        if let Some(st) = &self.staged
            && st.pixels.device() == *device
        {
            return self.staged_batch(&st.pixels, idx, rng, device);
        }
        let r = self.resolution;
        let mut x = Vec::with_capacity(idx.len() * self.planes() * r * r);
        // A set on disk reads the batch's images in parallel (a few KB each), then augments
        // in order, so the random draws do not depend on where the views are kept.
        let read: Vec<std::borrow::Cow<'_, [u8]>> = if self.disk.is_some() {
            idx.par_iter().map(|&i| self.shape_pixels(i)).collect()
        } else {
            idx.iter().map(|&i| self.shape_pixels(i)).collect()
        };
        let per_view = self.channel_count() * r * r;
        let kept = match rng {
            Some(rng) => {
                let kept = self.kept_views();
                for px in &read {
                    let aug = Augment::draw(rng, self.augment.flip, self.augment.jitter);
                    match self.draw_views(rng) {
                        None => push_views(&mut x, px, r, aug),
                        Some(pick) => {
                            for v in pick {
                                push_views(&mut x, &px[v * per_view..(v + 1) * per_view], r, aug);
                            }
                        }
                    }
                }
                kept
            }
            None => {
                for px in &read {
                    push_views(&mut x, px, r, Augment::default());
                }
                self.views
            }
        };
        let planes = kept * self.channel_count();
        Tensor::from_data(TensorData::new(x, [idx.len(), planes, r, r]), device)
    }
}

impl ViewSet {
    /// Holds every view of the set in `device`'s memory when `device` is an accelerator and the
    /// views fit in [`STAGE_BYTES_VAR`] bytes as floats, so that training batches are gathered
    /// and augmented there instead of being assembled on the host and uploaded at every step.
    /// Returns whether the set is staged. The pixels are read (from memory or the feature
    /// folder) and uploaded in chunks of 1,024 shapes, so the host never holds more than a
    /// chunk as floats. Batches are the same either way, pixel for pixel and draw for draw.
    pub fn stage(&mut self, device: &Device) -> bool {
        self.staged = None;
        if !super::fit::is_accelerator(device) || self.is_empty() {
            return false;
        }
        let per_shape = self.planes() * self.resolution * self.resolution;
        // A value that is not a number is warned of by the workflow that trains.
        let budget =
            super::env_bytes(STAGE_BYTES_VAR, DEFAULT_STAGE_BYTES).unwrap_or(DEFAULT_STAGE_BYTES);
        if (self.len() as u64).saturating_mul(per_shape as u64 * 4) > budget {
            return false;
        }
        self.upload(device);
        true
    }

    /// Uploads every view to `device` as floats (see [`ViewSet::stage`]), whatever the device.
    fn upload(&mut self, device: &Device) {
        use rayon::prelude::*;
        let per_shape = self.planes() * self.resolution * self.resolution;
        let device = device.clone().inner();
        const SCALE: f32 = 1.0 / 255.0;
        let parts: Vec<Tensor<2>> = (0..self.len())
            .collect::<Vec<_>>()
            .chunks(1024)
            .map(|chunk| {
                let px: Vec<Vec<f32>> = chunk
                    .par_iter()
                    .map(|&i| {
                        self.shape_pixels(i)
                            .iter()
                            .map(|&p| f32::from(p) * SCALE)
                            .collect()
                    })
                    .collect();
                let flat: Vec<f32> = px.concat();
                Tensor::from_data(TensorData::new(flat, [chunk.len(), per_shape]), &device)
            })
            .collect();
        self.staged = Some(DeviceViews {
            pixels: Tensor::cat(parts, 0),
        });
    }

    /// The batch of shapes `idx` from the staged pixels: gathered on the device, and when
    /// training, augmented there by one gather through a per-pixel source map that the host
    /// draws exactly as [`push_views`] would (a zero column stands for pixels shifted in from
    /// outside the view).
    fn staged_batch(
        &self,
        pixels: &Tensor<2>,
        idx: &[usize],
        rng: Option<&mut ChaCha8Rng>,
        device: &Device,
    ) -> Tensor<4> {
        let (b, p, r) = (idx.len(), self.planes(), self.resolution);
        let inner = pixels.device();
        let rows = Tensor::<1, Int>::from_data(
            TensorData::new(idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), [b]),
            &inner,
        );
        let x = pixels.clone().select(0, rows);
        // Drawn shape by shape, augmentation then views, as the host path draws them.
        let mut augs = Vec::new();
        let mut picks = Vec::new();
        if let Some(rng) = rng {
            for _ in idx {
                augs.push(Augment::draw(rng, self.augment.flip, self.augment.jitter));
                picks.extend(self.draw_views(rng));
            }
        }
        let (x, p) = if picks.is_empty() {
            (x, p)
        } else {
            // Keep the drawn views' planes: rows of the batch's `[b * p, r * r]` planes.
            let ch = self.channel_count();
            let planes: Vec<i64> = picks
                .iter()
                .enumerate()
                .flat_map(|(s, pick)| {
                    pick.iter()
                        .flat_map(move |&v| (0..ch).map(move |c| (s * p + v * ch + c) as i64))
                })
                .collect();
            let kept = planes.len() / b;
            let planes = Tensor::<1, Int>::from_data(TensorData::new(planes, [b * kept]), &inner);
            let x = x
                .reshape([b * p, r * r])
                .select(0, planes)
                .reshape([b, kept * r * r]);
            // From here on `p` counts the planes kept per shape.
            (x, kept)
        };
        let x = if augs.iter().all(|a| *a == Augment::default()) {
            x.reshape([b, p, r, r])
        } else {
            let rr = r * r;
            let mut map = Vec::with_capacity(b * rr);
            for aug in &augs {
                source_map(&mut map, r, *aug);
            }
            let map = Tensor::<3, Int>::from_data(TensorData::new(map, [b, 1, rr]), &inner)
                .repeat_dim(1, p);
            let zero = Tensor::<3>::zeros([b, p, 1], &inner);
            Tensor::cat(vec![x.reshape([b, p, rr]), zero], 2)
                .gather(2, map)
                .reshape([b, p, r, r])
        };
        if device.is_autodiff() {
            x.autodiff()
        } else {
            x
        }
    }

    /// Views per shape in a training batch: those the augmentation keeps (evaluation batches
    /// hold every view).
    fn kept_views(&self) -> usize {
        match self.augment.views {
            k if k > 0 && k < self.views => k,
            _ => self.views,
        }
    }

    /// The views a training batch keeps of one shape, drawn from `rng` in increasing order;
    /// `None` (and no draw) when it keeps them all.
    fn draw_views(&self, rng: &mut ChaCha8Rng) -> Option<Vec<usize>> {
        let k = self.kept_views();
        if k == self.views {
            return None;
        }
        let mut pick = rand::seq::index::sample(rng, self.views, k).into_vec();
        pick.sort_unstable();
        Some(pick)
    }

    /// The seeded, stratified validation split of [`super::split`] made over meshes rather
    /// than shapes: it is drawn over the shapes that are their mesh's own views (all of them
    /// when there are no augmented renderings, where it is exactly [`super::split`]); the
    /// training part then takes every copy of its meshes, and the validation part only the
    /// views themselves, so no mesh is on both sides and validation sees what test sees.
    pub fn split_by_mesh(&self, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        if self.copies.is_empty() {
            return super::validation_split(&self.y, val_fraction, seed);
        }
        let own: Vec<usize> = (0..self.len()).filter(|&i| self.copy(i) == 0).collect();
        let y: Vec<usize> = own.iter().map(|&i| self.y[i]).collect();
        let (tr, va) = super::validation_split(&y, val_fraction, seed);
        let held: std::collections::HashSet<&str> =
            va.iter().map(|&j| self.paths[own[j]].as_str()).collect();
        let train = (0..self.len())
            .filter(|&i| !held.contains(self.paths[i].as_str()))
            .collect();
        debug_assert_eq!(tr.len() + va.len(), own.len());
        (train, va.into_iter().map(|j| own[j]).collect())
    }
}

/// Seeded augmentation of one shape's views: an optional mirror image and a shift of up to
/// `jitter` pixels, the same for all views of the shape. The mirror is the view set of the
/// mirrored shape; the shift is image-space jitter (moving the shape itself would shift each
/// camera's view by its own amount and change its depths), not a pose the shape could take.
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

/// Appends, for each pixel of an `r` x `r` view augmented by `aug`, the index of the pixel it
/// takes its value from, or `r * r` (a blank pixel) where it is shifted in from outside: the
/// map [`push_views`] applies.
fn source_map(out: &mut Vec<i64>, r: usize, aug: Augment) {
    let ri = r as i32;
    for y in 0..ri {
        let sy = y - aug.dy;
        for x in 0..ri {
            let sx = x - aug.dx;
            let sx = if aug.flip { ri - 1 - sx } else { sx };
            out.push(if (0..ri).contains(&sy) && (0..ri).contains(&sx) {
                i64::from(sy * ri + sx)
            } else {
                (r * r) as i64
            });
        }
    }
}

/// Appends the images `src` (`views * channels * r * r` bytes) as floats in [0, 1] to `out`,
/// each augmented alike.
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
    use crate::models::{CnnConfig, CnnSpec, Input, ModelSpec, Network};
    use crate::train::{TrainConfig, accuracy, argmax_rows, predict_proba, train};

    /// Trains the CNN `net` on `set` (views alone).
    fn train_cnn(
        cfg: &TrainConfig,
        net: &CnnConfig,
        set: &ViewSet,
        device: &Device,
    ) -> super::super::Fit<crate::models::Classifier> {
        train(
            cfg,
            &Network::Cnn(net.clone()),
            Input::Views(set),
            &[],
            device,
            (),
        )
        .unwrap()
        .fit
    }

    /// Batches gathered and augmented from views staged in device memory are the host's
    /// batches pixel for pixel, and draw the same random numbers: with every view, and with
    /// a random few of them, of one channel and of two.
    #[test]
    fn staged_batches_equal_host_batches() {
        let device = Device::flex();
        let mut one = crate::fixtures::squares_and_crosses(20, 3, 4);
        one.channels = 1;
        let two = two_channels(&one);
        for (base, keep) in [(&one, 0), (&one, 2), (&two, 1), (&two, 3)] {
            let mut host = base.clone();
            host.augment = AugmentSpec {
                flip: true,
                jitter: 3,
                views: keep,
            };
            let mut staged = host.clone();
            staged.upload(&device);
            assert!(staged.staged.is_some());
            // On the CPU itself nothing is staged: the views are in memory already.
            assert!(!host.clone().stage(&device));
            let idx = [7usize, 0, 19, 3, 3, 11];
            let (mut a, mut b) = (
                crate::seeding::rng(5, Stream::ViewBatches),
                crate::seeding::rng(5, Stream::ViewBatches),
            );
            let kept = if keep == 0 || keep >= 3 { 3 } else { keep };
            for _ in 0..4 {
                let want = host.batch(&idx, Some(&mut a), &device);
                let got = staged.batch(&idx, Some(&mut b), &device);
                assert_eq!(want.dims(), [6, kept * host.channel_count(), 16, 16]);
                assert_eq!(got.dims(), want.dims());
                let (w, g): (Vec<f32>, Vec<f32>) = (
                    want.into_data().try_to_vec().unwrap(),
                    got.into_data().try_to_vec().unwrap(),
                );
                assert_eq!(w, g, "{keep} views of {} channels", host.channel_count());
            }
            assert_eq!(a.random::<u64>(), b.random::<u64>());
            // Prediction batches (no augmentation, every view), on the autodiff device too.
            let ad = device.clone().autodiff();
            let want = host.batch(&idx, None, &ad);
            assert_eq!(want.dims(), [6, host.planes(), 16, 16]);
            let w: Vec<f32> = want.into_data().try_to_vec().unwrap();
            let got = staged.batch(&idx, None, &ad);
            assert!(got.is_autodiff());
            let g: Vec<f32> = got.into_data().try_to_vec().unwrap();
            assert_eq!(w, g);
        }
    }

    /// A training batch that keeps `k` views holds, for each shape, `k` distinct views of
    /// that shape (each with all its channels, in order) and varies which ones it draws.
    #[test]
    fn kept_views_are_distinct_views_of_their_shape() {
        let device = Device::flex();
        let mut set = two_channels(&crate::fixtures::squares_and_crosses(8, 6, 9));
        set.augment.views = 2;
        let plane = 16 * 16;
        let mut rng = crate::seeding::rng(1, Stream::ViewBatches);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..10 {
            let idx = [5usize, 2];
            let x: Vec<f32> = set
                .batch(&idx, Some(&mut rng), &device)
                .into_data()
                .try_to_vec()
                .unwrap();
            assert_eq!(x.len(), 2 * 2 * 2 * plane);
            for (b, &i) in idx.iter().enumerate() {
                let own: Vec<f32> = set
                    .shape_pixels(i)
                    .iter()
                    .map(|&p| f32::from(p) * (1.0 / 255.0))
                    .collect();
                let mut found = Vec::new();
                for kept in 0..2 {
                    let view = &x[(b * 2 + kept) * 2 * plane..(b * 2 + kept + 1) * 2 * plane];
                    let v = (0..6)
                        .find(|v| own[v * 2 * plane..(v + 1) * 2 * plane] == *view)
                        .expect("each kept view is one of the shape's own views");
                    found.push(v);
                }
                assert!(found[0] < found[1], "distinct, in order: {found:?}");
                seen.insert(found);
            }
        }
        assert!(seen.len() > 3, "draws vary: {seen:?}");
    }

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
        let t = train_cnn(&cfg, &net_cfg, &train_set, &device);
        let pred = argmax_rows(
            &predict_proba(&t.net, &Input::Views(test_set.clone()), &device),
            2,
        );
        let acc = accuracy(&pred, &test_set.y);
        assert!(acc > 0.9, "test accuracy {acc}");
        assert!(t.history[0].loss > t.history.last().unwrap().loss);
        assert_eq!(t.best_epoch, 12);
    }

    /// `base`'s shapes with a second channel after each view: the view's own pixels halved.
    fn two_channels(base: &ViewSet) -> ViewSet {
        let n = base.resolution * base.resolution;
        let mut set = ViewSet {
            pixels: Vec::new(),
            channels: 2,
            ..base.clone()
        };
        for plane in base.pixels.chunks_exact(n) {
            set.pixels.extend_from_slice(plane);
            set.pixels.extend(plane.iter().map(|p| p / 2));
        }
        set
    }

    #[test]
    fn a_two_channel_cnn_trains_a_step_and_predicts() {
        let (v, r) = (2usize, 16usize);
        let set = two_channels(&crate::fixtures::squares_and_crosses(24, v, 5));
        assert_eq!(set.planes(), 4);
        let device = Device::flex();
        assert_eq!(set.batch(&[0, 1, 2], None, &device).dims(), [3, 4, r, r]);
        let mut cfg = TrainConfig::defaults(crate::models::ModelKind::Cnn);
        cfg.epochs = 1;
        cfg.val_fraction = 0.0;
        let net_cfg = CnnConfig {
            channels: vec![4],
            features: 8,
            in_channels: 2,
            ..CnnConfig::new(v, r, 2)
        };
        let t = train_cnn(&cfg, &net_cfg, &set, &device);
        assert_eq!(t.train_size, 24);
        assert!(t.history[0].loss.is_finite());
        assert_eq!(
            t.net.view_branch().unwrap().first_filters().unwrap().dims(),
            [4, 2, 3, 3]
        );
        let p = predict_proba(&t.net, &Input::Views(set.clone()), &device);
        assert_eq!(p.len(), 24 * 2);
        for row in p.chunks(2) {
            assert!(row.iter().all(|q| q.is_finite()));
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        // Each view's two channels go into the network together: reversing the order of the
        // views (each with its channels) leaves the pooled prediction unchanged, which it
        // would not if channels were taken from neighbouring views.
        let per_view = 2 * r * r;
        let mut rev = set.clone();
        rev.pixels.clear();
        for shape in set.pixels.chunks_exact(v * per_view) {
            for view in shape.chunks_exact(per_view).rev() {
                rev.pixels.extend_from_slice(view);
            }
        }
        let q = predict_proba(&t.net, &Input::Views(rev.clone()), &device);
        for (a, b) in p.iter().zip(&q) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Model configurations saved before channels existed read as one channel.
        let mut old = serde_json::to_value(CnnConfig::new(v, r, 2)).unwrap();
        old.as_object_mut().unwrap().remove("in_channels");
        let old: CnnConfig = serde_json::from_value(old).unwrap();
        assert_eq!(old.in_channels, 1);
    }

    #[test]
    fn augmented_copies_stay_with_their_mesh_in_the_validation_split() {
        // 12 meshes of two classes, each with its views and two augmented renderings.
        let base = crate::fixtures::halves(12);
        let mut set = ViewSet {
            pixels: Vec::new(),
            y: Vec::new(),
            paths: Vec::new(),
            ..base.clone()
        };
        for i in 0..base.len() {
            for k in 0..3u32 {
                set.pixels.extend_from_slice(&base.shape_pixels(i));
                set.y.push(base.y[i]);
                set.paths.push(base.paths[i].clone());
                set.copies.push(k);
            }
        }
        // Without a validation split every copy trains: meshes * (K + 1).
        let (tr, va) = set.split_by_mesh(0.0, 1);
        assert_eq!((tr.len(), va.len()), (12 * 3, 0));
        let (tr, va) = set.split_by_mesh(0.25, 1);
        // Validation holds meshes' own views only, and none of its meshes trains.
        assert_eq!(va.len(), 4);
        assert!(va.iter().all(|&i| set.copy(i) == 0));
        let held: std::collections::HashSet<&str> =
            va.iter().map(|&i| set.paths[i].as_str()).collect();
        assert!(tr.iter().all(|&i| !held.contains(set.paths[i].as_str())));
        assert_eq!(tr.len(), (12 - 4) * 3);
        // The meshes held out are those the plain split holds out without copies.
        let (_, plain_va) = base.split_by_mesh(0.25, 1);
        let plain: std::collections::HashSet<&str> =
            plain_va.iter().map(|&i| base.paths[i].as_str()).collect();
        assert_eq!(held, plain);
        // Subsets keep which copy each shape is.
        let sub = set.subset(&tr);
        assert_eq!(sub.copies.len(), sub.len());
        assert_eq!(sub.copies.iter().filter(|&&k| k == 0).count(), 8);
        let mut cfg = TrainConfig::defaults(crate::models::ModelKind::Cnn);
        cfg.epochs = 1;
        cfg.val_fraction = 0.25;
        let net_cfg = CnnConfig {
            channels: vec![4],
            features: 8,
            ..CnnConfig::new(2, 16, 2)
        };
        let t = train_cnn(&cfg, &net_cfg, &set, &Device::flex());
        assert_eq!((t.train_size, t.val_size), (24, 4));
    }
}
