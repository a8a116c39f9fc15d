//! The `shapeclf` command line: parses arguments and hands each command to the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use indicatif::{ProgressBar, ProgressStyle};
use shapeclf::descriptors::DescriptorConfig;
use shapeclf::descriptors::views::{Align, UpAxis, ViewConfig, ViewLayout};
use shapeclf::extract::{self, ExtractOptions, Extraction};
use shapeclf::models::{Activation, BackendKind, ModelKind};
use shapeclf::observe::{Event, Observer};
use shapeclf::report::Report;
use shapeclf::report::render::comparison_text;
use shapeclf::synth;
use shapeclf::train::{ClassWeight, CnnSpec, LrSchedule, ModelSpec, OptimizerKind, TrainConfig};
use shapeclf::{inference, workflow};

/// Exit code when `features --strict` is given and some meshes failed, and when `predict`
/// classified some meshes but not all.
const EXIT_STRICT_FAILURES: u8 = 3;

#[derive(Parser)]
#[command(
    name = "shapeclf",
    version,
    about = "Classify 3D shapes from their meshes: hand-engineered descriptors against learned features"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute descriptors of every mesh in a dataset folder into a feature table.
    Features(FeaturesArgs),
    /// Write a labelled dataset of procedurally modelled shapes (mug and look-alikes).
    Synth(SynthArgs),
    /// Train a model on a feature table.
    Train(TrainArgs),
    /// Compare every trained model side by side.
    Compare(CompareArgs),
    /// Classify meshes with a trained model.
    Predict(PredictArgs),
    /// Run the whole comparison on built-in synthetic data.
    Demo(DemoArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// Model to train.
    #[arg(long, value_enum)]
    model: ModelKind,
    /// Feature folder written by `shapeclf features`.
    #[arg(long, default_value = "features")]
    features: PathBuf,
    /// Output model folder (default: models/<model>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    backend: BackendKind,
    /// Seed for initialisation, shuffling and the validation split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Maximum epochs (default: 300; CNN 40).
    #[arg(long)]
    epochs: Option<usize>,
    /// Learning rate (default: 0.01 logistic, 0.001 MLP and CNN).
    #[arg(long)]
    lr: Option<f64>,
    /// Minibatch size (default: 64; CNN 16 shapes).
    #[arg(long)]
    batch_size: Option<usize>,
    /// L2 penalty (default: logistic chooses it by 5-fold cross-validation; MLP and CNN 1e-4).
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Optimiser (default: adam).
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// MLP hidden layer widths, comma-separated (default: 256,128); for the CNN, the width of
    /// the per-view descriptor that views are max-pooled over (default: 256); for fusion, that
    /// width and then the descriptor branch's (default: 256,64).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// MLP hidden nonlinearity (default: relu).
    #[arg(long, value_enum)]
    activation: Option<Activation>,
    /// Dropout probability (default: MLP 0.3, CNN 0.5 before the classifier).
    #[arg(long)]
    dropout: Option<f64>,
    /// Share of each training class held out for early stopping (default: 0 logistic, 0.15 MLP,
    /// 0.1 CNN).
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Epochs without validation improvement before stopping (default: 40, CNN 15; 0 never
    /// stops).
    #[arg(long)]
    patience: Option<usize>,
    /// Train one class against all others (a two-class task), e.g. `--positive mug`.
    #[arg(long)]
    positive: Option<String>,
    /// Class weighting in the loss (default: none; balanced trades precision for recall of
    /// a rare class).
    #[arg(long, value_enum)]
    class_weight: Option<ClassWeight>,
    /// CNN: output channels of the conv blocks, comma-separated (default: 32,64,128).
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<usize>>,
    /// Learning-rate schedule (default: constant; CNN cosine).
    #[arg(long, value_enum)]
    schedule: Option<LrSchedule>,
    /// Train N times from seeds SEED, SEED+1, ...; the report and `compare` give each score's
    /// mean and standard deviation (on small test sets seeds alone move accuracy by points).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// CNN: no random mirror images of training shapes.
    #[arg(long)]
    no_flip: bool,
    /// CNN: largest random shift of a training shape's views, in pixels (default: 2).
    #[arg(long)]
    jitter: Option<usize>,
}

#[derive(Args)]
struct CompareArgs {
    /// Folder holding one folder per trained model.
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

#[derive(Args)]
struct PredictArgs {
    /// Model folder written by `shapeclf train`.
    #[arg(long)]
    model: PathBuf,
    /// Mesh files to classify.
    #[arg(required = true)]
    meshes: Vec<PathBuf>,
    /// How many classes to show per mesh.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FeaturesArgs {
    /// Dataset root: ROOT/<class>/{train,test}/<mesh> or ROOT/<class>/<mesh>.
    mesh_dir: PathBuf,
    /// Output folder for descriptors.csv and manifest.json.
    #[arg(long, default_value = "features")]
    out: PathBuf,
    /// Seed for sampling and splits; the same seed gives a byte-identical table.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip rendering the depth views the CNN reads.
    #[arg(long)]
    no_views: bool,
    /// Camera layout of the depth views.
    #[arg(long, value_enum, default_value_t = ViewLayout::Ring12)]
    views: ViewLayout,
    /// Pixels per side of each depth view.
    #[arg(long, default_value_t = 32)]
    view_res: usize,
    /// Up axis of the dataset, for the ring of cameras (under `--align pca`, an axis of the
    /// principal frame: x the largest spread, z the smallest).
    #[arg(long, value_enum, default_value_t = UpAxis::Z)]
    up: UpAxis,
    /// Pose of the cameras: `none` renders in the files' own axes (for consistently oriented
    /// collections such as ModelNet); `pca` in each mesh's principal axes, so a shape gives the
    /// same views whatever its orientation (for scans and web collections in arbitrary poses).
    #[arg(long, value_enum, default_value_t = Align::None)]
    align: Align,
    /// Exit non-zero if any mesh fails.
    #[arg(long)]
    strict: bool,
    /// Recompute every mesh, even those whose rows in the output folder are still valid (by
    /// default a rerun reuses rows of unchanged files made with the same parameters and seed).
    #[arg(long)]
    fresh: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Reject meshes with more triangles than this.
    #[arg(long)]
    max_faces: Option<usize>,
    /// Surface points for D2 (all pairs are used unless --d2-pairs is given).
    #[arg(long, default_value_t = 2048)]
    d2_points: usize,
    /// Random point pairs for D2 instead of all pairs.
    #[arg(long)]
    d2_pairs: Option<usize>,
    /// Surface points at which the SDF is measured.
    #[arg(long, default_value_t = 512)]
    sdf_points: usize,
    /// Rays per SDF point.
    #[arg(long, default_value_t = 30)]
    sdf_rays: usize,
}

#[derive(Args)]
struct SynthArgs {
    /// Folder to write ROOT/<class>/{train,test}/ into.
    dir: PathBuf,
    /// Shapes per class (one in five goes to test).
    #[arg(long, default_value_t = 40)]
    per_class: usize,
    /// Seed for every shape's proportions and tessellation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Split every triangle into four this many times (for benchmarks at realistic sizes).
    #[arg(long, default_value_t = 0)]
    subdivide: u32,
    /// File formats, cycled through shape by shape (e.g. off,obj,stl,ply,glb,gltf).
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = synth::DEFAULT_FORMATS.map(String::from),
        value_parser = synth::WRITABLE_FORMATS
    )]
    formats: Vec<String>,
    /// The realistic regime: twelve classes (three differ from others only in a part), each
    /// shape unevenly scaled, roughened, sometimes holed or non-manifold, in an arbitrary 3D
    /// orientation. A development set as hard as real collections; the default is the demo's.
    #[arg(long)]
    realistic: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Working folder: meshes/demo, features/ and models/ go inside it.
    #[arg(long, default_value = "demo")]
    dir: PathBuf,
    /// Shapes per class.
    #[arg(long, default_value_t = 40)]
    per_class: usize,
    /// Seed for data, features and training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match try_main(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`shapeclf ... | head`) is not an error worth a message.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
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
    }
}

fn cmd_features(a: &FeaturesArgs) -> Result<ExitCode> {
    let config = DescriptorConfig {
        d2_points: a.d2_points,
        d2_pairs: a.d2_pairs,
        sdf_points: a.sdf_points,
        sdf_rays: a.sdf_rays,
        ..Default::default()
    };
    let views = (!a.no_views).then(|| {
        (
            ViewConfig {
                layout: a.views,
                resolution: a.view_res,
                up: a.up,
                align: a.align,
            },
            a.out.clone(),
        )
    });
    let opts = ExtractOptions {
        config,
        seed: a.seed,
        jobs: a.jobs,
        max_faces: a.max_faces,
        views,
        resume_from: (!a.fresh).then(|| a.out.clone()),
        stop: Some(ctrl_c_flag()),
    };
    opts.validate()?;
    for w in opts.config.cost_warnings() {
        eprintln!("warning: {w}");
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
        eprintln!("--strict: {failures} mesh(es) failed");
        return Ok(ExitCode::from(EXIT_STRICT_FAILURES));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// A flag that the first Ctrl-C sets, so a run finishes the meshes in hand, writes what is done
/// and stops; a second Ctrl-C ends the process at once (outputs are written atomically, so
/// earlier ones stay intact either way).
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            if shapeclf::io::committing() {
                // Replacing the table, cache and manifest takes milliseconds; let it finish
                // (a kill then would be completed by the next run anyway).
                eprintln!("\ninterrupted: finishing the write in hand");
                return;
            }
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!(
            "\ninterrupted: finishing the meshes in hand, then writing what is done (Ctrl-C again to stop at once)"
        );
    });
    if let Err(e) = installed {
        eprintln!(
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

/// The summary of a features run, on stdout.
fn print_features(out: &Path, ex: &Extraction) -> Result<()> {
    let m = &ex.manifest;
    let mut o = std::io::stdout().lock();
    // Rates only when every row was computed in this run: reused rows cost no rays.
    let rates = if m.counts.reused == 0 {
        format!(
            "{:.1} meshes/s, {:.2} M rays/s, ",
            m.counts.found as f64 / m.wall_seconds.max(1e-9),
            (m.sdf.rays + m.views.as_ref().map_or(0, |v| v.rays)) as f64
                / m.wall_seconds.max(1e-9)
                / 1e6
        )
    } else {
        String::new()
    };
    writeln!(
        o,
        "{} meshes: {} ok, {} failed in {:.2} s ({rates}{} classes)",
        m.counts.found,
        m.counts.ok,
        m.counts.failed,
        m.wall_seconds,
        m.classes.len()
    )?;
    if m.counts.reused > 0 {
        writeln!(
            o,
            "{} rows reused from the previous run in {} (unchanged files, same parameters and seed; --fresh recomputes them)",
            m.counts.reused,
            out.display()
        )?;
    }
    if m.counts.not_reached > 0 {
        writeln!(
            o,
            "interrupted: {} meshes not reached; rerun the same command to finish them (the {} rows written are reused)",
            m.counts.not_reached, m.counts.ok
        )?;
    }
    if let Some(v) = &m.views {
        writeln!(
            o,
            "views: {} per mesh ({:?}, {}x{} pixels) in {}, {:.2} M rays",
            v.count,
            v.config.layout,
            v.config.resolution,
            v.config.resolution,
            out.join(&v.folder).display(),
            v.rays as f64 / 1e6
        )?;
    }
    if m.sdf.no_hit_points > 0 || m.sdf.flipped_points > 0 {
        writeln!(
            o,
            "SDF: {} of {} points found no opposite wall (left out of the histograms), {} measured through the outward cone",
            m.sdf.no_hit_points, m.sdf.points, m.sdf.flipped_points
        )?;
    }
    for f in &m.failed {
        writeln!(o, "failed: {}: {}", f.path, f.error)?;
    }
    writeln!(
        o,
        "wrote {} and {}",
        out.join(shapeclf::features::TABLE_FILE).display(),
        out.join(shapeclf::features::MANIFEST_FILE).display()
    )?;
    Ok(())
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
    println!(
        "wrote {} meshes of {} classes to {} in {:.2} s",
        files.len(),
        if a.realistic {
            synth::ShapeClass::REALISTIC.len()
        } else {
            synth::CLASSES.len()
        },
        a.dir.display(),
        t.elapsed().as_secs_f64()
    );
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
            workflow::DemoStep::Synthesised(dir, n) => writeln!(
                std::io::stdout(),
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
    println!(
        "demo finished in {:.1} s; open {} to see the whole comparison on one page",
        t.elapsed().as_secs_f64(),
        a.dir
            .join("models")
            .join(workflow::COMPARISON_HTML)
            .display()
    );
    Ok(ExitCode::SUCCESS)
}

fn train_config(a: &TrainArgs) -> TrainConfig {
    let mut c = TrainConfig::defaults(a.model);
    c.backend = a.backend;
    c.seed = a.seed;
    c.epochs = a.epochs.unwrap_or(c.epochs);
    c.lr = a.lr.unwrap_or(c.lr);
    c.batch_size = a.batch_size.unwrap_or(c.batch_size);
    if let Some(wd) = a.weight_decay {
        c.weight_decay = wd;
        c.tune_weight_decay = false;
    }
    c.optimizer = a.optimizer.unwrap_or(c.optimizer);
    c.val_fraction = a.val_fraction.unwrap_or(c.val_fraction);
    c.patience = a.patience.unwrap_or(c.patience);
    c.positive = a.positive.clone();
    c.repeats = a.repeats;
    c.schedule = a.schedule.unwrap_or(c.schedule);
    c.class_weight = a.class_weight.unwrap_or(ClassWeight::None);
    match &mut c.model {
        // Logistic regression has no hidden layers, no dropout and no augmentation: those
        // flags do not apply to it.
        ModelSpec::Logistic => {}
        ModelSpec::Mlp(m) => {
            m.hidden = a.hidden.clone().unwrap_or(std::mem::take(&mut m.hidden));
            m.activation = a.activation.unwrap_or(m.activation);
            m.dropout = a.dropout.unwrap_or(m.dropout);
        }
        ModelSpec::Cnn(n) => {
            if let Some(&f) = a.hidden.as_ref().and_then(|h| h.first()) {
                n.features = f;
            }
            view_branch(n, a);
        }
        ModelSpec::Fusion(f) => {
            // --hidden FEATURES,ROWS: the view descriptor's width, then the descriptor branch's.
            if let Some(h) = &a.hidden {
                if let Some(&v) = h.first() {
                    f.cnn.features = v;
                }
                if let Some(&r) = h.get(1) {
                    f.hidden = r;
                }
            }
            view_branch(&mut f.cnn, a);
        }
    }
    c
}

/// The CNN flags, for the CNN and the fusion model's view branch.
fn view_branch(n: &mut CnnSpec, a: &TrainArgs) {
    n.dropout = a.dropout.unwrap_or(n.dropout);
    n.channels = a
        .channels
        .clone()
        .unwrap_or(std::mem::take(&mut n.channels));
    n.flip = n.flip && !a.no_flip;
    n.jitter = a.jitter.unwrap_or(n.jitter);
}

fn cmd_train(a: &TrainArgs) -> Result<ExitCode> {
    let cfg = train_config(a);
    cfg.validate().map_err(anyhow::Error::msg)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("models").join(cfg.model.name()));
    run_train(&a.features, &out, &cfg)?;
    Ok(ExitCode::SUCCESS)
}

fn run_train(features: &Path, out: &Path, cfg: &TrainConfig) -> Result<()> {
    eprintln!(
        "train {}: {} -> {} on {}",
        cfg.model.name(),
        features.display(),
        out.display(),
        cfg.backend.describe()
    );
    let r = workflow::train_model(features, out, cfg, &Terminal::new())?;
    print_report(out, &r)
}

/// A trained model's results, on stdout.
fn print_report(out: &Path, r: &Report) -> Result<()> {
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "\n{}: test accuracy {:.4} ({} meshes), mean class accuracy {:.4}; trained in {:.2} s ({} epochs, best {}, {:.0} samples/s)\n",
        r.model,
        r.metrics.accuracy,
        r.test_size,
        r.metrics.mean_class_accuracy,
        r.train_seconds,
        r.epochs_run,
        r.best_epoch,
        r.samples_per_second
    )?;
    writeln!(o, "{}", r.metrics.to_text())?;
    if let Some(s) = &r.spread {
        writeln!(
            o,
            "over {} seeds: test accuracy {}, mean class accuracy {}, macro F1 {} (the folder holds seed {}'s model)",
            s.runs, s.accuracy, s.mean_class_accuracy, s.macro_f1, r.seed
        )?;
    }
    writeln!(o, "wrote {}", out.display())?;
    Ok(())
}

fn cmd_compare(a: &CompareArgs) -> Result<ExitCode> {
    let cmp = workflow::compare(&a.models, &Terminal::new())?;
    print_comparison(&a.models, &cmp)?;
    Ok(ExitCode::SUCCESS)
}

/// A comparison, skipped folders on stderr and the table on stdout.
fn print_comparison(models: &Path, cmp: &workflow::Comparison) -> Result<()> {
    for (name, why) in &cmp.skipped {
        eprintln!("warning: skipped {}: {why}", models.join(name).display());
    }
    let mut o = std::io::stdout().lock();
    writeln!(o, "\n{}", comparison_text(&cmp.rows))?;
    writeln!(
        o,
        "wrote {}, {} and {}",
        models.join("comparison.md").display(),
        models.join("comparison.png").display(),
        models.join(workflow::COMPARISON_HTML).display()
    )?;
    Ok(())
}

fn cmd_predict(a: &PredictArgs) -> Result<ExitCode> {
    let preds = inference::predict(&a.model, &a.meshes, a.top)?;
    let mut o = std::io::stdout().lock();
    if a.json {
        writeln!(o, "{}", serde_json::to_string_pretty(&preds)?)?;
    } else {
        for p in &preds {
            match &p.error {
                Some(e) => writeln!(o, "{}: error: {e}", p.path)?,
                None => {
                    let top: Vec<String> =
                        p.top.iter().map(|(c, q)| format!("{c} {q:.3}")).collect();
                    writeln!(o, "{}: {}", p.path, top.join(", "))?;
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

/// The terminal side of the library's events: a progress bar per stage on an interactive
/// stderr, and lines for skipped inputs, warnings and notes.
struct Terminal {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    interactive: bool,
}

impl Terminal {
    fn new() -> Terminal {
        Terminal {
            bar: std::sync::Mutex::new(None),
            interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Prints a line on stderr without tearing the bar.
    fn line(&self, text: &str) {
        match self.bar() {
            Some(pb) => pb.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

impl Observer for Terminal {
    fn event(&self, e: Event<'_>) {
        match e {
            Event::Begin { stage, total } => {
                if !self.interactive {
                    return;
                }
                let pb = ProgressBar::new(total);
                let template = if stage == "meshes" {
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} meshes  {per_sec}  eta {eta}"
                } else {
                    "{spinner} {prefix} [{elapsed_precise}] {wide_bar} epoch {pos}/{len} {msg}"
                };
                pb.set_style(ProgressStyle::with_template(template).expect("static template"));
                pb.set_prefix(stage.to_string());
                *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
            }
            Event::Step => {
                if let Some(pb) = self.bar() {
                    pb.inc(1);
                }
            }
            Event::Epoch(s) => {
                if let Some(pb) = self.bar() {
                    pb.set_position(s.epoch as u64);
                    let val = s
                        .val_accuracy
                        .map(|v| format!(" val {v:.3}"))
                        .unwrap_or_default();
                    pb.set_message(format!(
                        "loss {:.4} train {:.3}{val}",
                        s.loss, s.train_accuracy
                    ));
                }
            }
            Event::End => {
                if let Some(pb) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    pb.finish_and_clear();
                }
            }
            Event::Skipped { path, reason } => self.line(&format!("{path}: {reason}")),
            Event::Warning(w) => self.line(&format!("warning: {w}")),
            Event::Info(i) => self.line(i),
        }
    }
}
