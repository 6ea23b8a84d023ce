//! The gate itself: one per run. A binding hands it a [`Change`] and ONE
//! closure that takes a [`Permit`]; the gate decides which permit the run
//! allows (`Check` in a dry run, `Apply` otherwise), asks before destructive
//! changes and other confirmation points (a change to a production name),
//! journals every change, and keeps the plan as data for output.rs to
//! render. Questions a runbook asks pass here too, behind the same prompt
//! lock, so two `parallel` workers never ask at once: `confirm` ("go on?",
//! answered by `--yes`) and `acknowledge` ("did you do this by hand?",
//! answered only at the terminal or by `--ack NAME`: `--yes` must not claim
//! that a person did something).
//!
//! Every change gets a key: `LINEAGE/STEP/ORDINAL/DIGEST`, where the
//! lineage is the first run of a chain of resumes, the step a hash of the
//! name of the one it is made in, the digest a hash of what it does (system, verb, target, the
//! state after), and the ordinal how many changes with that digest the step
//! made before it (so `parallel` workers, whatever their order, get the same
//! keys). The key and the system's answer are journaled; a resumed run
//! hands the recorded answer back instead of sending a change again, and
//! asks before re-sending one that was started but never recorded as made.
//!
//! The gate never reads a binding's flag and never writes to a terminal: it
//! talks to a person through [`Console`] and to the audit log through the
//! journal.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::change::{Answer, Change, Console, Failure, GateError, Outcome, Permit, Planned, Replay};
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
    /// `--ack NAME`: the acknowledgements answered on the command line.
    acks: std::collections::BTreeSet<String>,
    /// The acknowledgements asked so far, by name.
    asked: Mutex<std::collections::BTreeSet<String>>,
    lineage: String,
    replay: Replay,
    /// (step, digest) -> how many such changes were submitted.
    seen: Mutex<HashMap<(String, String), usize>>,
    plan: Mutex<Vec<Planned>>,
    applied: AtomicUsize,
    replayed: AtomicUsize,
    prompt: Mutex<()>,
}

/// What the gate needs from the run for one submission.
pub(crate) struct GateContext<'a> {
    pub(crate) journal: &'a Journal,
    pub(crate) console: &'a dyn Console,
    pub(crate) redactor: &'a Redactor,
    pub(crate) cancelled: bool,
    /// Makes an applied change durable before it is journaled as applied
    /// (a world saved over its file), so the journal never claims more than
    /// what survives a crash.
    pub(crate) persist: Option<&'a (dyn Fn() -> Result<(), String> + Sync)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gate {
    pub(crate) fn new(
        mode: Mode,
        yes: bool,
        acks: std::collections::BTreeSet<String>,
        lineage: &str,
        replay: Replay,
    ) -> Self {
        Self {
            mode,
            yes,
            acks,
            asked: Mutex::default(),
            lineage: lineage.to_string(),
            replay,
            seen: Mutex::default(),
            plan: Mutex::default(),
            applied: AtomicUsize::new(0),
            replayed: AtomicUsize::new(0),
            prompt: Mutex::default(),
        }
    }

    /// The change's key (see the module doc); counts it as seen.
    fn key(&self, step: Option<&str>, change: &Change) -> String {
        let after = change.after.as_ref().map(Value::to_string).unwrap_or_default();
        let what = [change.system.as_str(), &change.verb, &change.target, &after].join("\0");
        let digest = crate::digest::sha256_hex(what.as_bytes(), 8);
        // The step by a hash of its name: a name may hold a secret, which the
        // journal masks, and the key must read back the same.
        let step = step.map_or_else(|| "-".to_string(), |s| crate::digest::sha256_hex(s.as_bytes(), 4));
        let mut seen = lock(&self.seen);
        let ordinal = seen.entry((step.clone(), digest.clone())).or_insert(0);
        *ordinal += 1;
        format!("{}/{step}/{ordinal}/{digest}", self.lineage)
    }

    /// The run's mode: for the run's own waits and its closing words, never
    /// for bindings (they get a [`Permit`]).
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Submits a change made in `step`: `op` is called once, with
    /// `Permit::Check` in a dry run (the change is then planned) or
    /// `Permit::Apply` (it is made) — unless an earlier run of the lineage
    /// made it, in which case its recorded answer is handed back.
    pub(crate) fn submit<T: Serialize + DeserializeOwned, E: Failure>(
        &self,
        ctx: &GateContext<'_>,
        step: Option<&str>,
        change: Change,
        op: impl FnOnce(&Permit) -> Result<T, E>,
    ) -> Result<Outcome<T>, GateError<E>> {
        if ctx.cancelled {
            return Err(GateError::Interrupted);
        }
        let change = redact_change(ctx.redactor, change);
        let key = self.key(step, &change);
        let event = |phase: &str, error: Option<String>, result: Option<Value>| Event::Change {
            phase: phase.into(),
            change: serde_json::to_value(&change).unwrap_or(Value::Null),
            error,
            key: Some(key.clone()),
            step: step.map(str::to_string),
            result,
        };
        if self.mode == Mode::DryRun {
            let result = op(&Permit::new(true));
            let would_fail = result.as_ref().err().map(|e| ctx.redactor.redact(&e.to_string()));
            let phase = if would_fail.is_some() { "would_fail" } else { "planned" };
            ctx.journal.record(&event(phase, would_fail.clone(), None));
            ctx.console.planned(&change, would_fail.as_deref());
            lock(&self.plan).push(Planned { change: change.clone(), would_fail });
            return match result {
                Ok(value) => Ok(Outcome::Planned(value)),
                Err(source) => {
                    Err(GateError::Refused { verb: change.verb, target: change.target, checked_only: true, source })
                }
            };
        }
        if let Some(recorded) = self.replay.applied.get(&key) {
            let value = serde_json::from_value::<T>(recorded.clone()).map_err(|e| GateError::Unreplayable {
                verb: change.verb.clone(),
                target: change.target.clone(),
                why: e.to_string(),
            })?;
            ctx.journal.record(&event("replayed", None, Some(recorded.clone())));
            ctx.console.replayed(&change);
            self.replayed.fetch_add(1, Ordering::SeqCst);
            return Ok(Outcome::Replayed(value));
        }
        if self.replay.in_doubt.contains(&key) && !self.yes && !change.idempotent {
            let question = format!(
                "{} was being made when the run it resumes stopped, and may have been made; make it again?",
                change.describe()
            );
            self.ask(ctx, &change, &question, "may have been made already by the run this one resumes")?;
        } else if change.asks() && !self.yes {
            let (note, why) = match &change.confirm {
                Some(reason) if !change.destructive => (reason.clone(), reason.clone()),
                Some(reason) => (format!("destructive; {reason}"), format!("is destructive and {reason}")),
                None => ("destructive".to_string(), "is destructive".to_string()),
            };
            self.ask(ctx, &change, &format!("{} {} ({note})?", change.verb, change.target), &why)?;
        }
        ctx.console.applying(&change);
        ctx.journal.record(&Event::ChangeStarted {
            key: key.clone(),
            step: step.map(str::to_string),
            what: change.describe(),
        });
        match op(&Permit::new(false)) {
            Ok(value) => {
                if let Some(persist) = ctx.persist {
                    if let Err(why) = persist() {
                        ctx.journal.record(&event("failed", Some(why.clone()), None));
                        return Err(GateError::Stopped { why });
                    }
                }
                let result = serde_json::to_value(&value).ok().filter(|v| !v.is_null());
                ctx.journal.record(&event("applied", None, result));
                let n = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
                crate::crash::point("change", n);
                Ok(Outcome::Applied(value))
            }
            Err(source) => {
                let why = ctx.redactor.redact(&source.to_string());
                ctx.journal.record(&event("failed", Some(why), None));
                Err(GateError::Refused { verb: change.verb, target: change.target, checked_only: false, source })
            }
        }
    }

    fn ask<E>(&self, ctx: &GateContext<'_>, change: &Change, question: &str, why: &str) -> Result<(), GateError<E>> {
        let _one_at_a_time = lock(&self.prompt);
        let question = question.to_string();
        let answer = match ctx.console.ask(&question) {
            None => Answer::NoTerminal,
            Some(Ok(true)) => Answer::Yes,
            Some(Ok(false) | Err(_)) => Answer::No,
        };
        ctx.journal.record(&Event::Prompt { question, answer: answer.journal().into(), name: None });
        match answer {
            Answer::Yes => Ok(()),
            Answer::NoTerminal => Err(GateError::NeedsConfirmation {
                verb: change.verb.clone(),
                target: change.target.clone(),
                why: why.to_string(),
            }),
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
        ctx.journal.record(&Event::Prompt { question: question.into(), answer: answer.journal().into(), name: None });
        if matches!(answer, Answer::WouldAsk | Answer::YesByFlag) {
            ctx.console.answered(question, answer);
        }
        Ok(answer)
    }

    /// Runs `op` on hubops' own coordination objects (a run's Lease), which
    /// are no part of the plan and are never replayed: with a permit to
    /// apply in a run that applies, not at all in a dry run (dry runs take
    /// local locks only).
    pub(crate) fn coordinate<T>(&self, op: impl FnOnce(&Permit) -> T) -> Option<T> {
        (self.mode == Mode::Apply).then(|| op(&Permit::new(false)))
    }

    /// An acknowledgement a runbook asks (`acknowledge`): that a person did
    /// something by hand. `--ack NAME` answers it; `--yes` never does; a dry
    /// run records that it would ask; otherwise a person answers at the
    /// terminal (`NoTerminal` when there is none). Journaled with its name.
    pub(crate) fn acknowledge(&self, ctx: &GateContext<'_>, name: &str, text: &str) -> std::io::Result<Answer> {
        let _one_at_a_time = lock(&self.prompt);
        lock(&self.asked).insert(name.to_string());
        let answer = if self.mode == Mode::DryRun {
            Answer::WouldAsk
        } else if self.acks.contains(name) {
            Answer::AckByFlag
        } else {
            match ctx.console.ask(text) {
                None => Answer::NoTerminal,
                Some(Ok(true)) => Answer::Yes,
                Some(Ok(false)) => Answer::No,
                Some(Err(e)) => return Err(e),
            }
        };
        ctx.journal.record(&Event::Prompt {
            question: text.into(),
            answer: answer.journal().into(),
            name: Some(name.to_string()),
        });
        match answer {
            Answer::WouldAsk => ctx.console.answered(&format!("{text} (answer with --ack {name})"), answer),
            Answer::AckByFlag => ctx.console.answered(&format!("{text} (--ack {name})"), answer),
            _ => {}
        }
        Ok(answer)
    }

    /// The `--ack` names no acknowledgement of the run asked for.
    pub(crate) fn unused_acks(&self) -> Vec<String> {
        let asked = lock(&self.asked);
        self.acks.iter().filter(|a| !asked.contains(*a)).cloned().collect()
    }
    /// How many changes were made (not planned).
    pub(crate) fn applied_count(&self) -> usize {
        self.applied.load(Ordering::SeqCst)
    }

    /// The plan so far: every change a dry run checked, in order.
    pub(crate) fn plan(&self) -> Vec<Planned> {
        lock(&self.plan).clone()
    }

    /// How many changes were handed back from earlier runs of the lineage.
    pub(crate) fn replayed_count(&self) -> usize {
        self.replayed.load(Ordering::SeqCst)
    }

    /// How many changes were planned.
    pub(crate) fn planned_count(&self) -> usize {
        lock(&self.plan).len()
    }
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
        scope: change.scope,
        locked_by: change.locked_by,
        confirm: change.confirm.map(|c| redactor.redact(&c)),
        idempotent: change.idempotent,
    }
}
