//! `demo`: the whole comparison on built-in synthetic data, as one library call.

use std::path::{Path, PathBuf};

use super::{Comparison, compare, train_model};
use crate::error::{Error, Result};
use crate::extract::{Extraction, FeatureSettings};
use crate::models::ModelKind;
use crate::observe::{Event, Observer};
use crate::report::Report;
use crate::train::TrainConfig;

/// The demo's settings.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Working folder: `meshes/demo`, `features/` and `models/` go inside it.
    pub dir: PathBuf,
    /// Shapes per class.
    pub per_class: usize,
    /// Seed for data, features and training.
    pub seed: u64,
}

/// What one demo run made.
pub struct Demo {
    /// The dataset folder (reused when it was there already).
    pub meshes: PathBuf,
    /// Whether the dataset was written by this run.
    pub synthesised: bool,
    /// The feature folder and its extraction.
    pub features: (PathBuf, Extraction),
    /// Each model's folder and report, in the order trained.
    pub models: Vec<(PathBuf, Report)>,
    /// The comparison of the four.
    pub comparison: Comparison,
}

/// The whole comparison on built-in synthetic data: synthesise the dataset (unless it is there),
/// compute features and views with `features`' defaults, train logistic regression, the MLP,
/// the CNN and fusion, compare them.
/// `observer` sees every stage; `on_step` is called as each stage finishes, for a caller that
/// reports results as they come.
pub fn demo(
    opts: &DemoOptions,
    observer: &dyn Observer,
    mut on_step: impl FnMut(DemoStep<'_>),
) -> Result<Demo> {
    let meshes = opts.dir.join("meshes").join("demo");
    let want = crate::synth::SynthOptions {
        per_class: opts.per_class,
        seed: opts.seed,
        levels: 0,
        formats: crate::synth::DEFAULT_FORMATS.map(String::from).to_vec(),
        realistic: false,
    };
    let synthesised = !meshes.exists();
    if synthesised {
        crate::synth::check_size(opts.per_class, 0).map_err(Error::Config)?;
        let files = synthesise_whole(&meshes, &want)?;
        on_step(DemoStep::Synthesised(&meshes, files));
    } else {
        // Reused only when it is a whole dataset written with these settings: an interrupted
        // run's part, or another seed's or size's set, would silently change the comparison.
        match crate::synth::recorded(&meshes) {
            Some(had) if had == want => observer.event(Event::Info(&format!(
                "using existing demo meshes in {}",
                meshes.display()
            ))),
            had => {
                return Err(Error::Config(format!(
                    "{} holds {}, not the {} shapes per class of seed {} this demo asks for: remove it (or give another --dir) to have it written again",
                    meshes.display(),
                    match had {
                        Some(h) => format!(
                            "the demo dataset of --per-class {} --seed {}",
                            h.per_class, h.seed
                        ),
                        None => "no record of a complete demo dataset (an interrupted run's part, another dataset, or one written by an older shapeclf)".into(),
                    },
                    opts.per_class,
                    opts.seed
                )));
            }
        }
    }
    let features = opts.dir.join("features");
    // Exactly what `shapeclf features` does by default: the same descriptors (spherical
    // harmonics included), views (principal axes, shading, 3 copies), and rows reused on a rerun.
    let settings = FeatureSettings {
        seed: opts.seed,
        ..Default::default()
    };
    let ex = super::features(&meshes, &features, &settings, observer)?;
    on_step(DemoStep::Features(&features, &ex));
    let models = opts.dir.join("models");
    let mut reports = Vec::new();
    // Both sides of the comparison, and fusion: do the descriptors add anything to the views?
    for kind in [
        ModelKind::Logistic,
        ModelKind::Mlp,
        ModelKind::Cnn,
        ModelKind::Fusion,
    ] {
        let mut cfg = TrainConfig::defaults(kind);
        cfg.seed = opts.seed;
        if matches!(kind, ModelKind::Cnn | ModelKind::Fusion) {
            // The synthetic classes are learnt within a few epochs: with the views' 3 rotated
            // copies, training accuracy passed 0.99 by epoch 4 of 20 (measured). Five epochs
            // (each mesh seen 20 times, as 20 epochs were before the copies) keep the whole demo
            // to about a minute on two cores (60 s measured).
            cfg.epochs = 5;
        }
        let out = models.join(kind.name());
        observer.event(Event::Info(&format!(
            "train {}: {} -> {} on {}",
            kind.name(),
            features.display(),
            out.display(),
            cfg.backend.describe()
        )));
        let r = train_model(&features, &out, &cfg, observer)?;
        on_step(DemoStep::Trained(&out, &r));
        reports.push((out, r));
    }
    let comparison = compare(&models, observer)?;
    Ok(Demo {
        meshes,
        synthesised,
        features: (features, ex),
        models: reports,
        comparison,
    })
}

/// Writes the demo dataset the way `train` writes a model folder
/// ([`crate::model_dir::write_staged`]): into a hidden staging folder beside `meshes`, moved
/// into place only once whole; staging folders of killed runs are removed first. Returns the
/// number of files.
fn synthesise_whole(meshes: &Path, opts: &crate::synth::SynthOptions) -> Result<usize> {
    let mut files = 0;
    crate::model_dir::write_staged(meshes, |dir| {
        files = crate::synth::write_dataset_with(dir, opts)
            .map_err(Error::io("writing synthetic dataset to", dir))?
            .len();
        Ok::<_, Error>(())
    })?;
    Ok(files)
}

/// A finished stage of [`demo`].
pub enum DemoStep<'a> {
    /// The dataset was written: its folder and file count.
    Synthesised(&'a Path, usize),
    /// Features were computed into a folder.
    Features(&'a Path, &'a Extraction),
    /// A model was trained into a folder.
    Trained(&'a Path, &'a Report),
}
