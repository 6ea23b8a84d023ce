//! What a rehearsal forecasts: how long each step took on the run's clock,
//! and the windows a runbook marks (`window("downtime", || ..)`), from the
//! first step started in one to the last step finished in it. On a world
//! the clock is virtual and its timings are the site's, so these numbers
//! are what the maintenance window will take.
//!
//! A leaf: it keeps plain data for the run to fill and the printer to show,
//! and imports nothing of hubops.

use std::time::Duration;

use jiff::Timestamp;

/// The time one step took on the run's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepTime {
    /// Its 1-based position.
    pub(crate) index: usize,
    /// Its name.
    pub(crate) name: String,
    /// How long it took on the run's clock.
    pub(crate) took: Duration,
}

/// A window a runbook marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    /// Its name (`downtime`).
    pub(crate) name: String,
    /// When it opened, on the run's clock.
    pub(crate) opened: Timestamp,
    /// When it closed (`None`: still open).
    pub(crate) closed: Option<Timestamp>,
    /// The first step started inside it.
    pub(crate) from: Option<String>,
    /// The last step finished inside it.
    pub(crate) to: Option<String>,
    /// Whether the run failed inside it.
    pub(crate) failed: bool,
}

impl Window {
    /// How long it was open (until `now` for one still open).
    pub(crate) fn length(&self, now: Timestamp) -> Duration {
        let end = self.closed.unwrap_or(now);
        Duration::try_from(end.duration_since(self.opened)).unwrap_or_default()
    }
}

/// Why a window cannot be opened or closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    /// The name was used for a window before in this run.
    #[error("window `{0}` is opened twice; window names must be unique within a run")]
    Twice(String),
    /// `close_window` of a window that is not open.
    #[error("window `{0}` is not open (open it with `open_window`, or use `window(name, || ..)`)")]
    NotOpen(String),
}

/// Steps and windows of one run, as they happen.
#[derive(Debug, Default)]
pub(crate) struct Forecast {
    steps: Vec<StepTime>,
    windows: Vec<Window>,
}

impl Forecast {
    /// A step started: the first step of every open window that has none.
    pub(crate) fn step_started(&mut self, name: &str) {
        for w in self.windows.iter_mut().filter(|w| w.closed.is_none() && w.from.is_none()) {
            w.from = Some(name.to_string());
        }
    }

    /// A step ended: its time is kept, and a step that succeeded is the
    /// last one so far of every open window.
    pub(crate) fn step_ended(&mut self, index: usize, name: &str, took: Duration, ok: bool) {
        self.steps.push(StepTime { index, name: name.to_string(), took });
        if ok {
            for w in self.windows.iter_mut().filter(|w| w.closed.is_none()) {
                w.to = Some(name.to_string());
            }
        }
    }

    /// Opens window `name` at `now`.
    pub(crate) fn open(&mut self, name: &str, now: Timestamp) -> Result<(), Error> {
        if self.windows.iter().any(|w| w.name == name) {
            return Err(Error::Twice(name.to_string()));
        }
        self.windows.push(Window {
            name: name.to_string(),
            opened: now,
            closed: None,
            from: None,
            to: None,
            failed: false,
        });
        Ok(())
    }

    /// Closes window `name` at `now`; `failed`: the run failed inside it.
    pub(crate) fn close(&mut self, name: &str, now: Timestamp, failed: bool) -> Result<Window, Error> {
        let w = self
            .windows
            .iter_mut()
            .find(|w| w.name == name && w.closed.is_none())
            .ok_or_else(|| Error::NotOpen(name.to_string()))?;
        w.closed = Some(now);
        w.failed = failed;
        Ok(w.clone())
    }

    /// The steps, in the order they ended.
    pub(crate) fn steps(&self) -> &[StepTime] {
        &self.steps
    }

    /// The windows, in the order they opened.
    pub(crate) fn windows(&self) -> &[Window] {
        &self.windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    #[test]
    fn a_window_runs_from_its_first_step_to_its_last() {
        let mut f = Forecast::default();
        f.step_started("before");
        f.step_ended(1, "before", Duration::ZERO, true);
        f.open("downtime", at(0)).unwrap();
        f.step_started("take the hub down");
        f.step_ended(2, "take the hub down", Duration::from_mins(2), true);
        f.step_started("DNS answers the new address everywhere");
        f.step_ended(3, "DNS answers the new address everywhere", Duration::from_mins(12), true);
        let w = f.close("downtime", at(14), false).unwrap();
        f.step_started("after");
        f.step_ended(4, "after", Duration::ZERO, true);
        assert_eq!(w.length(at(99)), Duration::from_mins(14));
        assert_eq!(w.from.as_deref(), Some("take the hub down"));
        assert_eq!(w.to.as_deref(), Some("DNS answers the new address everywhere"));
        assert_eq!(f.steps().len(), 4);
        assert_eq!(f.open("downtime", at(20)), Err(Error::Twice("downtime".into())));
        assert_eq!(f.close("other", at(20), false), Err(Error::NotOpen("other".into())));
    }

    #[test]
    fn a_failed_step_is_not_the_last_step_of_a_window() {
        let mut f = Forecast::default();
        f.open("w", at(0)).unwrap();
        f.step_started("a");
        f.step_ended(1, "a", Duration::from_mins(1), true);
        f.step_started("b");
        f.step_ended(2, "b", Duration::from_mins(1), false);
        let w = f.close("w", at(2), true).unwrap();
        assert_eq!((w.from.as_deref(), w.to.as_deref(), w.failed), (Some("a"), Some("a"), true));
    }
}
