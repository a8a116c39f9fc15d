//! What a training run is asked to do: the settings every model shares, and a [`ModelSpec`]
//! naming the model and its own settings. Saved as the model folder's `config.json`.

use crate::setting::InvalidSetting;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

use super::HistogramMap;
use crate::models::{BackendKind, ModelKind, ModelSpec};

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

/// How the learning rate moves over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate throughout.
    #[default]
    Constant,
    /// Half a cosine from the rate down to zero over all the steps of training: the last
    /// epochs take small steps, so the final weights are a settled model rather than one
    /// picked by a noisy validation score.
    Cosine,
}

impl LrSchedule {
    /// The rate at `step` of `total` for base rate `lr`.
    pub fn rate(self, lr: f64, step: usize, total: usize) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let t = step as f64 / total.max(1) as f64;
                lr * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
        }
    }
}

/// Every setting of a training run; saved in the model's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model and its own settings.
    pub model: ModelSpec,
    /// CPU or GPU.
    pub backend: BackendKind,
    /// Seed for initialisation, shuffling, augmentation and the validation split.
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
    /// Share of each training class held out for early stopping; 0 trains on all of it.
    pub val_fraction: f64,
    /// Epochs without a better validation score before stopping (0 never stops early).
    pub patience: usize,
    /// Loss weighting of classes.
    pub class_weight: ClassWeight,
    /// One class against the rest (a two-class task), instead of all classes.
    pub positive: Option<String>,
    /// Descriptor models: choose `weight_decay` from [`super::WEIGHT_DECAY_GRID`] by stratified
    /// k-fold cross-validation on the training rows before the final fit, since the right L2
    /// strength depends on the data. Ignored by the CNN.
    #[serde(default)]
    pub tune_weight_decay: bool,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Hold every view in memory instead of reading each batch's view images from the feature
    /// folder (faster on slow disks; memory then grows with the dataset).
    #[serde(default)]
    pub views_in_memory: bool,
    /// How histogram columns are mapped before standardisation (descriptor rows: logistic,
    /// MLP and fusion). Files written before it existed read as [`HistogramMap::None`].
    #[serde(default)]
    pub histograms: HistogramMap,
    /// Train this many times, from seeds `seed`, `seed + 1`, ...: the report gives every score's
    /// mean and standard deviation over them (the folder keeps the first seed's model).
    #[serde(default = "one")]
    pub repeats: usize,
    /// Continue the interrupted training of the same model folder, with the same settings and
    /// features, from its last checkpoint; without one to continue, train from the start. Not
    /// a setting of the model, so not recorded in its `config.json`.
    #[serde(skip)]
    pub resume: bool,
}

fn one() -> usize {
    1
}

impl TrainConfig {
    /// Defaults measured to work for each model.
    pub fn defaults(kind: ModelKind) -> TrainConfig {
        let base = TrainConfig {
            model: ModelSpec::defaults(kind),
            backend: BackendKind::Cpu,
            seed: 0,
            epochs: 300,
            lr: 1e-3,
            batch_size: 64,
            weight_decay: 1e-4,
            optimizer: OptimizerKind::Adam,
            val_fraction: 0.0,
            patience: 0,
            class_weight: ClassWeight::None,
            positive: None,
            tune_weight_decay: false,
            schedule: LrSchedule::Constant,
            views_in_memory: false,
            histograms: HistogramMap::Sqrt,
            repeats: 1,
            resume: false,
        };
        // Every model trains on all its training shapes with the learning rate annealed to zero
        // and keeps its last epoch: choosing an epoch by the score of a few held-out shapes
        // selects noise (measured on the realistic synth set, no worse and often better).
        let base = TrainConfig {
            schedule: LrSchedule::Cosine,
            ..base
        };
        match kind {
            ModelKind::Logistic => TrainConfig {
                lr: 0.01,
                weight_decay: 1e-3,
                tune_weight_decay: true,
                ..base
            },
            ModelKind::Cnn | ModelKind::Fusion => TrainConfig {
                epochs: 40,
                batch_size: 16,
                ..base
            },
            // The MLP, and any kind without measured defaults of its own.
            _ => base,
        }
    }

    /// Largest number of trainable parameters accepted: 2^28 (1 GiB of weights, about 4 GiB
    /// with gradients and Adam's moments), so an impossible size is refused with a message
    /// instead of dying in an allocation.
    pub const MAX_PARAMETERS: u64 = 1 << 28;

    /// Checks every setting is finite and in range before anything is trained: a value that
    /// cannot train (or cannot be saved and read back, as infinities in JSON) is refused,
    /// naming the setting.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let bad = |name, problem: String| Err(InvalidSetting::new(name, problem));
        let fin = |name, v: f64, lo: f64, hi: f64, lo_open: bool| {
            let ok = v.is_finite() && (if lo_open { v > lo } else { v >= lo }) && v <= hi;
            if ok {
                Ok(())
            } else {
                let open = if lo_open { "(" } else { "[" };
                bad(name, format!("is {v}; it must lie in {open}{lo}, {hi}]"))
            }
        };
        fin("lr", self.lr, 0.0, 10.0, true)?;
        fin(
            "weight_decay",
            f64::from(self.weight_decay),
            0.0,
            10.0,
            false,
        )?;
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(
                "val_fraction",
                format!("is {}; it must lie in [0, 1)", self.val_fraction),
            );
        }
        if !(1..=100_000).contains(&self.epochs) {
            return bad(
                "epochs",
                format!("is {}; it must lie in [1, 100000]", self.epochs),
            );
        }
        if !(1..=100).contains(&self.repeats) {
            return bad(
                "repeats",
                format!("is {}; it must lie in [1, 100]", self.repeats),
            );
        }
        if !(1..=1 << 20).contains(&self.batch_size) {
            return bad(
                "batch_size",
                format!("is {}; it must lie in [1, 1048576]", self.batch_size),
            );
        }
        self.model.validate(Self::MAX_PARAMETERS)
    }

    pub(crate) fn optimizer(&self) -> ModuleOptimizer {
        let decay = (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay));
        match self.optimizer {
            OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(decay).init(),
            OptimizerKind::Momentum => SgdConfig::new()
                .with_weight_decay(decay)
                .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
                .init(),
            OptimizerKind::Adam => {
                ModuleOptimizer::from(super::adam::FusedAdam::new(self.weight_decay))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::MlpSpec;

    #[test]
    fn hyperparameters_are_validated() {
        for m in [
            ModelKind::Logistic,
            ModelKind::Mlp,
            ModelKind::Cnn,
            ModelKind::Fusion,
        ] {
            assert!(TrainConfig::defaults(m).validate().is_ok());
        }
        fn mlp(c: &mut TrainConfig) -> &mut MlpSpec {
            match &mut c.model {
                ModelSpec::Mlp(m) => m,
                _ => unreachable!(),
            }
        }
        type Edit = fn(&mut TrainConfig);
        let bad: [(&str, Edit); 11] = [
            ("lr", |c| c.lr = f64::INFINITY),
            ("lr", |c| c.lr = 1e30),
            ("lr", |c| c.lr = 0.0),
            ("weight_decay", |c| c.weight_decay = f32::NAN),
            ("weight_decay", |c| c.weight_decay = f32::INFINITY),
            ("weight_decay", |c| c.weight_decay = -1.0),
            ("dropout", |c| mlp(c).dropout = 1.0),
            ("epochs", |c| c.epochs = 0),
            ("batch_size", |c| c.batch_size = 0),
            ("hidden", |c| mlp(c).hidden = vec![100_000, 100_000]),
            ("hidden", |c| mlp(c).hidden = vec![65_536, 65_536]),
        ];
        for (name, f) in bad {
            let mut c = TrainConfig::defaults(ModelKind::Mlp);
            f(&mut c);
            let e = c.validate().expect_err(name);
            assert_eq!(e.name, name, "{e}");
            // The command line names the flag.
            let flag = format!("--{}", name.replace('_', "-"));
            assert!(
                e.as_flag()
                    .starts_with(&format!("invalid setting: {flag} ")),
                "{e}"
            );
        }
        let mut c = TrainConfig::defaults(ModelKind::Mlp);
        mlp(&mut c).hidden = vec![65_536, 65_536];
        assert!(c.validate().unwrap_err().problem.contains("parameters"));
        let mut c = TrainConfig::defaults(ModelKind::Cnn);
        if let ModelSpec::Cnn(s) = &mut c.model {
            s.jitter = 65;
        }
        assert_eq!(c.validate().unwrap_err().name, "jitter");
    }

    #[test]
    fn spec_is_saved_with_its_kind() {
        let c = TrainConfig::defaults(ModelKind::Cnn);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["model"]["kind"], "cnn");
        assert_eq!(v["model"]["channels"], serde_json::json!([16, 32, 64]));
        let back: TrainConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        let l = serde_json::to_value(TrainConfig::defaults(ModelKind::Logistic)).unwrap();
        assert_eq!(l["model"], serde_json::json!({"kind": "logistic"}));
    }
}
