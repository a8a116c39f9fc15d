//! The one abstraction over model kinds. A user asks for a [`ModelSpec`] (a kind and its own
//! settings); the spec and the data's [`DataShape`] give a [`Network`], the shape saved in a
//! model folder; the network builds a [`Classifier`], the trainable and loadable network. Every
//! network implements [`ShapeModel`] in its own file: what it reads, its logits, its ONNX graph.
//!
//! Training, model folders, prediction and export go through these types and what they say
//! ([`Reads`], [`Input`]), with no code of their own per kind. Adding a model kind means its
//! network in a file of its own (implementing [`ShapeModel`]), one arm in each enum of this
//! file, and its tests; the command line gets flags only for settings of its own.

use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::onnx_graph::Graph;
use super::{Activation, CnnConfig, Fusion, FusionConfig, Mvcnn, Net, NetConfig};
use crate::setting::InvalidSetting;

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Logistic regression on the descriptors.
    Logistic,
    /// Multi-layer perceptron on the descriptors.
    Mlp,
    /// Multi-view CNN on the rendered depth views.
    Cnn,
    /// The CNN's view descriptor and the descriptor row in one classifier.
    Fusion,
}

impl ModelKind {
    /// `logistic`, `mlp`, `cnn` or `fusion`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Logistic => "logistic",
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
            ModelKind::Fusion => "fusion",
        }
    }
}

/// What a model reads of each shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Its standardised descriptor row.
    Rows,
    /// Its rendered views.
    Views,
    /// Both.
    RowsAndViews,
}

impl Reads {
    /// Whether descriptor rows are read.
    pub fn rows(self) -> bool {
        matches!(self, Reads::Rows | Reads::RowsAndViews)
    }

    /// Whether views are read.
    pub fn views(self) -> bool {
        matches!(self, Reads::Views | Reads::RowsAndViews)
    }
}

impl std::fmt::Display for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reads::Rows => "descriptor rows",
            Reads::Views => "views",
            Reads::RowsAndViews => "descriptor rows and views",
        })
    }
}

/// One batch of what a model reads ([`Reads`]): views `V`, rows `R`, or both of the same shapes.
/// [`ModelInput`] holds tensors; the ONNX export the same with graph node names.
#[derive(Debug, Clone, Copy)]
pub enum Input<V, R> {
    /// Descriptor rows.
    Rows(R),
    /// Views.
    Views(V),
    /// Views and the rows of the same shapes.
    RowsAndViews(V, R),
}

/// A batch as tensors: views `[shapes, views * channels, R, R]` with values in [0, 1], and
/// standardised rows `[shapes, columns]`.
pub type ModelInput = Input<Tensor<4>, Tensor<2>>;

impl<V, R> Input<V, R> {
    /// The input made of `views` and `rows`, whichever are there; `None` when neither is.
    pub fn from_parts(views: Option<V>, rows: Option<R>) -> Option<Input<V, R>> {
        match (views, rows) {
            (Some(v), Some(r)) => Some(Input::RowsAndViews(v, r)),
            (Some(v), None) => Some(Input::Views(v)),
            (None, Some(r)) => Some(Input::Rows(r)),
            (None, None) => None,
        }
    }

    /// What it holds.
    pub fn reads(&self) -> Reads {
        match self {
            Input::Rows(_) => Reads::Rows,
            Input::Views(_) => Reads::Views,
            Input::RowsAndViews(..) => Reads::RowsAndViews,
        }
    }

    /// The rows, if it holds them.
    pub fn rows(&self) -> Option<&R> {
        match self {
            Input::Rows(r) | Input::RowsAndViews(_, r) => Some(r),
            Input::Views(_) => None,
        }
    }

    /// The views, if it holds them.
    pub fn views(&self) -> Option<&V> {
        match self {
            Input::Views(v) | Input::RowsAndViews(v, _) => Some(v),
            Input::Rows(_) => None,
        }
    }

    /// The views, if it holds them, to change in place.
    pub fn views_mut(&mut self) -> Option<&mut V> {
        match self {
            Input::Views(v) | Input::RowsAndViews(v, _) => Some(v),
            Input::Rows(_) => None,
        }
    }

    /// The rows; a network that reads them is only ever given inputs that hold them.
    pub fn into_rows(self) -> R {
        match self {
            Input::Rows(r) | Input::RowsAndViews(_, r) => r,
            Input::Views(_) => panic!("a network that reads descriptor rows was given views alone"),
        }
    }

    /// The views (see [`Input::into_rows`]).
    pub fn into_views(self) -> V {
        match self {
            Input::Views(v) | Input::RowsAndViews(v, _) => v,
            Input::Rows(_) => panic!("a network that reads views was given descriptor rows alone"),
        }
    }

    /// Views and rows (see [`Input::into_rows`]).
    pub fn into_both(self) -> (V, R) {
        match self {
            Input::RowsAndViews(v, r) => (v, r),
            _ => panic!("a network that reads views and rows was given one of them"),
        }
    }
}

/// What every network does, implemented in its own file.
pub(crate) trait ShapeModel: Module + Sized {
    /// Its shape, saved in a model folder to rebuild it before its weights are loaded.
    type Config;
    /// What it reads of each shape.
    const READS: Reads;
    /// A freshly initialised network of shape `config` on `device`.
    fn init(config: &Self::Config, device: &Device) -> Self;
    /// Logits `[shapes, outputs]` of one batch (see [`ShapeModel::outputs`]).
    fn logits(&self, input: ModelInput) -> Tensor<2>;
    /// Logit columns: one per class, or one for two-class logistic regression (a sigmoid).
    fn outputs(&self) -> usize;
    /// Appends the network at inference to `g`: the name of the logits of the inputs named in
    /// `input`.
    fn to_onnx(
        &self,
        g: &mut Graph,
        config: &Self::Config,
        input: &Input<String, String>,
    ) -> String;
}

/// The views a network is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewShape {
    /// Views per shape.
    pub count: usize,
    /// Pixels per side.
    pub resolution: usize,
    /// Channels per view.
    pub channels: usize,
}

/// What a dataset offers a model: descriptor columns, classes, and views if it has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    /// Descriptor columns.
    pub columns: usize,
    /// Classes (2 for one class against the rest).
    pub classes: usize,
    /// The rendered views, if any.
    pub views: Option<ViewShape>,
}

/// The MLP's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Hidden nonlinearity.
    pub activation: Activation,
    /// Dropout after each hidden layer.
    pub dropout: f64,
}

/// The multi-view CNN's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnSpec {
    /// Output channels of the conv blocks.
    pub channels: Vec<usize>,
    /// Width of the per-view descriptor that views are max-pooled over.
    pub features: usize,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Augmentation: a seeded random mirror image of each training shape (all its views
    /// flipped left to right) per batch.
    pub flip: bool,
    /// Augmentation: shift each training shape's views by up to this many pixels (seeded,
    /// background filled in).
    pub jitter: usize,
    /// Views of each training shape that one training step reads, drawn at random per shape
    /// and step; 0 (or the view count or more) reads them all. A step's cost follows the
    /// views it reads, so an epoch on 4 of 12 views costs about 0.4 of one on all 12.
    /// Validation, testing and prediction always read every view. Left out of
    /// `config.json` when 0, so models trained on every view record what they did before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub train_views: usize,
}

/// Whether a count is 0 (serde's test for settings left out when off).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Default for CnnSpec {
    /// Three blocks of [`super::cnn::DEFAULT_CHANNELS`] (16, 32 and 64), 256 features, with
    /// flips and 2-pixel shifts, trained on every view.
    fn default() -> Self {
        CnnSpec {
            channels: super::cnn::DEFAULT_CHANNELS.to_vec(),
            features: 256,
            dropout: 0.5,
            flip: true,
            jitter: 2,
            train_views: 0,
        }
    }
}

impl CnnSpec {
    /// The network these settings ask for on `views` and `classes` classes.
    pub fn network(&self, views: ViewShape, classes: usize) -> CnnConfig {
        CnnConfig {
            channels: self.channels.clone(),
            features: self.features,
            dropout: self.dropout,
            in_channels: views.channels,
            ..CnnConfig::new(views.count, views.resolution, classes)
        }
    }
}

/// The fusion model's own settings: its view branch and its descriptor branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionSpec {
    /// The view branch, as the CNN's settings.
    pub cnn: CnnSpec,
    /// Width of the learned projection of the descriptor row.
    pub hidden: usize,
    /// Share of training shapes whose descriptor branch is switched off
    /// ([`crate::models::FusionConfig::branch_dropout`]); 0 in settings saved before it.
    #[serde(default)]
    pub branch_dropout: f64,
}

/// Which model to train, with the settings only that model has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelSpec {
    /// Logistic regression on the standardised descriptors.
    Logistic,
    /// A multi-layer perceptron on the standardised descriptors.
    Mlp(MlpSpec),
    /// The multi-view CNN on the depth views.
    Cnn(CnnSpec),
    /// The CNN's pooled view descriptor and the standardised descriptor row in one classifier,
    /// trained end to end.
    Fusion(FusionSpec),
}

impl ModelSpec {
    /// The model's default settings.
    pub fn defaults(kind: ModelKind) -> ModelSpec {
        match kind {
            ModelKind::Logistic => ModelSpec::Logistic,
            ModelKind::Mlp => ModelSpec::Mlp(MlpSpec {
                hidden: vec![256, 128],
                activation: Activation::Relu,
                dropout: 0.3,
            }),
            ModelKind::Cnn => ModelSpec::Cnn(CnnSpec::default()),
            ModelKind::Fusion => ModelSpec::Fusion(FusionSpec {
                cnn: CnnSpec::default(),
                hidden: 64,
                // Measured on the development benchmark: 0.965 +- 0.043 against 0.951 +- 0.032
                // without, where the CNN alone scored 0.965 +- 0.024.
                branch_dropout: 0.5,
            }),
        }
    }

    /// Which model this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::Logistic => ModelKind::Logistic,
            ModelSpec::Mlp(_) => ModelKind::Mlp,
            ModelSpec::Cnn(_) => ModelKind::Cnn,
            ModelSpec::Fusion(_) => ModelKind::Fusion,
        }
    }

    /// `logistic`, `mlp`, `cnn` or `fusion`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// What the model reads of each shape.
    pub fn reads(&self) -> Reads {
        match self {
            ModelSpec::Logistic | ModelSpec::Mlp(_) => Net::READS,
            ModelSpec::Cnn(_) => Mvcnn::READS,
            ModelSpec::Fusion(_) => Fusion::READS,
        }
    }

    /// The view branch's settings of a model that reads views (its augmentation among them).
    pub fn cnn(&self) -> Option<&CnnSpec> {
        match self {
            ModelSpec::Cnn(c) => Some(c),
            ModelSpec::Fusion(f) => Some(&f.cnn),
            ModelSpec::Logistic | ModelSpec::Mlp(_) => None,
        }
    }

    /// Checks the model's own settings are in range, and that its layers make at most
    /// `max_parameters` weights (counting the layers whose widths are known before the data
    /// is), naming the setting that is wrong.
    pub fn validate(&self, max_parameters: u64) -> Result<(), InvalidSetting> {
        let bad = |name, problem: String| Err(InvalidSetting::new(name, problem));
        let dropout = |p: f64| {
            if (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                bad("dropout", format!("is {p}; it must lie in [0, 1)"))
            }
        };
        let widths = |name, v: &[usize], max: usize| {
            if v.iter().any(|&w| w == 0 || w > max) {
                bad(name, format!("widths must lie in [1, {max}], got {v:?}"))
            } else {
                Ok(())
            }
        };
        // Weights between consecutive layers; the input width is not known yet but is small
        // next to these (a descriptor table has a few hundred columns).
        let mut params = 0u64;
        let layers = match self {
            ModelSpec::Logistic => ("hidden", String::new()),
            ModelSpec::Mlp(m) => {
                dropout(m.dropout)?;
                widths("hidden", &m.hidden, 1 << 16)?;
                for w in m.hidden.windows(2) {
                    params += w[0] as u64 * w[1] as u64;
                }
                ("hidden", format!("{:?}", m.hidden))
            }
            ModelSpec::Cnn(c) | ModelSpec::Fusion(FusionSpec { cnn: c, .. }) => {
                if let ModelSpec::Fusion(f) = self {
                    widths("hidden", &[f.hidden], 1 << 16)?;
                    if !(0.0..1.0).contains(&f.branch_dropout) {
                        return bad(
                            "branch_dropout",
                            format!("is {}; it must lie in [0, 1)", f.branch_dropout),
                        );
                    }
                }
                dropout(c.dropout)?;
                if c.jitter > 64 {
                    return bad("jitter", format!("is {}; at most 64 pixels", c.jitter));
                }
                widths("hidden", &[c.features], 1 << 16)?;
                widths("channels", &c.channels, 4096)?;
                for w in c.channels.windows(2) {
                    params += 9 * w[0] as u64 * w[1] as u64;
                }
                // The view descriptor's layer: the last block's maps, pooled to the 4x4 grid,
                // to `features` (most of a wide network's weights).
                let last = c.channels.last().copied().unwrap_or(0) as u64;
                params += last * 16 * c.features as u64;
                (
                    "channels",
                    format!("{:?} with --hidden {}", c.channels, c.features),
                )
            }
        };
        if params > max_parameters {
            let (name, widths) = layers;
            return bad(
                name,
                format!(
                    "{widths} make {params} parameters, more than the {max_parameters} this machine can train; choose smaller layers"
                ),
            );
        }
        Ok(())
    }

    /// The network this spec asks for on data of shape `data`; `None` for a model that reads
    /// views when the data has none.
    pub fn network(&self, data: &DataShape) -> Option<Network> {
        let (columns, classes) = (data.columns, data.classes);
        let dense = |hidden: Vec<usize>, activation, dropout| {
            Network::Dense(NetConfig {
                inputs: columns,
                classes,
                hidden,
                activation,
                dropout,
            })
        };
        Some(match self {
            ModelSpec::Logistic => dense(vec![], Activation::Relu, 0.0),
            ModelSpec::Mlp(m) => dense(m.hidden.clone(), m.activation, m.dropout),
            ModelSpec::Cnn(c) => Network::Cnn(c.network(data.views?, classes)),
            ModelSpec::Fusion(f) => Network::Fusion(FusionConfig {
                cnn: f.cnn.network(data.views?, classes),
                inputs: columns,
                hidden: f.hidden,
                branch_dropout: f.branch_dropout,
            }),
        })
    }
}

/// The shape of a trained network, enough to rebuild it before its weights are loaded; saved
/// in a model folder's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Network {
    /// Logistic regression or MLP on standardised descriptors.
    Dense(NetConfig),
    /// Multi-view CNN on depth views.
    Cnn(CnnConfig),
    /// Views and descriptors in one classifier.
    Fusion(FusionConfig),
}

impl Network {
    /// A freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> Classifier {
        match self {
            Network::Dense(c) => Classifier::Dense(Net::init(c, device)),
            Network::Cnn(c) => Classifier::Cnn(Mvcnn::init(c, device)),
            Network::Fusion(c) => Classifier::Fusion(Fusion::init(c, device)),
        }
    }

    /// What it reads of each shape.
    pub fn reads(&self) -> Reads {
        match self {
            Network::Dense(_) => Net::READS,
            Network::Cnn(_) => Mvcnn::READS,
            Network::Fusion(_) => Fusion::READS,
        }
    }

    /// Classes it tells apart.
    pub fn classes(&self) -> usize {
        match self {
            Network::Dense(c) => c.classes,
            Network::Cnn(c) => c.classes,
            Network::Fusion(c) => c.classes(),
        }
    }

    /// Descriptor columns it reads, if it reads rows.
    pub fn columns(&self) -> Option<usize> {
        match self {
            Network::Dense(c) => Some(c.inputs),
            Network::Fusion(c) => Some(c.inputs),
            Network::Cnn(_) => None,
        }
    }

    /// Its view branch's shape, if it reads views: which views it takes.
    pub fn view_net(&self) -> Option<&CnnConfig> {
        match self {
            Network::Cnn(c) => Some(c),
            Network::Fusion(c) => Some(&c.cnn),
            Network::Dense(_) => None,
        }
    }
}

/// A network of any kind, trainable ([`Module`]) and saved as one record.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Classifier {
    /// Logistic regression or MLP on standardised descriptors.
    Dense(Net),
    /// Multi-view CNN on depth views.
    Cnn(Mvcnn),
    /// Views and standardised descriptors together.
    Fusion(Fusion),
}

impl Classifier {
    /// Logits `[shapes, outputs]` of one batch of what [`Network::reads`] says.
    pub fn logits(&self, input: ModelInput) -> Tensor<2> {
        match self {
            Classifier::Dense(n) => n.logits(input),
            Classifier::Cnn(n) => n.logits(input),
            Classifier::Fusion(n) => n.logits(input),
        }
    }

    /// What it reads of each shape.
    pub fn reads(&self) -> Reads {
        match self {
            Classifier::Dense(_) => Net::READS,
            Classifier::Cnn(_) => Mvcnn::READS,
            Classifier::Fusion(_) => Fusion::READS,
        }
    }

    /// Logit columns: one per class, or one for two-class logistic regression (a sigmoid).
    pub fn outputs(&self) -> usize {
        match self {
            Classifier::Dense(n) => n.outputs(),
            Classifier::Cnn(n) => n.outputs(),
            Classifier::Fusion(n) => n.outputs(),
        }
    }

    /// The view branch, for pictures of its filters, if it reads views.
    pub fn view_branch(&self) -> Option<&Mvcnn> {
        match self {
            Classifier::Cnn(n) => Some(n),
            Classifier::Fusion(n) => Some(n.view_branch()),
            Classifier::Dense(_) => None,
        }
    }

    /// Appends the network at inference to `g`: the name of its logits of the inputs named
    /// in `input`; `None` when `network` is not its shape.
    pub(crate) fn to_onnx(
        &self,
        g: &mut Graph,
        network: &Network,
        input: &Input<String, String>,
    ) -> Option<String> {
        Some(match (self, network) {
            (Classifier::Dense(n), Network::Dense(c)) => n.to_onnx(g, c, input),
            (Classifier::Cnn(n), Network::Cnn(c)) => n.to_onnx(g, c, input),
            (Classifier::Fusion(n), Network::Fusion(c)) => n.to_onnx(g, c, input),
            _ => return None,
        })
    }

    /// The weights as Burn record bytes (`model.bpk`): the network's own record, so a folder
    /// reads the same whichever enum holds it.
    pub fn to_bytes(&self) -> std::io::Result<Vec<u8>> {
        let bytes = match self {
            Classifier::Dense(n) => n.clone().into_record().into_bytes(),
            Classifier::Cnn(n) => n.clone().into_record().into_bytes(),
            Classifier::Fusion(n) => n.clone().into_record().into_bytes(),
        };
        bytes
            .map(|b| b.to_vec())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    /// This network with the weights of `record` (written by [`Classifier::to_bytes`]).
    pub fn with_record(self, record: ModuleRecord) -> Result<Classifier, RecordError> {
        Ok(match self {
            Classifier::Dense(n) => Classifier::Dense(n.try_load_record(record)?),
            Classifier::Cnn(n) => Classifier::Cnn(n.try_load_record(record)?),
            Classifier::Fusion(n) => Classifier::Fusion(n.try_load_record(record)?),
        })
    }
}
