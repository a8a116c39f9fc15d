//! Inference: a model folder and new meshes in, class probabilities out, each mesh's
//! descriptors or views computed with the exact parameters the model was trained on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset;
use crate::descriptors::views::ViewConfig;
use crate::error::{Error, Result};
use crate::extract;
use crate::mesh::RawMesh;
use crate::model_dir::SavedModel;

use crate::train::{self, Shapes, ViewSet};

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
/// probabilities up to rounding), else on the CPU. [`Model`] loads a model once for many calls.
pub fn predict(model_dir: &Path, meshes: &[PathBuf], top: usize) -> Result<Vec<Prediction>> {
    Ok(Model::load(model_dir)?.predict(meshes, top))
}

/// A trained model loaded once, to classify any number of meshes (files or meshes held in
/// memory), each through the descriptors or views the model was trained on.
pub struct Model {
    saved: SavedModel,
    device: burn::tensor::Device,
    /// The views the network reads (CNN and fusion), as the feature folder rendered them.
    views: Option<ViewConfig>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("classes", &self.saved.classes)
            .field("views", &self.views)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads the model folder `model_dir` onto the device it was trained on (the CPU where no
    /// GPU answers), checking its recorded descriptor parameters still give its columns.
    pub fn load(model_dir: &Path) -> Result<Model> {
        let device = inference_device(model_dir);
        let saved = SavedModel::load(model_dir, &device)?;
        if let Some(s) = &saved.standardizer
            && saved.manifest.descriptors.columns() != s.columns
        {
            return Err(Error::ColumnMismatch(model_dir.to_path_buf()));
        }
        let views = if saved.model.reads().views() {
            saved.manifest.views.as_ref().map(|v| v.config)
        } else {
            None
        };
        Ok(Model {
            saved,
            device,
            views,
        })
    }

    /// Class names, in the order of [`Model::probabilities_of_file`]'s values.
    pub fn classes(&self) -> &[String] {
        &self.saved.classes
    }

    /// Classifies each mesh file: its `top` most probable classes, or why it could not be
    /// classified (one mesh's failure, even a panic, is that mesh's error alone).
    pub fn predict(&self, meshes: &[PathBuf], top: usize) -> Vec<Prediction> {
        meshes
            .iter()
            .map(|path| {
                let (top, error) = match self.probabilities_of_file(path) {
                    Ok(p) => (self.ranked(&p, top), None),
                    Err(e) => (vec![], Some(e)),
                };
                Prediction {
                    path: path.display().to_string(),
                    top,
                    error,
                }
            })
            .collect()
    }

    /// The probability of each of [`Model::classes`] for one mesh file, its descriptors seeded
    /// from its content as in `features`, so the same file gives the same numbers under any
    /// path; or why it could not be classified.
    pub fn probabilities_of_file(&self, path: &Path) -> std::result::Result<Vec<f32>, String> {
        let name = path
            .file_name()
            .map(dataset::encode_name)
            .unwrap_or_default();
        self.probabilities(&name, || {
            let cfg = &self.saved.manifest.descriptors;
            let seed = self.saved.manifest.seed;
            extract::process_file_with_views(path, cfg, seed, None, self.views.as_ref())
        })
    }

    /// [`Model::probabilities_of_file`] for a mesh held in memory
    /// ([`extract::process_raw_with_views`]: seeded from the arrays' content).
    pub fn probabilities_of_mesh(&self, mesh: RawMesh) -> std::result::Result<Vec<f32>, String> {
        self.probabilities("<memory>", || {
            let cfg = &self.saved.manifest.descriptors;
            let seed = self.saved.manifest.seed;
            extract::process_raw_with_views(mesh, cfg, seed, None, self.views.as_ref())
        })
    }

    /// `(class, probability)` of the `top` most probable classes (at least 1), most probable
    /// first.
    pub fn ranked(&self, probs: &[f32], top: usize) -> Vec<(String, f32)> {
        let mut ranked: Vec<(String, f32)> = self
            .saved
            .classes
            .iter()
            .cloned()
            .zip(probs.iter().copied())
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(top.max(1).min(self.saved.classes.len()));
        ranked
    }

    /// Runs one mesh's processing (`name` labels its views) and the network on it; a panic is
    /// that mesh's error.
    fn probabilities(
        &self,
        name: &str,
        process: impl FnOnce() -> std::result::Result<extract::MeshFeatures, crate::mesh::MeshError>,
    ) -> std::result::Result<Vec<f32>, String> {
        let device = &self.device;
        // A panic on one mesh (a bug, but never to end the run) is that mesh's error.
        let computed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            process().map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|p| Err(extract::panic_error(p.as_ref())));
        let model = &self.saved;
        let probs = computed.and_then(|f| {
            let d = f.descriptors;
            let reads = model.model.reads();
            let views = match d.views {
                Some(v) => Some(one_shape(v, name)),
                None if reads.views() => return Err("no views rendered".to_string()),
                None => None,
            };
            let rows = train::Samples {
                x: d.values,
                y: vec![0],
                paths: vec![name.to_string()],
            };
            let set = Shapes::of(
                reads,
                Some(&rows),
                views.as_ref(),
                model.standardizer.as_ref(),
            )
            .map_err(|e| format!("{e} (damaged model folder?)"))?;
            Ok(train::predict_proba(&model.model, &set, device))
        })?;
        if probs.iter().all(|q| q.is_finite()) {
            Ok(probs)
        } else {
            Err("the model produced a non-finite probability (damaged weights?)".to_string())
        }
    }
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
