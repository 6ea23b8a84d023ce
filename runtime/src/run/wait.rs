//! The one path every wait takes: `sleep`, Kubernetes conditions, EC2 and
//! Route53 waiters, DNS propagation, HTTP expectations, Argo CD syncs. A
//! binding says what it waits for and how to look ([`Poll`]); the run does
//! the rest the same way for all of them: it journals the `wait` event,
//! prints `Waiting` / `Would wait` / `Waited`, uses the run's clock (virtual
//! on worlds and in dry runs), enforces the timeout, stops on Ctrl-C, and in
//! a dry run looks once and reports what it would wait for instead of
//! waiting (nothing was changed, so waiting could not help).

use std::time::Duration;

use super::Run;
use crate::effects::{Failure, Mode};
use crate::journal::Event;
use crate::output::Tone;
use crate::script::{script_error, ScriptResult};

/// What a binding waits for.
#[derive(Debug, Clone)]
pub struct Wait {
    /// What is waited for, in progress lines: `snapshot `snap-1` completed`.
    pub what: String,
    /// How a sentence says it: `for pod daskhub/hub-0 to be Ready`.
    pub label: String,
    /// The journal's `what`.
    pub journal: String,
    /// The longest wait.
    pub timeout: Duration,
    /// Say "Waiting {label} (timeout ..)" before waiting.
    pub announce: bool,
    /// What is waited on was only planned (a dry run made nothing to wait
    /// for): report "would wait" without looking.
    pub planned: bool,
}

impl Wait {
    /// A wait for `what`, at most `timeout`; label and journal are `what`.
    #[must_use]
    pub fn new(what: impl Into<String>, timeout: Duration) -> Self {
        let what = what.into();
        Self { label: what.clone(), journal: what.clone(), what, timeout, announce: false, planned: false }
    }

    /// How a sentence says it (`for pod x to be Ready`).
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The journal's `what`.
    #[must_use]
    pub fn journal(mut self, journal: impl Into<String>) -> Self {
        self.journal = journal.into();
        self
    }

    /// Announce the wait and its timeout before waiting.
    #[must_use]
    pub fn announce(mut self) -> Self {
        self.announce = true;
        self
    }

    /// Whether what is waited on was only planned.
    #[must_use]
    pub fn planned(mut self, planned: bool) -> Self {
        self.planned = planned;
        self
    }
}

/// What one look saw.
#[derive(Debug)]
pub enum Poll<T> {
    /// The wait is over.
    Done(T),
    /// Not yet.
    Pending {
        /// A short status for progress lines (`42%`, `1/2 servers agree`).
        progress: Option<String>,
        /// The part of `progress` whose change is news to a log (`pending`
        /// for a snapshot at 42%); `None`: all of it.
        state: Option<String>,
        /// Lines shown with `-v` when they change (which servers disagree).
        details: Vec<String>,
        /// When to look again; `None` when the look itself waited (a watch).
        retry: Option<Duration>,
    },
}

impl<T> Poll<T> {
    /// Not yet; look again after `retry`.
    pub fn pending(progress: impl Into<Option<String>>, retry: Duration) -> Self {
        Self::Pending { progress: progress.into(), state: None, details: Vec::new(), retry: Some(retry) }
    }

    /// Not yet, and the look waited itself (a watch) when `retry` is `None`.
    pub fn waiting(progress: impl Into<Option<String>>, retry: Option<Duration>) -> Self {
        Self::Pending { progress: progress.into(), state: None, details: Vec::new(), retry }
    }

    /// Which part of the progress is news when it changes: a log gets a
    /// line when the state changes (or every 30 s), not when a percentage
    /// moves.
    #[must_use]
    pub fn state(mut self, new: impl Into<String>) -> Self {
        if let Self::Pending { state, .. } = &mut self {
            *state = Some(new.into());
        }
        self
    }

    /// Lines for `-v`, shown when they change.
    #[must_use]
    pub fn details(mut self, lines: Vec<String>) -> Self {
        if let Self::Pending { details, .. } = &mut self {
            *details = lines;
        }
        self
    }
}

/// How a wait ended.
#[derive(Debug)]
pub enum Waited<T> {
    /// What was waited for happened.
    Done {
        /// The last look's answer.
        value: T,
        /// How long it took on the run's clock.
        waited: Duration,
    },
    /// A dry run: it would have waited (the last look's progress, if any).
    WouldWait {
        /// What the only look saw.
        progress: Option<String>,
    },
}

/// Why a wait failed.
#[derive(Debug)]
pub enum WaitError<E> {
    /// A look failed.
    Failed(E),
    /// The timeout passed.
    Timeout {
        /// How long was waited.
        waited: Duration,
        /// What the last look saw.
        progress: Option<String>,
    },
    /// Ctrl-C.
    Interrupted,
    /// The run must stop: waiting would take it past its virtual-time limit.
    Stopped(String),
}

/// How often to look when a poll gives no time and did not wait itself.
fn default_interval(virtual_time: bool) -> Duration {
    if virtual_time {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(2)
    }
}

impl Run {
    /// Waits: looks with `poll` (given the time left) until it is done or
    /// `wait.timeout` passes on the run's clock. In a dry run it looks once.
    pub fn wait<T, E>(
        &self,
        wait: &Wait,
        mut poll: impl AsyncFnMut(Duration) -> Result<Poll<T>, E>,
    ) -> Result<Waited<T>, WaitError<E>> {
        if self.cancel.is_cancelled() {
            return Err(WaitError::Interrupted);
        }
        if wait.planned {
            self.would_wait(wait, None);
            return Ok(Waited::WouldWait { progress: None });
        }
        let virtual_time = self.clock.is_virtual();
        let start = self.clock.now();
        let since = || Duration::try_from(self.clock.now().duration_since(start)).unwrap_or_default();
        let mut line: Option<crate::output::WaitLine> = None;
        let mut announced = false;
        loop {
            let remaining = wait.timeout.saturating_sub(since());
            let before = std::time::Instant::now();
            let before_clock = self.clock.now();
            let status =
                self.block_on_raw(poll(remaining)).ok_or(WaitError::Interrupted)?.map_err(WaitError::Failed)?;
            let waited = since();
            match status {
                Poll::Done(value) => {
                    // The wait's own line goes before its `Waited` line.
                    drop(line.take());
                    self.record_wait(wait, waited, "done");
                    if !waited.is_zero() {
                        let note = if virtual_time { " (virtual time)" } else { "" };
                        self.printer.status(
                            Tone::Progress,
                            "Waited",
                            &format!("{} {}{note}", crate::duration::format(waited), wait.label),
                        );
                    }
                    return Ok(Waited::Done { value, waited });
                }
                Poll::Pending { progress, state, details, retry } => {
                    if self.gate.mode() == Mode::DryRun {
                        for d in &details {
                            self.printer.detail(d);
                        }
                        self.would_wait(wait, progress.as_deref());
                        return Ok(Waited::WouldWait { progress });
                    }
                    if waited >= wait.timeout {
                        drop(line.take());
                        self.record_wait(wait, waited, "timeout");
                        return Err(WaitError::Timeout { waited, progress });
                    }
                    if wait.announce && !announced {
                        self.printer.status(
                            Tone::Progress,
                            "Waiting",
                            &format!("{} (timeout {})", wait.label, crate::duration::format(wait.timeout)),
                        );
                        announced = true;
                    }
                    line.get_or_insert_with(|| self.printer.wait_line(&wait.what, wait.timeout)).update(
                        progress.as_deref(),
                        state.as_deref(),
                        &details,
                        waited,
                    );
                    // `None`: the look waited itself (a watch). One that came
                    // back at once did not, and must not spin.
                    let waited_itself = if virtual_time {
                        self.clock.now() > before_clock
                    } else {
                        before.elapsed() >= Duration::from_millis(50)
                    };
                    let step = match retry {
                        Some(d) => Some(d),
                        None if !waited_itself => Some(default_interval(virtual_time)),
                        None => None,
                    };
                    if let Some(step) = step {
                        let left = wait.timeout.saturating_sub(waited);
                        let step = step.min(left).max(Duration::from_millis(1));
                        self.limits.check_wait(&self.clock, step).map_err(WaitError::Stopped)?;
                        self.clock.sleep(step, &self.cancel, |_| {}).map_err(|_| WaitError::Interrupted)?;
                    }
                }
            }
        }
    }

    /// [`Self::wait`] with errors as the script sees them: a failed look is
    /// the backend's error, a timeout the one `timeout` builds from the last
    /// progress seen (a backend error of the family, so `kind` is theirs),
    /// Ctrl-C an interruption, the virtual-time limit a runaway.
    pub fn wait_or_fail<T, E: Failure>(
        &self,
        wait: &Wait,
        poll: impl AsyncFnMut(Duration) -> Result<Poll<T>, E>,
        timeout: impl FnOnce(Option<String>) -> E,
    ) -> ScriptResult<Waited<T>> {
        self.wait(wait, poll).map_err(|e| match e {
            WaitError::Failed(e) => self.fail(&e),
            WaitError::Timeout { progress, .. } => self.fail(&timeout(progress)),
            WaitError::Interrupted => script_error("Interrupted", "interrupted"),
            WaitError::Stopped(why) => script_error("Runaway", &why),
        })
    }

    fn would_wait(&self, wait: &Wait, progress: Option<&str>) {
        self.record(&Event::Wait {
            what: wait.journal.clone(),
            duration_ms: 0,
            outcome: "would_wait".into(),
            virtual_time: self.clock.is_virtual(),
        });
        let timeout = crate::duration::format(wait.timeout);
        let line = match progress {
            Some(p) if wait.announce => format!("up to {timeout} {} ({p} now)", wait.label),
            Some(p) => format!("{} ({p} now)", wait.label),
            None if wait.announce => format!("{} (timeout {timeout})", wait.label),
            None => wait.label.clone(),
        };
        self.printer.status(Tone::Plan, "Would wait", &line);
    }

    fn record_wait(&self, wait: &Wait, waited: Duration, outcome: &str) {
        self.record(&Event::Wait {
            what: wait.journal.clone(),
            duration_ms: waited.as_millis() as u64,
            outcome: outcome.into(),
            virtual_time: self.clock.is_virtual(),
        });
    }

    /// Waits `d` on the run's clock (`sleep`): virtual on worlds; in a dry
    /// run the virtual clock moves (so retry loops reach their deadlines)
    /// and "would wait" is recorded; live, a progress bar on a terminal.
    pub fn pause(&self, d: Duration) -> ScriptResult<()> {
        self.check_cancelled()?;
        let shown = crate::duration::format(d);
        let virtual_time = self.clock.is_virtual();
        let event = |outcome: &str| Event::Wait {
            what: format!("sleep {shown}"),
            duration_ms: d.as_millis() as u64,
            outcome: outcome.into(),
            virtual_time,
        };
        let interrupted = |_| script_error("Interrupted", "interrupted");
        self.limits.check_wait(&self.clock, d).map_err(|why| script_error("Runaway", &why))?;
        if self.gate.mode() == Mode::DryRun {
            self.clock.sleep(d, &self.cancel, |_| {}).map_err(interrupted)?;
            self.record(&event("would_wait"));
            self.printer.status(Tone::Plan, "Would wait", &shown);
            return Ok(());
        }
        let bar = if virtual_time { None } else { self.printer.wait_bar(&format!("sleep {shown}"), d) };
        let slept = self.clock.sleep(d, &self.cancel, |waited| {
            if let Some(bar) = &bar {
                bar.set_position(waited.as_millis() as u64);
            }
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        slept.map_err(interrupted)?;
        self.record(&event("done"));
        let note = if virtual_time { format!("{shown} (virtual time, now {})", self.clock.now()) } else { shown };
        self.printer.status(Tone::Progress, "Waited", &note);
        Ok(())
    }
}
