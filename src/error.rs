//! The library's error for whole commands ([`crate::workflow`], [`crate::inference`]): one
//! variant per way a run can fail, each saying what to do. Lower modules keep their own typed
//! errors, which this one wraps.

use std::path::PathBuf;

/// Why a command's work could not be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Settings that cannot go together, or a run that cannot be made of them.
    #[error("{0}")]
    Config(String),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(#[from] crate::setting::InvalidSetting),
    /// The feature folder cannot be read.
    #[error("reading features from {dir}: {source}")]
    Features {
        /// The feature folder.
        dir: PathBuf,
        /// Why.
        source: crate::features::FeatureError,
    },
    /// A features run failed as a whole.
    #[error(transparent)]
    Extract(#[from] crate::extract::RunError),
    /// The table cannot be trained on.
    #[error(transparent)]
    Data(#[from] crate::train::DataError),
    /// No usable device.
    #[error(transparent)]
    Device(#[from] crate::models::DeviceError),
    /// The output folder may not be replaced.
    #[error(transparent)]
    Replace(#[from] crate::model_dir::ReplaceError),
    /// A new model folder could not be swapped in.
    #[error(transparent)]
    Commit(#[from] crate::model_dir::CommitError),
    /// A model folder is missing or broken.
    #[error(transparent)]
    Model(#[from] crate::model_dir::ModelError),
    /// The CNN was asked to train on a feature folder without views.
    #[error(
        "{0} has no depth views (it was made with --no-views): rerun `shapeclf features` without --no-views to train the CNN"
    )]
    NoViews(PathBuf),
    /// A view image is not the one the feature folder's manifest was written with (a later
    /// run rewrote it without committing), or changed while training read it.
    #[error("{0}")]
    StaleViews(String),
    /// A picture of a model folder could not be drawn or written: the folder is not replaced.
    #[error("cannot write {what}: {msg}; no model was written (a previous model folder is kept)")]
    Drawing {
        /// The picture.
        what: &'static str,
        /// Why.
        msg: String,
    },
    /// Every view image of one split is unreadable.
    #[error("no readable views for the {split} split under {dir}")]
    NoReadableViews {
        /// `train` or `test`.
        split: &'static str,
        /// The feature folder.
        dir: PathBuf,
    },
    /// `--resume` found an interrupted training that was run with other settings or features.
    #[error(
        "cannot resume the interrupted training in {dir}: {why}. Rerun with the flags it was started with to resume it, or without --resume to start over"
    )]
    Resume {
        /// The interrupted run's staging folder.
        dir: PathBuf,
        /// What differs.
        why: String,
    },
    /// The caller stopped training ([`crate::observe::Observer::stopped`]): no model is
    /// written, and the last checkpoint is kept for a resumed run.
    #[error(
        "training interrupted: no model written; a run with the same settings and resume continues from the last checkpoint"
    )]
    Interrupted,
    /// The loss became NaN or infinite: no model is written.
    #[error(
        "training diverged: the loss became NaN or infinite in epoch {epoch} (learning rate {lr}); no model written. Try a smaller learning rate (--lr, or lr= in Python)"
    )]
    Diverged {
        /// The epoch.
        epoch: usize,
        /// The learning rate used.
        lr: f64,
    },
    /// No model folder under a models folder could be read.
    #[error(
        "no readable trained models under {dir} (expected <name>/report.json; run `shapeclf train` first){why}"
    )]
    NoModels {
        /// The models folder.
        dir: PathBuf,
        /// `; skipped ...` naming each unreadable folder, or empty.
        why: String,
    },
    /// The models of one folder were tested on different datasets or tasks.
    #[error(
        "these models were tested on different datasets or tasks, which one ranking would mix: {0}. Put each group's model folders in a folder of its own and compare each"
    )]
    MixedTasks(String),
    /// A model's recorded descriptor parameters do not produce the columns it was trained on.
    #[error(
        "{0}: the model was trained on columns that its recorded descriptor parameters do not produce; retrain it"
    )]
    ColumnMismatch(PathBuf),
    /// Reading or writing a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// `reading`, `writing`, ...
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error on `path` while `what` (`reading`, `writing`).
    pub fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}

/// The library's result type for whole commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;
