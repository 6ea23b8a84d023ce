//! What a run owes the site: changes a runbook recorded as "must undo"
//! (`must_undo`), kept until it records them undone (`undone`). A resumed
//! run starts owing what its lineage owed; the end of a run names whatever
//! is still owed (see `commands::run`). Book-keeping only: undoing is the
//! runbook's work, through the gate like every change.

use std::collections::BTreeMap;

use super::Run;
use crate::effects::Mode;
use crate::journal::Event;

/// One change that must be undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owed {
    /// What was done.
    pub(crate) what: String,
    /// How a person undoes it.
    pub(crate) undo: String,
}

/// What is owed, by the runbook's id for it.
pub(crate) type Ledger = BTreeMap<String, Owed>;

/// What the events of a lineage leave owed.
pub(crate) fn owed(events: &[Event]) -> Ledger {
    let mut ledger = Ledger::new();
    for event in events {
        if let Event::MustUndo { id, what, undo, state } = event {
            match state.as_str() {
                "pending" => {
                    ledger.insert(id.clone(), Owed { what: what.clone(), undo: undo.clone() });
                }
                "undone" => {
                    ledger.remove(id);
                }
                _ => {}
            }
        }
    }
    ledger
}

fn lock(ledger: &std::sync::Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Run {
    /// Records that `what` was done and must be undone (`undo`: how). In a
    /// dry run nothing was done: it is journaled as `planned` and not owed.
    pub fn must_undo(&self, id: &str, what: &str, undo: &str) {
        let (id, what, undo) = (self.redactor.redact(id), self.redactor.redact(what), self.redactor.redact(undo));
        let planned = self.gate.mode() == Mode::DryRun;
        let state = if planned { "planned" } else { "pending" };
        self.record(&Event::MustUndo { id: id.clone(), what: what.clone(), undo: undo.clone(), state: state.into() });
        if !planned {
            lock(&self.owed).insert(id, Owed { what, undo });
        }
    }

    /// Records that `id` was undone; `false` (and nothing journaled) when
    /// nothing by that id is owed.
    pub fn undone(&self, id: &str) -> bool {
        let id = self.redactor.redact(id);
        let Some(owed) = lock(&self.owed).remove(&id) else { return false };
        self.record(&Event::MustUndo { id, what: owed.what, undo: owed.undo, state: "undone".into() });
        true
    }

    /// What is still owed, by id.
    pub(crate) fn owed(&self) -> Ledger {
        lock(&self.owed).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, state: &str) -> Event {
        Event::MustUndo { id: id.into(), what: format!("did {id}"), undo: format!("undo {id}"), state: state.into() }
    }

    #[test]
    fn a_lineage_owes_what_it_did_and_did_not_undo() {
        let events = [event("a", "pending"), event("b", "pending"), event("a", "undone"), event("c", "planned")];
        let ledger = owed(&events);
        assert_eq!(ledger.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(ledger["b"], Owed { what: "did b".into(), undo: "undo b".into() });
        assert!(owed(&[event("a", "pending"), event("a", "undone"), event("a", "pending")]).contains_key("a"));
    }
}
