//! The terminal side of the library's events: progress bars and lines on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use shapeclf::observe::{Event, Observer};

use crate::out::errln;

/// The terminal side of the library's events: a progress bar per stage on an interactive
/// stderr, and lines for skipped inputs, warnings and notes.
pub(crate) struct Terminal {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    interactive: bool,
}

impl Terminal {
    pub(crate) fn new() -> Terminal {
        Terminal {
            bar: std::sync::Mutex::new(None),
            interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
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
