//! A trained model on disk, `models/<name>/`: weights, training config, class names,
//! normalisation statistics, the feature manifest it was trained on, and its report. Everything
//! needed to apply it to a new mesh, and to refuse features made another way.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use crate::features::Manifest;
use crate::models::{CnnConfig, Mvcnn, Net, NetConfig};
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
    /// Network shape of a descriptor model (logistic, MLP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetConfig>,
    /// Network shape of a multi-view CNN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnn: Option<CnnConfig>,
    /// [`crate::features::hash_hex`] of `model.bpk`, checked on load: a damaged or swapped
    /// weights file is refused instead of predicting nonsense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_hash: Option<String>,
}

/// Why a folder may not be replaced by a new model folder.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// It holds something other than a shapeclf model.
    #[error(
        "{0} is not empty and is not a shapeclf model folder (no config.json written by `shapeclf train`); refusing to replace it: choose a new or empty folder"
    )]
    NotModelFolder(PathBuf),
    /// It is a file, not a folder.
    #[error("{0} exists and is not a folder; refusing to replace it")]
    NotAFolder(PathBuf),
}

/// Whether a folder is one `shapeclf train` wrote: its `config.json` carries shapeclf's tool
/// name and a format version (any version, so an old model folder can be replaced by a new).
pub fn is_model_folder(dir: &Path) -> bool {
    crate::io::shapeclf_json(&dir.join(CONFIG_FILE))
        .is_some_and(|v| v.get("format_version").is_some_and(|f| f.is_u64()))
}

/// Checks that `out` may be replaced by a model folder: it is missing, an empty folder, or a
/// model folder. Anything else (a user's data, a feature folder, a file) is refused untouched.
pub fn check_replaceable(out: &Path) -> Result<(), ReplaceError> {
    use crate::io::OutputTarget as T;
    // A link would be replaced, not the folder it points to.
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ReplaceError::NotAFolder(out.to_path_buf()));
    }
    match crate::io::output_target(out) {
        T::Missing | T::Empty => Ok(()),
        T::NotAFolder => Err(ReplaceError::NotAFolder(out.to_path_buf())),
        T::Occupied if is_model_folder(out) => Ok(()),
        T::Occupied => Err(ReplaceError::NotModelFolder(out.to_path_buf())),
    }
}

/// A trained network of either kind.
pub enum Classifier {
    /// Logistic regression or MLP on standardised descriptors.
    Dense(Net),
    /// Multi-view CNN on depth views.
    Cnn(Mvcnn),
}

impl Classifier {
    /// Trainable parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Classifier::Dense(n) => n.num_params(),
            Classifier::Cnn(n) => n.num_params(),
        }
    }

    /// The weights as Burn record bytes (`model.bpk`).
    pub fn to_bytes(&self) -> std::io::Result<Vec<u8>> {
        let bytes = match self {
            Classifier::Dense(n) => n.clone().into_record().into_bytes(),
            Classifier::Cnn(n) => n.clone().into_record().into_bytes(),
        };
        bytes
            .map(|b| b.to_vec())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
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
    /// Rows left out because their inputs could not be read (the CNN's view images), with why.
    #[serde(default)]
    pub skipped: Vec<crate::features::Failure>,
    /// Every test mesh's predicted class and its probability, so a comparison can show what
    /// each model said about each mesh (empty in reports of older versions).
    #[serde(default)]
    pub predictions: Vec<TestPrediction>,
}

/// One test mesh as a model classified it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPrediction {
    /// Mesh path, as in the feature table.
    pub path: String,
    /// True class.
    pub class: String,
    /// Predicted class.
    pub predicted: String,
    /// The model's probability for the predicted class.
    pub probability: f32,
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
    /// Standardisation statistics (descriptor models only).
    pub standardizer: Option<Standardizer>,
    /// The feature manifest it was trained on.
    pub manifest: Manifest,
    /// The network, on the device it was loaded to.
    pub model: Classifier,
}

/// Writes a model folder, each file atomically. `manifest_bytes` is the feature manifest the
/// model was trained on, copied byte for byte.
pub fn save(
    dir: &Path,
    config: &ModelConfig,
    classes: &[String],
    standardizer: Option<&Standardizer>,
    manifest_bytes: &[u8],
    model: &Classifier,
) -> std::io::Result<()> {
    use crate::io::{write_bytes_atomic, write_json_atomic};
    std::fs::create_dir_all(dir)?;
    let weights = model.to_bytes()?;
    let mut config = config.clone();
    config.weights_hash = Some(crate::features::hash_hex(&weights));
    write_bytes_atomic(&dir.join(WEIGHTS_FILE), &weights)?;
    write_json_atomic(&dir.join(CONFIG_FILE), &config)?;
    write_json_atomic(&dir.join(CLASSES_FILE), &classes)?;
    match standardizer {
        Some(s) => write_json_atomic(&dir.join(NORMALIZATION_FILE), s)?,
        None => match std::fs::remove_file(dir.join(NORMALIZATION_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        },
    }
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
        let mut sorted: Vec<&String> = classes.iter().collect();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(ModelError::Corrupt {
                path: dir.join(CLASSES_FILE),
                msg: format!("class {:?} is listed twice", w[0]),
            });
        }
        let manifest: Manifest = read_json(&dir.join(MANIFEST_FILE))?;
        let corrupt = |path: &Path, msg: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            msg,
        };
        let wpath = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&wpath).map_err(|source| ModelError::Io {
            path: wpath.clone(),
            source,
        })?;
        if let Some(want) = &config.weights_hash
            && crate::features::hash_hex(&bytes) != *want
        {
            return Err(corrupt(
                &wpath,
                "weights do not match the checksum in config.json (damaged or replaced file): retrain the model".into(),
            ));
        }
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| corrupt(&wpath, format!("corrupt weights: {e}")))?;
        let misfit = |e: burn::store::RecordError| {
            corrupt(&wpath, format!("weights do not fit the network: {e}"))
        };
        let (standardizer, model) = match (&config.net, &config.cnn) {
            (Some(net), None) => {
                if classes.len() != net.classes {
                    return Err(corrupt(
                        &dir.join(CLASSES_FILE),
                        "class count differs from the network's".into(),
                    ));
                }
                let standardizer: Standardizer = read_json(&dir.join(NORMALIZATION_FILE))?;
                standardizer
                    .validate()
                    .map_err(|m| corrupt(&dir.join(NORMALIZATION_FILE), m))?;
                if standardizer.columns.len() != net.inputs
                    || standardizer.mean.len() != net.inputs
                    || standardizer.std.len() != net.inputs
                {
                    return Err(corrupt(
                        &dir.join(NORMALIZATION_FILE),
                        "column count differs from the network's inputs".into(),
                    ));
                }
                let net = net.init(device).try_load_record(record).map_err(misfit)?;
                (Some(standardizer), Classifier::Dense(net))
            }
            (None, Some(cnn)) => {
                if classes.len() != cnn.classes {
                    return Err(corrupt(
                        &dir.join(CLASSES_FILE),
                        "class count differs from the network's".into(),
                    ));
                }
                let views = manifest.views.as_ref().ok_or_else(|| {
                    corrupt(
                        &dir.join(MANIFEST_FILE),
                        "a CNN model whose feature manifest records no views".into(),
                    )
                })?;
                if views.count != cnn.views || views.config.resolution != cnn.resolution {
                    return Err(corrupt(
                        &dir.join(MANIFEST_FILE),
                        format!(
                            "the manifest's views ({} of {}px) are not what the network takes ({} of {}px)",
                            views.count, views.config.resolution, cnn.views, cnn.resolution
                        ),
                    ));
                }
                let net = cnn.init(device).try_load_record(record).map_err(misfit)?;
                (None, Classifier::Cnn(net))
            }
            _ => {
                return Err(corrupt(
                    &cpath,
                    "must describe exactly one network (`net` or `cnn`)".into(),
                ));
            }
        };
        Ok(SavedModel {
            config,
            classes,
            standardizer,
            manifest,
            model,
        })
    }
}

/// Reads `report.json` of a model folder and checks its figures are possible (scores in
/// [0, 1], times and counts not negative), so a damaged report is named, not compared.
pub fn read_report(dir: &Path) -> Result<Report, ModelError> {
    let path = dir.join(REPORT_FILE);
    let r: Report = read_json(&path)?;
    let m = &r.metrics;
    let scores = [
        ("accuracy", m.accuracy),
        ("mean_class_accuracy", m.mean_class_accuracy),
        ("macro F1", m.macro_avg.f1),
    ];
    for (name, v) in scores {
        if !(0.0..=1.0).contains(&v) {
            return Err(ModelError::Corrupt {
                path,
                msg: format!("{name} is {v}, outside [0, 1]"),
            });
        }
    }
    for (name, v) in [
        ("train_seconds", r.train_seconds),
        ("samples_per_second", r.samples_per_second),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(ModelError::Corrupt {
                path,
                msg: format!("{name} is {v}, not a non-negative number"),
            });
        }
    }
    let counted: usize = m.confusion_matrix.iter().flatten().sum();
    if counted != r.test_size {
        return Err(ModelError::Corrupt {
            path,
            msg: format!(
                "the confusion matrix counts {counted} test meshes, the report says {}",
                r.test_size
            ),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever a folder holds, it is replaceable only when it is empty or carries a
        /// shapeclf model config: random files, random `config.json` contents and nested
        /// folders are all refused.
        #[test]
        fn only_empty_or_model_folders_are_replaceable(
            files in proptest::collection::vec(("[a-z.]{1,8}", proptest::collection::vec(proptest::num::u8::ANY, 0..16)), 0..5),
            config in proptest::option::of(0u8..4),
            sub in proptest::bool::ANY,
        ) {
            let d = tempfile::tempdir().unwrap();
            let dir = d.path().join("out");
            std::fs::create_dir(&dir).unwrap();
            for (name, bytes) in &files {
                if name != CONFIG_FILE && name != "." && name != ".." {
                    std::fs::write(dir.join(name), bytes).unwrap();
                }
            }
            if sub {
                std::fs::create_dir_all(dir.join("sub/x")).unwrap();
            }
            let cfg: Option<&str> = config.map(|c| match c {
                0 => r#"{"tool":"shapeclf","format_version":1}"#,
                1 => r#"{"tool":"other","format_version":1}"#,
                2 => r#"{"tool":"shapeclf"}"#,
                _ => "not json",
            });
            if let Some(c) = cfg {
                std::fs::write(dir.join(CONFIG_FILE), c).unwrap();
            }
            let empty = std::fs::read_dir(&dir).unwrap().next().is_none();
            let model = config == Some(0);
            proptest::prop_assert_eq!(check_replaceable(&dir).is_ok(), empty || model);
            // A file is never replaceable.
            let file = d.path().join("file");
            std::fs::write(&file, b"x").unwrap();
            proptest::prop_assert!(check_replaceable(&file).is_err());
        }
    }
}
