//! The commands' work as library calls: train a model from a feature folder into a model folder,
//! compare trained models, predict classes of new meshes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cnn_train;
use crate::dataset;
use crate::extract;
use crate::features;
use crate::io::{write_bytes_atomic, write_json_atomic};
use crate::model_dir::{self, Classifier, ModelConfig, Report, SavedModel};
use crate::models::{CnnConfig, ModelKind, Mvcnn};
use crate::plots;
use crate::report::Metrics;
use crate::train::{self, EpochStats, TrainConfig};

/// Trains `cfg.model` on the features in `features_dir` and writes the model folder `out`
/// (weights, config, classes, normalisation, manifest, report.json, report.md, confusion.png,
/// curves.png; for the CNN also filters.png and feature_maps.png). Returns the report.
pub fn train_model(
    features_dir: &Path,
    out: &Path,
    cfg: &TrainConfig,
    progress: bool,
) -> Result<Report> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    // Refused before any work, and checked again just before the folder is replaced.
    model_dir::check_replaceable(out)?;
    let (table, manifest, intact) = features::read_folder_checked(features_dir)
        .with_context(|| format!("reading features from {}", features_dir.display()))?;
    if intact == Some(false) {
        eprintln!(
            "warning: {} is not the table {} was written with (edited by hand, or copied from another run)",
            features_dir.join(features::TABLE_FILE).display(),
            features::MANIFEST_FILE
        );
    }
    let manifest_bytes = std::fs::read(features_dir.join(features::MANIFEST_FILE))?;
    let data = train::prepare(&table, cfg.positive.as_deref())?;
    let device = cfg.backend.device()?;
    let mut cfg = cfg.clone();
    let mut cv = Vec::new();
    if cfg.tune_weight_decay && cfg.model != ModelKind::Cnn {
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
    let pb = epoch_bar(cfg, progress);
    let on_epoch = |e: &EpochStats| {
        pb.set_position(e.epoch as u64);
        let val = e
            .val_accuracy
            .map(|v| format!(" val {v:.3}"))
            .unwrap_or_default();
        pb.set_message(format!(
            "loss {:.4} train {:.3}{val}",
            e.loss, e.train_accuracy
        ));
    };
    let k = data.classes.len();
    let mut skipped = Vec::new();
    let (trained, test_paths, test_y, proba, net_cfg, cnn_cfg, standardizer, extra) = if cfg.model
        == ModelKind::Cnn
    {
        let info = manifest.views.as_ref().with_context(|| {
                format!(
                    "{} has no depth views (it was made with --no-views): rerun `shapeclf features` without --no-views to train the CNN",
                    features_dir.display()
                )
            })?;
        let (train_set, s1) = cnn_train::load_views(features_dir, info, &data.train);
        let (test_set, s2) = cnn_train::load_views(features_dir, info, &data.test);
        skipped = s1.into_iter().chain(s2).collect::<Vec<_>>();
        for f in &skipped {
            eprintln!("warning: skipped {}: {}", f.path, f.error);
        }
        if train_set.is_empty() || test_set.is_empty() {
            bail!(
                "no readable views for the {} split under {}",
                if train_set.is_empty() {
                    "train"
                } else {
                    "test"
                },
                features_dir.display()
            );
        }
        let mut net_cfg = CnnConfig::new(info.count, info.config.resolution, k);
        if !cfg.channels.is_empty() {
            net_cfg.channels = cfg.channels.clone();
        }
        if let Some(&f) = cfg.hidden.first() {
            net_cfg.features = f;
        }
        net_cfg.dropout = cfg.dropout;
        let t = cnn_train::train(cfg, &net_cfg, &train_set, &device, on_epoch);
        pb.finish_and_clear();
        diverged(t.diverged, cfg)?;
        let proba = cnn_train::predict_proba(&t.net, &test_set, &device);
        let fit = Fit {
            history: t.history,
            best_epoch: t.best_epoch,
            train_size: t.train_size,
            val_size: t.val_size,
            train_seconds: t.train_seconds,
            samples_per_second: t.samples_per_second,
            model: Classifier::Cnn(t.net),
        };
        (
            fit,
            test_set.paths.clone(),
            test_set.y.clone(),
            proba,
            None,
            Some(net_cfg),
            None,
            Some(test_set),
        )
    } else {
        let t = train::train(cfg, &data, &device, on_epoch);
        pb.finish_and_clear();
        diverged(t.diverged, cfg)?;
        let d = data.columns.len();
        let mut x = data.test.x.clone();
        t.standardizer.apply(&mut x);
        let proba = train::predict_proba(&t.net, &x, d, &device);
        let (tr, va) = train::validation_split(&data.train.y, cfg.val_fraction, cfg.seed);
        let fit = Fit {
            history: t.history,
            best_epoch: t.best_epoch,
            train_size: tr.len(),
            val_size: va.len(),
            train_seconds: t.train_seconds,
            samples_per_second: t.samples_per_second,
            model: Classifier::Dense(t.net),
        };
        (
            fit,
            data.test.paths.clone(),
            data.test.y.clone(),
            proba,
            Some(t.net_config),
            None,
            Some(t.standardizer),
            None,
        )
    };

    let pred = train::argmax_rows(&proba, k);
    let predictions = test_paths
        .iter()
        .zip(test_y.iter().zip(&pred))
        .enumerate()
        .map(|(i, (path, (&t, &p)))| model_dir::TestPrediction {
            path: path.clone(),
            class: data.classes[t].clone(),
            predicted: data.classes[p].clone(),
            probability: proba[i * k + p],
        })
        .collect();
    let metrics = Metrics::compute(&data.classes, &test_y, &pred);
    let misclassified = test_paths
        .iter()
        .zip(test_y.iter().zip(&pred))
        .filter(|(_, (t, p))| t != p)
        .map(|(path, (&t, &p))| {
            [
                path.clone(),
                data.classes[t].clone(),
                data.classes[p].clone(),
            ]
        })
        .collect();
    let report = Report {
        model: cfg.model.name().to_string(),
        backend: cfg.backend.describe(),
        seed: cfg.seed,
        features: features_dir.display().to_string(),
        metrics,
        train_size: trained.train_size,
        val_size: trained.val_size,
        test_size: test_y.len(),
        parameters: trained.model.num_params(),
        train_seconds: trained.train_seconds,
        samples_per_second: trained.samples_per_second,
        epochs_run: trained.history.len(),
        best_epoch: trained.best_epoch,
        history: trained.history.clone(),
        misclassified,
        weight_decay: cfg.weight_decay,
        cv,
        skipped,
        predictions,
    };
    let config = ModelConfig {
        tool: "shapeclf".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        format_version: model_dir::MODEL_FORMAT_VERSION,
        train: cfg.clone(),
        net: net_cfg,
        cnn: cnn_cfg,
        weights_hash: None,
    };
    // Everything goes into a staging folder beside `out`, which then replaces `out` whole: a
    // kill at any moment leaves either the previous model folder or the new one, never a mix.
    let staging = stage_dir(out)?;
    let out_final = out;
    let out = staging.as_path();
    model_dir::save(
        out,
        &config,
        &data.classes,
        standardizer.as_ref(),
        &manifest_bytes,
        &trained.model,
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
    if let (Classifier::Cnn(net), Some(test_set)) = (&trained.model, &extra)
        && let Err(e) = draw_cnn_pictures(net, test_set, &device, out)
    {
        eprintln!("warning: filters.png / feature_maps.png not drawn: {e}");
    }
    if let Err(e) = model_dir::check_replaceable(out_final) {
        let _ = std::fs::remove_dir_all(out);
        return Err(e.into());
    }
    commit_dir(out, out_final)
        .with_context(|| format!("replacing {} with the new model", out_final.display()))?;
    Ok(report)
}

/// A run whose loss became NaN or infinite has no usable weights: refuse it, writing nothing.
fn diverged(epoch: Option<usize>, cfg: &TrainConfig) -> Result<()> {
    match epoch {
        Some(e) => bail!(
            "training diverged: the loss became NaN or infinite in epoch {e} (learning rate {}); no model written. Try a smaller --lr",
            cfg.lr
        ),
        None => Ok(()),
    }
}

/// A fresh, empty hidden folder beside `out` to build a model folder in.
fn stage_dir(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    remove_stale_staging(&parent, &name);
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    Ok(staging)
}

/// Removes `.NAME.staging-PID` folders (and their `.old` twins) that a killed `train` left
/// beside `NAME`, when process PID is no longer running.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.staging-");
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest.strip_suffix(".old").unwrap_or(rest);
        if let Ok(pid) = pid.parse::<u32>()
            && pid != std::process::id()
            && !crate::io::process_alive(pid)
            && e.file_type().is_ok_and(|t| t.is_dir())
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Moves the finished `staging` folder to `out`, the previous `out` aside first and removed last.
fn commit_dir(staging: &Path, out: &Path) -> std::io::Result<()> {
    if out.exists() {
        let old = staging.with_extension("old");
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        std::fs::rename(out, &old)?;
        std::fs::rename(staging, out)?;
        std::fs::remove_dir_all(&old)
    } else {
        std::fs::rename(staging, out)
    }
}

/// What either training loop hands back.
struct Fit {
    history: Vec<EpochStats>,
    best_epoch: usize,
    train_size: usize,
    val_size: usize,
    train_seconds: f64,
    samples_per_second: f64,
    model: Classifier,
}

fn epoch_bar(cfg: &TrainConfig, progress: bool) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(cfg.epochs as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {wide_bar} epoch {pos}/{len} {msg}",
        )
        .expect("static template"),
    );
    pb.set_prefix(cfg.model.name());
    pb
}

/// `filters.png` (the first layer's filters) and `feature_maps.png` (what the first layer makes
/// of the first view of the first test shape).
fn draw_cnn_pictures(
    net: &Mvcnn,
    test_set: &cnn_train::ViewSet,
    device: &burn::tensor::Device,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(filters) = net.first_filters() else {
        return Ok(());
    };
    let [_, _, kh, _] = filters.dims();
    let w: Vec<f32> = filters.into_data().try_to_vec()?;
    plots::filters_png(&w, kh, &out.join("filters.png"))?;
    let r = test_set.resolution;
    let mut view = Vec::new();
    cnn_train::push_views(
        &mut view,
        &test_set.shape_pixels(0)[..r * r],
        r,
        cnn_train::Augment::default(),
    );
    // On the device the network lives on (the GPU's, after GPU training).
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(view.clone(), [1, 1, r, r]),
        device,
    );
    let maps: Vec<f32> = net.first_maps(x).into_data().try_to_vec()?;
    plots::feature_maps_png(&view, &maps, r, &out.join("feature_maps.png"))?;
    Ok(())
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

/// A comparison: one row per readable model folder, and the folders left out with why.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Models side by side, sorted by folder name.
    pub rows: Vec<ComparisonRow>,
    /// `(folder, reason)` of each folder whose report is missing or broken.
    pub skipped: Vec<(String, String)>,
}

/// Reads every `*/report.json` under `models_dir` (sorted by folder name), writes
/// `comparison.md` and `comparison.png` there, and returns the rows. A folder whose report is
/// missing, unreadable or impossible is left out and named, and the others are compared.
pub fn compare(models_dir: &Path) -> Result<Comparison> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models_dir)
        .with_context(|| format!("reading models folder {}", models_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            // Hidden folders are model folders still being written (or left by a killed run).
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.is_dir()
        })
        .collect();
    dirs.sort();
    let mut rows = Vec::new();
    let mut page = Vec::new();
    let mut skipped = Vec::new();
    for d in &dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !d.join(model_dir::REPORT_FILE).is_file() {
            if model_dir::is_model_folder(d) {
                skipped.push((name, format!("no {}", model_dir::REPORT_FILE)));
            }
            continue;
        }
        let r = match model_dir::read_report(d) {
            Ok(r) => r,
            Err(e) => {
                skipped.push((name, e.to_string()));
                continue;
            }
        };
        page.push(crate::html::PageModel {
            name: name.clone(),
            dir: d.clone(),
            report: r.clone(),
            group_key: group_key(d),
        });
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
    if rows.is_empty() {
        let why: Vec<String> = skipped.iter().map(|(n, e)| format!("{n}: {e}")).collect();
        bail!(
            "no readable trained models under {} (expected <name>/report.json; run `shapeclf train` first){}",
            models_dir.display(),
            if why.is_empty() {
                String::new()
            } else {
                format!("; skipped {}", why.join("; "))
            }
        );
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
    write_bytes_atomic(
        &models_dir.join(COMPARISON_HTML),
        crate::html::comparison_page(models_dir, &page, &skipped).as_bytes(),
    )?;
    Ok(Comparison { rows, skipped })
}

/// The one-page comparison `compare` writes into the models folder.
pub const COMPARISON_HTML: &str = "comparison.html";

/// A model folder's configuration without what differs between seeds of one method (the
/// seed, the tool version, the weights): folders with equal keys are averaged on the page.
fn group_key(dir: &Path) -> String {
    let Ok(bytes) = std::fs::read(dir.join(model_dir::CONFIG_FILE)) else {
        return dir.display().to_string();
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("weights_hash");
                o.remove("tool_version");
                if let Some(t) = o.get_mut("train").and_then(|t| t.as_object_mut()) {
                    t.remove("seed");
                }
            }
            // The feature folder too: the same method on other features is another row.
            let features = std::fs::read(dir.join(model_dir::MANIFEST_FILE))
                .map(|b| crate::features::hash_hex(&b))
                .unwrap_or_default();
            format!("{v}|{features}")
        }
        Err(_) => dir.display().to_string(),
    }
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

/// Classifies each mesh with the model in `model_dir`, computing its descriptors (or rendering
/// its views, for the CNN) with the exact parameters of the features the model was trained on.
pub fn predict(model_dir: &Path, meshes: &[PathBuf], top: usize) -> Result<Vec<Prediction>> {
    let device = burn::tensor::Device::flex();
    let model = SavedModel::load(model_dir, &device)?;
    let cfg = &model.manifest.descriptors;
    let views = match &model.model {
        Classifier::Cnn(_) => model.manifest.views.as_ref().map(|v| v.config),
        Classifier::Dense(_) => None,
    };
    if let Some(s) = &model.standardizer
        && cfg.columns() != s.columns
    {
        bail!(
            "{}: the model was trained on columns that its recorded descriptor parameters do not produce; retrain it",
            model_dir.display()
        );
    }
    let k = model.classes.len();
    let mut out = Vec::new();
    for path in meshes {
        let name = path
            .file_name()
            .map(dataset::encode_name)
            .unwrap_or_default();
        let seed = dataset::mesh_seed(model.manifest.seed, &name);
        let probs = extract::process_file_with_views(path, cfg, seed, None, views.as_ref())
            .map_err(|e| e.to_string())
            .and_then(|f| match (&model.model, &model.standardizer) {
                (Classifier::Dense(net), Some(s)) => {
                    let mut x = f.descriptors.values;
                    s.apply(&mut x);
                    Ok(train::predict_proba(net, &x, x.len(), &device))
                }
                (Classifier::Cnn(net), _) => {
                    let v = f.descriptors.views.ok_or("no views rendered")?;
                    let set = cnn_train::ViewSet {
                        pixels: v.pixels,
                        y: vec![0],
                        paths: vec![name.clone()],
                        views: v.count,
                        resolution: v.resolution,
                    };
                    Ok(cnn_train::predict_proba(net, &set, &device))
                }
                (Classifier::Dense(_), None) => Err("model has no normalisation".into()),
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
