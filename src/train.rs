//! One training loop for the descriptor models: standardisation with training statistics, a
//! seeded stratified validation split, minibatch training with early stopping, evaluation.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::dataset::Split;
use crate::features::FeatureTable;
use crate::models::{Activation, BackendKind, ModelKind, Net, NetConfig};

/// Optimiser choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Plain stochastic gradient descent.
    Sgd,
    /// SGD with momentum 0.9.
    Momentum,
    /// Adam.
    Adam,
}

/// How classes are weighted in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Every instance counts the same.
    None,
    /// Instances weighted inversely to their class's frequency, so a rare class (one class
    /// against the rest) is not ignored.
    Balanced,
}

/// Every hyperparameter of a training run; saved as the model's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Logistic or MLP.
    pub model: ModelKind,
    /// CPU or GPU.
    pub backend: BackendKind,
    /// Seed for initialisation, shuffling and the validation split.
    pub seed: u64,
    /// Maximum epochs.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch_size: usize,
    /// L2 penalty on the weights.
    pub weight_decay: f32,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Hidden layer widths (MLP).
    pub hidden: Vec<usize>,
    /// Hidden nonlinearity (MLP).
    pub activation: Activation,
    /// Dropout after hidden layers (MLP).
    pub dropout: f64,
    /// Share of each training class held out for early stopping; 0 trains on all of it.
    pub val_fraction: f64,
    /// Epochs without a better validation score before stopping.
    pub patience: usize,
    /// Loss weighting of classes.
    pub class_weight: ClassWeight,
    /// One class against the rest (a two-class task), instead of all classes.
    pub positive: Option<String>,
    /// Choose `weight_decay` from [`WEIGHT_DECAY_GRID`] by stratified k-fold cross-validation
    /// on the training rows before the final fit: the right L2 strength depends on the data.
    #[serde(default)]
    pub tune_weight_decay: bool,
    /// Output channels of the CNN's conv blocks.
    #[serde(default)]
    pub channels: Vec<usize>,
    /// CNN augmentation: a seeded random mirror image of each training shape (all its views
    /// flipped left to right) per batch.
    #[serde(default)]
    pub flip: bool,
    /// CNN augmentation: shift each training shape's views by up to this many pixels (seeded,
    /// background filled in).
    #[serde(default)]
    pub jitter: usize,
}

/// L2 strengths tried by cross-validation.
pub const WEIGHT_DECAY_GRID: [f32; 5] = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1];

/// Mean cross-validated accuracy of each weight decay tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvScore {
    /// L2 strength.
    pub weight_decay: f32,
    /// Mean accuracy over the held-out folds.
    pub accuracy: f64,
}

/// Picks the weight decay with the best mean accuracy over stratified, seeded folds of the
/// training rows (ties go to the stronger penalty). Returns it with every score.
pub fn tune_weight_decay(
    cfg: &TrainConfig,
    data: &Prepared,
    device: &Device,
) -> (f32, Vec<CvScore>) {
    let d = data.columns.len();
    let k = data.classes.len();
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &c) in data.train.y.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let smallest = by_class.values().map(Vec::len).min().unwrap_or(0);
    let folds = smallest.clamp(2, 5);
    let mut fold_of = vec![0usize; data.train.len()];
    let mut rng = crate::seeding::rng(cfg.seed, crate::seeding::Stream::Folds);
    for idx in by_class.values_mut() {
        idx.shuffle(&mut rng);
        for (j, &i) in idx.iter().enumerate() {
            fold_of[i] = j % folds;
        }
    }
    let mut scores = Vec::new();
    for &wd in &WEIGHT_DECAY_GRID {
        let mut acc = 0.0;
        for f in 0..folds {
            let tr: Vec<usize> = (0..data.train.len()).filter(|&i| fold_of[i] != f).collect();
            let te: Vec<usize> = (0..data.train.len()).filter(|&i| fold_of[i] == f).collect();
            let part = Prepared {
                classes: data.classes.clone(),
                columns: data.columns.clone(),
                train: data.train.subset(&tr, d),
                test: data.train.subset(&te, d),
            };
            let c = TrainConfig {
                weight_decay: wd,
                tune_weight_decay: false,
                val_fraction: 0.0,
                ..cfg.clone()
            };
            let t = train(&c, &part, device, |_| {});
            let mut x = part.test.x.clone();
            t.standardizer.apply(&mut x);
            let pred = argmax_rows(&predict_proba(&t.net, &x, d, device), k);
            acc += accuracy(&pred, &part.test.y) / folds as f64;
        }
        scores.push(CvScore {
            weight_decay: wd,
            accuracy: acc,
        });
    }
    let best = scores
        .iter()
        .fold(
            &scores[0],
            |b, s| if s.accuracy >= b.accuracy { s } else { b },
        )
        .weight_decay;
    (best, scores)
}

impl TrainConfig {
    /// Defaults measured to work for each model on descriptor tables.
    pub fn defaults(model: ModelKind) -> TrainConfig {
        match model {
            ModelKind::Logistic => TrainConfig {
                model,
                backend: BackendKind::Cpu,
                seed: 0,
                epochs: 300,
                lr: 0.01,
                batch_size: 64,
                weight_decay: 1e-3,
                optimizer: OptimizerKind::Adam,
                hidden: vec![],
                activation: Activation::Relu,
                dropout: 0.0,
                val_fraction: 0.0,
                patience: 0,
                class_weight: ClassWeight::None,
                positive: None,
                tune_weight_decay: true,
                channels: vec![],
                flip: false,
                jitter: 0,
            },
            ModelKind::Mlp => TrainConfig {
                model,
                backend: BackendKind::Cpu,
                seed: 0,
                epochs: 300,
                lr: 1e-3,
                batch_size: 64,
                weight_decay: 1e-4,
                optimizer: OptimizerKind::Adam,
                hidden: vec![256, 128],
                activation: Activation::Relu,
                dropout: 0.3,
                val_fraction: 0.15,
                patience: 40,
                class_weight: ClassWeight::None,
                positive: None,
                tune_weight_decay: false,
                channels: vec![],
                flip: false,
                jitter: 0,
            },
            ModelKind::Cnn => TrainConfig {
                model,
                backend: BackendKind::Cpu,
                seed: 0,
                epochs: 40,
                lr: 1e-3,
                batch_size: 16,
                weight_decay: 1e-4,
                optimizer: OptimizerKind::Adam,
                hidden: vec![256],
                activation: Activation::Relu,
                dropout: 0.5,
                val_fraction: 0.1,
                patience: 15,
                class_weight: ClassWeight::None,
                positive: None,
                tune_weight_decay: false,
                channels: vec![32, 64, 128],
                flip: true,
                jitter: 2,
            },
        }
    }

    /// Largest number of trainable parameters accepted: 2^28 (1 GiB of weights, about 4 GiB
    /// with gradients and Adam's moments), so an impossible size is refused with a message
    /// instead of dying in an allocation.
    pub const MAX_PARAMETERS: u64 = 1 << 28;

    /// Checks every hyperparameter is finite and in range before anything is trained: a value
    /// that cannot train (or cannot be saved and read back, as infinities in JSON) is refused
    /// with a message naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        let fin = |name: &str, v: f64, lo: f64, hi: f64, lo_open: bool| {
            let ok = v.is_finite() && (if lo_open { v > lo } else { v >= lo }) && v <= hi;
            if ok {
                Ok(())
            } else {
                let open = if lo_open { "(" } else { "[" };
                Err(format!("--{name} is {v}; it must lie in {open}{lo}, {hi}]"))
            }
        };
        fin("lr", self.lr, 0.0, 10.0, true)?;
        fin(
            "weight-decay",
            f64::from(self.weight_decay),
            0.0,
            10.0,
            false,
        )?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "--dropout is {}; it must lie in [0, 1)",
                self.dropout
            ));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(format!(
                "--val-fraction is {}; it must lie in [0, 1)",
                self.val_fraction
            ));
        }
        if !(1..=100_000).contains(&self.epochs) {
            return Err(format!(
                "--epochs is {}; it must lie in [1, 100000]",
                self.epochs
            ));
        }
        if !(1..=1 << 20).contains(&self.batch_size) {
            return Err(format!(
                "--batch-size is {}; it must lie in [1, 1048576]",
                self.batch_size
            ));
        }
        if self.jitter > 64 {
            return Err(format!("--jitter is {}; at most 64 pixels", self.jitter));
        }
        let widths = |name: &str, v: &[usize], max: usize| {
            if v.iter().any(|&w| w == 0 || w > max) {
                Err(format!("--{name} widths must lie in [1, {max}], got {v:?}"))
            } else {
                Ok(())
            }
        };
        widths("hidden", &self.hidden, 1 << 16)?;
        widths("channels", &self.channels, 4096)?;
        // Weights between consecutive layers; the input width is not known yet but is small
        // next to these (a descriptor table has a few hundred columns).
        let mut params = 0u64;
        for w in self.hidden.windows(2) {
            params += w[0] as u64 * w[1] as u64;
        }
        for w in self.channels.windows(2) {
            params += 9 * w[0] as u64 * w[1] as u64;
        }
        if params > Self::MAX_PARAMETERS {
            return Err(format!(
                "--hidden {:?} / --channels {:?} make {params} parameters, more than the {} this machine can train; choose smaller layers",
                self.hidden,
                self.channels,
                Self::MAX_PARAMETERS
            ));
        }
        Ok(())
    }

    pub(crate) fn optimizer(&self) -> ModuleOptimizer {
        let decay = (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay));
        match self.optimizer {
            OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(decay).init(),
            OptimizerKind::Momentum => SgdConfig::new()
                .with_weight_decay(decay)
                .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
                .init(),
            OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        }
    }
}

/// Problems with the data a model is asked to learn from.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// No rows at all.
    #[error("the feature table has no rows")]
    Empty,
    /// Fewer than two classes among the training rows.
    #[error("training needs at least two classes, the training rows have {0}")]
    OneClass(usize),
    /// No rows in the test split.
    #[error("the feature table has no test rows: nothing to measure accuracy on")]
    NoTest,
    /// No rows in the train split.
    #[error("the feature table has no train rows")]
    NoTrain,
    /// `--positive` names a class not in the table.
    #[error("class {0:?} is not in the feature table (classes: {1})")]
    UnknownClass(String, String),
}

/// Per-column mean and standard deviation of the training rows; applied to every input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Means.
    pub mean: Vec<f32>,
    /// Standard deviations (1 for constant columns).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits on row-major `x` with `d` columns.
    pub fn fit(columns: &[String], x: &[f32]) -> Standardizer {
        let d = columns.len();
        let n = (x.len() / d).max(1) as f64;
        let mut mean = vec![0f64; d];
        for r in x.chunks_exact(d) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += f64::from(v) / n;
            }
        }
        let mut var = vec![0f64; d];
        for r in x.chunks_exact(d) {
            for ((s, &v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (f64::from(v) - m).powi(2) / n;
            }
        }
        Standardizer {
            columns: columns.to_vec(),
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&v| {
                    if v.sqrt() > 1e-9 {
                        v.sqrt() as f32
                    } else {
                        1.0
                    }
                })
                .collect(),
        }
    }

    /// Standardises row-major `x` in place. A spread that is zero, negative or not finite
    /// (only a hand-edited `normalization.json` has one; [`Standardizer::fit`] never makes one)
    /// divides by 1, so no value becomes infinite or NaN.
    pub fn apply(&self, x: &mut [f32]) {
        let d = self.columns.len();
        for r in x.chunks_exact_mut(d) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.std) {
                let s = if s.is_finite() && *s > 1e-12 { *s } else { 1.0 };
                *v = (*v - m) / s;
            }
        }
    }

    /// Checks stored statistics: every mean finite, every spread finite and positive.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(i) = self.mean.iter().position(|m| !m.is_finite()) {
            return Err(format!("mean of column {} is not finite", self.columns[i]));
        }
        if let Some(i) = self.std.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(format!(
                "standard deviation of column {} is {}, not a finite non-negative number",
                self.columns[i], self.std[i]
            ));
        }
        Ok(())
    }
}

/// Rows of one split as a matrix with labels.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Row-major features, `len = n * d`.
    pub x: Vec<f32>,
    /// Class index of each row.
    pub y: Vec<usize>,
    /// Mesh path of each row.
    pub paths: Vec<String>,
}

impl Samples {
    /// Rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn push(&mut self, x: &[f32], y: usize, path: &str) {
        self.x.extend_from_slice(x);
        self.y.push(y);
        self.paths.push(path.to_string());
    }

    pub(crate) fn subset(&self, idx: &[usize], d: usize) -> Samples {
        let mut s = Samples::default();
        for &i in idx {
            s.push(&self.x[i * d..(i + 1) * d], self.y[i], &self.paths[i]);
        }
        s
    }
}

/// A table made ready for training: class names, and the train and test rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Class names; labels index into it.
    pub classes: Vec<String>,
    /// Feature column names.
    pub columns: Vec<String>,
    /// Training rows (raw, not standardised).
    pub train: Samples,
    /// Test rows (raw).
    pub test: Samples,
}

/// Splits a feature table into train and test samples; with `positive`, relabels it as that
/// class (index 1) against all others (index 0, named `not-<class>`).
pub fn prepare(table: &FeatureTable, positive: Option<&str>) -> Result<Prepared, DataError> {
    if table.rows.is_empty() {
        return Err(DataError::Empty);
    }
    let all = table.classes();
    let classes = match positive {
        Some(p) => {
            if !all.iter().any(|c| c == p) {
                return Err(DataError::UnknownClass(p.into(), all.join(", ")));
            }
            vec![format!("not-{p}"), p.to_string()]
        }
        None => all,
    };
    let index: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut train = Samples::default();
    let mut test = Samples::default();
    for r in &table.rows {
        let y = match positive {
            Some(p) => usize::from(r.class == p),
            None => index[r.class.as_str()],
        };
        let s = if r.split == Split::Train {
            &mut train
        } else {
            &mut test
        };
        s.push(&r.values, y, &r.path);
    }
    if train.is_empty() {
        return Err(DataError::NoTrain);
    }
    if test.is_empty() {
        return Err(DataError::NoTest);
    }
    let mut present: Vec<usize> = train.y.clone();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(DataError::OneClass(present.len()));
    }
    Ok(Prepared {
        classes,
        columns: table.columns.clone(),
        train,
        test,
    })
}

/// Seeded, stratified choice of validation rows: `fraction` of each class (none from a class
/// with a single row).
pub fn validation_split(y: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &c) in y.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let mut rng = crate::seeding::rng(seed, crate::seeding::Stream::Validation);
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for (_, mut idx) in by_class {
        idx.shuffle(&mut rng);
        let k = if fraction > 0.0 && idx.len() >= 2 {
            ((idx.len() as f64 * fraction).round() as usize).clamp(1, idx.len() - 1)
        } else {
            0
        };
        va.extend_from_slice(&idx[..k]);
        tr.extend_from_slice(&idx[k..]);
    }
    tr.sort_unstable();
    va.sort_unstable();
    (tr, va)
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Accuracy on the training rows at the end of the epoch.
    pub train_accuracy: f64,
    /// Accuracy on the validation rows (absent without a validation split).
    pub val_accuracy: Option<f64>,
    /// Loss on the validation rows.
    pub val_loss: Option<f64>,
}

/// A trained network and how training went.
pub struct Trained {
    /// The network, in inference mode on the plain (non-autodiff) device.
    pub net: Net,
    /// Its shape.
    pub net_config: NetConfig,
    /// Training statistics.
    pub standardizer: Standardizer,
    /// Per-epoch history.
    pub history: Vec<EpochStats>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// The epoch in which the loss became NaN or infinite, if it did; training stopped there
    /// and the model must not be used.
    pub diverged: Option<usize>,
    /// Training samples per second (forward and backward).
    pub samples_per_second: f64,
}

fn to_tensor(x: &[f32], d: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(x.to_vec(), [x.len() / d, d]), device)
}

/// Class probabilities of standardised rows, row-major `[n, classes]`.
pub fn predict_proba(net: &Net, x: &[f32], d: usize, device: &Device) -> Vec<f32> {
    let mut out = Vec::new();
    for chunk in x.chunks(4096 * d) {
        let p = net.probabilities(to_tensor(chunk, d, device));
        out.extend(
            p.into_data()
                .try_to_vec::<f32>()
                .expect("float probabilities"),
        );
    }
    out
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

pub(crate) fn sample_weights(y: &[usize], k: usize, mode: ClassWeight) -> Vec<f32> {
    match mode {
        ClassWeight::None => vec![1.0; y.len()],
        ClassWeight::Balanced => {
            let mut count = vec![0usize; k];
            for &c in y {
                count[c] += 1;
            }
            let present = count.iter().filter(|&&c| c > 0).count() as f32;
            y.iter()
                .map(|&c| y.len() as f32 / (present * count[c] as f32))
                .collect()
        }
    }
}

/// Keeps the best model by validation accuracy (ties broken by lower validation loss) and says
/// when `patience` epochs have passed without a better one. Shared by both training loops.
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
pub(crate) fn one_run_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Trains a model on `data.train` with `cfg`, calling `on_epoch` after each epoch (for
/// progress display).
pub fn train(
    cfg: &TrainConfig,
    data: &Prepared,
    device: &Device,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Trained {
    let d = data.columns.len();
    let k = data.classes.len();
    let _guard = one_run_at_a_time();
    device.seed(cfg.seed);
    let ad = device.clone().autodiff();

    let (tr_idx, va_idx) = validation_split(&data.train.y, cfg.val_fraction, cfg.seed);
    let mut tr = data.train.subset(&tr_idx, d);
    let mut va = data.train.subset(&va_idx, d);
    let standardizer = Standardizer::fit(&data.columns, &tr.x);
    standardizer.apply(&mut tr.x);
    standardizer.apply(&mut va.x);
    let weights = sample_weights(&tr.y, k, cfg.class_weight);

    let net_config = NetConfig {
        inputs: d,
        classes: k,
        hidden: if cfg.model == ModelKind::Logistic {
            vec![]
        } else {
            cfg.hidden.clone()
        },
        activation: cfg.activation,
        dropout: if cfg.model == ModelKind::Logistic {
            0.0
        } else {
            cfg.dropout
        },
    };
    let mut net = net_config.init(&ad);
    let mut optim = cfg.optimizer();
    let mut rng = crate::seeding::rng(cfg.seed, crate::seeding::Stream::DescriptorBatches);
    let mut order: Vec<usize> = (0..tr.len()).collect();
    let bs = cfg.batch_size.max(1);

    let start = Instant::now();
    let mut samples = 0usize;
    let mut history = Vec::new();
    let mut stopping = EarlyStopping::new(cfg.patience);
    let (mut bx, mut by, mut bw) = (Vec::new(), Vec::new(), Vec::new());
    let mut diverged = None;
    'epochs: for epoch in 1..=cfg.epochs.max(1) {
        order.shuffle(&mut rng);
        let mut loss_sum = 0f64;
        let mut batches = 0usize;
        for chunk in order.chunks(bs) {
            bx.clear();
            by.clear();
            bw.clear();
            for &i in chunk {
                bx.extend_from_slice(&tr.x[i * d..(i + 1) * d]);
                by.push(tr.y[i]);
                bw.push(weights[i]);
            }
            let logits = net.forward(to_tensor(&bx, d, &ad));
            let loss = net.loss(logits, &by, &bw);
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
        let eval = net.valid();
        let train_pred = argmax_rows(&predict_proba(&eval, &tr.x, d, device), k);
        let (val_accuracy, val_loss) = if va.is_empty() {
            (None, None)
        } else {
            let (acc, nll) = score(&predict_proba(&eval, &va.x, d, device), &va.y, k);
            (Some(acc), Some(nll))
        };
        let stats = EpochStats {
            epoch,
            loss: loss_sum / batches.max(1) as f64,
            train_accuracy: accuracy(&train_pred, &tr.y),
            val_accuracy,
            val_loss,
        };
        on_epoch(&stats);
        let stop = stopping.observe(&stats, || eval);
        history.push(stats);
        if stop {
            break;
        }
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let (net, best_epoch) = stopping.finish(|| net.valid(), history.len());
    Trained {
        net,
        net_config,
        standardizer,
        history,
        best_epoch,
        train_seconds,
        samples_per_second: samples as f64 / train_seconds.max(1e-9),
        diverged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Row;

    fn blobs(n_per: usize, k: usize, seed: u64) -> FeatureTable {
        use rand::Rng;
        let mut rng = crate::descriptors::rng_for(seed, 1);
        let mut rows = Vec::new();
        for c in 0..k {
            for i in 0..n_per {
                let mut v: Vec<f32> = (0..4).map(|_| rng.random::<f32>() * 0.8).collect();
                v[c % 4] += 2.0;
                rows.push(Row {
                    path: format!("c{c}/{i}"),
                    class: format!("c{c}"),
                    split: if i % 4 == 0 {
                        Split::Test
                    } else {
                        Split::Train
                    },
                    values: v,
                });
            }
        }
        FeatureTable {
            columns: (0..4).map(|i| format!("f{i}")).collect(),
            rows,
        }
    }

    #[test]
    fn both_models_learn_separable_blobs() {
        let data = prepare(&blobs(40, 3, 1), None).unwrap();
        for model in [ModelKind::Logistic, ModelKind::Mlp] {
            let mut cfg = TrainConfig::defaults(model);
            cfg.epochs = 60;
            let t = train(&cfg, &data, &Device::flex(), |_| {});
            let mut x = data.test.x.clone();
            t.standardizer.apply(&mut x);
            let pred = argmax_rows(&predict_proba(&t.net, &x, 4, &Device::flex()), 3);
            assert!(accuracy(&pred, &data.test.y) > 0.95, "{model:?}");
            assert!(t.history[0].loss > t.history.last().unwrap().loss);
        }
    }

    #[test]
    fn cross_validation_scores_every_grid_value() {
        let data = prepare(&blobs(20, 3, 5), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Logistic);
        cfg.epochs = 20;
        let (wd, scores) = tune_weight_decay(&cfg, &data, &Device::flex());
        assert_eq!(scores.len(), WEIGHT_DECAY_GRID.len());
        assert!(WEIGHT_DECAY_GRID.contains(&wd));
        let best = scores.iter().map(|s| s.accuracy).fold(0.0, f64::max);
        assert_eq!(
            scores
                .iter()
                .find(|s| s.weight_decay == wd)
                .unwrap()
                .accuracy,
            best
        );
        assert!(best > 0.9, "separable blobs: {best}");
    }

    #[test]
    fn same_seed_same_training() {
        let data = prepare(&blobs(20, 3, 4), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Mlp);
        cfg.epochs = 5;
        let run = |c: &TrainConfig| train(c, &data, &Device::flex(), |_| {}).history;
        let a = run(&cfg);
        assert_eq!(a, run(&cfg), "same seed, same history");
        cfg.seed = 1;
        assert_ne!(a, run(&cfg), "another seed, another history");
    }

    #[test]
    fn one_vs_rest_and_bad_tables() {
        let table = blobs(20, 3, 2);
        let p = prepare(&table, Some("c1")).unwrap();
        assert_eq!(p.classes, vec!["not-c1", "c1"]);
        assert_eq!(p.train.y.iter().filter(|&&y| y == 1).count(), 15);
        assert!(matches!(
            prepare(&table, Some("zz")),
            Err(DataError::UnknownClass(..))
        ));
        assert!(matches!(
            prepare(&FeatureTable::default(), None),
            Err(DataError::Empty)
        ));
        let mut one = table.clone();
        one.rows.retain(|r| r.class == "c0");
        assert!(matches!(prepare(&one, None), Err(DataError::OneClass(1))));
        let mut no_test = table.clone();
        no_test.rows.retain(|r| r.split == Split::Train);
        assert!(matches!(prepare(&no_test, None), Err(DataError::NoTest)));
    }

    #[test]
    fn validation_split_is_stratified_and_seeded() {
        let y: Vec<usize> = (0..100).map(|i| i % 4).collect();
        let (tr, va) = validation_split(&y, 0.2, 3);
        assert_eq!(tr.len() + va.len(), 100);
        for c in 0..4 {
            assert_eq!(va.iter().filter(|&&i| y[i] == c).count(), 5);
        }
        assert_eq!(validation_split(&y, 0.2, 3), (tr, va.clone()));
        assert_ne!(validation_split(&y, 0.2, 4).1, va);
    }

    #[test]
    fn standardizer_centres_and_scales() {
        let cols = vec!["a".to_string(), "b".to_string()];
        let mut x = vec![1.0, 5.0, 3.0, 5.0];
        let s = Standardizer::fit(&cols, &x);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert_eq!(s.std, vec![1.0, 1.0]);
        s.apply(&mut x);
        assert_eq!(x, vec![-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn zero_or_broken_spread_never_makes_nan() {
        let mut s = Standardizer {
            columns: vec!["a".into(), "b".into()],
            mean: vec![1.0, 1.0],
            std: vec![0.0, f32::NAN],
        };
        let mut x = vec![3.0, 3.0];
        s.apply(&mut x);
        assert_eq!(x, vec![2.0, 2.0]);
        assert!(s.validate().is_err(), "NaN spread is refused on load");
        s.std[1] = 0.0;
        assert!(
            s.validate().is_ok(),
            "zero spread is a constant column, guarded"
        );
        s.mean[0] = f32::INFINITY;
        assert!(s.validate().is_err());
    }

    #[test]
    fn hyperparameters_are_validated() {
        for m in [ModelKind::Logistic, ModelKind::Mlp, ModelKind::Cnn] {
            assert!(TrainConfig::defaults(m).validate().is_ok());
        }
        type Edit = fn(&mut TrainConfig);
        let bad: [(&str, Edit); 11] = [
            ("lr", |c| c.lr = f64::INFINITY),
            ("lr", |c| c.lr = 1e30),
            ("lr", |c| c.lr = 0.0),
            ("weight-decay", |c| c.weight_decay = f32::NAN),
            ("weight-decay", |c| c.weight_decay = f32::INFINITY),
            ("weight-decay", |c| c.weight_decay = -1.0),
            ("dropout", |c| c.dropout = 1.0),
            ("epochs", |c| c.epochs = 0),
            ("batch-size", |c| c.batch_size = 0),
            ("hidden", |c| c.hidden = vec![100_000, 100_000]),
            ("parameters", |c| c.hidden = vec![65_536, 65_536]),
        ];
        for (flag, f) in bad {
            let mut c = TrainConfig::defaults(ModelKind::Mlp);
            f(&mut c);
            let e = c.validate().expect_err(flag);
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn a_diverging_run_stops_and_says_so() {
        let data = prepare(&blobs(20, 3, 1), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Mlp);
        cfg.lr = 1e30;
        cfg.optimizer = OptimizerKind::Sgd;
        cfg.epochs = 20;
        let t = train(&cfg, &data, &Device::flex(), |_| {});
        assert!(t.diverged.is_some(), "loss stayed finite at lr 1e30");
        assert!(t.history.len() < 20);
        let mut ok = cfg.clone();
        ok.lr = 1e-3;
        assert_eq!(train(&ok, &data, &Device::flex(), |_| {}).diverged, None);
    }
}
