//! One run of a runbook: the state every binding reaches through the engine
//! (journal, gate, clock, cancellation, redaction, the world), the step
//! book-keeping, and the sequence that runs a script start to end
//! (`execute`). Nothing here talks to a real system; bindings do, through the
//! gate.

pub(crate) mod cancel;
pub(crate) mod clock;
mod execute;
pub mod journal;
mod redact;
pub(crate) mod resume;
mod steps;

use std::future::Future;
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, EvalAltResult, NativeCallContext};

pub use cancel::Cancel;
pub use clock::Clock;
pub(crate) use execute::{execute, RunRequest, Target};
pub use redact::Redactor;
pub(crate) use steps::Steps;

use crate::bindings::{script_error, ScriptResult};
use crate::effects::{Change, Gate, GateContext, GateError, Outcome, Permit};
use crate::output::Printer;
use crate::params::Values;
use crate::world::World;
use journal::{Event, Journal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    pub(crate) yes: bool,
    pub(crate) kubeconfig: Option<std::path::PathBuf>,
    pub(crate) steps: Mutex<Steps>,
    pub(crate) params: Mutex<Option<Values>>,
    pub(crate) world: Option<Arc<Mutex<World>>>,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) prompt: Mutex<()>,
    pub(crate) resumed: Option<resume::Resumed>,
}

/// The engine tag that carries the run to bindings.
#[derive(Debug, Clone)]
pub(crate) struct RunRef(pub(crate) Arc<Run>);

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

    /// The run's clock (virtual on worlds).
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The simulated world, when the run targets one.
    #[must_use]
    pub fn world(&self) -> Option<&Arc<Mutex<World>>> {
        self.world.as_ref()
    }

    /// The kubeconfig file named by `--kubeconfig` / `HUBOPS_KUBECONFIG`, if
    /// any (otherwise `KUBECONFIG`, then `~/.kube/config`).
    #[must_use]
    pub fn kubeconfig(&self) -> Option<&std::path::Path> {
        self.kubeconfig.as_deref()
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
        let cancel = self.cancel.clone();
        self.runtime.block_on(async move {
            tokio::select! {
                out = future => Ok(out),
                () = async {
                    while !cancel.is_cancelled() {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                } => Err(script_error("Interrupted", "interrupted")),
            }
        })
    }

    /// Hands a change to the effects gate: in a dry run `check` validates it
    /// against the target system; otherwise `apply` makes it. Errors come back
    /// as script errors with a `kind` (`Refused`, `WouldFail`, `Declined`, ...).
    pub fn change<T>(
        &self,
        change: Change,
        check: impl FnOnce(&Permit) -> Result<(), BoxError>,
        apply: impl FnOnce(&Permit) -> Result<T, BoxError>,
    ) -> ScriptResult<Outcome<T>> {
        self.check_cancelled()?;
        let ctx = GateContext {
            journal: &self.journal,
            printer: self.printer,
            redactor: &self.redactor,
            cancelled: self.cancel.is_cancelled(),
        };
        self.gate.submit(&ctx, change, check, apply).map_err(|e| self.gate_error(&e))
    }

    fn gate_error(&self, err: &GateError) -> Box<EvalAltResult> {
        let redact = |s: String| self.redactor.redact(&s);
        match err {
            GateError::Refused { source, checked_only, .. } => {
                let kind = if *checked_only { "WouldFail" } else { "Refused" };
                let mut map = rhai::Map::new();
                map.insert("kind".into(), kind.into());
                map.insert("message".into(), redact(err.to_string()).into());
                let causes: rhai::Array =
                    std::iter::successors(Some(source.as_ref() as &dyn std::error::Error), |e| e.source())
                        .map(|e| Dynamic::from(redact(e.to_string())))
                        .collect();
                map.insert("causes".into(), causes.into());
                Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))
            }
            GateError::Declined { .. } => script_error("Declined", &redact(err.to_string())),
            GateError::NeedsConfirmation { .. } => {
                let mut e = crate::bindings::error_map("Usage", &redact(err.to_string()));
                e.insert("hint".into(), "pass --yes to confirm destructive changes, or run from a terminal".into());
                Box::new(EvalAltResult::ErrorRuntime(e.into(), rhai::Position::NONE))
            }
            GateError::Interrupted => script_error("Interrupted", "interrupted"),
        }
    }

    /// Records an event in the journal.
    pub fn record(&self, event: &Event) {
        self.journal.record(event);
    }

    /// Whether the gate only checks changes. Only the waits of the core
    /// bindings look at this ("would wait"); mutations never do.
    pub(crate) fn dry_run(&self) -> bool {
        self.gate.dry_run()
    }
}
