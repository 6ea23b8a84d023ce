//! How a wait shows while it lasts. On a terminal (and unless `--no-progress`
//! or `-q`): one line per wait that redraws in place (`Waiting snapshot
//! `snap-1` completed: 42% (3m of 10m)`), several at once under `parallel`,
//! cleared when the wait ends (the run then prints its one `Waited` line).
//! Without a terminal (a log, CI): a line when the wait's state changes, or
//! when 30 s of wall time passed since the last one, never one per look.
//!
//! Status lines printed while bars are drawn go above them ([`suspend`]).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{clean, Printer, Tone};

/// How often a log gets a line about a wait whose state has not changed.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Every bar drawn, so that lines printed meanwhile go above them.
fn bars() -> &'static indicatif::MultiProgress {
    static BARS: OnceLock<indicatif::MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()))
}

/// `bar`, drawn with the others.
pub(super) fn add(bar: indicatif::ProgressBar) -> indicatif::ProgressBar {
    bars().add(bar)
}

/// Runs `write` with every bar lifted, when bars can be drawn at all.
pub(super) fn suspend<R>(drawing: bool, write: impl FnOnce() -> R) -> R {
    if drawing {
        bars().suspend(write)
    } else {
        write()
    }
}

/// What one wait has shown so far.
#[derive(Debug)]
pub(crate) struct WaitLine {
    printer: Printer,
    what: String,
    timeout: Duration,
    bar: Option<indicatif::ProgressBar>,
    /// The state of the last line a log got, and when.
    logged: Option<(String, Instant)>,
    details: Vec<String>,
}

impl WaitLine {
    pub(super) fn new(printer: Printer, what: &str, timeout: Duration) -> Self {
        let bar = printer.draws_progress().then(|| {
            let bar = bars().add(indicatif::ProgressBar::new_spinner());
            let style = indicatif::ProgressStyle::with_template("{prefix:>12.green.bold} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix("Waiting");
            bar.set_message(clean(what));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self { printer, what: what.to_string(), timeout, bar, logged: None, details: Vec::new() }
    }

    /// What the last look saw, `waited` into the wait (on the run's clock).
    /// `state` is the part of it whose change is news to a log (`pending`
    /// for a snapshot at 42%); `details` go out with `-v` when they change.
    pub(crate) fn update(&mut self, progress: Option<&str>, state: Option<&str>, details: &[String], waited: Duration) {
        if self.details != details {
            for line in details {
                self.printer.detail(line);
            }
            self.details = details.to_vec();
        }
        let Some(progress) = progress else { return };
        if let Some(bar) = &self.bar {
            let of = crate::duration::format(self.timeout);
            bar.set_message(clean(&format!("{}: {progress} ({} of {of})", self.what, crate::duration::format(waited))));
            return;
        }
        let state = state.unwrap_or(progress);
        let news = match &self.logged {
            None => true,
            Some((last, at)) => last != state || at.elapsed() >= HEARTBEAT,
        };
        if news {
            self.printer.status(Tone::Progress, "Waiting", &format!("{}: {progress}", self.what));
            self.logged = Some((state.to_string(), Instant::now()));
        }
    }
}

impl Drop for WaitLine {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            bars().remove(&bar);
        }
    }
}

impl Printer {
    /// Whether progress is drawn as redrawing lines (a terminal, allowed).
    pub(crate) fn draws_progress(self) -> bool {
        !self.quiet && self.progress && self.stderr_is_terminal()
    }

    /// The line of one wait for `what`, at most `timeout`.
    pub(crate) fn wait_line(self, what: &str, timeout: Duration) -> WaitLine {
        WaitLine::new(self, what, timeout)
    }
}
