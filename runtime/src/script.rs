//! Errors as scripts see them: the error map (`kind`, `message`, ...) every
//! binding and the run build, and one converter from a backend's typed error
//! ([`Failure`]) or the gate's verdict ([`GateError`]) to the script's error
//! map, so every family's `catch (e)` reads the same fields:
//!
//! - `kind`: the backend's kind (`NotFound`, `Conflict`, `Forbidden`, ...);
//! - `gate`: for a refused change, the gate's verdict (`Refused`, or
//!   `WouldFail` in a dry run);
//! - `message`, `causes` (the chain of sources), `hint` where one helps, and
//!   the family's own fields (`code`, `contexts`, ...).
//!
//! Every text is redacted before it reaches the script. Below the bindings
//! and the run, which both build on it; it imports only the gate's words and
//! redaction.

use rhai::{Dynamic, EvalAltResult, Position};

use crate::effects::{Failure, GateError};
use crate::redact::Redactor;

/// What a binding returns to Rhai.
pub type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// An error map with `kind` and `message`.
#[must_use]
pub fn error_map(kind: &str, message: &str) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("kind".into(), kind.into());
    map.insert("message".into(), message.into());
    map
}

/// A script error with `kind` and `message`; the engine fills in the position.
#[must_use]
pub fn script_error(kind: &str, message: &str) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(Dynamic::from_map(error_map(kind, message)), Position::NONE))
}

/// A backend error as a script error.
pub(crate) fn failure<E: Failure + ?Sized>(redactor: &Redactor, err: &E) -> Box<EvalAltResult> {
    let mut map = error_map(err.kind(), &redactor.redact(&err.to_string()));
    let causes = causes(redactor, err.source());
    if !causes.is_empty() {
        map.insert("causes".into(), causes.into());
    }
    extend(&mut map, redactor, err);
    Box::new(EvalAltResult::ErrorRuntime(map.into(), Position::NONE))
}

/// The gate's verdict on a change as a script error.
pub(crate) fn gate<E: Failure>(redactor: &Redactor, err: &GateError<E>) -> Box<EvalAltResult> {
    let message = redactor.redact(&err.to_string());
    match err {
        GateError::Refused { source, checked_only, .. } => {
            let mut map = error_map(source.kind(), &message);
            map.insert("gate".into(), if *checked_only { "WouldFail" } else { "Refused" }.into());
            let mut chain = vec![Dynamic::from(redactor.redact(&source.to_string()))];
            chain.extend(causes(redactor, source.source()));
            map.insert("causes".into(), chain.into());
            extend(&mut map, redactor, source);
            Box::new(EvalAltResult::ErrorRuntime(map.into(), Position::NONE))
        }
        GateError::Declined { .. } => script_error("Declined", &message),
        GateError::NeedsConfirmation { .. } => {
            let mut map = error_map("Usage", &message);
            map.insert("hint".into(), "pass --yes to confirm destructive changes, or run from a terminal".into());
            Box::new(EvalAltResult::ErrorRuntime(map.into(), Position::NONE))
        }
        GateError::Interrupted => script_error("Interrupted", "interrupted"),
        GateError::Stopped { .. } => script_error("Stopped", &message),
        GateError::Unreplayable { .. } => script_error("Resume", &message),
    }
}

fn causes(redactor: &Redactor, first: Option<&(dyn std::error::Error + 'static)>) -> rhai::Array {
    std::iter::successors(first, |e| e.source()).map(|e| Dynamic::from(redactor.redact(&e.to_string()))).collect()
}

fn extend<E: Failure + ?Sized>(map: &mut rhai::Map, redactor: &Redactor, err: &E) {
    for (key, value) in err.fields() {
        let value = rhai::serde::to_dynamic(redactor.redact_value(&value)).unwrap_or(Dynamic::UNIT);
        map.insert(key.into(), value);
    }
    if let Some(hint) = err.hint() {
        map.insert("hint".into(), redactor.redact(&hint).into());
    }
}

/// The `kind` of a script error map (`None` for errors that are not maps).
pub(crate) fn kind_of(err: &EvalAltResult) -> Option<String> {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => {
            value.read_lock::<rhai::Map>().and_then(|m| m.get("kind").map(ToString::to_string))
        }
        _ => None,
    }
}
