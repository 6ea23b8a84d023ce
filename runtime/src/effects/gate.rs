//! The gate itself: one per run. A binding hands it a [`Change`] and ONE
//! closure that takes a [`Permit`]; the gate decides which permit the run
//! allows (`Check` in a dry run, `Apply` otherwise), asks before destructive
//! changes, journals every change, and keeps the plan as data for output.rs
//! to render. Questions a runbook asks (`confirm`) pass here too, behind the
//! same prompt lock, so two `parallel` workers never ask at once.
//!
//! The gate never reads a binding's flag and never writes to a terminal: it
//! talks to a person through [`Console`] and to the audit log through the
//! journal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::Value;

use super::change::{Answer, Change, Console, Failure, GateError, Outcome, Permit, Planned};
use crate::journal::{Event, Journal};
use crate::redact::Redactor;

/// Whether a run makes changes or only checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Changes are made.
    Apply,
    /// Changes are checked by the systems and planned; nothing is made.
    DryRun,
}

/// The gate. One per run.
#[derive(Debug)]
pub struct Gate {
    mode: Mode,
    yes: bool,
    plan: Mutex<Vec<Planned>>,
    applied: AtomicUsize,
    prompt: Mutex<()>,
}

/// What the gate needs from the run for one submission.
pub(crate) struct GateContext<'a> {
    pub(crate) journal: &'a Journal,
    pub(crate) console: &'a dyn Console,
    pub(crate) redactor: &'a Redactor,
    pub(crate) cancelled: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gate {
    pub(crate) fn new(mode: Mode, yes: bool) -> Self {
        Self { mode, yes, plan: Mutex::default(), applied: AtomicUsize::new(0), prompt: Mutex::default() }
    }

    /// The run's mode: for the run's own waits and its closing words, never
    /// for bindings (they get a [`Permit`]).
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Submits a change: `op` is called once, with `Permit::Check` in a dry
    /// run (the change is then planned) or `Permit::Apply` (it is made).
    pub(crate) fn submit<T, E: Failure>(
        &self,
        ctx: &GateContext<'_>,
        change: Change,
        op: impl FnOnce(&Permit) -> Result<T, E>,
    ) -> Result<Outcome<T>, GateError<E>> {
        if ctx.cancelled {
            return Err(GateError::Interrupted);
        }
        let change = redact_change(ctx.redactor, change);
        if self.mode == Mode::DryRun {
            let result = op(&Permit::new(true));
            let would_fail = result.as_ref().err().map(|e| ctx.redactor.redact(&e.to_string()));
            let phase = if would_fail.is_some() { "would_fail" } else { "planned" };
            ctx.journal.record(&change_event(phase, &change, would_fail.clone()));
            ctx.console.planned(&change, would_fail.as_deref());
            lock(&self.plan).push(Planned { change: change.clone(), would_fail });
            return match result {
                Ok(value) => Ok(Outcome::Planned(value)),
                Err(source) => {
                    Err(GateError::Refused { verb: change.verb, target: change.target, checked_only: true, source })
                }
            };
        }
        if change.destructive && !self.yes {
            self.confirm_destructive(ctx, &change)?;
        }
        ctx.console.applying(&change);
        match op(&Permit::new(false)) {
            Ok(value) => {
                ctx.journal.record(&change_event("applied", &change, None));
                self.applied.fetch_add(1, Ordering::SeqCst);
                Ok(Outcome::Applied(value))
            }
            Err(source) => {
                let why = ctx.redactor.redact(&source.to_string());
                ctx.journal.record(&change_event("failed", &change, Some(why)));
                Err(GateError::Refused { verb: change.verb, target: change.target, checked_only: false, source })
            }
        }
    }

    fn confirm_destructive<E>(&self, ctx: &GateContext<'_>, change: &Change) -> Result<(), GateError<E>> {
        let _one_at_a_time = lock(&self.prompt);
        let question = format!("{} {} (destructive)?", change.verb, change.target);
        let answer = match ctx.console.ask(&question) {
            None => Answer::NoTerminal,
            Some(Ok(true)) => Answer::Yes,
            Some(Ok(false) | Err(_)) => Answer::No,
        };
        ctx.journal.record(&Event::Prompt { question, answer: answer.journal().into() });
        match answer {
            Answer::Yes => Ok(()),
            Answer::NoTerminal => {
                Err(GateError::NeedsConfirmation { verb: change.verb.clone(), target: change.target.clone() })
            }
            _ => Err(GateError::Declined { verb: change.verb.clone(), target: change.target.clone() }),
        }
    }

    /// A question a runbook asks (`confirm`): `--yes` answers yes, a dry run
    /// records that it would ask, otherwise a person answers at the terminal
    /// (`NoTerminal` when there is none). Journaled either way.
    pub(crate) fn question(&self, ctx: &GateContext<'_>, question: &str) -> std::io::Result<Answer> {
        let _one_at_a_time = lock(&self.prompt);
        let answer = if self.mode == Mode::DryRun {
            Answer::WouldAsk
        } else if self.yes {
            Answer::YesByFlag
        } else {
            match ctx.console.ask(question) {
                None => Answer::NoTerminal,
                Some(Ok(true)) => Answer::Yes,
                Some(Ok(false)) => Answer::No,
                Some(Err(e)) => return Err(e),
            }
        };
        ctx.journal.record(&Event::Prompt { question: question.into(), answer: answer.journal().into() });
        if matches!(answer, Answer::WouldAsk | Answer::YesByFlag) {
            ctx.console.answered(question, answer);
        }
        Ok(answer)
    }

    /// How many changes were made (not planned).
    pub(crate) fn applied_count(&self) -> usize {
        self.applied.load(Ordering::SeqCst)
    }

    /// The plan so far: every change a dry run checked, in order.
    pub(crate) fn plan(&self) -> Vec<Planned> {
        lock(&self.plan).clone()
    }

    /// How many changes were planned.
    pub(crate) fn planned_count(&self) -> usize {
        lock(&self.plan).len()
    }
}

fn change_event(phase: &str, change: &Change, error: Option<String>) -> Event {
    Event::Change { phase: phase.into(), change: serde_json::to_value(change).unwrap_or(Value::Null), error }
}

/// The change with every secret taken out of its text and values.
fn redact_change(redactor: &Redactor, change: Change) -> Change {
    Change {
        system: redactor.redact(&change.system),
        verb: redactor.redact(&change.verb),
        target: redactor.redact(&change.target),
        before: change.before.map(|v| redactor.redact_value(&v)),
        after: change.after.map(|v| redactor.redact_value(&v)),
        destructive: change.destructive,
    }
}
