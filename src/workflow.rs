//! The commands' work as library calls: train a model from a feature folder into a model folder,
//! compare trained models, predict classes of new meshes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::dataset;
use crate::extract;
use crate::features;
use crate::io::{write_bytes_atomic, write_json_atomic};
use crate::model_dir::{self, ModelConfig, Report, SavedModel};
use crate::plots;
use crate::report::Metrics;
use crate::train::{self, TrainConfig};

/// Trains `cfg.model` on the features in `features_dir` and writes the model folder `out`
/// (weights, config, classes, normalisation, manifest, report.json, report.md, confusion.png,
/// curves.png). Returns the report.
pub fn train_model(
    features_dir: &Path,
    out: &Path,
    cfg: &TrainConfig,
    progress: bool,
) -> Result<Report> {
    let (table, _manifest) = features::read_folder(features_dir)
        .with_context(|| format!("reading features from {}", features_dir.display()))?;
    let manifest_bytes = std::fs::read(features_dir.join(features::MANIFEST_FILE))?;
    let data = train::prepare(&table, cfg.positive.as_deref())?;
    let device = cfg.backend.device()?;
    let mut cfg = cfg.clone();
    let mut cv = Vec::new();
    if cfg.tune_weight_decay {
        let (wd, scores) = train::tune_weight_decay(&cfg, &data, &device);
        if progress {
            eprintln!(
                "cross-validated weight decay: {wd} ({} values tried)",
                scores.len()
            );
        }
        cfg.weight_decay = wd;
        cv = scores;
    }
    let cfg = &cfg;
    let pb = if progress {
        let pb = ProgressBar::new(cfg.epochs as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed_precise}] {wide_bar} epoch {pos}/{len} {msg}",
            )
            .expect("static template"),
        );
        pb.set_prefix(cfg.model.name());
        pb
    } else {
        ProgressBar::hidden()
    };
    let trained = train::train(cfg, &data, &device, |e| {
        pb.set_position(e.epoch as u64);
        let val = e
            .val_accuracy
            .map(|v| format!(" val {v:.3}"))
            .unwrap_or_default();
        pb.set_message(format!(
            "loss {:.4} train {:.3}{val}",
            e.loss, e.train_accuracy
        ));
    });
    pb.finish_and_clear();

    let k = data.classes.len();
    let d = data.columns.len();
    let mut x = data.test.x.clone();
    trained.standardizer.apply(&mut x);
    let proba = train::predict_proba(&trained.net, &x, d, &device);
    let pred = train::argmax_rows(&proba, k);
    let metrics = Metrics::compute(&data.classes, &data.test.y, &pred);
    let misclassified = data
        .test
        .paths
        .iter()
        .zip(data.test.y.iter().zip(&pred))
        .filter(|(_, (t, p))| t != p)
        .map(|(path, (&t, &p))| {
            [
                path.clone(),
                data.classes[t].clone(),
                data.classes[p].clone(),
            ]
        })
        .collect();
    let (tr, va) = train::validation_split(&data.train.y, cfg.val_fraction, cfg.seed);
    let report = Report {
        model: cfg.model.name().to_string(),
        backend: cfg.backend.describe(),
        seed: cfg.seed,
        features: features_dir.display().to_string(),
        metrics,
        train_size: tr.len(),
        val_size: va.len(),
        test_size: data.test.len(),
        parameters: trained.net.num_params(),
        train_seconds: trained.train_seconds,
        samples_per_second: trained.samples_per_second,
        epochs_run: trained.history.len(),
        best_epoch: trained.best_epoch,
        history: trained.history.clone(),
        misclassified,
        weight_decay: cfg.weight_decay,
        cv,
    };
    let config = ModelConfig {
        tool: "shapeclf".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        format_version: model_dir::MODEL_FORMAT_VERSION,
        train: cfg.clone(),
        net: trained.net_config.clone(),
    };
    model_dir::save(
        out,
        &config,
        &data.classes,
        &trained.standardizer,
        &manifest_bytes,
        &trained.net,
    )
    .with_context(|| format!("writing model to {}", out.display()))?;
    write_json_atomic(&out.join(model_dir::REPORT_FILE), &report)?;
    write_bytes_atomic(&out.join("report.md"), report_markdown(&report).as_bytes())?;
    let title = format!("{} ({})", report.model, features_dir.display());
    if let Err(e) = plots::confusion_png(&report.metrics, &title, &out.join("confusion.png")) {
        eprintln!("warning: confusion.png not drawn: {e}");
    }
    if let Err(e) = plots::curves_png(&report.history, &report.model, &out.join("curves.png")) {
        eprintln!("warning: curves.png not drawn: {e}");
    }
    Ok(report)
}

/// The report for people.
pub fn report_markdown(r: &Report) -> String {
    format!(
        "# {model} on {features}\n\n\
         | test accuracy | mean class accuracy | macro F1 | test meshes | parameters | training | backend |\n\
         |---:|---:|---:|---:|---:|---:|---|\n\
         | {acc:.4} | {mca:.4} | {f1:.4} | {n} | {params} | {secs:.2} s, {epochs} epochs (best {best}), {sps:.0} samples/s | {backend} |\n\n\
         ![confusion matrix](confusion.png)\n\n![training curves](curves.png)\n\n## Per class\n\n{table}\n\
         ## Misclassified test meshes\n\n{mis}\n",
        model = r.model,
        features = r.features,
        acc = r.metrics.accuracy,
        mca = r.metrics.mean_class_accuracy,
        f1 = r.metrics.macro_avg.f1,
        n = r.test_size,
        params = r.parameters,
        secs = r.train_seconds,
        epochs = r.epochs_run,
        best = r.best_epoch,
        sps = r.samples_per_second,
        backend = r.backend,
        table = r.metrics.to_markdown(),
        mis = if r.misclassified.is_empty() {
            "None.".to_string()
        } else {
            r.misclassified
                .iter()
                .map(|[p, t, q]| format!("- `{p}`: {t} taken for {q}"))
                .collect::<Vec<_>>()
                .join("\n")
        },
    )
}

/// One line of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Model folder name.
    pub name: String,
    /// Model kind.
    pub model: String,
    /// Test accuracy.
    pub accuracy: f64,
    /// Mean class accuracy.
    pub mean_class_accuracy: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Training seconds.
    pub train_seconds: f64,
    /// Parameter count.
    pub parameters: usize,
    /// Backend.
    pub backend: String,
    /// Test meshes.
    pub test_size: usize,
}

/// Reads every `*/report.json` under `models_dir` (sorted by folder name), writes
/// `comparison.md` and `comparison.png` there, and returns the rows.
pub fn compare(models_dir: &Path) -> Result<Vec<ComparisonRow>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models_dir)
        .with_context(|| format!("reading models folder {}", models_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(model_dir::REPORT_FILE).is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "no trained models under {} (expected <name>/report.json; run `shapeclf train` first)",
            models_dir.display()
        );
    }
    let mut rows = Vec::new();
    for d in &dirs {
        let r = model_dir::read_report(d)?;
        rows.push(ComparisonRow {
            name: d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            model: r.model,
            accuracy: r.metrics.accuracy,
            mean_class_accuracy: r.metrics.mean_class_accuracy,
            macro_f1: r.metrics.macro_avg.f1,
            train_seconds: r.train_seconds,
            parameters: r.parameters,
            backend: r.backend,
            test_size: r.test_size,
        });
    }
    write_bytes_atomic(
        &models_dir.join("comparison.md"),
        comparison_markdown(&rows).as_bytes(),
    )?;
    let bars: Vec<(String, [f64; 3])> = rows
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                [r.accuracy, r.mean_class_accuracy, r.macro_f1],
            )
        })
        .collect();
    if let Err(e) = plots::comparison_png(&bars, &models_dir.join("comparison.png")) {
        eprintln!("warning: comparison.png not drawn: {e}");
    }
    Ok(rows)
}

/// The comparison as a terminal table.
pub fn comparison_text(rows: &[ComparisonRow]) -> String {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
    let mut s = format!(
        "{:<w$}  {:>8}  {:>10}  {:>8}  {:>9}  {:>10}  backend\n",
        "model", "accuracy", "mean class", "macro F1", "train s", "parameters"
    );
    for r in rows {
        s += &format!(
            "{:<w$}  {:>8.4}  {:>10.4}  {:>8.4}  {:>9.2}  {:>10}  {}\n",
            r.name,
            r.accuracy,
            r.mean_class_accuracy,
            r.macro_f1,
            r.train_seconds,
            r.parameters,
            r.backend
        );
    }
    s
}

fn comparison_markdown(rows: &[ComparisonRow]) -> String {
    let mut s = String::from(
        "# Hand-engineered descriptors against learned features\n\n\
         | model | test accuracy | mean class accuracy | macro F1 | training s | parameters | backend | test meshes |\n\
         |---|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.2} | {} | {} | {} |\n",
            r.name,
            r.accuracy,
            r.mean_class_accuracy,
            r.macro_f1,
            r.train_seconds,
            r.parameters,
            r.backend,
            r.test_size
        );
    }
    s + "\n![comparison](comparison.png)\n"
}

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

/// Classifies each mesh with the model in `model_dir`, computing its descriptors with the exact
/// parameters of the features the model was trained on.
pub fn predict(model_dir: &Path, meshes: &[PathBuf], top: usize) -> Result<Vec<Prediction>> {
    let device = burn::tensor::Device::flex();
    let model = SavedModel::load(model_dir, &device)?;
    let cfg = &model.manifest.descriptors;
    let columns = cfg.columns();
    if columns != model.standardizer.columns {
        bail!(
            "{}: the model was trained on columns that its recorded descriptor parameters do not produce; retrain it",
            model_dir.display()
        );
    }
    let d = columns.len();
    let k = model.classes.len();
    let mut out = Vec::new();
    for path in meshes {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let seed = dataset::mesh_seed(model.manifest.seed, &name);
        match extract::process_file(path, cfg, seed, None) {
            Ok(f) => {
                let mut x = f.descriptors.values;
                model.standardizer.apply(&mut x);
                let p = train::predict_proba(&model.net, &x, d, &device);
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
                error: Some(e.to_string()),
            }),
        }
    }
    Ok(out)
}
