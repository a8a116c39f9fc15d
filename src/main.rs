//! The `shapeclf` command line: parses arguments and hands each command to the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use shapeclf::descriptors::DescriptorConfig;
use shapeclf::extract::{self, ExtractOptions};
use shapeclf::synth;

/// Exit code when `--strict` is given and some meshes failed.
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
    /// Run the whole comparison on built-in synthetic data.
    Demo(DemoArgs),
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
    /// Exit non-zero if any mesh fails.
    #[arg(long)]
    strict: bool,
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Features(a) => cmd_features(&a),
        Command::Synth(a) => cmd_synth(&a),
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
    // Depth views arrive with the CNN; until then every run is a --no-views run.
    let _ = a.no_views;
    let opts = ExtractOptions {
        config,
        seed: a.seed,
        jobs: a.jobs,
        max_faces: a.max_faces,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let failures = run_features(&a.mesh_dir, &a.out, &opts)?;
    if a.strict && failures > 0 {
        eprintln!("--strict: {failures} mesh(es) failed");
        return Ok(ExitCode::from(EXIT_STRICT_FAILURES));
    }
    Ok(ExitCode::SUCCESS)
}

/// Extracts, writes and summarises; returns the number of failed meshes.
fn run_features(mesh_dir: &Path, out: &Path, opts: &ExtractOptions) -> Result<usize> {
    let threads = opts.jobs.unwrap_or_else(rayon::current_num_threads);
    eprintln!(
        "features: {} -> {} ({} threads, CPU ray casting with parry3d)",
        mesh_dir.display(),
        out.display(),
        threads
    );
    let ex = extract::extract(mesh_dir, opts)?;
    let m = &ex.manifest;
    if m.counts.ok == 0 {
        bail!(
            "all {} meshes failed; nothing written (first: {}: {})",
            m.counts.found,
            m.failed[0].path,
            m.failed[0].error
        );
    }
    ex.write(out)
        .with_context(|| format!("writing features to {}", out.display()))?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "{} meshes: {} ok, {} failed in {:.2} s ({:.1} meshes/s, {:.2} M rays/s, {} classes)",
        m.counts.found,
        m.counts.ok,
        m.counts.failed,
        m.wall_seconds,
        m.counts.found as f64 / m.wall_seconds.max(1e-9),
        m.sdf.rays as f64 / m.wall_seconds.max(1e-9) / 1e6,
        m.classes.len()
    )?;
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
    Ok(m.counts.failed)
}

fn cmd_synth(a: &SynthArgs) -> Result<ExitCode> {
    let t = Instant::now();
    let files = synth::write_dataset(&a.dir, a.per_class, a.seed)
        .with_context(|| format!("writing synthetic dataset to {}", a.dir.display()))?;
    println!(
        "wrote {} meshes of {} classes to {} in {:.2} s",
        files.len(),
        synth::CLASSES.len(),
        a.dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn cmd_demo(a: &DemoArgs) -> Result<ExitCode> {
    let t = Instant::now();
    let meshes = a.dir.join("meshes").join("demo");
    if meshes.is_dir() {
        println!("using existing demo meshes in {}", meshes.display());
    } else {
        cmd_synth(&SynthArgs {
            dir: meshes.clone(),
            per_class: a.per_class,
            seed: a.seed,
        })?;
    }
    let features = a.dir.join("features");
    let opts = ExtractOptions {
        seed: a.seed,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..Default::default()
    };
    run_features(&meshes, &features, &opts)?;
    println!("demo finished in {:.1} s", t.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
