//! Step book-keeping: names are unique within a run, each step has a
//! position, and completed steps keep their rollback for `--on-failure rollback`.

use std::collections::HashSet;

use rhai::FnPtr;

/// A completed step's rollback, with the modules the script had imported
/// when the step ran: rollbacks run after the script has ended, when its
/// imports are gone, and a rollback may call them (`cutover::swap`).
#[derive(Debug, Clone)]
pub(crate) struct Rollback {
    pub(crate) f: FnPtr,
    pub(crate) imports: Vec<(rhai::ImmutableString, rhai::Shared<rhai::Module>)>,
    /// The function libraries in scope where the step ran: a step inside an
    /// imported module's function (`gitops::hold`) has a rollback closure
    /// that lives in that module's library, not the script's.
    pub(crate) libs: Vec<rhai::Shared<rhai::Module>>,
}

/// The steps of a run so far.
#[derive(Debug, Default)]
pub(crate) struct Steps {
    names: HashSet<String>,
    count: usize,
    /// The steps running now, innermost last (steps can nest).
    running: Vec<String>,
    completed: Vec<(String, Option<Rollback>)>,
}

impl Steps {
    /// Registers a step; `None` when the name was used before.
    pub(crate) fn begin(&mut self, name: &str) -> Option<usize> {
        if !self.names.insert(name.to_string()) {
            return None;
        }
        self.count += 1;
        self.running.push(name.to_string());
        Some(self.count)
    }

    /// A step ended, whether it succeeded or not.
    pub(crate) fn end(&mut self, name: &str) {
        if let Some(i) = self.running.iter().rposition(|n| n == name) {
            self.running.remove(i);
        }
    }

    /// The innermost step running now.
    pub(crate) fn current(&self) -> Option<&str> {
        self.running.last().map(String::as_str)
    }

    pub(crate) fn complete(&mut self, name: &str, rollback: Option<Rollback>) {
        self.completed.push((name.to_string(), rollback));
    }

    /// A rollback of `step` runs now: changes are made "in" `rollback:STEP`.
    pub(crate) fn enter_rollback(&mut self, step: &str) {
        self.running.push(format!("rollback:{step}"));
    }

    /// The rollback ended.
    pub(crate) fn leave_rollback(&mut self) {
        self.running.pop();
    }

    /// Completed steps that have a rollback, newest first.
    pub(crate) fn rollbacks(&mut self) -> Vec<(String, Rollback)> {
        self.completed.drain(..).rev().filter_map(|(name, rb)| rb.map(|rb| (name, rb))).collect()
    }
}
