//! The command line's arguments, and the training settings they make.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use shapeclf::descriptors::views::{Align, UpAxis, ViewChannels, ViewLayout};
use shapeclf::models::{Activation, BackendKind, ModelKind};
use shapeclf::synth;
use shapeclf::train::{ClassWeight, HistogramMap, LrSchedule, OptimizerKind, TrainSettings};

#[derive(Parser)]
#[command(
    name = "shapeclf",
    version = shapeclf::BUILD_ID,
    about = "Classify 3D shapes from their meshes: hand-engineered descriptors against learned features",
    after_help = "Every command and flag explained: docs/REFERENCE.md",
    disable_help_flag = true,
    next_line_help = false
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Print help (one line per flag; every flag is explained in docs/REFERENCE.md).
    // `-h` and `--help` both print the short form, which fits on a screen: the long
    // explanations live in the reference, not in 120 lines of terminal output.
    #[arg(short, long, action = clap::ArgAction::HelpShort, global = true, display_order = 1000)]
    help: Option<bool>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Compute descriptors of every mesh in a dataset folder into a feature table.
    #[command(disable_help_flag = true, next_line_help = false)]
    #[command(after_help = "Every flag explained: docs/REFERENCE.md#shapeclf-features")]
    Features(FeaturesArgs),
    /// Write a labelled dataset of procedurally modelled shapes (mug and look-alikes).
    #[command(disable_help_flag = true, next_line_help = false)]
    Synth(SynthArgs),
    /// Train a model on a feature table.
    #[command(disable_help_flag = true, next_line_help = false)]
    #[command(after_help = "Every flag explained: docs/REFERENCE.md#shapeclf-train")]
    Train(TrainArgs),
    /// Compare every trained model side by side.
    #[command(disable_help_flag = true, next_line_help = false)]
    Compare(CompareArgs),
    /// Classify meshes with a trained model.
    #[command(disable_help_flag = true, next_line_help = false)]
    Predict(PredictArgs),
    /// Run the whole comparison on built-in synthetic data.
    #[command(disable_help_flag = true, next_line_help = false)]
    Demo(DemoArgs),
    /// Combine the parts of a sharded `features` run into one table and manifest.
    #[command(disable_help_flag = true, next_line_help = false)]
    Merge(MergeArgs),
    /// Write a trained model as an ONNX file, to run it without shapeclf.
    #[command(disable_help_flag = true, next_line_help = false)]
    #[command(
        after_help = "Inputs, outputs and an onnxruntime example: docs/REFERENCE.md#shapeclf-export"
    )]
    Export(ExportArgs),
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// Model folder written by `shapeclf train`; a bare name such as `mlp` also finds
    /// `models/mlp`.
    pub(crate) model: PathBuf,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE")]
    pub(crate) onnx: PathBuf,
}

#[derive(Args)]
pub(crate) struct MergeArgs {
    /// Feature folder the shards wrote into.
    pub(crate) dir: PathBuf,
    /// Merge the shards that are there even when some are missing or unfinished (exit 0).
    #[arg(long)]
    pub(crate) allow_missing: bool,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Model to train.
    #[arg(long, value_enum)]
    pub(crate) model: ModelKind,
    /// Feature folder written by `shapeclf features`.
    #[arg(long, default_value = "features")]
    pub(crate) features: PathBuf,
    /// Output model folder (default: models/<model>).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    pub(crate) backend: BackendKind,
    /// Seed for initialisation, shuffling and the validation split.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Maximum epochs (default: 300; CNN and fusion 40).
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Learning rate (default: 0.01 logistic, 0.001 MLP and CNN).
    #[arg(long)]
    pub(crate) lr: Option<f64>,
    /// Minibatch size (default: 64; CNN and fusion 16 shapes).
    #[arg(long, value_name = "N")]
    pub(crate) batch_size: Option<usize>,
    /// L2 penalty (default: logistic chooses it by 5-fold cross-validation; MLP and CNN 1e-4).
    #[arg(long, value_name = "L2")]
    pub(crate) weight_decay: Option<f32>,
    /// Optimiser (default: adam).
    #[arg(long, value_enum)]
    pub(crate) optimizer: Option<OptimizerKind>,
    /// Hidden widths, comma-separated: MLP layers (default: 256,128); CNN view descriptor
    /// (256); fusion, that and the descriptor branch (256,64).
    #[arg(long, value_delimiter = ',')]
    pub(crate) hidden: Option<Vec<usize>>,
    /// MLP hidden nonlinearity (default: relu).
    #[arg(long, value_enum)]
    pub(crate) activation: Option<Activation>,
    /// Dropout probability (default: MLP 0.3, CNN 0.5 before the classifier).
    #[arg(long, value_name = "P")]
    pub(crate) dropout: Option<f64>,
    /// Share of each training class held out to choose the epoch by (default: 0, keep the
    /// last epoch).
    #[arg(long, value_name = "F")]
    pub(crate) val_fraction: Option<f64>,
    /// With --val-fraction: epochs without improvement before stopping (default: 0, never).
    #[arg(long, value_name = "EPOCHS")]
    pub(crate) patience: Option<usize>,
    /// Train one class against all others (a two-class task), e.g. `--positive mug`.
    #[arg(long)]
    pub(crate) positive: Option<String>,
    /// Class weighting in the loss (default: none).
    #[arg(long, value_enum, value_name = "WEIGHTS")]
    pub(crate) class_weight: Option<ClassWeight>,
    /// CNN and fusion: output channels of the conv blocks, comma-separated (default: 16,32,64; 32,64,128 is the peer's network).
    #[arg(long, value_delimiter = ',')]
    pub(crate) channels: Option<Vec<usize>>,
    /// Learning-rate schedule (default: cosine, annealed to zero over training).
    #[arg(long, value_enum)]
    pub(crate) schedule: Option<LrSchedule>,
    /// CNN and fusion: hold every view in memory whatever its size (default: held when the views take at most SHAPECLF_VIEW_BYTES, 512 MiB, else each batch reads its images from the feature folder).
    #[arg(long)]
    pub(crate) views_in_memory: bool,
    /// Train N times from seeds SEED, SEED+1, ...: scores as mean ± std over them.
    #[arg(long, default_value_t = 1)]
    pub(crate) repeats: usize,
    /// Continue the interrupted training of this model folder from its last checkpoint (run
    /// with the same flags); without one, train from the start.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Map of histogram bins before standardising (default: sqrt, the Hellinger map).
    #[arg(long, value_enum, value_name = "MAP")]
    pub(crate) histograms: Option<HistogramMap>,
    /// Fusion: share of training shapes whose descriptor branch is off (default: 0.5).
    #[arg(long, value_name = "P")]
    pub(crate) branch_dropout: Option<f64>,
    /// CNN: no random mirror images of training shapes.
    #[arg(long)]
    pub(crate) no_flip: bool,
    /// CNN: largest random shift of a training shape's views, in pixels (default: 2).
    #[arg(long)]
    pub(crate) jitter: Option<usize>,
    /// CNN: views of each shape a training step reads, drawn at random (default: all); fewer
    /// make training cheaper, evaluation still reads all.
    #[arg(long, value_name = "K")]
    pub(crate) train_views: Option<usize>,
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    /// Folder holding one folder per trained model.
    #[arg(long, default_value = "models")]
    pub(crate) models: PathBuf,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// Model folder written by `shapeclf train`; a bare name such as `mlp` also finds
    /// `models/mlp`.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Mesh files to classify; a folder stands for every mesh file in it and below it.
    #[arg(required = true)]
    pub(crate) meshes: Vec<PathBuf>,
    /// How many classes to show per mesh (at least 1).
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) top: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct FeaturesArgs {
    /// Dataset root: ROOT/<class>/{train,test}/<mesh> or ROOT/<class>/<mesh>.
    pub(crate) mesh_dir: PathBuf,
    /// Output folder for descriptors.csv and manifest.json.
    #[arg(long, default_value = "features")]
    pub(crate) out: PathBuf,
    /// Seed for sampling and splits; the same seed gives a byte-identical table.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Skip rendering the depth views the CNN reads.
    #[arg(long)]
    pub(crate) no_views: bool,
    /// Camera layout of the depth views.
    #[arg(long, value_enum, default_value_t = ViewLayout::Ring12)]
    pub(crate) views: ViewLayout,
    /// Pixels per side of each depth view.
    #[arg(long, default_value_t = 32)]
    pub(crate) view_res: usize,
    /// Up axis of the dataset, for the ring of cameras (under --align pca: x the largest
    /// spread, z the smallest).
    #[arg(long, value_enum, default_value_t = UpAxis::Z)]
    pub(crate) up: UpAxis,
    /// Pose of the cameras: pca, each mesh's principal axes (any pose; brings depth+shade and 3
    /// copies); none, the files' own axes (consistently oriented collections).
    #[arg(long, value_enum, default_value_t = Align::Pca)]
    pub(crate) align: Align,
    /// What each view holds (default: depth+shade under --align pca, depth otherwise).
    #[arg(long, value_enum, conflicts_with = "no_views")]
    pub(crate) view_channels: Option<ViewChannels>,
    /// Rotated extra renderings per training mesh (default: 3 under --align pca, else 0).
    #[arg(long, value_name = "K", conflicts_with = "no_views")]
    pub(crate) view_augment: Option<usize>,
    /// Exit non-zero if any mesh fails.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Recompute every mesh (default: a rerun reuses the rows of unchanged meshes).
    #[arg(long)]
    pub(crate) fresh: bool,
    /// Write what is done every SECONDS while the run goes on, so a run killed outright (the
    /// out-of-memory killer, SIGKILL) resumes from there; 0 writes only at the end.
    #[arg(long, value_name = "SECONDS", default_value = "600", value_parser = parse_checkpoint_every)]
    pub(crate) checkpoint_every: CheckpointEvery,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    pub(crate) jobs: Option<usize>,
    /// Reject meshes with more triangles than this (default: no limit).
    #[arg(long)]
    pub(crate) max_faces: Option<usize>,
    /// Surface points for D2 (all pairs are used unless --d2-pairs is given).
    #[arg(long, default_value_t = 2048)]
    pub(crate) d2_points: usize,
    /// Random point pairs for D2 (default: all pairs).
    #[arg(long)]
    pub(crate) d2_pairs: Option<usize>,
    /// Surface points at which the SDF is measured.
    #[arg(long, default_value_t = 512)]
    pub(crate) sdf_points: usize,
    /// Rays per SDF point.
    #[arg(long, default_value_t = 30)]
    pub(crate) sdf_rays: usize,
    /// Leave out the spherical-harmonics descriptor (columns sh_rRR_lLL, on by default).
    #[arg(long, conflicts_with_all = ["sh", "sh_shells", "sh_degrees", "sh_points"])]
    pub(crate) no_sh: bool,
    /// The spherical-harmonics columns, which are on by default (kept for scripts that ask).
    #[arg(long, hide = true)]
    pub(crate) sh: bool,
    /// Concentric shells of the spherical-harmonics descriptor (default: 8).
    #[arg(long)]
    pub(crate) sh_shells: Option<usize>,
    /// Harmonic degrees per shell, 0 to N-1 (default: 12).
    #[arg(long)]
    pub(crate) sh_degrees: Option<usize>,
    /// Surface points of the spherical-harmonics descriptor (default: 8192).
    #[arg(long)]
    pub(crate) sh_points: Option<usize>,
    /// Take only shard I of N, e.g. 0/4; none: the whole dataset (default: from Slurm or Kubernetes, else all).
    #[arg(long, value_parser = parse_shard)]
    pub(crate) shard: Option<ShardArg>,
    /// Number of shards, for an index from JOB_COMPLETION_INDEX (Kubernetes).
    #[arg(long)]
    pub(crate) shards: Option<u32>,
    /// How the feature table is written (train reads either).
    #[arg(long, value_enum, default_value_t = shapeclf::features::TableFormat::Csv)]
    pub(crate) format: shapeclf::features::TableFormat,
}

#[derive(Args)]
pub(crate) struct SynthArgs {
    /// Folder to write ROOT/<class>/{train,test}/ into.
    pub(crate) dir: PathBuf,
    /// Shapes per class (one in five goes to test).
    #[arg(long, default_value_t = 40)]
    pub(crate) per_class: usize,
    /// Seed for every shape's proportions and tessellation.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Split every triangle into four this many times (for benchmarks at realistic sizes).
    #[arg(long, default_value_t = 0)]
    pub(crate) subdivide: u32,
    /// File formats, comma-separated, cycled through shape by shape (default: off,obj,stl,ply).
    #[arg(
        long,
        value_delimiter = ',',
        hide_default_value = true,
        value_name = "FORMATS",
        default_values_t = synth::DEFAULT_FORMATS.map(String::from),
        value_parser = synth::WRITABLE_FORMATS
    )]
    pub(crate) formats: Vec<String>,
    /// Twelve classes in arbitrary poses, scaled, roughened and holed: as hard as real data.
    #[arg(long)]
    pub(crate) realistic: bool,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Working folder: meshes/demo, features/ and models/ go inside it.
    #[arg(long, default_value = "demo")]
    pub(crate) dir: PathBuf,
    /// Shapes per class.
    #[arg(long, default_value_t = 40)]
    pub(crate) per_class: usize,
    /// Seed for data, features and training.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
}

/// The settings `a` gives, as the library states them.
pub(crate) fn train_settings(a: &TrainArgs) -> TrainSettings {
    TrainSettings {
        model: a.model,
        backend: a.backend,
        seed: a.seed,
        epochs: a.epochs,
        lr: a.lr,
        batch_size: a.batch_size,
        weight_decay: a.weight_decay,
        optimizer: a.optimizer,
        hidden: a.hidden.clone(),
        activation: a.activation,
        dropout: a.dropout,
        val_fraction: a.val_fraction,
        patience: a.patience,
        positive: a.positive.clone(),
        class_weight: a.class_weight,
        channels: a.channels.clone(),
        schedule: a.schedule,
        views_in_memory: a.views_in_memory,
        repeats: a.repeats,
        resume: a.resume,
        histograms: a.histograms,
        branch_dropout: a.branch_dropout,
        flip: !a.no_flip,
        jitter: a.jitter,
        train_views: a.train_views,
    }
}

/// The flags `a` gives that its model does not use, each with why (warned, not refused).
pub(crate) fn unused_flags(a: &TrainArgs) -> Vec<String> {
    // Every flag is its setting's name in kebab case (`no_flip` is `--no-flip`).
    train_settings(a).unused(|n| format!("--{}", n.replace('_', "-")))
}

/// `--shard`: one shard, or `none` for the whole dataset whatever a job scheduler's variables
/// say (a script run as one task of an array for other reasons).
#[derive(Clone, Copy, Debug)]
pub(crate) enum ShardArg {
    /// `--shard none`.
    Whole,
    /// `--shard I/N`.
    Part(shapeclf::shard::Shard),
}

/// `--checkpoint-every`: an interval, or none (0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointEvery(pub(crate) Option<std::time::Duration>);

fn parse_checkpoint_every(s: &str) -> Result<CheckpointEvery, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    shapeclf::extract::checkpoint_interval(secs).map(CheckpointEvery)
}

fn parse_shard(s: &str) -> Result<ShardArg, String> {
    if s == "none" {
        Ok(ShardArg::Whole)
    } else {
        shapeclf::shard::Shard::parse(s).map(ShardArg::Part)
    }
}
