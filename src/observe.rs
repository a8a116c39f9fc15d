//! How the library tells its caller what is happening without printing anything itself:
//! progress, per-epoch numbers, skipped inputs and warnings go to an [`Observer`] the caller
//! supplies. The command line draws bars and lines from them; a test can collect them; a Rust
//! user who wants none passes [`Silent`].

use serde::{Deserialize, Serialize};

/// One epoch's numbers, as training reports them (an event's payload, kept in a model's
/// report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Accuracy on the training rows at the end of the epoch.
    pub train_accuracy: f64,
    /// Accuracy on the validation rows (absent without a validation split).
    pub val_accuracy: Option<f64>,
    /// Loss on the validation rows.
    pub val_loss: Option<f64>,
}

/// Something the library has to say while it works.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A stage begins with `total` steps: `meshes` to process, `epochs` to train (the
    /// `stage` names the unit).
    Begin {
        /// What is counted (`meshes`, or the model name for epochs).
        stage: &'a str,
        /// Steps expected.
        total: u64,
    },
    /// One step of the current stage finished (a mesh processed).
    Step,
    /// A batch of training finished: `done` of the `total` batches of `epoch`.
    Batch {
        /// The epoch, from 1.
        epoch: usize,
        /// Batches of the epoch trained so far.
        done: usize,
        /// Batches in an epoch.
        total: usize,
    },
    /// An epoch of training finished, with its numbers.
    Epoch(&'a EpochStats),
    /// The current stage ended.
    End,
    /// One input could not be used and the work goes on without it.
    Skipped {
        /// The input (a mesh file, a table row).
        path: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// Something the user should know that does not stop the work.
    Warning(&'a str),
    /// What is being done, for a log.
    Info(&'a str),
}

/// Receives [`Event`]s; called from worker threads, so it must be `Sync`.
pub trait Observer: Sync {
    /// Handles one event.
    fn event(&self, e: Event<'_>);
    /// Whether the caller asks the work to stop (a Ctrl-C in Python); once true it must stay
    /// true. Training asks after every batch and ends with [`crate::Error::Interrupted`],
    /// keeping its last checkpoint for a resumed run; the default never stops.
    fn stopped(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}

impl<F: Fn(Event<'_>) + Sync> Observer for F {
    fn event(&self, e: Event<'_>) {
        self(e)
    }
}
