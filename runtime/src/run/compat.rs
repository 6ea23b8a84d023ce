//! TEMPORARY, deleted when the last family is migrated to the one-closure
//! gate (issue 10): the run's old surface, so families move one at a time
//! while the tree builds. Nothing new may use it.

use std::sync::{Arc, Mutex};

use rhai::EvalAltResult;

use super::Run;
use crate::backends::Target;
use crate::bindings::ScriptResult;
use crate::effects::{Failure, GateError, Mode, Outcome, Permit};
use crate::world::World;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The old two-closure outcome.
#[derive(Debug)]
pub enum LegacyOutcome<T> {
    /// Made.
    Applied(T),
    /// Planned.
    Planned,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Legacy(BoxError);

impl Failure for Legacy {
    fn kind(&self) -> &'static str {
        "Refused"
    }
}

impl Run {
    /// Old: whether the run only plans.
    pub(crate) fn dry_run(&self) -> bool {
        self.gate.mode() == Mode::DryRun
    }

    /// Old: the world, as a shared mutex.
    pub(crate) fn world(&self) -> Option<&Arc<Mutex<World>>> {
        match &self.target {
            Target::World(w) => Some(w.arc()),
            Target::Live(_) => None,
        }
    }

    /// Old: a change with a check closure and an apply closure.
    pub(crate) fn change_legacy<T>(
        &self,
        change: crate::effects::Change,
        check: impl FnOnce(&Permit) -> Result<(), BoxError>,
        apply: impl FnOnce(&Permit) -> Result<T, BoxError>,
    ) -> ScriptResult<LegacyOutcome<T>> {
        self.check_cancelled()?;
        let ctx = self.gate_context();
        let out = self.gate.submit(&ctx, change, |p| {
            if p.is_check() {
                check(p).map(|()| None).map_err(Legacy)
            } else {
                apply(p).map(Some).map_err(Legacy)
            }
        });
        match out {
            Ok(Outcome::Applied(Some(v))) => Ok(LegacyOutcome::Applied(v)),
            Ok(_) => Ok(LegacyOutcome::Planned),
            Err(e) => Err(legacy_error(&self.redactor, &e)),
        }
    }
}

fn legacy_error(redactor: &crate::redact::Redactor, err: &GateError<Legacy>) -> Box<EvalAltResult> {
    let GateError::Refused { source, checked_only, .. } = err else {
        return crate::bindings::error::gate(redactor, err);
    };
    let mut map = crate::bindings::error_map(
        if *checked_only { "WouldFail" } else { "Refused" },
        &redactor.redact(&err.to_string()),
    );
    let causes: rhai::Array = std::iter::successors(Some(source.0.as_ref() as &dyn std::error::Error), |e| e.source())
        .map(|e| rhai::Dynamic::from(redactor.redact(&e.to_string())))
        .collect();
    map.insert("causes".into(), causes.into());
    Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))
}
