//! The `train` command's settings as a user states them, and the one place that turns them into
//! a [`TrainConfig`]. The command line and the Python package both fill a [`TrainSettings`], so
//! the same settings train the same model from either, and a setting its model does not use is
//! warned of in the same words (each front end naming it as its users write it).

use crate::models::{Activation, BackendKind, CnnSpec, ModelKind, ModelSpec};

use super::{ClassWeight, HistogramMap, LrSchedule, OptimizerKind, TrainConfig};

/// Every setting of a `train` run, as the command line's flags give them (`None`: the model's
/// default, see [`TrainConfig::defaults`]). Each field is named as its flag (`batch_size` is
/// `--batch-size`), except [`TrainSettings::flip`], which `--no-flip` turns off.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSettings {
    /// The model to train (`--model`).
    pub model: ModelKind,
    /// Where to train (`--backend`).
    pub backend: BackendKind,
    /// Seed for initialisation, shuffling and the validation split (`--seed`).
    pub seed: u64,
    /// Maximum epochs (`--epochs`).
    pub epochs: Option<usize>,
    /// Learning rate (`--lr`).
    pub lr: Option<f64>,
    /// Minibatch size (`--batch-size`).
    pub batch_size: Option<usize>,
    /// L2 penalty (`--weight-decay`); given, it is not cross-validated.
    pub weight_decay: Option<f32>,
    /// Optimiser (`--optimizer`).
    pub optimizer: Option<OptimizerKind>,
    /// Hidden widths (`--hidden`): the MLP's layers; the CNN's view descriptor; the fusion
    /// model's view descriptor, then its descriptor branch.
    pub hidden: Option<Vec<usize>>,
    /// The MLP's hidden nonlinearity (`--activation`).
    pub activation: Option<Activation>,
    /// Dropout probability (`--dropout`).
    pub dropout: Option<f64>,
    /// Share of each training class held out to choose the epoch by (`--val-fraction`).
    pub val_fraction: Option<f64>,
    /// Epochs without improvement before stopping (`--patience`).
    pub patience: Option<usize>,
    /// One class against all others (`--positive`).
    pub positive: Option<String>,
    /// Class weighting in the loss (`--class-weight`).
    pub class_weight: Option<ClassWeight>,
    /// Output channels of the conv blocks (`--channels`).
    pub channels: Option<Vec<usize>>,
    /// Learning-rate schedule (`--schedule`).
    pub schedule: Option<LrSchedule>,
    /// Hold every view in memory whatever its size (`--views-in-memory`).
    pub views_in_memory: bool,
    /// Seeds to train, from `seed` on (`--repeats`).
    pub repeats: usize,
    /// Continue an interrupted training of the output folder (`--resume`).
    pub resume: bool,
    /// Map of histogram bins before standardising (`--histograms`).
    pub histograms: Option<HistogramMap>,
    /// The fusion model's share of shapes whose descriptor branch is off (`--branch-dropout`).
    pub branch_dropout: Option<f64>,
    /// Random mirror images of training shapes (`--no-flip` turns them off).
    pub flip: bool,
    /// Largest random shift of a training shape's views, in pixels (`--jitter`).
    pub jitter: Option<usize>,
    /// Views of each shape a training step reads (`--train-views`).
    pub train_views: Option<usize>,
}

impl TrainSettings {
    /// The command line's defaults for `model`: every setting left to the model.
    pub fn new(model: ModelKind) -> TrainSettings {
        TrainSettings {
            model,
            backend: BackendKind::Cpu,
            seed: 0,
            epochs: None,
            lr: None,
            batch_size: None,
            weight_decay: None,
            optimizer: None,
            hidden: None,
            activation: None,
            dropout: None,
            val_fraction: None,
            patience: None,
            positive: None,
            class_weight: None,
            channels: None,
            schedule: None,
            views_in_memory: false,
            repeats: 1,
            resume: false,
            histograms: None,
            branch_dropout: None,
            flip: true,
            jitter: None,
            train_views: None,
        }
    }

    /// The run these settings ask for: the model's defaults with every given setting in place.
    /// Not validated ([`TrainConfig::validate`]); settings the model does not use are dropped
    /// ([`TrainSettings::unused`] says which).
    pub fn config(&self) -> TrainConfig {
        let mut c = TrainConfig::defaults(self.model);
        c.backend = self.backend;
        c.seed = self.seed;
        c.epochs = self.epochs.unwrap_or(c.epochs);
        c.lr = self.lr.unwrap_or(c.lr);
        c.batch_size = self.batch_size.unwrap_or(c.batch_size);
        if let Some(wd) = self.weight_decay {
            c.weight_decay = wd;
            c.tune_weight_decay = false;
        }
        c.optimizer = self.optimizer.unwrap_or(c.optimizer);
        c.val_fraction = self.val_fraction.unwrap_or(c.val_fraction);
        c.patience = self.patience.unwrap_or(c.patience);
        c.positive = self.positive.clone();
        c.repeats = self.repeats;
        c.resume = self.resume;
        c.views_in_memory = self.views_in_memory;
        c.schedule = self.schedule.unwrap_or(c.schedule);
        c.histograms = self.histograms.unwrap_or(c.histograms);
        c.class_weight = self.class_weight.unwrap_or(ClassWeight::None);
        match &mut c.model {
            // Logistic regression has no hidden layers, no dropout and no augmentation: those
            // settings do not apply to it.
            ModelSpec::Logistic => {}
            ModelSpec::Mlp(m) => {
                m.hidden = self.hidden.clone().unwrap_or(std::mem::take(&mut m.hidden));
                m.activation = self.activation.unwrap_or(m.activation);
                m.dropout = self.dropout.unwrap_or(m.dropout);
            }
            ModelSpec::Cnn(n) => {
                if let Some(&f) = self.hidden.as_ref().and_then(|h| h.first()) {
                    n.features = f;
                }
                self.view_branch(n);
            }
            ModelSpec::Fusion(f) => {
                // hidden = [view descriptor, descriptor branch].
                if let Some(h) = &self.hidden {
                    if let Some(&v) = h.first() {
                        f.cnn.features = v;
                    }
                    if let Some(&r) = h.get(1) {
                        f.hidden = r;
                    }
                }
                f.branch_dropout = self.branch_dropout.unwrap_or(f.branch_dropout);
                self.view_branch(&mut f.cnn);
            }
        }
        c
    }

    /// The CNN settings, for the CNN and the fusion model's view branch.
    fn view_branch(&self, n: &mut CnnSpec) {
        n.dropout = self.dropout.unwrap_or(n.dropout);
        n.channels = self
            .channels
            .clone()
            .unwrap_or(std::mem::take(&mut n.channels));
        n.flip = n.flip && self.flip;
        n.jitter = self.jitter.unwrap_or(n.jitter);
        n.train_views = self.train_views.unwrap_or(n.train_views);
    }

    /// The given settings the model does not use, each as a sentence saying why, with every
    /// setting named by `name` (the field's name, or `"no_flip"` for `flip` turned off, or
    /// `"model"`): `--hidden` on the command line, `hidden` in Python. They are warned of, not
    /// refused, since a value given and then dropped would look, in `config.json` and the
    /// report, as if it trained, and scripts pass one set of settings to every model.
    pub fn unused(&self, name: impl Fn(&'static str) -> String) -> Vec<String> {
        let kind = self.model;
        let mut out = Vec::new();
        let model = format!("{} {}", name("model"), kind.name());
        let mut unused = |given: bool, setting: &'static str| {
            if given {
                out.push(format!(
                    "{} does not apply to {model}; ignored",
                    name(setting)
                ));
            }
        };
        let views = matches!(kind, ModelKind::Cnn | ModelKind::Fusion);
        unused(
            kind == ModelKind::Logistic && self.hidden.is_some(),
            "hidden",
        );
        unused(
            kind == ModelKind::Logistic && self.dropout.is_some(),
            "dropout",
        );
        unused(
            kind != ModelKind::Mlp && self.activation.is_some(),
            "activation",
        );
        unused(
            kind != ModelKind::Fusion && self.branch_dropout.is_some(),
            "branch_dropout",
        );
        unused(!views && self.channels.is_some(), "channels");
        unused(!views && self.jitter.is_some(), "jitter");
        unused(!views && !self.flip, "no_flip");
        unused(!views && self.train_views.is_some(), "train_views");
        let takes = match kind {
            ModelKind::Cnn => 1,
            ModelKind::Fusion => 2,
            _ => usize::MAX,
        };
        if let Some(h) = self.hidden.as_ref().filter(|h| h.len() > takes) {
            out.push(format!(
                "{} takes {takes} width(s) for {model} ({}); {:?} ignored",
                name("hidden"),
                if takes == 1 {
                    "the view descriptor's"
                } else {
                    "the view descriptor's, then the descriptor branch's"
                },
                &h[takes..]
            ));
        }
        if self.patience.is_some() && self.val_fraction.is_none_or(|v| v == 0.0) {
            out.push(format!(
                "{} needs a validation split ({} above 0): without one, every epoch runs",
                name("patience"),
                name("val_fraction")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_left_out_take_the_models_defaults() {
        for kind in [
            ModelKind::Logistic,
            ModelKind::Mlp,
            ModelKind::Cnn,
            ModelKind::Fusion,
        ] {
            assert_eq!(
                TrainSettings::new(kind).config(),
                TrainConfig::defaults(kind)
            );
            assert!(TrainSettings::new(kind).unused(|n| n.into()).is_empty());
        }
    }

    #[test]
    fn given_settings_reach_the_model_they_apply_to() {
        let s = TrainSettings {
            hidden: Some(vec![128, 32]),
            channels: Some(vec![8, 16]),
            flip: false,
            weight_decay: Some(0.5),
            ..TrainSettings::new(ModelKind::Fusion)
        };
        let c = s.config();
        assert!(!c.tune_weight_decay && c.weight_decay == 0.5);
        let ModelSpec::Fusion(f) = &c.model else {
            panic!("a fusion spec");
        };
        assert_eq!((f.cnn.features, f.hidden), (128, 32));
        assert_eq!(f.cnn.channels, vec![8, 16]);
        assert!(!f.cnn.flip);
        assert!(s.unused(|n| n.into()).is_empty());
    }

    #[test]
    fn settings_a_model_does_not_use_are_named_as_the_front_end_names_them() {
        let s = TrainSettings {
            hidden: Some(vec![64]),
            flip: false,
            patience: Some(3),
            ..TrainSettings::new(ModelKind::Logistic)
        };
        let flag = |n: &'static str| format!("--{}", n.replace('_', "-"));
        let said = s.unused(flag);
        assert_eq!(
            said,
            [
                "--hidden does not apply to --model logistic; ignored",
                "--no-flip does not apply to --model logistic; ignored",
                "--patience needs a validation split (--val-fraction above 0): without one, every epoch runs",
            ]
        );
        // The dropped settings change nothing.
        assert_eq!(
            s.config().model,
            TrainConfig::defaults(ModelKind::Logistic).model
        );
    }
}
