//! The `shapeclf` command line: parses arguments and hands each command to the library.

mod args;
mod hints;
mod out;
mod print;
mod terminal;

use args::*;
use out::{errln, outln};
use print::{print_comparison, print_features, print_report};
use terminal::Terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use shapeclf::extract::{self, ExtractOptions, Extraction, FeatureSettings};
use shapeclf::synth;
use shapeclf::text::{escape_controls, is_unsafe_char};
use shapeclf::train::TrainConfig;
use shapeclf::{inference, workflow};

/// Exit code when `features --strict` is given and some meshes failed, and when `predict`
/// classified some meshes but not all.
const EXIT_STRICT_FAILURES: u8 = 3;

/// Exit code for a wrong argument, as clap gives for the ones it checks itself.
const EXIT_USAGE: u8 = 2;

/// A wrong argument found after parsing (a value out of its range): exit status 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() -> ExitCode {
    shapeclf::models::kernels::keep_freed_memory();
    quiet_panics();
    let cli = Cli::parse();
    match try_main(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout is never an error here (`out` drops its lines), so whatever
            // fails is a real failure, whoever reads the output.
            errln!("error: {}", error_chain(&e));
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else if matches!(
                e.downcast_ref::<shapeclf::extract::RunError>(),
                Some(shapeclf::extract::RunError::Interrupted)
            ) {
                // Stopped before anything new was written: still a stop, as the shell sees it.
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A panic (a bug: one mesh's is caught and becomes that mesh's error) prints one line asking
/// for a report instead of Rust's message and backtrace hint among the run's output; with
/// `RUST_BACKTRACE` set, Rust's own report is kept for whoever debugs it.
fn quiet_panics() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        errln!("internal error{at}: {msg} (please report it, with the input that caused it)");
    }));
}

/// The error and its causes, `: `-separated, leaving out a cause whose text the message
/// before it already contains (many errors print their source themselves).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn try_main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Features(a) => cmd_features(&a),
        Command::Synth(a) => cmd_synth(&a),
        Command::Train(a) => cmd_train(&a),
        Command::Compare(a) => cmd_compare(&a),
        Command::Predict(a) => cmd_predict(&a),
        Command::Demo(a) => cmd_demo(&a),
        Command::Merge(a) => cmd_merge(&a),
        Command::Export(a) => cmd_export(&a),
    }
}

fn cmd_export(a: &ExportArgs) -> Result<ExitCode> {
    let model = hints::model_folder(&a.model)?;
    let s = shapeclf::export::export_onnx(&model, &a.onnx)?;
    let inputs: Vec<String> = s
        .inputs
        .iter()
        .map(|i| {
            let dims: Vec<String> = i
                .shape
                .iter()
                .map(|d| d.map_or("batch".to_string(), |n| n.to_string()))
                .collect();
            format!("{} [{}]", i.name, dims.join(", "))
        })
        .collect();
    outln!(
        "wrote {} ({} model, ONNX opset {}, {} KiB)",
        a.onnx.display(),
        s.model,
        s.opset,
        s.bytes.div_ceil(1024)
    )?;
    outln!("  inputs:  {}", inputs.join("; "))?;
    outln!(
        "  output:  probabilities [batch, {}] over {}",
        s.classes.len(),
        s.classes.join(", ")
    )?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_features(a: &FeaturesArgs) -> Result<ExitCode> {
    // The flags' defaults that depend on other flags (spherical harmonics on, `--align pca`'s
    // view settings) are the library's, shared with the Python package.
    let settings = FeatureSettings {
        seed: a.seed,
        d2_points: a.d2_points,
        d2_pairs: a.d2_pairs,
        sdf_points: a.sdf_points,
        sdf_rays: a.sdf_rays,
        sh: !a.no_sh,
        sh_shells: a.sh_shells,
        sh_degrees: a.sh_degrees,
        sh_points: a.sh_points,
        views: !a.no_views,
        layout: a.views,
        view_res: a.view_res,
        up: a.up,
        align: a.align,
        view_channels: a.view_channels,
        view_augment: a.view_augment,
        jobs: a.jobs,
        max_faces: a.max_faces,
        fresh: a.fresh,
        format: a.format,
        checkpoint_every: a.checkpoint_every.0,
        shard: match a.shard {
            Some(args::ShardArg::Part(s)) => Some(s),
            _ => None,
        },
        shards: a.shards,
    };
    // `--shard none`: no shard, whatever Slurm's or Kubernetes' variables say.
    let whole = matches!(a.shard, Some(args::ShardArg::Whole));
    let env = |k: &str| if whole { None } else { std::env::var(k).ok() };
    let (mut opts, shard) = settings
        .extract_options(&a.out, &env)
        .map_err(anyhow::Error::msg)?;
    if let Some((s, source)) = shard {
        errln!("shard {s} ({})", source.describe());
    }
    opts.stop = Some(ctrl_c_flag());
    opts.validate().map_err(|e| match e {
        // The library names the setting; here it is the flag the user typed.
        extract::ExtractError::Setting(s) => Usage(s.as_flag()),
        e => Usage(e.to_string()),
    })?;
    for w in opts.cost_warnings() {
        errln!("warning: {w}");
    }
    let ex = run_features(&a.mesh_dir, &a.out, &opts)?;
    if opts
        .stop
        .as_ref()
        .is_some_and(|s| s.load(Ordering::Relaxed))
    {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    let failures = ex.manifest.counts.failed;
    if a.strict && failures > 0 {
        errln!("--strict: {failures} mesh(es) failed");
        return Ok(ExitCode::from(EXIT_STRICT_FAILURES));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// A flag that the first Ctrl-C (or SIGTERM, or SIGHUP: a job scheduler's stop at a time limit,
/// on preemption or eviction) sets, so a run finishes the meshes in hand, writes what is done
/// and stops, for a rerun to resume from; a second one ends the process at once (outputs are
/// written atomically, so earlier ones stay intact either way).
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            if shapeclf::io::committing() {
                // Replacing the table, cache and manifest takes milliseconds; let it finish
                // (a kill then would be completed by the next run anyway), then stop.
                errln!("\ninterrupted: finishing the write in hand, then stopping");
                std::thread::spawn(|| {
                    while shapeclf::io::committing() {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                });
                return;
            }
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        errln!(
            "\ninterrupted (Ctrl-C or a stop signal): finishing the meshes in hand, then writing what is done (Ctrl-C again to stop at once)"
        );
    });
    if let Err(e) = installed {
        errln!(
            "warning: Ctrl-C handler not installed ({e}); an interrupted run keeps only earlier outputs"
        );
    }
    flag
}

/// Extracts, writes and summarises.
fn run_features(mesh_dir: &Path, out: &Path, opts: &ExtractOptions) -> Result<Extraction> {
    let ex = extract::run(mesh_dir, out, opts, &Terminal::new())?;
    print_features(out, &ex)?;
    Ok(ex)
}

fn cmd_merge(a: &MergeArgs) -> Result<ExitCode> {
    let r = shapeclf::merge::merge(&a.dir, a.allow_missing)?;
    if r.recovered.rolled_forward || r.recovered.removed > 0 {
        errln!(
            "tidied {} first (completed an interrupted write: {}, removed {} temporary file(s))",
            a.dir.display(),
            r.recovered.rolled_forward,
            r.recovered.removed
        );
    }
    for m in r.missing.iter().take(10) {
        errln!("warning: {m}");
    }
    if r.missing.len() > 10 {
        errln!(
            "warning: and {} more shards left out or unfinished (the manifest lists them all)",
            r.missing.len() - 10
        );
    }
    let m = &r.manifest;
    let files = m.files();
    outln!(
        "merged {} shard(s) of {}: {} meshes, {} ok, {} failed, {} classes",
        r.merged.len(),
        r.merged.first().map_or(0, |s| s.count),
        m.counts.found,
        m.counts.ok,
        m.counts.failed,
        m.classes.len()
    )?;
    for f in &m.failed {
        outln!(
            "failed: {}: {}",
            escape_controls(&f.path),
            escape_controls(&f.error)
        )?;
    }
    outln!(
        "wrote {} and {}",
        a.dir.join(&files.table).display(),
        a.dir.join(&files.manifest).display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_synth(a: &SynthArgs) -> Result<ExitCode> {
    let t = Instant::now();
    synth::check_size(a.per_class, a.subdivide).map_err(anyhow::Error::msg)?;
    let opts = synth::SynthOptions {
        per_class: a.per_class,
        seed: a.seed,
        levels: a.subdivide,
        formats: a.formats.clone(),
        realistic: a.realistic,
    };
    let files = synth::write_dataset_with(&a.dir, &opts)
        .with_context(|| format!("writing synthetic dataset to {}", a.dir.display()))?;
    outln!(
        "wrote {} meshes of {} classes to {} in {:.2} s",
        files.len(),
        if a.realistic {
            synth::ShapeClass::REALISTIC.len()
        } else {
            synth::CLASSES.len()
        },
        a.dir.display(),
        t.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_demo(a: &DemoArgs) -> Result<ExitCode> {
    let t = Instant::now();
    let opts = workflow::DemoOptions {
        dir: a.dir.clone(),
        per_class: a.per_class,
        seed: a.seed,
    };
    let mut printed = Ok(());
    let demo = workflow::demo(&opts, &Terminal::new(), |step| {
        let r = match step {
            workflow::DemoStep::Synthesised(dir, n) => outln!(
                "wrote {n} meshes of {} classes to {}",
                synth::CLASSES.len(),
                dir.display()
            )
            .map_err(Into::into),
            workflow::DemoStep::Features(out, ex) => print_features(out, ex),
            workflow::DemoStep::Trained(out, r) => print_report(out, r),
        };
        if printed.is_ok() {
            printed = r;
        }
    })?;
    printed?;
    print_comparison(&a.dir.join("models"), &demo.comparison)?;
    outln!(
        "demo finished in {:.1} s; open {} to see the whole comparison on one page",
        t.elapsed().as_secs_f64(),
        a.dir
            .join("models")
            .join(workflow::COMPARISON_HTML)
            .display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_train(a: &TrainArgs) -> Result<ExitCode> {
    let cfg = train_settings(a).config();
    // A setting out of range is a usage error (exit 2), as for `features`.
    cfg.validate().map_err(|e| Usage(e.as_flag()))?;
    for w in unused_flags(a) {
        errln!("warning: {w}");
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("models").join(cfg.model.name()));
    run_train(&a.features, &out, &cfg)?;
    Ok(ExitCode::SUCCESS)
}

fn run_train(features: &Path, out: &Path, cfg: &TrainConfig) -> Result<()> {
    hints::features_exist(features)?;
    errln!(
        "train {}: {} -> {} on {}",
        cfg.model.name(),
        features.display(),
        out.display(),
        cfg.backend.describe()
    );
    let r = workflow::train_model(features, out, cfg, &Terminal::new())?;
    print_report(out, &r)
}

fn cmd_compare(a: &CompareArgs) -> Result<ExitCode> {
    hints::models_exist(&a.models)?;
    let cmp = workflow::compare(&a.models, &Terminal::new())?;
    print_comparison(&a.models, &cmp)?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_predict(a: &PredictArgs) -> Result<ExitCode> {
    let model = hints::model_folder(&a.model)?;
    if model != a.model {
        errln!("model: {}", model.display());
    }
    let meshes = shapeclf::mesh::expand_mesh_paths(&a.meshes)?;
    let preds = inference::predict(&model, &meshes, a.top)?;
    if a.json {
        outln!("{}", predictions_json(&preds, &meshes)?)?;
    } else {
        for (p, mesh) in preds.iter().zip(&meshes) {
            let name = shown_path(mesh);
            match &p.error {
                Some(e) => outln!("{name}: error: {}", escape_controls(e))?,
                None => {
                    let top: Vec<String> = p
                        .top
                        .iter()
                        .map(|(c, q)| format!("{} {q:.3}", escape_controls(c)))
                        .collect();
                    outln!("{name}: {}", top.join(", "))?;
                }
            }
        }
    }
    let failed = preds.iter().filter(|p| p.error.is_some()).count();
    Ok(if failed == preds.len() {
        ExitCode::FAILURE
    } else if failed > 0 {
        ExitCode::from(EXIT_STRICT_FAILURES)
    } else {
        ExitCode::SUCCESS
    })
}

/// A mesh path as one line of plain text: as typed when it is UTF-8 (control characters
/// escaped), else in the lossless encoding of `path_encoded`.
fn shown_path(p: &Path) -> String {
    match p.to_str() {
        Some(s) => escape_controls(s).into_owned(),
        None => shapeclf::dataset::encode_name(p.as_os_str()),
    }
}

/// `predict --json`: each prediction with `path_encoded` added beside `path`, the path as
/// typed with `%` written `%25` and every byte that is not UTF-8 written `%XX` (the feature
/// table's encoding), so two files whose names differ only in such bytes stay apart. Characters
/// a terminal would act on are written as `\uXXXX` escapes, which JSON readers decode back.
fn predictions_json(preds: &[inference::Prediction], meshes: &[PathBuf]) -> Result<String> {
    let mut v = serde_json::to_value(preds)?;
    if let Some(list) = v.as_array_mut() {
        for (p, mesh) in list.iter_mut().zip(meshes) {
            if let Some(o) = p.as_object_mut() {
                let encoded = shapeclf::dataset::encode_name(mesh.as_os_str());
                o.insert("path_encoded".into(), encoded.into());
            }
        }
    }
    let text = serde_json::to_string_pretty(&v)?;
    // serde_json escapes C0 controls itself; structural newlines are the only ones left.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c != '\n' && is_unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}
