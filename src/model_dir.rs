//! A trained model on disk, `models/<name>/`: weights, training config, class names,
//! normalisation statistics, the feature manifest it was trained on, and its report. Everything
//! needed to apply it to a new mesh, and to refuse features made another way.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use crate::features::Manifest;
use crate::models::{Net, NetConfig};
use crate::report::Metrics;
use crate::train::{EpochStats, Standardizer, TrainConfig};

/// Weights (Burn's burnpack record).
pub const WEIGHTS_FILE: &str = "model.bpk";
/// Training configuration and network shape.
pub const CONFIG_FILE: &str = "config.json";
/// Class names in label order.
pub const CLASSES_FILE: &str = "classes.json";
/// Feature standardisation statistics.
pub const NORMALIZATION_FILE: &str = "normalization.json";
/// The feature manifest the model was trained on.
pub const MANIFEST_FILE: &str = "features_manifest.json";
/// Machine-readable report.
pub const REPORT_FILE: &str = "report.json";
/// Layout version of a model folder.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Always `shapeclf`.
    pub tool: String,
    /// shapeclf version that trained it.
    pub tool_version: String,
    /// [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// Hyperparameters.
    pub train: TrainConfig,
    /// Network shape.
    pub net: NetConfig,
}

/// `report.json`: what training measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Model kind (`logistic`, `mlp`).
    pub model: String,
    /// Backend and device that trained it.
    pub backend: String,
    /// Training seed.
    pub seed: u64,
    /// Feature folder it was trained from.
    pub features: String,
    /// Test metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Training rows (after the validation split).
    pub train_size: usize,
    /// Validation rows.
    pub val_size: usize,
    /// Test rows.
    pub test_size: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// Training throughput.
    pub samples_per_second: f64,
    /// Epochs run.
    pub epochs_run: usize,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Per-epoch loss and accuracies.
    pub history: Vec<EpochStats>,
    /// Test meshes classified wrongly: path, true class, predicted class.
    pub misclassified: Vec<[String; 3]>,
    /// L2 strength of the final fit.
    #[serde(default)]
    pub weight_decay: f32,
    /// Cross-validated accuracy of each L2 strength tried (empty when not tuned).
    #[serde(default)]
    pub cv: Vec<crate::train::CvScore>,
}

/// Errors reading a model folder.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source} (is this a folder written by `shapeclf train`?)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is there but broken or from an incompatible version.
    #[error("{path}: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ModelError::Corrupt {
        path: path.to_path_buf(),
        msg: format!("unreadable: {e}"),
    })
}

/// A model read back from disk, ready to predict.
pub struct SavedModel {
    /// Hyperparameters and shape.
    pub config: ModelConfig,
    /// Class names.
    pub classes: Vec<String>,
    /// Standardisation statistics.
    pub standardizer: Standardizer,
    /// The feature manifest it was trained on.
    pub manifest: Manifest,
    /// The network, on the device it was loaded to.
    pub net: Net,
}

/// Writes a model folder, each file atomically. `manifest_bytes` is the feature manifest the
/// model was trained on, copied byte for byte.
pub fn save(
    dir: &Path,
    config: &ModelConfig,
    classes: &[String],
    standardizer: &Standardizer,
    manifest_bytes: &[u8],
    net: &Net,
) -> std::io::Result<()> {
    use crate::io::{write_bytes_atomic, write_json_atomic};
    std::fs::create_dir_all(dir)?;
    let bytes = net
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    write_bytes_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    write_json_atomic(&dir.join(CONFIG_FILE), config)?;
    write_json_atomic(&dir.join(CLASSES_FILE), &classes)?;
    write_json_atomic(&dir.join(NORMALIZATION_FILE), standardizer)?;
    write_bytes_atomic(&dir.join(MANIFEST_FILE), manifest_bytes)
}

impl SavedModel {
    /// Reads and checks a model folder and loads its weights onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<SavedModel, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder"),
            });
        }
        let cpath = dir.join(CONFIG_FILE);
        let config: ModelConfig = read_json(&cpath)?;
        if config.tool != "shapeclf" || config.format_version != MODEL_FORMAT_VERSION {
            return Err(ModelError::Corrupt {
                path: cpath,
                msg: format!(
                    "model format {} from {} {}; this shapeclf reads format {MODEL_FORMAT_VERSION}: retrain it",
                    config.format_version, config.tool, config.tool_version
                ),
            });
        }
        let classes: Vec<String> = read_json(&dir.join(CLASSES_FILE))?;
        let standardizer: Standardizer = read_json(&dir.join(NORMALIZATION_FILE))?;
        let manifest: Manifest = read_json(&dir.join(MANIFEST_FILE))?;
        let corrupt = |path: &Path, msg: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            msg,
        };
        if classes.len() != config.net.classes {
            return Err(corrupt(
                &dir.join(CLASSES_FILE),
                "class count differs from the network's".into(),
            ));
        }
        if standardizer.columns.len() != config.net.inputs
            || standardizer.mean.len() != config.net.inputs
            || standardizer.std.len() != config.net.inputs
        {
            return Err(corrupt(
                &dir.join(NORMALIZATION_FILE),
                "column count differs from the network's inputs".into(),
            ));
        }
        let wpath = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&wpath).map_err(|source| ModelError::Io {
            path: wpath.clone(),
            source,
        })?;
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| corrupt(&wpath, format!("corrupt weights: {e}")))?;
        let net = config
            .net
            .init(device)
            .try_load_record(record)
            .map_err(|e| corrupt(&wpath, format!("weights do not fit the network: {e}")))?;
        Ok(SavedModel {
            config,
            classes,
            standardizer,
            manifest,
            net,
        })
    }
}

/// Reads `report.json` of a model folder.
pub fn read_report(dir: &Path) -> Result<Report, ModelError> {
    read_json(&dir.join(REPORT_FILE))
}
