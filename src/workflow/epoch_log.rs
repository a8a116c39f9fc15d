//! `epochs.csv`: each epoch's numbers appended as they come, so a long run can be followed
//! (`tail -f`, or pandas) while it trains, in the folder the model is being built in; the
//! finished model folder keeps the whole log.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::observe::{Event, Observer};

/// The log's file name, inside the model folder.
pub const EPOCHS_FILE: &str = "epochs.csv";

const HEADER: &str = "seed,epoch,loss,train_accuracy,val_accuracy,val_loss,seconds\n";

/// An [`Observer`] that appends every epoch to `epochs.csv` before passing each event on.
pub(crate) struct EpochLog<'a> {
    inner: &'a dyn Observer,
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// The file being appended to; `None` once a write failed (the log in memory stays whole).
    file: Option<File>,
    /// Every line so far, for the finished folder's copy.
    lines: String,
    seed: u64,
    start: Instant,
}

impl<'a> EpochLog<'a> {
    /// Starts the log in `dir` (its header written at once); events go on to `inner`.
    pub(crate) fn create(dir: &Path, inner: &'a dyn Observer) -> EpochLog<'a> {
        Self::with_lines(dir, inner, String::new())
    }

    /// Continues the log an interrupted run left in `dir`: its lines for which `keep(seed,
    /// epoch)` holds (the epochs its checkpoints restore) are kept, the others dropped, since
    /// those epochs are trained again.
    pub(crate) fn resume(
        dir: &Path,
        inner: &'a dyn Observer,
        keep: impl Fn(u64, usize) -> bool,
    ) -> EpochLog<'a> {
        let old = std::fs::read_to_string(dir.join(EPOCHS_FILE)).unwrap_or_default();
        let mut lines = String::new();
        for line in old.lines().skip(1) {
            let mut f = line.split(',');
            if let (Some(Ok(seed)), Some(Ok(epoch))) = (
                f.next().map(str::parse::<u64>),
                f.next().map(str::parse::<usize>),
            ) && keep(seed, epoch)
            {
                lines.push_str(line);
                lines.push('\n');
            }
        }
        Self::with_lines(dir, inner, lines)
    }

    /// The log in `dir`, its file written afresh with the header and `lines`.
    fn with_lines(dir: &Path, inner: &'a dyn Observer, lines: String) -> EpochLog<'a> {
        let path = dir.join(EPOCHS_FILE);
        // Replaced whole, then appended to: a kill while a resumed run rewrites the log leaves
        // the previous log, never a truncated one the next resume would lose epochs from.
        let file = crate::io::write_bytes_atomic(&path, format!("{HEADER}{lines}").as_bytes())
            .and_then(|()| std::fs::OpenOptions::new().append(true).open(&path))
            .ok();
        EpochLog {
            inner,
            path,
            state: Mutex::new(State {
                file,
                lines,
                seed: 0,
                start: Instant::now(),
            }),
        }
    }

    /// Where the log is being written.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The seed of the run whose epochs come next (a `--repeats` run trains several).
    pub(crate) fn set_seed(&self, seed: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.seed = seed;
        s.start = Instant::now();
    }

    /// Like [`EpochLog::set_seed`] for a run resumed after `seconds` of training, so that its
    /// epochs' times go on from there.
    pub(crate) fn set_seed_resumed(&self, seed: u64, seconds: f64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.seed = seed;
        let now = Instant::now();
        s.start = now
            .checked_sub(std::time::Duration::from_secs_f64(seconds.max(0.0)))
            .unwrap_or(now);
    }

    /// The whole log: header and every epoch so far.
    pub(crate) fn csv(&self) -> String {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        format!("{HEADER}{}", s.lines)
    }
}

impl Observer for EpochLog<'_> {
    fn event(&self, e: Event<'_>) {
        if let Event::Epoch(st) = &e {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            let line = format!(
                "{},{},{},{},{},{},{:.3}\n",
                s.seed,
                st.epoch,
                st.loss,
                st.train_accuracy,
                opt(st.val_accuracy),
                opt(st.val_loss),
                s.start.elapsed().as_secs_f64()
            );
            s.lines.push_str(&line);
            // A failed append (a full disk) only stops the live copy.
            if let Some(f) = &mut s.file
                && f.write_all(line.as_bytes())
                    .and_then(|()| f.flush())
                    .is_err()
            {
                s.file = None;
            }
        }
        self.inner.event(e);
    }
    fn stopped(&self) -> bool {
        self.inner.stopped()
    }
}
