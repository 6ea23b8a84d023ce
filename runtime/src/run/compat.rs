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

/// An answer the old surface cannot record: a resume re-sends such changes.
struct Opaque<T>(Option<T>);

impl<T> serde::Serialize for Opaque<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de, T> serde::Deserialize<'de> for Opaque<T> {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this family does not record its answers yet"))
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

    /// Old: the kubeconfig.
    pub(crate) fn kubeconfig(&self) -> Option<&std::path::Path> {
        match &self.target {
            Target::Live(l) => l.kubeconfig.as_deref(),
            Target::World(_) => None,
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
        let step = self.current_step();
        let out = self.gate.submit(&ctx, step.as_deref(), change, |p| {
            if p.is_check() {
                check(p).map(|()| Opaque(None)).map_err(Legacy)
            } else {
                apply(p).map(|v| Opaque(Some(v))).map_err(Legacy)
            }
        });
        match out {
            Ok(Outcome::Applied(Opaque(Some(v)))) => Ok(LegacyOutcome::Applied(v)),
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
