//! Inference: a model folder and new meshes in, class probabilities out, each mesh's
//! descriptors or views computed with the exact parameters the model was trained on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset;
use crate::error::{Error, Result};
use crate::extract;
use crate::model_dir::{Classifier, SavedModel};
use crate::train::{self, FusionSet, RowSet, ViewSet};

/// Predicted classes of one mesh, most probable first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// The mesh file.
    pub path: String,
    /// `(class, probability)`, most probable first.
    pub top: Vec<(String, f32)>,
    /// Why the mesh could not be classified, if it could not.
    pub error: Option<String>,
}

/// Classifies each mesh with the model in `model_dir`, computing its descriptors (or rendering
/// its views, for the CNN) with the exact parameters of the features the model was trained on.
///
/// It runs where the model was trained: on the GPU for a model trained with `--backend gpu`
/// (falling back to the CPU where this binary or machine has none; both give the same
/// probabilities up to rounding), else on the CPU.
pub fn predict(model_dir: &Path, meshes: &[PathBuf], top: usize) -> Result<Vec<Prediction>> {
    let device = inference_device(model_dir);
    let model = SavedModel::load(model_dir, &device)?;
    let cfg = &model.manifest.descriptors;
    let views = match &model.model {
        Classifier::Cnn(_) | Classifier::Fusion(_) => {
            model.manifest.views.as_ref().map(|v| v.config)
        }
        Classifier::Dense(_) => None,
    };
    if let Some(s) = &model.standardizer
        && cfg.columns() != s.columns
    {
        return Err(Error::ColumnMismatch(model_dir.to_path_buf()));
    }
    let k = model.classes.len();
    let mut out = Vec::new();
    for path in meshes {
        let name = path
            .file_name()
            .map(dataset::encode_name)
            .unwrap_or_default();
        // The mesh's own seed comes from its content inside, as in `features`: the same file
        // gives the same descriptors however its path is spelled.
        // A panic on one mesh (a bug, but never to end the run) is that mesh's error.
        let computed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            extract::process_file_with_views(path, cfg, model.manifest.seed, None, views.as_ref())
                .map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|p| Err(extract::panic_error(p.as_ref())));
        let probs = computed.and_then(|f| match (&model.model, &model.standardizer) {
            (Classifier::Dense(net), Some(s)) => {
                let mut x = f.descriptors.values;
                s.apply(&mut x);
                let rows = RowSet {
                    columns: x.len(),
                    x,
                    y: vec![0],
                };
                Ok(train::predict_proba(net, &rows, &device))
            }
            (Classifier::Cnn(net), _) => {
                let v = f.descriptors.views.ok_or("no views rendered")?;
                Ok(train::predict_proba(net, &one_shape(v, &name), &device))
            }
            (Classifier::Fusion(net), Some(s)) => {
                let v = f.descriptors.views.ok_or("no views rendered")?;
                let mut x = f.descriptors.values;
                s.apply(&mut x);
                let set = FusionSet {
                    views: one_shape(v, &name),
                    rows: RowSet {
                        columns: x.len(),
                        x,
                        y: vec![0],
                    },
                };
                Ok(train::predict_proba(net, &set, &device))
            }
            (Classifier::Dense(_) | Classifier::Fusion(_), None) => {
                Err("model has no normalisation".into())
            }
        });
        let probs = probs.and_then(|p| {
            if p.iter().all(|q| q.is_finite()) {
                Ok(p)
            } else {
                Err("the model produced a non-finite probability (damaged weights?)".to_string())
            }
        });
        match probs {
            Ok(p) => {
                let mut ranked: Vec<(String, f32)> = model
                    .classes
                    .iter()
                    .cloned()
                    .zip(p.iter().copied())
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                ranked.truncate(top.max(1).min(k));
                out.push(Prediction {
                    path: path.display().to_string(),
                    top: ranked,
                    error: None,
                });
            }
            Err(e) => out.push(Prediction {
                path: path.display().to_string(),
                top: vec![],
                error: Some(e),
            }),
        }
    }
    Ok(out)
}

/// The device a saved model predicts on: the GPU when its training ran there and one answers,
/// else the CPU. An unreadable configuration picks the CPU; loading then reports it.
fn inference_device(model_dir: &Path) -> burn::tensor::Device {
    use crate::models::BackendKind;
    let trained_on = crate::model_dir::read_config(&model_dir.join(crate::model_dir::CONFIG_FILE))
        .map(|c| c.train.backend)
        .unwrap_or_default();
    match trained_on {
        BackendKind::Gpu => BackendKind::Gpu
            .device()
            .unwrap_or_else(|_| burn::tensor::Device::flex()),
        BackendKind::Cpu => burn::tensor::Device::flex(),
    }
}

/// One mesh's rendered views as a set of one shape.
fn one_shape(v: crate::descriptors::views::Views, name: &str) -> ViewSet {
    ViewSet {
        pixels: v.pixels,
        y: vec![0],
        paths: vec![name.to_string()],
        views: v.count,
        channels: v.channels,
        resolution: v.resolution,
        ..Default::default()
    }
}
