//! One run of a runbook: the state every binding reaches through the engine
//! (journal, gate, clock, cancellation, redaction, the target), the step
//! book-keeping, the one path every wait takes ([`wait`]), resume and locks.
//! The sequence that runs a script start to end is `commands::run`.
//!
//! Bindings reach real or simulated systems only through the family values
//! they make from [`Run::target`], hand every change to [`Run::change`] (the
//! gate gives their closure the permit the run allows) and every wait to
//! [`Run::wait`]. The run's mode is not something a binding can read.

pub mod lock;
mod locking;
pub(crate) mod resume;
mod steps;
pub(crate) mod undo;
pub(crate) mod wait;

use std::future::Future;
use std::sync::{Arc, Mutex};

use rhai::{EvalAltResult, NativeCallContext};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::cancel::Cancel;
pub use crate::clock::Clock;
pub use crate::redact::Redactor;
pub(crate) use steps::{Rollback, Steps};
pub use wait::{Poll, Wait, WaitError, Waited};

use crate::backends::Target;
use crate::effects::{Answer, Change, Failure, Gate, GateContext, GateError, Outcome, Permit};
use crate::journal::{Event, Journal};
use crate::output::Printer;
use crate::params::Values;
use crate::script::{self, script_error, ScriptResult};

/// The state of one run, shared by every binding call (and every `parallel`
/// worker) through the engine's tag.
#[derive(Debug)]
pub struct Run {
    pub(crate) id: String,
    pub(crate) printer: Printer,
    pub(crate) journal: Journal,
    pub(crate) gate: Gate,
    pub(crate) clock: Arc<Clock>,
    pub(crate) cancel: Cancel,
    pub(crate) redactor: Redactor,
    pub(crate) target: Target,
    pub(crate) steps: Mutex<Steps>,
    pub(crate) params: Mutex<Option<Values>>,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) resumed: Option<resume::Resumed>,
    pub(crate) locks: lock::Locks,
    pub(crate) remotes: lock::Remotes,
    /// `--break-lock`: take a remote lock another live run holds (asked first).
    pub(crate) break_lock: bool,
    pub(crate) limits: Limits,
    /// The world file saved after every change (`--save-world` over its input).
    pub(crate) save_world: Option<std::path::PathBuf>,
    /// The run itself, for the thread that renews its leases.
    pub(crate) me: std::sync::OnceLock<std::sync::Weak<Run>>,
    /// Steps' times and the windows the runbook marks, for the forecast.
    pub(crate) forecast: Mutex<crate::forecast::Forecast>,
    /// What the run (and the lineage it continues) owes the site: changes
    /// recorded as "must undo" and not yet undone.
    pub(crate) owed: Mutex<undo::Ledger>,
}

/// Bounds on a run, so that a runaway script stops with a clear error
/// instead of filling the disk or the virtual calendar.
#[derive(Debug)]
pub(crate) struct Limits {
    /// The most virtual time a run may use (`--max-virtual-time`, default 7 days).
    pub(crate) max_virtual: std::time::Duration,
    /// Where the run's clock started.
    start: jiff::Timestamp,
    /// When the script last called hubops (ms since `epoch`).
    last_call: std::sync::atomic::AtomicU64,
    epoch: std::time::Instant,
}

/// Journal events a run may write before any time passes, and then one per
/// ten seconds of its clock: far above any runbook's (a 400-user home-volume
/// migration writes a few thousand; waits journal once, not per poll), far
/// below a loop that only logs or sleeps.
const EVENTS_AT_ONCE: u64 = 50_000;
const SECONDS_PER_EVENT: u64 = 10;

/// The longest a script may compute without calling hubops: a runbook's
/// work is in its bindings, so a minute of pure computation is a runaway
/// loop (Rhai's size checks make some loops quadratic, so they never reach
/// the size limits in useful time).
pub(crate) const MAX_COMPUTE: std::time::Duration = std::time::Duration::from_mins(1);

impl Limits {
    pub(crate) fn new(max_virtual: std::time::Duration, start: jiff::Timestamp) -> Self {
        Self { max_virtual, start, last_call: std::sync::atomic::AtomicU64::new(0), epoch: std::time::Instant::now() }
    }

    /// The script called hubops now.
    pub(crate) fn called(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_call.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long the script has computed since it last called hubops.
    pub(crate) fn computing(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_call.load(std::sync::atomic::Ordering::Relaxed);
        std::time::Duration::from_millis(now.saturating_sub(last))
    }

    /// How much time the run's clock has moved since the run began.
    pub(crate) fn virtual_elapsed(&self, clock: &Clock) -> std::time::Duration {
        std::time::Duration::try_from(clock.now().duration_since(self.start)).unwrap_or_default()
    }

    /// `Err` when waiting `d` more would take a virtual clock past the limit.
    pub(crate) fn check_wait(&self, clock: &Clock, d: std::time::Duration) -> Result<(), String> {
        if !clock.is_virtual() {
            return Ok(());
        }
        let after = self.virtual_elapsed(clock).saturating_add(d);
        if after > self.max_virtual {
            return Err(format!(
                "stopping: waiting {} more would take this run past {} of virtual time (--max-virtual-time raises the limit)",
                crate::duration::format(d),
                crate::duration::format(self.max_virtual)
            ));
        }
        Ok(())
    }
}

/// SHA-256 of `bytes`, hex.
pub(crate) fn digest(bytes: &[u8]) -> String {
    crate::digest::sha256_hex(bytes, 32)
}

/// The engine tag that carries the run to bindings.
#[derive(Debug, Clone)]
pub(crate) struct RunRef(pub(crate) Arc<Run>);

/// A backend error, or Ctrl-C while the backend was at work.
#[derive(Debug, thiserror::Error)]
enum Interruptible<E> {
    #[error(transparent)]
    Failed(E),
    #[error("interrupted")]
    Interrupted,
}

impl<E: Failure> Failure for Interruptible<E> {
    fn kind(&self) -> &'static str {
        match self {
            Self::Failed(e) => e.kind(),
            Self::Interrupted => "Interrupted",
        }
    }
}

impl Run {
    /// The run a binding is called in.
    pub fn from_context(ctx: &NativeCallContext) -> Result<Arc<Self>, Box<EvalAltResult>> {
        ctx.tag()
            .and_then(|tag| tag.read_lock::<RunRef>().map(|r| r.0.clone()))
            .ok_or_else(|| script_error("Usage", "this function can only be called while a runbook runs"))
    }

    /// The run's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id to derive idempotency tokens from: the first run of a chain
    /// of `--resume`s, so a resumed run never creates a second copy of what
    /// the earlier one created.
    #[must_use]
    pub fn lineage(&self) -> &str {
        self.resumed.as_ref().map_or(&self.id, |r| &r.lineage)
    }

    /// The innermost step running now (`None` outside steps). Bindings use
    /// it to derive idempotency tokens that a retried step reproduces.
    #[must_use]
    pub fn current_step(&self) -> Option<String> {
        self.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).current().map(str::to_string)
    }

    /// The printer.
    #[must_use]
    pub fn printer(&self) -> Printer {
        self.printer
    }

    /// The journal.
    #[must_use]
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The run's clock (virtual on worlds and in dry runs).
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Where the run's systems are: what every family's value is made from.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Secret redaction for anything a binding prints or returns in errors.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// `Err(Interrupted)` once Ctrl-C was pressed: every binding calls this
    /// first, so a run stops at the next binding call.
    /// Also the audit rule: once the journal cannot be written, the run stops
    /// at the next binding call.
    pub fn check_cancelled(&self) -> ScriptResult<()> {
        self.limits.called();
        self.cancel.check().map_err(|_| script_error("Interrupted", "interrupted"))?;
        if let Some(why) = self.journal.broken() {
            return Err(script_error("Journal", &format!("stopping: the journal cannot be written ({why})")));
        }
        let elapsed = self.limits.virtual_elapsed(&self.clock);
        let budget = EVENTS_AT_ONCE + elapsed.as_secs() / SECONDS_PER_EVENT;
        if self.journal.count() > budget {
            return Err(script_error(
                "Runaway",
                &format!(
                    "stopping: {} journal events in {} of the run's time is more than any runbook writes (is a loop missing its exit?)",
                    self.journal.count(),
                    crate::duration::format(elapsed)
                ),
            ));
        }
        Ok(())
    }

    /// Says which system a handle resolved to (`k8s/blue` -> its API
    /// server), journaled; a resumed run refuses a system that resolves to
    /// something else than in the run it continues.
    pub fn note_target(&self, system: &str, identity: &str) -> ScriptResult<()> {
        if let Some(r) = &self.resumed {
            r.check_target(system, identity).map_err(|e| script_error("Resume", &e.to_string()))?;
        }
        self.record(&Event::Target { system: system.to_string(), identity: identity.to_string() });
        Ok(())
    }

    /// Writes the world as it is now to `path` (atomically) and journals its digest.
    pub(crate) fn save_world_to(&self, path: &std::path::Path) -> Result<std::path::PathBuf, crate::Error> {
        let Target::World(world) = &self.target else { return Ok(path.to_path_buf()) };
        let yaml = {
            let mut world = world.lock();
            world.settle(self.clock.now());
            world.to_yaml(self.clock.now())
        };
        let yaml = self.redact_world(&yaml);
        crate::state::write_atomic(path, yaml.as_bytes())
            .map_err(|source| crate::Error::Write { path: path.to_path_buf(), source })?;
        self.record(&Event::WorldSaved { path: path.display().to_string(), digest: digest(yaml.as_bytes()) });
        Ok(path.to_path_buf())
    }

    /// A saved world with every secret taken out of its values.
    fn redact_world(&self, yaml: &str) -> String {
        if self.redactor.is_empty() {
            return yaml.to_string();
        }
        match serde_norway::from_str::<serde_json::Value>(yaml) {
            Ok(value) => serde_norway::to_string(&self.redactor.redact_value(&value)).unwrap_or_default(),
            Err(_) => self.redactor.redact(yaml),
        }
    }

    /// Runs an async backend call to completion on the run's runtime; Ctrl-C
    /// abandons it. Bindings run on the script thread, never inside the
    /// runtime, so blocking here is allowed.
    pub fn block_on<F: Future>(&self, future: F) -> ScriptResult<F::Output> {
        self.check_cancelled()?;
        self.block_on_raw(future).ok_or_else(|| script_error("Interrupted", "interrupted"))
    }

    /// [`Self::block_on`] with `None` for an interruption.
    fn block_on_raw<F: Future>(&self, future: F) -> Option<F::Output> {
        let cancel = self.cancel.clone();
        self.runtime.block_on(async move {
            tokio::select! {
                out = future => Some(out),
                () = async {
                    while !cancel.is_cancelled() {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                } => None,
            }
        })
    }

    /// A backend error as a script error (kind, message, causes, the
    /// family's fields; redacted).
    pub fn fail<E: Failure + ?Sized>(&self, err: &E) -> Box<EvalAltResult> {
        script::failure(&self.redactor, err)
    }

    /// Hands a change to the effects gate, with ONE closure: the gate calls
    /// it with `Permit::Check` in a dry run (the backend has the system
    /// validate the change) or `Permit::Apply` (the backend makes it). A
    /// refusal reaches the script with the backend's `kind` and the gate's
    /// verdict in `gate`.
    pub fn change<T: Serialize + DeserializeOwned, E: Failure>(
        &self,
        change: Change,
        op: impl AsyncFnOnce(&Permit) -> Result<T, E>,
    ) -> ScriptResult<Outcome<T>> {
        self.try_change(change, op).map_err(|e| {
            let unanswered = matches!(e, GateError::Declined { .. } | GateError::NeedsConfirmation { .. });
            let err = script::gate(&self.redactor, &e);
            if unanswered {
                self.with_resume_hint(err)
            } else {
                err
            }
        })
    }

    /// After a question got no yes: when this run already made changes,
    /// what the operator can do next (continue later, or undo), added to
    /// the error's hint.
    fn with_resume_hint(&self, err: Box<EvalAltResult>) -> Box<EvalAltResult> {
        let made = self.gate.applied_count() + self.gate.replayed_count();
        if made == 0 {
            return err;
        }
        let EvalAltResult::ErrorRuntime(value, pos) = *err else { return err };
        let Some(mut map) = value.read_lock::<rhai::Map>().map(|m| m.clone()) else {
            return Box::new(EvalAltResult::ErrorRuntime(value, pos));
        };
        let next = format!(
            "this run made {made} change{} before this question and they stay made: run it again with `--resume {}` to go on from here once you are ready (finished steps are not run again), or undo them with the runbook's rollback (`--on-failure rollback` runs the rollbacks of completed steps when a run stops)",
            if made == 1 { "" } else { "s" },
            crate::state::absolute(self.journal.path()).display()
        );
        let hint = match map.get("hint").map(ToString::to_string) {
            Some(first) => format!("{first}; {next}"),
            None => next,
        };
        map.insert("hint".into(), hint.into());
        Box::new(EvalAltResult::ErrorRuntime(map.into(), pos))
    }

    /// [`Self::change`] with the gate's typed answer, for bindings that
    /// treat some refusals as answers (a delete of what is already gone).
    pub fn try_change<T: Serialize + DeserializeOwned, E: Failure>(
        &self,
        change: Change,
        op: impl AsyncFnOnce(&Permit) -> Result<T, E>,
    ) -> Result<Outcome<T>, GateError<E>> {
        if self.cancel.is_cancelled() {
            return Err(GateError::Interrupted);
        }
        if let Some(why) = self.journal.broken() {
            return Err(GateError::Stopped { why: format!("the journal cannot be written ({why})") });
        }
        self.lock_system(&change.system)?;
        if let Some(scope) = change.scope.clone() {
            self.hold_remote(change.locked_by.as_deref().unwrap_or(&change.system), &scope)?;
            self.keep_renewing();
        }
        let persist = |path: &std::path::Path| {
            self.save_world_to(path).map(|_| ()).map_err(|e| format!("{e}: the world file no longer follows the run"))
        };
        let save = self.save_world.as_deref().map(|path| move || persist(path));
        let mut ctx = self.gate_context();
        ctx.persist = save.as_ref().map(|f| f as &(dyn Fn() -> Result<(), String> + Sync));
        let step = self.current_step();
        let out = self.gate.submit(&ctx, step.as_deref(), change, |permit| match self.block_on_raw(op(permit)) {
            Some(result) => result.map_err(Interruptible::Failed),
            None => Err(Interruptible::Interrupted),
        });
        out.map_err(|e| match e {
            GateError::Refused { source: Interruptible::Interrupted, .. } | GateError::Interrupted => {
                GateError::Interrupted
            }
            GateError::Refused { verb, target, checked_only, source: Interruptible::Failed(source) } => {
                GateError::Refused { verb, target, checked_only, source }
            }
            GateError::Declined { verb, target } => GateError::Declined { verb, target },
            GateError::NeedsConfirmation { verb, target, why } => GateError::NeedsConfirmation { verb, target, why },
            GateError::Unreplayable { verb, target, why } => GateError::Unreplayable { verb, target, why },
            GateError::Stopped { why } => GateError::Stopped { why },
        })
    }

    /// Asks the operator a question through the gate (`confirm`): `--yes`
    /// and dry runs answer without asking; no terminal is an error.
    pub fn confirm(&self, question: &str) -> ScriptResult<bool> {
        self.check_cancelled()?;
        let answer = self
            .gate
            .question(&self.gate_context(), question)
            .map_err(|e| script_error("Usage", &format!("cannot read the answer: {e}")))?;
        match answer {
            Answer::Yes | Answer::YesByFlag | Answer::AckByFlag | Answer::WouldAsk => Ok(true),
            Answer::No => {
                Err(self.with_resume_hint(script_error("Declined", &format!("the operator answered no: {question}"))))
            }
            Answer::NoTerminal => {
                let mut map = crate::script::error_map(
                    "Usage",
                    &format!("`confirm` needs an answer but there is no terminal to ask on: {question}"),
                );
                map.insert(
                    "hint".into(),
                    "pass --yes to answer yes to every question, or run hubops from a terminal".into(),
                );
                Err(self.with_resume_hint(Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))))
            }
        }
    }

    /// Asks the operator to acknowledge a step done by hand (`acknowledge`):
    /// only a person at the terminal or `--ack NAME` answers, never `--yes`;
    /// a dry run records that it would ask. No is a refusal; no answer an
    /// error that says how to give one.
    pub fn acknowledge(&self, name: &str, text: &str) -> ScriptResult<bool> {
        self.check_cancelled()?;
        let answer = self
            .gate
            .acknowledge(&self.gate_context(), name, text)
            .map_err(|e| script_error("Usage", &format!("cannot read the answer: {e}")))?;
        match answer {
            Answer::Yes | Answer::AckByFlag => Ok(true),
            Answer::WouldAsk => Ok(false),
            Answer::No => Err(self.with_resume_hint(script_error(
                "Declined",
                &format!("the operator did not acknowledge `{name}`: {text}"),
            ))),
            Answer::YesByFlag | Answer::NoTerminal => {
                let mut map = crate::script::error_map(
                    "Usage",
                    &format!("`{name}` must be acknowledged by a person, and there is no terminal to ask on: {text}"),
                );
                map.insert(
                    "hint".into(),
                    format!("do it, then pass --ack {name} (--yes answers questions about changes, never acknowledgements), or run hubops from a terminal").into(),
                );
                Err(self.with_resume_hint(Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))))
            }
        }
    }

    fn gate_context(&self) -> GateContext<'_> {
        GateContext {
            journal: &self.journal,
            console: &self.printer,
            redactor: &self.redactor,
            cancelled: self.cancel.is_cancelled(),
            persist: None,
        }
    }

    /// Closes window `name` (see `forecast`) and journals it; `failed`: the
    /// run failed inside it.
    pub(crate) fn close_window(&self, name: &str, failed: bool) -> Result<(), crate::forecast::Error> {
        let now = self.clock.now();
        let w = self.forecast.lock().unwrap_or_else(std::sync::PoisonError::into_inner).close(name, now, failed)?;
        self.record(&Event::Window {
            name: w.name.clone(),
            phase: "close".into(),
            at: now.to_string(),
            status: Some(if failed { "failed" } else { "ok" }.into()),
            clock_ms: Some(w.length(now).as_millis() as u64),
            from: w.from,
            to: w.to,
        });
        Ok(())
    }

    /// Closes the windows still open when the run ends.
    pub(crate) fn close_open_windows(&self, failed: bool) {
        let open: Vec<String> = {
            let f = self.forecast.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f.windows().iter().filter(|w| w.closed.is_none()).map(|w| w.name.clone()).collect()
        };
        for name in open {
            let _ = self.close_window(&name, failed);
        }
    }

    /// Records an event in the journal.
    pub fn record(&self, event: &Event) {
        self.journal.record(event);
    }
}
