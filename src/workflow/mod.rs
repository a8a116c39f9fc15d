//! The commands' work as library calls: compute a dataset's features, train a model from a
//! feature folder into a model folder, compare trained models, and run the whole demo.
//! Nothing here prints: progress and warnings go to the caller's [`Observer`].

use std::path::Path;

mod compare;
mod demo;
mod epoch_log;
mod feature_run;
mod resume;

pub use compare::{COMPARISON_HTML, Comparison, compare};
pub use demo::{Demo, DemoOptions, DemoStep, demo};
pub use feature_run::features;

use crate::error::{Error, Result};
use crate::features;
use crate::io::{write_bytes_atomic, write_json_atomic};
use crate::model_dir::{self, ModelConfig};
use crate::models::{Classifier, DataShape, Input, Mvcnn, Network, Reads, ViewShape};
use crate::observe::{Event, Observer};
use crate::report::render::report_markdown;
use crate::report::{Metrics, RepeatScore, Report, Spread, TestPrediction, plots};
use crate::train::{self, Fit, Standardizer, TrainConfig, ViewSet};
use crate::train::{Copies, Keep, load_views};
use crate::view_store::RecordedViews;
pub use epoch_log::EPOCHS_FILE;
use epoch_log::EpochLog;

/// What training one model produced, whichever model it was.
struct Outcome {
    fit: Fit<Classifier>,
    network: Network,
    standardizer: Option<Standardizer>,
    /// Test paths, labels and predicted probabilities (`[n, classes]`).
    test: (Vec<String>, Vec<usize>, Vec<f32>),
    /// Inputs left out because they could not be read.
    skipped: Vec<features::Failure>,
}

/// What a model learns from, read once for every repeat: the network to train, and the views
/// of the training and test shapes when it reads views (the rows are the prepared table's, or
/// for a model that reads both, the rows of the views' shapes in the views' order).
struct Inputs {
    network: Network,
    views: Option<SplitViews>,
}

/// The views of the training shapes (with their augmented renderings) and of the test shapes,
/// and, for a model that reads rows too, the rows of the same shapes in the same order.
struct SplitViews {
    train: ViewSet,
    test: ViewSet,
    /// The training and test rows in the views' order; `None` for a model of views alone.
    rows: Option<(train::Samples, train::Samples)>,
    /// Shapes left out because their images could not be read.
    skipped: Vec<features::Failure>,
}

impl Inputs {
    /// The training shapes and the test shapes as the network reads them.
    fn sets<'a>(
        &'a self,
        data: &'a train::Prepared,
    ) -> (train::RawShapes<'a>, train::RawShapes<'a>) {
        // `views` is there exactly when the network reads views.
        // `views.rows` is there exactly when it reads rows too.
        match &self.views {
            None => (Input::Rows(&data.train), Input::Rows(&data.test)),
            Some(SplitViews {
                train,
                test,
                rows: Some((train_rows, test_rows)),
                ..
            }) => (
                Input::RowsAndViews(train, train_rows),
                Input::RowsAndViews(test, test_rows),
            ),
            Some(v) => (Input::Views(&v.train), Input::Views(&v.test)),
        }
    }

    /// Fails when a view image read from disk during training had changed or vanished since it
    /// was checked (it was trained on as blank): such a model is not kept.
    fn check_views_unchanged(&self) -> Result<()> {
        let sets = self.views.iter().flat_map(|v| [&v.train, &v.test]);
        match sets.into_iter().find_map(|s| s.read_failure()) {
            Some(e) => Err(Error::StaleViews(format!(
                "a view image changed or vanished while training read it, so no model was written: {e}"
            ))),
            None => Ok(()),
        }
    }
}

/// How a training run reports to the observer, and where it keeps its checkpoints.
struct Hook<'a> {
    observer: &'a dyn Observer,
    checkpoints: Option<train::Checkpoints>,
}

impl train::Progress for Hook<'_> {
    fn epoch(&mut self, stats: &crate::observe::EpochStats) {
        self.observer.event(Event::Epoch(stats));
    }
    fn batch(&mut self, epoch: usize, done: usize, total: usize) {
        self.observer.event(Event::Batch { epoch, done, total });
    }
    fn checkpoints(&self) -> Option<&train::Checkpoints> {
        self.checkpoints.as_ref()
    }
    fn warning(&mut self, message: &str) {
        self.observer.event(Event::Warning(message));
    }
    fn stopped(&self) -> bool {
        self.observer.stopped()
    }
}

fn fit_once(
    cfg: &TrainConfig,
    inputs: &Inputs,
    data: &train::Prepared,
    device: &burn::tensor::Device,
    observer: &dyn Observer,
    checkpoints: Option<train::Checkpoints>,
) -> Result<Outcome> {
    let on_epoch = Hook {
        observer,
        checkpoints,
    };
    observer.event(Event::Begin {
        stage: cfg.model.name(),
        total: cfg.epochs as u64,
    });
    let (train_set, test_set) = inputs.sets(data);
    let t = train::train(
        cfg,
        &inputs.network,
        train_set,
        &data.columns,
        device,
        on_epoch,
    )?;
    if t.fit.interrupted {
        // An unfinished network: nothing of it is scored or kept.
        observer.event(Event::End);
        return Err(Error::Interrupted);
    }
    let proba = t.predict_proba(test_set, device)?;
    let test = match &inputs.views {
        Some(v) => (v.test.paths.clone(), v.test.y.clone(), proba),
        None => (data.test.paths.clone(), data.test.y.clone(), proba),
    };
    let outcome = Outcome {
        fit: t.fit,
        network: inputs.network.clone(),
        standardizer: t.standardizer,
        test,
        skipped: inputs
            .views
            .as_ref()
            .map_or(Vec::new(), |v| v.skipped.clone()),
    };
    observer.event(Event::End);
    Ok(outcome)
}

/// Trains `cfg.model` on the features in `features_dir` and writes the model folder `out`
/// (weights, config, classes, normalisation, manifest, report.json, report.md, epochs.csv,
/// confusion.png, curves.png; for the CNN also filters.png and feature_maps.png), replacing it
/// whole. Returns the report.
pub fn train_model(
    features_dir: &Path,
    out: &Path,
    cfg: &TrainConfig,
    observer: &dyn Observer,
) -> Result<Report> {
    cfg.validate()?;
    // Refused before any work, and checked again just before the folder is replaced.
    model_dir::check_replaceable(out)?;
    model_dir::check_not_in_use(out)?;
    // A backend this build lacks is refused before the features are read.
    let device = cfg.backend.device()?;
    let (table, manifest, manifest_bytes) = read_features(features_dir, observer)?;
    let data = train::prepare(&table, cfg.positive.as_deref())?;
    let (tuned, cv) = tune(cfg, &data, &device, observer)?;
    let inputs = load_inputs(features_dir, &manifest, &tuned, &data, observer)?;
    // Everything goes into a staging folder beside `out`, made now so that the epochs' log can
    // be followed while training runs, and swapped in for `out` whole at the end: a kill at any
    // moment leaves either the previous model folder or the new one, never a mix.
    // It also keeps the run's checkpoints, so that `--resume` can continue a killed run.
    let run = resume::Run::begin(out, cfg, &manifest_bytes, observer)?;
    let trained = train_seeds(
        features_dir,
        &tuned,
        &inputs,
        &data,
        &device,
        &run,
        cv,
        observer,
    );
    // Stopped by the caller, in training or after it: no model folder, and the run's
    // checkpoints stay for a resumed run to continue. (Another error wins over a stop.)
    let stopped = match &trained {
        Err(Error::Interrupted) => true,
        Ok(_) => observer.stopped(),
        Err(_) => false,
    };
    if stopped {
        // Its epoch log is closed first: the staging folder is renamed.
        drop(trained);
        if let Err(e) = run.staging.keep() {
            observer.event(Event::Warning(&format!(
                "could not keep the interrupted run's checkpoints ({e}): a resumed run starts over"
            )));
        }
        return Err(Error::Interrupted);
    }
    let trained = trained?;
    let folder = ModelFolder {
        features_dir,
        manifest_bytes: &manifest_bytes,
        classes: &data.classes,
        inputs: &inputs,
        device: &device,
    };
    run.staging
        .commit(|dir| folder.write(dir, &tuned, &trained))?;
    Ok(trained.report)
}

/// Reads and checks the feature folder: its table, its manifest and the manifest's bytes (which
/// the model folder keeps). Warns when the folder holds part of a dataset, or a table its
/// manifest was not written with.
fn read_features(
    features_dir: &Path,
    observer: &dyn Observer,
) -> Result<(features::FeatureTable, features::Manifest, Vec<u8>)> {
    let (table, manifest, intact) =
        features::read_folder_checked(features_dir).map_err(|source| Error::Features {
            dir: features_dir.to_path_buf(),
            source,
        })?;
    // A merge with --allow-missing (or an interrupted run) is a part of the dataset: say so, so
    // that its scores are not read as the whole set's.
    if !manifest.shards_left_out.is_empty() || manifest.counts.not_reached > 0 {
        let left: Vec<&str> = manifest
            .shards_left_out
            .iter()
            .map(|s| s.shard.as_str())
            .collect();
        observer.event(Event::Warning(&format!(
            "{} is incomplete ({} meshes not reached{}): the model sees part of the dataset; finish the run or its shards, then train again",
            features_dir.display(),
            manifest.counts.not_reached,
            if left.is_empty() {
                String::new()
            } else {
                format!("; shards left out or unfinished: {}", left.join(", "))
            }
        )));
    }
    if intact == Some(false) {
        observer.event(Event::Warning(&format!(
            "{} is not the table {} was written with (edited by hand, or copied from another run)",
            features_dir.join(features::TABLE_FILE).display(),
            features::MANIFEST_FILE
        )));
    }
    // Meshes that failed have no row: the test scores cover the test meshes that loaded.
    if manifest.counts.failed > 0 {
        observer.event(Event::Warning(&format!(
            "{} mesh(es) failed in `features` and are in neither split (manifest.json lists them and why): the scores cover the meshes that loaded",
            manifest.counts.failed
        )));
    }
    let cache: Vec<features::CachedMesh> = std::fs::read(features_dir.join(manifest.files().cache))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for w in features::dataset_warnings(&table, &cache) {
        observer.event(Event::Warning(&w));
    }
    let manifest_path = features_dir.join(features::MANIFEST_FILE);
    let manifest_bytes =
        std::fs::read(&manifest_path).map_err(Error::io("reading", &manifest_path))?;
    Ok((table, manifest, manifest_bytes))
}

/// `cfg` with its weight decay chosen by cross-validation when asked (dense networks only),
/// and the scores of the values tried.
fn tune(
    cfg: &TrainConfig,
    data: &train::Prepared,
    device: &burn::tensor::Device,
    observer: &dyn Observer,
) -> Result<(TrainConfig, Vec<train::CvScore>)> {
    let mut cfg = cfg.clone();
    if !(cfg.tune_weight_decay && cfg.model.reads() == Reads::Rows) {
        return Ok((cfg, Vec::new()));
    }
    let (wd, scores) = train::tune_weight_decay(&cfg, data, device, observer);
    if observer.stopped() {
        // The scores of a cross-validation cut short choose nothing.
        return Err(Error::Interrupted);
    }
    observer.event(Event::Info(&format!(
        "cross-validated weight decay: {wd} ({} values tried)",
        scores.len()
    )));
    cfg.weight_decay = wd;
    Ok((cfg, scores))
}

/// What `cfg.model` learns from: its network, and for a model that reads views the views of
/// every shape whose image could be read (training shapes with their augmented renderings),
/// each checked against the image this generation of the folder wrote, with the rows of the
/// same shapes in the views' order.
fn load_inputs(
    features_dir: &Path,
    manifest: &features::Manifest,
    cfg: &TrainConfig,
    data: &train::Prepared,
    observer: &dyn Observer,
) -> Result<Inputs> {
    let info = manifest.views.as_ref();
    let shape = DataShape {
        columns: data.columns.len(),
        classes: data.classes.len(),
        views: info.map(|v| ViewShape {
            count: v.count,
            resolution: v.config.resolution,
            channels: v.config.channels.count(),
        }),
    };
    let network = cfg
        .model
        .network(&shape)
        .ok_or_else(|| Error::NoViews(features_dir.to_path_buf()))?;
    // What the views' size allows, known only now: each block halves the maps, and a shift
    // as wide as the view moves the whole picture out of it.
    if let (Some(c), Some(v)) = (cfg.model.cnn(), info) {
        let res = v.config.resolution;
        if res >> c.channels.len() == 0 {
            return Err(Error::Config(format!(
                "--channels {:?} makes {} blocks, each halving the maps: {res}-pixel views allow at most {}",
                c.channels,
                c.channels.len(),
                res.ilog2()
            )));
        }
        if c.jitter >= res {
            return Err(Error::Config(format!(
                "--jitter {} shifts {res}-pixel views out of frame: it must be below {res}",
                c.jitter
            )));
        }
    }
    let views = match info {
        Some(info) if network.reads().views() => Some(load_views_of(
            features_dir,
            manifest,
            info,
            cfg,
            data,
            observer,
        )?),
        _ => None,
    };
    Ok(Inputs { network, views })
}

/// The views of the training and test shapes whose images could be read (skipped ones told to
/// `observer`), and their rows in the views' order.
fn load_views_of(
    features_dir: &Path,
    manifest: &features::Manifest,
    info: &features::ViewsInfo,
    cfg: &TrainConfig,
    data: &train::Prepared,
    observer: &dyn Observer,
) -> Result<SplitViews> {
    // Held in memory when asked, or when they fit the budget: a batch then reads no image.
    // Training and prediction each work on a copy of their part, so held views take up to
    // twice their size, and that is what the budget bounds.
    let cv = &info.config;
    let shapes = data.train.len() as u64 * (1 + cv.augment as u64) + data.test.len() as u64;
    let views = shapes.saturating_mul(cv.set_bytes() as u64);
    let budget = env_bytes_or_warn(
        train::HOST_VIEW_BYTES_VAR,
        train::DEFAULT_HOST_VIEW_BYTES,
        observer,
    );
    if cfg.backend == crate::models::BackendKind::Gpu {
        // Read where the views are staged on the device; checked here, where it can be told.
        env_bytes_or_warn(train::STAGE_BYTES_VAR, train::DEFAULT_STAGE_BYTES, observer);
    }
    let keep = train::keep_for(views.saturating_mul(2), cfg.views_in_memory, budget);
    let mb = views.div_ceil(1_000_000);
    observer.event(Event::Info(&match keep {
        Keep::Memory => format!("views held in memory ({mb} MB)"),
        Keep::Disk => format!(
            "views read from the feature folder batch by batch ({mb} MB, twice that over {}={budget})",
            train::HOST_VIEW_BYTES_VAR
        ),
    }));
    // Every image must be the one this generation of the folder wrote.
    let recorded = std::sync::Arc::new(
        RecordedViews::read(features_dir, manifest).map_err(Error::StaleViews)?,
    );
    let load = |s, copies| {
        load_views(features_dir, info, &recorded, s, keep, copies)
            .map_err(|e| Error::StaleViews(e.to_string()))
    };
    // Training meshes bring their augmented renderings (if the folder has any) as extra
    // shapes; test meshes never.
    let (train_set, s1) = load(&data.train, Copies::WithAugmented)?;
    let (test_set, s2) = load(&data.test, Copies::Original)?;
    let skipped: Vec<features::Failure> = s1.into_iter().chain(s2).collect();
    for f in &skipped {
        observer.event(Event::Skipped {
            path: &f.path,
            reason: &f.error,
        });
    }
    for (set, split) in [(&train_set, "train"), (&test_set, "test")] {
        if set.is_empty() {
            return Err(Error::NoReadableViews {
                split,
                dir: features_dir.to_path_buf(),
            });
        }
    }
    let d = data.columns.len();
    let rows = cfg.model.reads().rows().then(|| {
        (
            rows_in_view_order(&data.train, &train_set, d),
            rows_in_view_order(&data.test, &test_set, d),
        )
    });
    Ok(SplitViews {
        rows,
        train: train_set,
        test: test_set,
        skipped,
    })
}

/// The bytes environment variable `var` sets, or `default` when it is unset or, with a
/// warning to `observer`, not a number.
fn env_bytes_or_warn(var: &str, default: u64, observer: &dyn Observer) -> u64 {
    train::env_bytes(var, default).unwrap_or_else(|bad| {
        observer.event(Event::Warning(&format!(
            "{var}={bad:?} is not a number of bytes; using {} MiB",
            default >> 20
        )));
        default
    })
}

/// The rows of `rows` for the shapes of `views` (whose images were read), in the views' order:
/// an augmented rendering gets its mesh's row.
fn rows_in_view_order(rows: &train::Samples, views: &ViewSet, columns: usize) -> train::Samples {
    let at: std::collections::HashMap<&str, usize> = rows
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let idx: Vec<usize> = views.paths.iter().map(|p| at[p.as_str()]).collect();
    rows.subset(&idx, columns)
}

/// What training every seed gave: the first seed's model, the report (with the other seeds'
/// scores under `--repeats`), and the epochs' log.
struct Trained<'a> {
    outcome: Outcome,
    report: Report,
    log: EpochLog<'a>,
}

/// Trains `cfg.seed` and, under `--repeats`, the seeds after it, each resumed from its last
/// checkpoint in `run` when there is one. Fails on a diverged run or on a view image that
/// changed while it was read; the folder keeps the first seed's model.
#[allow(clippy::too_many_arguments)]
fn train_seeds<'a>(
    features_dir: &Path,
    cfg: &TrainConfig,
    inputs: &Inputs,
    data: &train::Prepared,
    device: &burn::tensor::Device,
    run: &resume::Run,
    cv: Vec<train::CvScore>,
    observer: &'a dyn Observer,
) -> Result<Trained<'a>> {
    let staging = &run.staging;
    let seeds: Vec<u64> = (0..cfg.repeats.max(1) as u64)
        .map(|r| cfg.seed.wrapping_add(r))
        .collect();
    // Each seed's last checkpointed epoch and training seconds, when resuming.
    let restored: std::collections::HashMap<u64, (usize, f64)> = seeds
        .iter()
        .filter_map(|&s| run.checkpoints(s).completed().map(|c| (s, c)))
        .collect();
    let log = if run.resumed {
        EpochLog::resume(staging.path(), observer, |s, e| {
            restored.get(&s).is_some_and(|&(done, _)| e <= done)
        })
    } else {
        EpochLog::create(staging.path(), observer)
    };
    observer.event(Event::Info(&format!(
        "each epoch is logged as it ends in {} (kept in the model folder)",
        log.path().display()
    )));
    // One seed, from its checkpoint if it has one, reported through the log.
    let fit_seed = |c: &TrainConfig| -> Result<Outcome> {
        match restored.get(&c.seed) {
            Some(&(epoch, seconds)) => {
                log.set_seed_resumed(c.seed, seconds);
                observer.event(Event::Info(&format!(
                    "seed {}: resuming after epoch {epoch} of {}",
                    c.seed, c.epochs
                )));
            }
            None => log.set_seed(c.seed),
        }
        let o = fit_once(c, inputs, data, device, &log, Some(run.checkpoints(c.seed)))?;
        inputs.check_views_unchanged()?;
        match o.fit.diverged {
            Some(epoch) => Err(Error::Diverged { epoch, lr: c.lr }),
            None => Ok(o),
        }
    };
    let outcome = fit_seed(cfg)?;
    let mut report = build_report(features_dir, cfg, &data.classes, &outcome, cv);
    if cfg.repeats > 1 {
        // The same settings from other seeds: the spread that seeds alone make, so a difference
        // between methods can be told from it.
        let mut runs = vec![RepeatScore::of(&report)];
        for &seed in &seeds[1..] {
            // Each seed cross-validates its own weight decay (its folds follow the seed), as
            // `--seed` alone would: the spread includes what that choice varies.
            let (c, _) = tune(
                &TrainConfig {
                    seed,
                    ..cfg.clone()
                },
                data,
                device,
                observer,
            )?;
            log.event(Event::Info(&format!(
                "repeat {} of {}: seed {seed}",
                runs.len() + 1,
                cfg.repeats
            )));
            let o = fit_seed(&c)?;
            runs.push(RepeatScore::of(&build_report(
                features_dir,
                &c,
                &data.classes,
                &o,
                Vec::new(),
            )));
        }
        report.spread = Some(Spread::of(&runs));
        report.repeats = runs;
    }
    Ok(Trained {
        outcome,
        report,
        log,
    })
}

/// What the model folder is written from, besides the training result.
struct ModelFolder<'a> {
    features_dir: &'a Path,
    manifest_bytes: &'a [u8],
    classes: &'a [String],
    inputs: &'a Inputs,
    device: &'a burn::tensor::Device,
}

impl ModelFolder<'_> {
    /// Writes the model folder into the staging folder `dir` (its checkpoints removed first):
    /// weights, settings, report, epochs' log and pictures.
    fn write(&self, dir: &Path, cfg: &TrainConfig, t: &Trained<'_>) -> Result<()> {
        let wrote = |e| Error::Io {
            what: "writing model to",
            path: dir.to_path_buf(),
            source: e,
        };
        let config = ModelConfig {
            tool: "shapeclf".into(),
            tool_version: crate::BUILD_ID.into(),
            format_version: model_dir::MODEL_FORMAT_VERSION,
            train: cfg.clone(),
            network: t.outcome.network.clone(),
            weights_hash: None,
        };
        resume::Run::remove_checkpoints(dir).map_err(wrote)?;
        model_dir::save(
            dir,
            &config,
            self.classes,
            t.outcome.standardizer.as_ref(),
            self.manifest_bytes,
            &t.outcome.fit.net,
        )
        .map_err(wrote)?;
        write_json_atomic(&dir.join(model_dir::REPORT_FILE), &t.report).map_err(wrote)?;
        // The whole log, whatever became of the live copy's appends.
        write_bytes_atomic(&dir.join(EPOCHS_FILE), t.log.csv().as_bytes()).map_err(wrote)?;
        write_bytes_atomic(
            &dir.join("report.md"),
            report_markdown(&t.report).as_bytes(),
        )
        .map_err(wrote)?;
        let test_views = self.inputs.views.as_ref().map(|v| &v.test);
        draw_pictures(
            self.features_dir,
            &t.report,
            &t.outcome,
            test_views,
            self.device,
            dir,
        )
    }
}

/// The report of a finished training run: test metrics, predictions and how training went.
fn build_report(
    features_dir: &Path,
    cfg: &TrainConfig,
    classes: &[String],
    o: &Outcome,
    cv: Vec<train::CvScore>,
) -> Report {
    let k = classes.len();
    let (paths, y, proba) = &o.test;
    let pred = train::argmax_rows(proba, k);
    let predictions = paths
        .iter()
        .zip(y.iter().zip(&pred))
        .enumerate()
        .map(|(i, (path, (&t, &p)))| TestPrediction {
            path: path.clone(),
            class: classes[t].clone(),
            predicted: classes[p].clone(),
            probability: proba[i * k + p],
        })
        .collect();
    let misclassified = paths
        .iter()
        .zip(y.iter().zip(&pred))
        .filter(|(_, (t, p))| t != p)
        .map(|(path, (&t, &p))| [path.clone(), classes[t].clone(), classes[p].clone()])
        .collect();
    let f = &o.fit;
    Report {
        model: cfg.model.name().to_string(),
        backend: cfg.backend.describe(),
        seed: cfg.seed,
        // Absolute, so `compare` finds it from any working folder.
        features: std::path::absolute(features_dir)
            .unwrap_or_else(|_| features_dir.to_path_buf())
            .display()
            .to_string(),
        metrics: Metrics::compute(classes, y, &pred),
        train_size: f.train_size,
        val_size: f.val_size,
        test_size: y.len(),
        parameters: burn::module::Module::num_params(&f.net),
        train_seconds: f.train_seconds,
        samples_per_second: f.samples_per_second,
        epochs_run: f.history.len(),
        best_epoch: f.best_epoch,
        history: f.history.clone(),
        misclassified,
        weight_decay: cfg.weight_decay,
        cv,
        skipped: o.skipped.clone(),
        predictions,
        repeats: Vec::new(),
        spread: None,
    }
}

/// `confusion.png`, `curves.png`, and for the CNN `filters.png` and `feature_maps.png`. A
/// picture that cannot be drawn is a warning, not a failed training run.
fn draw_pictures(
    features_dir: &Path,
    report: &Report,
    o: &Outcome,
    test_views: Option<&ViewSet>,
    device: &burn::tensor::Device,
    dir: &Path,
) -> Result<()> {
    // A picture that cannot be written (a full disk, say) fails the whole model folder, which
    // is then not swapped in: a folder is complete or the previous one stays.
    let failed = |what: &'static str| {
        move |e: &dyn std::fmt::Display| Error::Drawing {
            what,
            msg: e.to_string(),
        }
    };
    // The saved model's seed: with `--repeats` its pictures are of that run, not of a mean.
    let run = format!("{}, seed {}", report.model, report.seed);
    let title = format!("{run} ({})", features_dir.display());
    plots::confusion_png(&report.metrics, &title, &dir.join("confusion.png"))
        .map_err(|e| failed("confusion.png")(&e))?;
    plots::curves_png(&report.history, &run, &dir.join("curves.png"))
        .map_err(|e| failed("curves.png")(&e))?;
    if let (Some(net), Some(test_set)) = (o.fit.net.view_branch(), test_views) {
        draw_cnn_pictures(net, test_set, device, dir)
            .map_err(|e| failed("filters.png / feature_maps.png")(&e))?;
    }
    Ok(())
}

/// `filters.png` (the first layer's filters) and `feature_maps.png` (what the first layer makes
/// of the first view of the first test shape; its depth channel is the picture shown).
fn draw_cnn_pictures(
    net: &Mvcnn,
    test_set: &ViewSet,
    device: &burn::tensor::Device,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(filters) = net.first_filters() else {
        return Ok(());
    };
    let [_, _, kh, _] = filters.dims();
    let w: Vec<f32> = filters.into_data().try_to_vec()?;
    plots::filters_png(&w, kh, &out.join("filters.png"))?;
    let (r, c) = (test_set.resolution, test_set.channel_count());
    let mut view = Vec::new();
    train::push_views(
        &mut view,
        &test_set.shape_pixels(0)[..c * r * r],
        r,
        train::Augment::default(),
    );
    // On the device the network lives on (the GPU's, after GPU training).
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(view.clone(), [1, c, r, r]),
        device,
    );
    let maps: Vec<f32> = net.first_maps(x).into_data().try_to_vec()?;
    plots::feature_maps_png(&view[..r * r], &maps, r, &out.join("feature_maps.png"))?;
    Ok(())
}
