//! The one training loop every model goes through: seeded shuffling, minibatches from a
//! [`Batcher`], the optimiser step, per-epoch validation, early stopping that keeps the best
//! epoch's weights, and divergence detection.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::{Checkpoints, Snapshot};
use super::{TrainConfig, sample_weights};
use crate::models::{nll_loss, probabilities};
use crate::observe::EpochStats;
use crate::seeding::Stream;

/// A network the loop can train: a batch in, logits out.
pub trait Learner: Module {
    /// What one batch of inputs is (a matrix of rows, a stack of view images).
    type Input;
    /// Logits `[batch, outputs]`; one output stands for two classes (a sigmoid).
    fn logits(&self, x: Self::Input) -> Tensor<2>;
}

/// Labelled inputs of one kind, turned into batches on a device.
pub trait Batcher: Sized + Sync {
    /// The batch type the matching [`Learner`] takes.
    type Input;
    /// Random stream that shuffles (and augments) this kind of input.
    fn stream(&self) -> Stream;
    /// Samples per batch when only predicting.
    fn eval_chunk(&self) -> usize;
    /// Whether the epoch's training accuracy is measured by a second pass over the training
    /// samples after the epoch (cheap inputs) or on the batches as they were trained (for
    /// expensive ones, where a second pass would cost a third of an epoch).
    fn second_pass(&self) -> bool;
    /// Samples.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Class index of each sample.
    fn labels(&self) -> &[usize];
    /// The samples at `idx`, in that order.
    fn subset(&self, idx: &[usize]) -> Self;
    /// The samples at `idx` as one batch on `device`; `augment` carries the run's random
    /// stream when training (draws in sample order), `None` when predicting.
    fn batch(
        &self,
        idx: &[usize],
        augment: Option<&mut ChaCha8Rng>,
        device: &Device,
    ) -> Self::Input;
}

/// A trained network and how training went: what every model's training hands back.
pub struct Fit<N> {
    /// The kept network (the best epoch's, or the last without validation), in inference
    /// mode on the plain (non-autodiff) device.
    pub net: N,
    /// Per-epoch history.
    pub history: Vec<EpochStats>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Training samples (after the validation split).
    pub train_size: usize,
    /// Validation samples.
    pub val_size: usize,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// The epoch in which the loss became NaN or infinite, if it did; training stopped there
    /// and the model must not be used.
    pub diverged: Option<usize>,
    /// Whether the caller stopped training ([`Progress::stopped`]) before its last epoch: the
    /// network is unfinished and must not be used. The last checkpoint written stays, for a
    /// resumed run to continue from.
    pub interrupted: bool,
    /// Training samples per second (forward and backward).
    pub samples_per_second: f64,
}

/// Splits `data` into training and validation samples: a seeded, stratified `val_fraction`
/// of each class (see [`super::validation_split`]).
pub fn split<B: Batcher>(data: &B, val_fraction: f64, seed: u64) -> (B, B) {
    let (tr, va) = super::validation_split(data.labels(), val_fraction, seed);
    (data.subset(&tr), data.subset(&va))
}

/// Whether `device` is an accelerator (anything but burn-flex on the CPU): there, inputs are
/// staged in device memory, and evaluation runs in fixed-size chunks.
pub(crate) fn is_accelerator(device: &Device) -> bool {
    device.clone().inner() != Device::flex()
}

/// Samples per evaluation chunk on an accelerator: large enough to fill a GPU, and one size for
/// every chunk, so the kernels tuned for it serve them all.
pub const ACCELERATOR_EVAL_CHUNK: usize = 256;

/// Class probabilities, row-major `[samples, classes]`, of every sample of `data`.
///
/// On an accelerator every chunk has [`ACCELERATOR_EVAL_CHUNK`] samples: a short last chunk is
/// padded with repeats of its first sample (in inference every sample is computed on its own,
/// so the padding changes no other row) and the padding's rows dropped, so that no new input
/// shape sets off another round of kernel autotuning.
pub fn predict_proba<N, B>(net: &N, data: &B, device: &Device) -> Vec<f32>
where
    N: Learner,
    B: Batcher<Input = N::Input>,
{
    let all: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::with_capacity(data.len());
    let fixed = is_accelerator(device);
    // Fewer samples than one chunk are padded only up to the next power of two: a handful of
    // shapes to predict should not cost a full chunk.
    let size = if fixed {
        ACCELERATOR_EVAL_CHUNK.min(data.len().next_power_of_two())
    } else {
        data.eval_chunk().max(1)
    };
    let mut padded = Vec::with_capacity(size);
    for idx in all.chunks(size) {
        let real = idx.len();
        let idx = if fixed && real < size {
            padded.clear();
            padded.extend_from_slice(idx);
            padded.resize(size, idx[0]);
            &padded[..]
        } else {
            idx
        };
        let p = probabilities(net.logits(data.batch(idx, None, device)));
        let [_, k] = p.dims();
        let mut v = p
            .into_data()
            .try_to_vec::<f32>()
            .expect("float probabilities");
        v.truncate(k * real);
        out.extend(v);
    }
    out
}

/// What a training run tells its caller as it goes, and where it keeps its checkpoints. Any
/// closure `FnMut(&EpochStats)` is one: it sees each epoch's numbers and keeps no checkpoints.
pub trait Progress {
    /// An epoch ended with these numbers.
    fn epoch(&mut self, stats: &EpochStats);
    /// `done` of the `total` batches of `epoch` are trained.
    fn batch(&mut self, _epoch: usize, _done: usize, _total: usize) {}
    /// Where to write a checkpoint after an epoch (throttled to about 5% of training time) and
    /// to resume from; `None` keeps none.
    fn checkpoints(&self) -> Option<&Checkpoints> {
        None
    }
    /// Something the caller should know that does not stop training (a checkpoint that could
    /// not be read or written).
    fn warning(&mut self, _message: &str) {}
    /// Whether the caller asks training to stop (a Ctrl-C in Python): asked after every batch,
    /// and `true` ends the run there ([`Fit::interrupted`]).
    fn stopped(&self) -> bool {
        false
    }
}

/// A closure sees each epoch's numbers (its argument typed, `|e: &EpochStats| ...`, since the
/// signature cannot be inferred through the trait).
impl<F: FnMut(&EpochStats)> Progress for F {
    fn epoch(&mut self, stats: &EpochStats) {
        self(stats)
    }
}

/// Nothing to report and no checkpoints.
impl Progress for () {
    fn epoch(&mut self, _: &EpochStats) {}
}

/// Trains the network `init` builds on `train`, choosing the epoch by `val` (when not empty),
/// with the shared settings of `cfg`; `progress` sees each epoch's numbers as they come.
///
/// When `progress` names [`Checkpoints`], the run writes one after each epoch (or every few,
/// when epochs take milliseconds) and, when one is there already, resumes from it: the weights
/// and history it returns are those of an uninterrupted run. Each epoch's random draws come
/// from the seed and the epoch alone (the batch order's generator is saved; Burn's device
/// generator, which drives dropout, is re-seeded from [`crate::seeding::epoch_seed`] from the
/// second epoch on).
///
/// Runs in one process take turns: Burn's random stream (initialisation, dropout) belongs to
/// the backend, not to a run, so a second `fit` called from another thread waits until the
/// first returns, and each run's draws flow from its own seed alone. Parallel runs with
/// reproducible results need separate processes.
pub fn fit<N, B>(
    cfg: &TrainConfig,
    classes: usize,
    init: impl FnOnce(&Device) -> N,
    train: &B,
    val: &B,
    device: &Device,
    mut progress: impl Progress,
) -> Fit<N>
where
    N: Learner,
    B: Batcher<Input = N::Input>,
{
    let k = classes;
    let _guard = turn(|| {
        progress.warning(
            "another training run in this process is under way: this one waits for it to end \
             (Burn's random stream is shared by the process; parallel runs need separate processes)",
        )
    });
    device.seed(cfg.seed);
    let ad = device.clone().autodiff();
    let weights = sample_weights(train.labels(), k, cfg.class_weight);
    let mut net = init(&ad);
    let mut optim = cfg.optimizer();
    let mut rng = crate::seeding::rng(cfg.seed, train.stream());
    let mut order: Vec<usize> = (0..train.len()).collect();
    let bs = cfg.batch_size.max(1);
    let batches_per_epoch = train.len().div_ceil(bs);
    let total_steps = cfg.epochs.max(1) * batches_per_epoch;
    let mut step = 0usize;

    let start = Instant::now();
    let mut seconds_before = 0.0;
    let mut samples = 0usize;
    let mut history = Vec::new();
    let mut stopping = EarlyStopping::new(cfg.patience);
    let mut first_epoch = 1;
    let mut finished = false;
    if let Some(ck) = progress.checkpoints() {
        match ck.load(net.clone(), cfg.optimizer(), rng.clone()) {
            Ok(Some(r)) => {
                net = r.net;
                optim = r.optim;
                rng = r.rng;
                step = r.state.step;
                samples = r.state.samples;
                seconds_before = r.state.seconds;
                first_epoch = r.state.epoch + 1;
                finished = r.state.finished;
                if let (Some(b), Some(m)) = (&r.state.best, r.best) {
                    stopping.restore(b.accuracy, b.loss, b.epoch, m, r.state.since_best);
                }
                history = r.state.history;
            }
            Ok(None) => {}
            Err(e) => {
                let msg = format!(
                    "the checkpoint in {} cannot be resumed from ({e}); training starts over",
                    ck.dir().display()
                );
                progress.warning(&msg);
            }
        }
    }
    let (mut by, mut bw) = (Vec::new(), Vec::new());
    let mut diverged = None;
    let mut interrupted = false;
    let last_epoch = if finished { 0 } else { cfg.epochs.max(1) };
    'epochs: for epoch in first_epoch..=last_epoch {
        // Dropout's draws for this epoch, from the seed and the epoch alone (so that a resumed
        // run draws what an uninterrupted one would have). The first epoch keeps drawing from
        // the run's seed, as the lazily initialised weights do in its first step: no run
        // resumes before it.
        if epoch > 1 {
            device.seed(crate::seeding::epoch_seed(cfg.seed, epoch));
        }
        // Each epoch shuffles the samples from their first order, so the order depends on the
        // generator alone, whose position a checkpoint saves.
        for (i, o) in order.iter_mut().enumerate() {
            *o = i;
        }
        order.shuffle(&mut rng);
        // The epoch's loss sum and correct count stay on the device: reading them back at every
        // step would make the host wait for the device at every step (on a GPU, most of the
        // time). They are read once, after the epoch.
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut correct: Option<Tensor<1, Int>> = None;
        let mut batches = 0usize;
        for chunk in order.chunks(bs) {
            by.clear();
            bw.clear();
            for &i in chunk {
                by.push(train.labels()[i]);
                bw.push(weights[i]);
            }
            let x = train.batch(chunk, Some(&mut rng), &ad);
            let logits = net.logits(x);
            let loss = nll_loss(logits.clone(), &by, &bw);
            if !train.second_pass() {
                let c = correct_count(logits.detach().inner(), &by);
                correct = Some(match correct {
                    Some(s) => s.add(c),
                    None => c,
                });
            }
            let l = loss.clone().detach().inner();
            loss_sum = Some(match loss_sum {
                Some(s) => s.add(l),
                None => l,
            });
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(cfg.schedule.rate(cfg.lr, step, total_steps), net, grads);
            step += 1;
            samples += chunk.len();
            progress.batch(epoch, batches, batches_per_epoch);
            if progress.stopped() {
                interrupted = true;
                break 'epochs;
            }
        }
        let loss_sum = loss_sum.map_or(0.0, |t| f64::from(t.into_scalar::<f32>()));
        if !loss_sum.is_finite() {
            // A step of this epoch diverged: the weights are garbage from there on. The epoch is
            // discarded, and the caller refuses the model.
            diverged = Some(epoch);
            break 'epochs;
        }
        let correct = correct.map_or(0, |t| t.into_scalar::<i64>().max(0) as usize);
        let eval = net.valid();
        let train_accuracy = if train.second_pass() {
            let pred = argmax_rows(&predict_proba(&eval, train, device), k);
            accuracy(&pred, train.labels())
        } else {
            correct as f64 / train.len().max(1) as f64
        };
        let (val_accuracy, val_loss) = if val.is_empty() {
            (None, None)
        } else {
            let (acc, nll) = score(&predict_proba(&eval, val, device), val.labels(), k);
            (Some(acc), Some(nll))
        };
        let stats = EpochStats {
            epoch,
            loss: loss_sum / batches.max(1) as f64,
            train_accuracy,
            val_accuracy,
            val_loss,
        };
        progress.epoch(&stats);
        let stop = stopping.observe(&stats, || eval);
        history.push(stats);
        let done = stop || epoch == last_epoch;
        if let Some(ck) = progress.checkpoints()
            && ck.due(done)
        {
            let snapshot = Snapshot {
                epoch,
                step,
                samples,
                seconds: seconds_before + start.elapsed().as_secs_f64(),
                rng: &rng,
                history: &history,
                best: stopping.best(),
                since_best: stopping.since_best,
                finished: done,
            };
            if let Err(e) = ck.save(&snapshot, &net, stopping.best_model(), &optim) {
                let msg = format!(
                    "could not write the checkpoint in {} ({e}); training goes on, but cannot be resumed from this epoch",
                    ck.dir().display()
                );
                progress.warning(&msg);
            }
        }
        if stop {
            break;
        }
    }
    let train_seconds = seconds_before + start.elapsed().as_secs_f64();
    let (net, best_epoch) = stopping.finish(|| net.valid(), history.len());
    Fit {
        net,
        history,
        best_epoch,
        train_size: train.len(),
        val_size: val.len(),
        train_seconds,
        samples_per_second: samples as f64 / train_seconds.max(1e-9),
        diverged,
        interrupted,
    }
}

/// How many rows of `logits` (`[batch, outputs]`, on the device) predict their label, counted
/// on the device: the largest logit, or for a single logit (two classes through a sigmoid)
/// whether it is positive.
fn correct_count(logits: Tensor<2>, labels: &[usize]) -> Tensor<1, Int> {
    let device = logits.device();
    let [n, outputs] = logits.dims();
    let pred = if outputs == 1 {
        logits.greater_elem(0.0).int()
    } else {
        logits.argmax(1)
    };
    let y = Tensor::<2, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n, 1]),
        &device,
    );
    pred.equal(y).int().sum()
}

/// Index of the largest value of each row of `k` values.
pub fn argmax_rows(p: &[f32], k: usize) -> Vec<usize> {
    p.chunks_exact(k)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0
        })
        .collect()
}

pub(crate) fn accuracy(pred: &[usize], y: &[usize]) -> f64 {
    pred.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64
}

/// Keeps the best model by validation accuracy (ties broken by lower validation loss) and says
/// when `patience` epochs have passed without a better one.
pub(crate) struct EarlyStopping<M> {
    best: Option<(f64, f64, usize, M)>,
    since_best: usize,
    patience: usize,
}

impl<M> EarlyStopping<M> {
    pub(crate) fn new(patience: usize) -> Self {
        EarlyStopping {
            best: None,
            since_best: 0,
            patience,
        }
    }

    /// Records an epoch's validation scores; `model` is called only when they are the best so
    /// far. Returns whether training should stop.
    pub(crate) fn observe(&mut self, stats: &EpochStats, model: impl FnOnce() -> M) -> bool {
        let (Some(acc), Some(vl)) = (stats.val_accuracy, stats.val_loss) else {
            return false;
        };
        let better = self
            .best
            .as_ref()
            .is_none_or(|(ba, bl, _, _)| acc > *ba || (acc == *ba && vl < *bl));
        if better {
            self.best = Some((acc, vl, stats.epoch, model()));
            self.since_best = 0;
            false
        } else {
            self.since_best += 1;
            self.patience > 0 && self.since_best >= self.patience
        }
    }

    /// Accuracy, loss and epoch of the best epoch so far.
    pub(crate) fn best(&self) -> Option<(f64, f64, usize)> {
        self.best.as_ref().map(|(a, l, e, _)| (*a, *l, *e))
    }

    /// The best epoch's model, if there is one.
    pub(crate) fn best_model(&self) -> Option<&M> {
        self.best.as_ref().map(|(.., m)| m)
    }

    /// The state a checkpoint recorded: the best epoch's scores and model, and the epochs since.
    pub(crate) fn restore(&mut self, acc: f64, loss: f64, epoch: usize, model: M, since: usize) {
        self.best = Some((acc, loss, epoch, model));
        self.since_best = since;
    }

    /// The best model and its epoch, or `last()` and `last_epoch` without validation.
    pub(crate) fn finish(self, last: impl FnOnce() -> M, last_epoch: usize) -> (M, usize) {
        match self.best {
            Some((_, _, e, m)) => (m, e),
            None => (last(), last_epoch),
        }
    }
}

/// Accuracy and mean negative log-likelihood of probabilities `p` (`[n, k]`) for labels `y`.
pub(crate) fn score(p: &[f32], y: &[usize], k: usize) -> (f64, f64) {
    let nll = y
        .iter()
        .enumerate()
        .map(|(i, &c)| -f64::from(p[i * k + c].max(1e-12)).ln())
        .sum::<f64>()
        / y.len().max(1) as f64;
    (accuracy(&argmax_rows(p, k), y), nll)
}

/// Burn's random stream (initialisation, dropout) is per backend, not per run: two runs
/// interleaving in one process would each see the other's draws. Holding this lock for a whole
/// run keeps every draw of a run flowing from its seed alone.
static RUN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The run's turn (see [`RUN_LOCK`]), for tests that draw from the stream outside `fit`.
#[cfg(test)]
pub(crate) fn one_run_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    turn(|| {})
}

/// Takes the run's turn (see [`RUN_LOCK`]), calling `waiting` first when another run holds it,
/// so that the wait is told rather than silent.
fn turn(waiting: impl FnOnce()) -> std::sync::MutexGuard<'static, ()> {
    match RUN_LOCK.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            waiting();
            RUN_LOCK.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}
