//! A trained model on disk, `models/<name>/`: weights, training config, class names,
//! normalisation statistics, the feature manifest it was trained on, and its report. Everything
//! needed to apply it to a new mesh, and to refuse features made another way.

use std::path::{Path, PathBuf};

use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::Deserialize;

use crate::features::Manifest;
use crate::models::{Classifier, CnnConfig};
use crate::report::Report;
use crate::train::Standardizer;

mod config;
mod staging;

pub use config::{ModelConfig, read_config};
pub use staging::{
    CHECKPOINT_DIR, CommitError, ReplaceError, Staging, check_not_in_use, check_replaceable,
    is_model_folder, write_staged,
};

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
/// Layout version of a model folder: 2 since the training settings hold a [`ModelSpec`](crate::models::ModelSpec) and
/// the network shape is one [`Network`](crate::models::Network). Folders of format 1 are still read.
pub const MODEL_FORMAT_VERSION: u32 = 2;

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

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ModelError> {
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
        let config = read_config(&cpath)?;
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
        // `predict` computes each mesh's descriptors and views with these settings: they get
        // the checks `features` gives its flags, so an edited manifest cannot make a mesh take
        // hours, give histograms of nothing, or render other views than the network takes.
        let mpath = dir.join(MANIFEST_FILE);
        let settings = |e: String| {
            corrupt(
                &mpath,
                format!(
                    "{e}: its feature settings are not ones `shapeclf features` accepts (edited or damaged manifest): retrain the model"
                ),
            )
        };
        manifest.check_settings().map_err(settings)?;
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
        let class_count = |n: usize| {
            if classes.len() == n {
                Ok(())
            } else {
                Err(corrupt(
                    &dir.join(CLASSES_FILE),
                    "class count differs from the network's".into(),
                ))
            }
        };
        let standardizer_for = |inputs: usize| -> Result<Standardizer, ModelError> {
            let standardizer: Standardizer = read_json(&dir.join(NORMALIZATION_FILE))?;
            standardizer
                .validate()
                .map_err(|m| corrupt(&dir.join(NORMALIZATION_FILE), m))?;
            if standardizer.columns.len() != inputs
                || standardizer.mean.len() != inputs
                || standardizer.std.len() != inputs
            {
                return Err(corrupt(
                    &dir.join(NORMALIZATION_FILE),
                    "column count differs from the network's inputs".into(),
                ));
            }
            Ok(standardizer)
        };
        let views_fit = |cnn: &CnnConfig| -> Result<(), ModelError> {
            let views = manifest.views.as_ref().ok_or_else(|| {
                corrupt(
                    &dir.join(MANIFEST_FILE),
                    "a view model whose feature manifest records no views".into(),
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
            let channels = views.config.channels.count();
            if channels != cnn.in_channels {
                return Err(corrupt(
                    &dir.join(MANIFEST_FILE),
                    format!(
                        "the manifest's views have {channels} channel(s) per view ({:?}), but the \
                         network was built for {}: the model and its feature manifest do not belong together",
                        views.config.channels, cnn.in_channels
                    ),
                ));
            }
            Ok(())
        };
        let network = &config.network;
        class_count(network.classes())?;
        if let Some(cnn) = network.view_net() {
            views_fit(cnn)?;
        }
        let standardizer = network.columns().map(standardizer_for).transpose()?;
        let model = network.init(device).with_record(record).map_err(misfit)?;
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
    let corrupt = |msg| ModelError::Corrupt {
        path: path.clone(),
        msg,
    };
    possible_scores(
        "",
        [m.accuracy, m.mean_class_accuracy, m.macro_avg.f1],
        [
            ("train_seconds", r.train_seconds),
            ("samples_per_second", r.samples_per_second),
        ],
    )
    .map_err(corrupt)?;
    check_seeds(&r).map_err(corrupt)?;
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

/// The scores of every seed of a `--repeats` report are possible, the first is the report's
/// own, and the spread is theirs: `compare` averages the seeds, the terminal shows the
/// spread, and an edited figure in either would rank a model on numbers it never scored.
fn check_seeds(r: &Report) -> Result<(), String> {
    for s in &r.repeats {
        possible_scores(
            &format!("seed {}'s ", s.seed),
            [s.accuracy, s.mean_class_accuracy, s.macro_f1],
            [("train_seconds", s.train_seconds)],
        )?;
    }
    let Some(spread) = &r.spread else {
        return Ok(());
    };
    let first = r
        .repeats
        .first()
        .ok_or("a spread over seeds, but no seeds listed")?;
    if first.seed != r.seed || first.accuracy != r.metrics.accuracy {
        return Err(format!(
            "the first seed listed (seed {}, accuracy {}) is not the report's own (seed {}, accuracy {})",
            first.seed, first.accuracy, r.seed, r.metrics.accuracy
        ));
    }
    let want = crate::report::Spread::of(&r.repeats);
    let close = |a: &crate::report::MeanStd, b: &crate::report::MeanStd| {
        (a.mean - b.mean).abs() <= 1e-9 && (a.std - b.std).abs() <= 1e-9
    };
    if spread.runs != want.runs
        || !close(&spread.accuracy, &want.accuracy)
        || !close(&spread.mean_class_accuracy, &want.mean_class_accuracy)
        || !close(&spread.macro_f1, &want.macro_f1)
    {
        return Err("the spread over seeds is not that of the seeds listed".into());
    }
    Ok(())
}

/// Accuracy, mean class accuracy and macro F1 (in that order) within [0, 1], and each of
/// `amounts` a non-negative number; the message names the figure, after `whose` (a seed's).
fn possible_scores<const N: usize>(
    whose: &str,
    scores: [f64; 3],
    amounts: [(&str, f64); N],
) -> Result<(), String> {
    let names = ["accuracy", "mean_class_accuracy", "macro F1"];
    for (name, v) in names.into_iter().zip(scores) {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("{whose}{name} is {v}, outside [0, 1]"));
        }
    }
    for (name, v) in amounts {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{whose}{name} is {v}, not a non-negative number"));
        }
    }
    Ok(())
}
