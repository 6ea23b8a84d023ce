//! One run of a runbook: the state every binding reaches through the engine
//! (journal, gate, clock, cancellation, redaction, the target), the step
//! book-keeping, the one path every wait takes ([`wait`]), and the sequence
//! that runs a script start to end (`execute`).
//!
//! Bindings reach real or simulated systems only through the family values
//! they make from [`Run::target`], hand every change to [`Run::change`] (the
//! gate gives their closure the permit the run allows) and every wait to
//! [`Run::wait`]. The run's mode is not something a binding can read.

pub(crate) mod compat;
mod execute;
pub(crate) mod resume;
mod steps;
pub(crate) mod wait;

use std::future::Future;
use std::sync::{Arc, Mutex};

use rhai::{EvalAltResult, NativeCallContext};

pub use crate::cancel::Cancel;
pub use crate::clock::Clock;
pub use crate::redact::Redactor;
pub(crate) use execute::{execute, RunRequest};
pub(crate) use steps::Steps;
pub use wait::{Poll, Wait, WaitError, Waited};

use crate::backends::Target;
use crate::bindings::{error as script, script_error, ScriptResult};
use crate::effects::{Answer, Change, Failure, Gate, GateContext, GateError, Outcome, Permit};
use crate::journal::{Event, Journal};
use crate::output::Printer;
use crate::params::Values;

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
    pub fn check_cancelled(&self) -> ScriptResult<()> {
        self.cancel.check().map_err(|_| script_error("Interrupted", "interrupted"))
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
    pub fn change<T, E: Failure>(
        &self,
        change: Change,
        op: impl AsyncFnOnce(&Permit) -> Result<T, E>,
    ) -> ScriptResult<Outcome<T>> {
        self.try_change(change, op).map_err(|e| script::gate(&self.redactor, &e))
    }

    /// [`Self::change`] with the gate's typed answer, for bindings that
    /// treat some refusals as answers (a delete of what is already gone).
    pub fn try_change<T, E: Failure>(
        &self,
        change: Change,
        op: impl AsyncFnOnce(&Permit) -> Result<T, E>,
    ) -> Result<Outcome<T>, GateError<E>> {
        if self.cancel.is_cancelled() {
            return Err(GateError::Interrupted);
        }
        let ctx = self.gate_context();
        let out = self.gate.submit(&ctx, change, |permit| match self.block_on_raw(op(permit)) {
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
            GateError::NeedsConfirmation { verb, target } => GateError::NeedsConfirmation { verb, target },
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
            Answer::Yes | Answer::YesByFlag | Answer::WouldAsk => Ok(true),
            Answer::No => Err(script_error("Declined", &format!("the operator answered no: {question}"))),
            Answer::NoTerminal => {
                let mut map = crate::bindings::error_map(
                    "Usage",
                    &format!("`confirm` needs an answer but there is no terminal to ask on: {question}"),
                );
                map.insert(
                    "hint".into(),
                    "pass --yes to answer yes to every question, or run hubops from a terminal".into(),
                );
                Err(Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE)))
            }
        }
    }

    fn gate_context(&self) -> GateContext<'_> {
        GateContext {
            journal: &self.journal,
            console: &self.printer,
            redactor: &self.redactor,
            cancelled: self.cancel.is_cancelled(),
        }
    }

    /// Records an event in the journal.
    pub fn record(&self, event: &Event) {
        self.journal.record(event);
    }
}
