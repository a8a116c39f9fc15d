//! The terminal side of the library's events: progress bars and lines on stderr.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use shapeclf::observe::{Event, Observer};

use crate::out::errln;

/// The terminal side of the library's events: a progress bar per stage on an interactive
/// stderr; elsewhere (a log under nohup or Slurm) plain progress lines with rate and ETA, one
/// per epoch and at least every [`LOG_EVERY`] while meshes are processed; and lines for
/// skipped inputs, warnings and notes.
pub(crate) struct Terminal {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    log: std::sync::Mutex<Option<Stage>>,
    /// The training stage's bar: it counts batches, and says which epoch.
    training: std::sync::Mutex<Training>,
    interactive: bool,
}

/// What the training bar shows besides its position.
#[derive(Default)]
struct Training {
    /// Epochs of the run.
    epochs: u64,
    /// Batches per epoch (known from the first batch).
    batches: u64,
    /// The last epoch's scores.
    scores: String,
}

/// How often a log gets a progress line while meshes are processed.
const LOG_EVERY: Duration = Duration::from_secs(30);
/// The shortest gap between two epochs' lines in a log, but for the first and the last.
const EPOCH_LINE_EVERY: Duration = Duration::from_secs(1);

/// The stage a non-interactive run is in, for its progress lines.
struct Stage {
    name: String,
    total: u64,
    done: u64,
    /// Steps done before this process began (the epochs a resumed training restored).
    before: Option<u64>,
    start: Instant,
    last_line: Instant,
}

/// What one step of a counted stage is: a cross-validation fit, or a mesh.
fn unit(stage: &str) -> &'static str {
    if stage == "cross-validation" {
        "fit"
    } else {
        "mesh"
    }
}

impl Stage {
    /// `name: done/total (percent), rate, elapsed, eta`.
    fn line(&self, unit: &str) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let here = self.done - self.before.unwrap_or(0).min(self.done);
        let rate = here as f64 / secs.max(1e-9);
        let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9);
        let pct = 100.0 * self.done as f64 / self.total.max(1) as f64;
        let rate = if unit == "epoch" {
            format!("{:.1} s/{unit}", secs / (here.max(1) as f64))
        } else {
            format!(
                "{rate:.1} {}/s",
                match unit {
                    "mesh" => "meshes",
                    "fit" => "fits",
                    other => other,
                }
            )
        };
        let eta = if here == 0 || self.done >= self.total {
            String::new()
        } else {
            format!(", eta {}", human(left))
        };
        let counted = if unit == "epoch" { "epoch " } else { "" };
        format!(
            "{}: {counted}{}/{} ({pct:.0}%), {rate}, {} elapsed{eta}",
            self.name,
            self.done,
            self.total,
            human(secs)
        )
    }
}

/// Seconds as `42 s`, `3 min 20 s` or `1 h 05 min`.
fn human(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

impl Terminal {
    pub(crate) fn new() -> Terminal {
        Terminal {
            bar: std::sync::Mutex::new(None),
            log: std::sync::Mutex::new(None),
            training: std::sync::Mutex::new(Training::default()),
            interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Option<Stage>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Prints a line on stderr without tearing the bar (dropped when stderr is closed).
    fn line(&self, text: &str) {
        match self.bar() {
            Some(pb) => pb.suspend(|| errln!("{text}")),
            None => errln!("{text}"),
        }
    }
}

impl Observer for Terminal {
    fn event(&self, e: Event<'_>) {
        match e {
            Event::Begin { stage, total } => {
                if !self.interactive {
                    let now = Instant::now();
                    *self.log() = Some(Stage {
                        name: stage.to_string(),
                        total,
                        done: 0,
                        before: None,
                        start: now,
                        last_line: now,
                    });
                    return;
                }
                let pb = ProgressBar::new(total);
                let template = if stage == "meshes" {
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} meshes  {per_sec}  eta {eta}"
                } else if stage == "cross-validation" {
                    "{spinner} {prefix} [{elapsed_precise}] {wide_bar} fit {pos}/{len}  eta {eta}"
                } else {
                    // Training: the bar counts batches (so it moves within an epoch); the
                    // message says which epoch and how the last one scored.
                    *self.training.lock().unwrap_or_else(|e| e.into_inner()) = Training {
                        epochs: total,
                        ..Training::default()
                    };
                    "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {msg}  eta {eta}"
                };
                pb.set_style(ProgressStyle::with_template(template).expect("static template"));
                pb.set_prefix(stage.to_string());
                *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
            }
            Event::Step => {
                if let Some(pb) = self.bar() {
                    pb.inc(1);
                }
                let mut log = self.log();
                if let Some(st) = log.as_mut() {
                    st.done += 1;
                    if st.last_line.elapsed() >= LOG_EVERY {
                        st.last_line = Instant::now();
                        errln!("{}", st.line(unit(&st.name)));
                    }
                }
            }
            Event::Batch { epoch, done, total } => {
                if let Some(pb) = self.bar() {
                    let mut t = self.training.lock().unwrap_or_else(|e| e.into_inner());
                    let (epoch, done, total) = (epoch as u64, done as u64, total as u64);
                    if t.batches != total {
                        t.batches = total;
                        pb.set_length(t.epochs * total);
                    }
                    pb.set_position((epoch - 1) * total + done);
                    pb.set_message(format!("epoch {epoch}/{}{}", t.epochs, t.scores));
                }
            }
            Event::Epoch(s) => {
                if let Some(st) = self.log().as_mut() {
                    let first = st.before.is_none();
                    st.before.get_or_insert(s.epoch as u64 - 1);
                    st.done = s.epoch as u64;
                    // Every epoch that took a second or more has its line; faster ones (a
                    // logistic regression runs 300 in a fraction of a second) one a second, and
                    // always the first and the last.
                    let last = s.epoch as u64 >= st.total;
                    if !(first || last || st.last_line.elapsed() >= EPOCH_LINE_EVERY) {
                        return;
                    }
                    st.last_line = Instant::now();
                    let val = s
                        .val_accuracy
                        .map(|v| format!(", val {v:.3}"))
                        .unwrap_or_default();
                    errln!(
                        "{}; loss {:.4}, train {:.3}{val}",
                        st.line("epoch"),
                        s.loss,
                        s.train_accuracy
                    );
                }
                if let Some(pb) = self.bar() {
                    let mut t = self.training.lock().unwrap_or_else(|e| e.into_inner());
                    let val = s
                        .val_accuracy
                        .map(|v| format!(" val {v:.3}"))
                        .unwrap_or_default();
                    t.scores = format!("  loss {:.4} train {:.3}{val}", s.loss, s.train_accuracy);
                    let epoch = s.epoch as u64;
                    if t.batches > 0 {
                        pb.set_position(epoch * t.batches);
                    }
                    pb.set_message(format!("epoch {epoch}/{}{}", t.epochs, t.scores));
                }
            }
            Event::End => {
                if let Some(pb) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    pb.finish_and_clear();
                }
                // A log gets the stage's last count (an epoch stage has just had its line).
                if let Some(st) = self.log().take()
                    && (st.name == "meshes" || st.name == "cross-validation")
                {
                    errln!("{}", st.line(unit(&st.name)));
                }
            }
            Event::Skipped { path, reason } => self.line(&format!(
                "{}: {}",
                shapeclf::text::escape_controls(path),
                shapeclf::text::escape_controls(reason)
            )),
            Event::Warning(w) => self.line(&format!("warning: {w}")),
            Event::Info(i) => self.line(i),
        }
    }
}
