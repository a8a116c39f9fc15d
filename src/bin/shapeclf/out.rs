//! Every line the command line prints goes through here, so that a closed stream
//! (`shapeclf ... | head`, `2>&1 | head -1`) never panics the run nor changes its exit status,
//! and text from files (names, class names, errors) cannot drive the terminal.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe fails with `BrokenPipe` (where `println!`
//! and `eprintln!` panic). Lines for a closed stream are dropped from then on; the work goes on.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use shapeclf::text::escape_controls_but;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// A line as it may reach a terminal: control characters other than its own line breaks and
/// tabs escaped.
fn shown(line: &str) -> String {
    let mut s = escape_controls_but(line, &['\n', '\t']).into_owned();
    s.push('\n');
    s
}

/// Writes one line (its control characters escaped) to stdout. A closed stdout drops this line
/// and every later one and is not an error: what the run computed, and its exit status, do not
/// depend on who reads. Other failures (a full disk behind `>`) are errors.
pub(crate) fn stdout_line(line: &str) -> std::io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut o = std::io::stdout().lock();
    match o.write_all(shown(line).as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => r,
    }
}

/// Writes one line (its control characters escaped) to stderr. Never fails: progress and
/// messages that cannot be shown are dropped.
pub(crate) fn stderr_line(line: &str) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut e = std::io::stderr().lock();
    if let Err(err) = e.write_all(shown(line).as_bytes())
        && err.kind() == ErrorKind::BrokenPipe
    {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// `println!` through [`stdout_line`]: returns `std::io::Result<()>`.
macro_rules! outln {
    () => { $crate::out::stdout_line("") };
    ($($t:tt)*) => { $crate::out::stdout_line(&format!($($t)*)) };
}

/// `eprintln!` through [`stderr_line`]: never fails, never panics.
macro_rules! errln {
    ($($t:tt)*) => { $crate::out::stderr_line(&format!($($t)*)) };
}

pub(crate) use {errln, outln};
