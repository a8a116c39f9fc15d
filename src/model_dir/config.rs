//! `config.json` of a model folder: the training settings and the network's shape, in the
//! current format or read from format 1.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{MODEL_FORMAT_VERSION, ModelError, read_json};
use crate::models::{
    Activation, BackendKind, CnnConfig, CnnSpec, MlpSpec, ModelKind, ModelSpec, NetConfig, Network,
};
use crate::train::{ClassWeight, OptimizerKind, TrainConfig};

/// `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Always `shapeclf`.
    pub tool: String,
    /// shapeclf version that trained it.
    pub tool_version: String,
    /// [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// Training settings and the model spec.
    pub train: TrainConfig,
    /// The trained network's shape.
    pub network: Network,
    /// [`crate::features::hash_hex`] of `model.bpk`, checked on load: a damaged or swapped
    /// weights file is refused instead of predicting nonsense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_hash: Option<String>,
}

/// Reads `config.json`: the current format, or format 1 (written before model specs) turned
/// into the current one. Anything else is refused naming its format and the tool that wrote it.
pub fn read_config(path: &Path) -> Result<ModelConfig, ModelError> {
    let value: serde_json::Value = read_json(path)?;
    let tool = value.get("tool").and_then(|t| t.as_str()).unwrap_or("?");
    let version = value.get("format_version").and_then(|v| v.as_u64());
    let unreadable = |e: serde_json::Error| ModelError::Corrupt {
        path: path.to_path_buf(),
        msg: format!("unreadable: {e}"),
    };
    match (tool, version) {
        ("shapeclf", Some(v)) if v == u64::from(MODEL_FORMAT_VERSION) => {
            serde_json::from_value(value).map_err(unreadable)
        }
        ("shapeclf", Some(1)) => serde_json::from_value::<ConfigV1>(value)
            .map_err(unreadable)?
            .upgrade()
            .map_err(|msg| ModelError::Corrupt {
                path: path.to_path_buf(),
                msg,
            }),
        _ => Err(ModelError::Corrupt {
            path: path.to_path_buf(),
            msg: format!(
                "model format {} from {tool} {}; this shapeclf reads formats 1 and {MODEL_FORMAT_VERSION}: retrain it",
                version.map_or("unknown".to_string(), |v| v.to_string()),
                value
                    .get("tool_version")
                    .and_then(|t| t.as_str())
                    .unwrap_or("?"),
            ),
        }),
    }
}

/// `config.json` as format 1 wrote it: one flat set of settings for every model, and the
/// network shape in one of two optional fields.
#[derive(Deserialize)]
struct ConfigV1 {
    tool: String,
    tool_version: String,
    train: TrainV1,
    net: Option<NetConfig>,
    cnn: Option<CnnConfig>,
    weights_hash: Option<String>,
}

#[derive(Deserialize)]
struct TrainV1 {
    model: ModelKind,
    backend: BackendKind,
    seed: u64,
    epochs: usize,
    lr: f64,
    batch_size: usize,
    weight_decay: f32,
    optimizer: OptimizerKind,
    hidden: Vec<usize>,
    activation: Activation,
    dropout: f64,
    val_fraction: f64,
    patience: usize,
    class_weight: ClassWeight,
    positive: Option<String>,
    #[serde(default)]
    tune_weight_decay: bool,
    #[serde(default)]
    channels: Vec<usize>,
    #[serde(default)]
    flip: bool,
    #[serde(default)]
    jitter: usize,
}

impl ConfigV1 {
    fn upgrade(self) -> Result<ModelConfig, String> {
        let t = self.train;
        let model = match t.model {
            ModelKind::Logistic => ModelSpec::Logistic,
            ModelKind::Mlp => ModelSpec::Mlp(MlpSpec {
                hidden: t.hidden,
                activation: t.activation,
                dropout: t.dropout,
            }),
            ModelKind::Cnn => ModelSpec::Cnn(CnnSpec {
                features: self.cnn.as_ref().map_or(256, |c| c.features),
                channels: t.channels,
                dropout: t.dropout,
                flip: t.flip,
                jitter: t.jitter,
                train_views: 0,
            }),
            // Every later kind came after format 1.
            other => return Err(format!("format 1 has no {} model", other.name())),
        };
        let network = match (self.net, self.cnn) {
            (Some(n), None) => Network::Dense(n),
            (None, Some(c)) => Network::Cnn(c),
            _ => return Err("must describe exactly one network (`net` or `cnn`)".into()),
        };
        Ok(ModelConfig {
            tool: self.tool,
            tool_version: self.tool_version,
            format_version: MODEL_FORMAT_VERSION,
            train: TrainConfig {
                model,
                backend: t.backend,
                seed: t.seed,
                epochs: t.epochs,
                lr: t.lr,
                batch_size: t.batch_size,
                weight_decay: t.weight_decay,
                optimizer: t.optimizer,
                val_fraction: t.val_fraction,
                patience: t.patience,
                class_weight: t.class_weight,
                positive: t.positive,
                tune_weight_decay: t.tune_weight_decay,
                schedule: crate::train::LrSchedule::Constant,
                views_in_memory: false,
                histograms: crate::train::HistogramMap::None,
                repeats: 1,
                resume: false,
            },
            network,
            weights_hash: self.weights_hash,
        })
    }
}
