//! THE gate every mutation passes. A binding describes a change (system,
//! verb, target, before/after where known, destructive or not) and hands it
//! here with two closures: one that checks it against the target system
//! without making it (server-side dry run), one that makes it. The gate alone
//! decides which runs: it asks before destructive changes, journals every
//! change, redacts secrets, and keeps the plan that a dry run prints.
//!
//! This is mechanical, not a convention: mutating backend calls take a
//! [`Permit`], which only this module can make, and clippy's
//! `disallowed-methods` (see `clippy.toml`) forbids spawning processes
//! anywhere but here. No binding reads a dry-run flag.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::output::{Printer, Tone};
use crate::run::journal::{Event, Journal};
use crate::run::Redactor;

/// Proof that the gate decided a mutation may be checked or made. Backends
/// take `&Permit` on every mutating call; only this module can construct one.
#[derive(Debug)]
pub struct Permit {
    _private: (),
}

impl Permit {
    /// A permit for unit tests of backends, which run without a gate.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self { _private: () }
    }
}

/// A change a binding wants to make.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The system and handle it touches: `http`, `k8s/blue`, `route53/prod`.
    pub system: String,
    /// What is done: `create`, `delete`, `upsert`, `post`.
    pub verb: String,
    /// What it is done to: `pod daskhub/jupyter-alice`.
    pub target: String,
    /// The state before, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The state after, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Whether it destroys something (asks for confirmation unless `--yes`).
    pub destructive: bool,
}

impl Change {
    /// A change with no before/after and not destructive.
    #[must_use]
    pub fn new(system: impl Into<String>, verb: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            system: system.into(),
            verb: verb.into(),
            target: target.into(),
            before: None,
            after: None,
            destructive: false,
        }
    }

    /// Marks the change destructive.
    #[must_use]
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// Records the state before and after.
    #[must_use]
    pub fn before_after(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// What the gate did with a change.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The change was made; here is what the system answered.
    Applied(T),
    /// Dry run: the system accepted the change as valid; nothing was made.
    Planned,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The system refused the change (or, in a dry run, would refuse it).
    #[error("{verb} {target} failed")]
    Refused {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
        /// Whether this was only a check (dry run).
        checked_only: bool,
        /// The system's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The operator answered no to a destructive change.
    #[error("declined: {verb} {target}")]
    Declined {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
    },
    /// A destructive change needs an answer and there is no terminal.
    #[error("{verb} {target} is destructive and needs confirmation, but there is no terminal to ask on")]
    NeedsConfirmation {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
    },
    /// Ctrl-C was pressed.
    #[error("interrupted")]
    Interrupted,
}

/// A change as the plan lists it.
#[derive(Debug, Clone)]
struct Planned {
    change: Change,
    would_fail: Option<String>,
}

/// The gate. One per run.
#[derive(Debug)]
pub struct Gate {
    dry_run: bool,
    yes: bool,
    plan: Mutex<Vec<Planned>>,
    applied: Mutex<usize>,
    prompt: Mutex<()>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Gate {
    pub(crate) fn new(dry_run: bool, yes: bool) -> Self {
        Self { dry_run, yes, plan: Mutex::default(), applied: Mutex::new(0), prompt: Mutex::default() }
    }

    /// Whether this run only checks changes.
    #[must_use]
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Submits a change: in a dry run `check` is called and the change is
    /// planned; otherwise `apply` is called and the change is made.
    pub(crate) fn submit<T>(
        &self,
        ctx: &GateContext<'_>,
        change: Change,
        check: impl FnOnce(&Permit) -> Result<(), BoxError>,
        apply: impl FnOnce(&Permit) -> Result<T, BoxError>,
    ) -> Result<Outcome<T>, GateError> {
        if ctx.cancelled {
            return Err(GateError::Interrupted);
        }
        let change = ctx.redactor.redact_change(change);
        let permit = Permit { _private: () };
        let describe = format!("{} {}", change.verb, change.target);
        if self.dry_run {
            let result = check(&permit);
            let would_fail = result.as_ref().err().map(|e| ctx.redactor.redact(&e.to_string()));
            let phase = if would_fail.is_some() { "would_fail" } else { "planned" };
            ctx.journal.record(&Event::change(phase, &change, would_fail.clone()));
            match &would_fail {
                None => ctx.printer.status(Tone::Plan, &would(&change.verb), &change.target),
                Some(why) => ctx.printer.status(Tone::Bad, "Would fail", &format!("{describe}: {why}")),
            }
            self.lock_plan().push(Planned { change: change.clone(), would_fail });
            return match result {
                Ok(()) => Ok(Outcome::Planned),
                Err(source) => {
                    Err(GateError::Refused { verb: change.verb, target: change.target, checked_only: true, source })
                }
            };
        }
        if change.destructive && !self.yes {
            self.confirm_destructive(ctx, &change)?;
        }
        ctx.printer.status(Tone::Progress, "Applying", &describe);
        match apply(&permit) {
            Ok(value) => {
                ctx.journal.record(&Event::change("applied", &change, None));
                *self.applied.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                Ok(Outcome::Applied(value))
            }
            Err(source) => {
                let why = ctx.redactor.redact(&source.to_string());
                ctx.journal.record(&Event::change("failed", &change, Some(why)));
                Err(GateError::Refused { verb: change.verb, target: change.target, checked_only: false, source })
            }
        }
    }

    fn confirm_destructive(&self, ctx: &GateContext<'_>, change: &Change) -> Result<(), GateError> {
        let _one_at_a_time = self.prompt.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let question = format!("{} {} (destructive)?", change.verb, change.target);
        if !ctx.printer.interactive() {
            ctx.journal.record(&Event::Prompt { question, answer: "no_terminal".into() });
            return Err(GateError::NeedsConfirmation { verb: change.verb.clone(), target: change.target.clone() });
        }
        let yes = ctx.printer.ask(&question).unwrap_or(false);
        ctx.journal.record(&Event::Prompt { question, answer: if yes { "yes" } else { "no" }.into() });
        if yes {
            Ok(())
        } else {
            Err(GateError::Declined { verb: change.verb.clone(), target: change.target.clone() })
        }
    }

    fn lock_plan(&self) -> std::sync::MutexGuard<'_, Vec<Planned>> {
        self.plan.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many changes were made (not planned).
    pub(crate) fn applied_count(&self) -> usize {
        *self.applied.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many changes were planned.
    pub(crate) fn planned_count(&self) -> usize {
        self.lock_plan().len()
    }

    /// Prints the plan of a dry run: every change grouped by system,
    /// destructive ones marked, and a count.
    pub(crate) fn print_plan(&self, printer: Printer) {
        let plan = self.lock_plan();
        let mut by_system: BTreeMap<&str, Vec<&Planned>> = BTreeMap::new();
        for item in plan.iter() {
            by_system.entry(item.change.system.as_str()).or_default().push(item);
        }
        let destructive = plan.iter().filter(|p| p.change.destructive).count();
        let failing = plan.iter().filter(|p| p.would_fail.is_some()).count();
        let mut text = String::from("\nPlan:");
        if plan.is_empty() {
            text.push_str(" no changes");
        }
        for (system, items) in &by_system {
            text.push_str(&format!("\n  {system}"));
            for item in items {
                let mark = if item.change.destructive { printer.paint(Tone::Bad, "!") } else { " ".into() };
                text.push_str(&format!("\n   {mark} {:<10} {}", item.change.verb, item.change.target));
                match (&item.change.before, &item.change.after) {
                    (Some(before), Some(after)) => {
                        text.push_str(&format!("\n                {} -> {}", compact(before), compact(after)));
                    }
                    (None, Some(after)) => text.push_str(&format!("\n                -> {}", compact(after))),
                    // What a delete takes away is worth seeing before it goes.
                    (Some(before), None) => text.push_str(&format!("\n                {} -> (gone)", compact(before))),
                    (None, None) => {}
                }
                if let Some(why) = &item.would_fail {
                    text.push_str(&format!(
                        "\n                {}",
                        printer.paint(Tone::Bad, &format!("would fail: {why}"))
                    ));
                }
            }
        }
        let n = plan.len();
        text.push_str(&format!(
            "\n{n} change{} ({destructive} destructive{}); nothing was changed",
            if n == 1 { "" } else { "s" },
            if failing > 0 { format!(", {failing} would fail") } else { String::new() },
        ));
        printer.note(&text);
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `delete` -> `Would delete`.
fn would(verb: &str) -> String {
    format!("Would {verb}")
}

/// What the gate needs from the run for one submission.
pub(crate) struct GateContext<'a> {
    pub(crate) journal: &'a Journal,
    pub(crate) printer: Printer,
    pub(crate) redactor: &'a Redactor,
    pub(crate) cancelled: bool,
}

/// Starts a local process. The only place in hubops allowed to.
#[allow(clippy::disallowed_methods)]
#[must_use]
pub fn command(_permit: &Permit, program: &str) -> std::process::Command {
    std::process::Command::new(program)
}
