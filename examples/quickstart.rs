//! From a folder of meshes to predictions, through the library alone: the `features`, `train`
//! and `predict` commands as calls, with the command line's defaults.
//!
//! ```sh
//! cargo run --release --example quickstart                # a small synthetic set, made first
//! cargo run --release --example quickstart -- my-meshes   # your folder: one subfolder per class
//! ```
//!
//! Everything is written under `quickstart/`. The library never prints: this example prints
//! the warnings and skipped files its observer is told of, and the results.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use shapeclf::extract::FeatureSettings;
use shapeclf::inference::Model;
use shapeclf::models::ModelKind;
use shapeclf::observe::Event;
use shapeclf::train::TrainConfig;
use shapeclf::{dataset, synth, workflow};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let work = PathBuf::from("quickstart");
    let meshes = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = work.join("meshes");
            // Made on the first run, reused by the next.
            if !dir.is_dir() {
                let files = synth::write_dataset(&dir, 12, 0, 0)?;
                println!(
                    "wrote {} synthetic meshes to {}",
                    files.len(),
                    dir.display()
                );
            }
            dir
        }
    };
    // What a run has to say beyond its result: settings that will be slow, meshes it skipped.
    let observer = |e: Event<'_>| match e {
        Event::Warning(w) => eprintln!("warning: {w}"),
        Event::Skipped { path, reason } => eprintln!("skipped {path}: {reason}"),
        _ => {}
    };

    // `shapeclf features MESHES --out quickstart/features`: descriptors and views of every mesh.
    let features = work.join("features");
    let ex = workflow::features(&meshes, &features, &FeatureSettings::default(), &observer)?;
    println!(
        "features: {} meshes ({} failed) -> {}",
        ex.table.rows.len(),
        ex.manifest.counts.failed,
        features.display()
    );

    // `shapeclf train --model logistic`, then the multi-view CNN (a few epochs, to keep the
    // example quick; the command's default is 40).
    let models = work.join("models");
    for kind in [ModelKind::Logistic, ModelKind::Cnn] {
        let mut cfg = TrainConfig::defaults(kind);
        if kind == ModelKind::Cnn {
            cfg.epochs = 5;
        }
        let report = workflow::train_model(&features, &models.join(kind.name()), &cfg, &observer)?;
        println!(
            "{:<9} test accuracy {:.3} on {} meshes, trained in {:.1} s",
            kind.name(),
            report.metrics.accuracy,
            report.test_size,
            report.train_seconds
        );
    }

    // `shapeclf predict --model quickstart/models/cnn`: load once, classify a few test meshes
    // (the split `features` made with its default seed).
    let model = Model::load(&models.join("cnn"))?;
    let test: Vec<PathBuf> = dataset::discover(&meshes, 0)?
        .into_iter()
        .filter(|f| f.split == dataset::Split::Test)
        .map(|f| f.path)
        .take(5)
        .collect();
    for p in model.predict(&test, 2) {
        match p.error {
            Some(e) => println!("{}: {e}", p.path),
            None => println!("{}: {:?}", p.path, p.top),
        }
    }
    Ok(())
}
