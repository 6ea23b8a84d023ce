//! TEMPORARY (issue 10): the option readers and the two-closure gate helper
//! that the Helm and Argo CD bindings still import from here. `sh::` itself
//! no longer uses them (it reads options with `bindings::options::Options`
//! and hands the gate one closure); they go when those families move onto
//! the same surface.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::EvalAltResult;

use crate::backends::shell::process;
use crate::bindings::{duration_arg, error_map, script_error, ScriptResult};
use crate::effects::{Change, Failure, Permit};
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rejects options a function does not have, naming the ones it has.
pub(crate) fn known_options(function: &str, options: &rhai::Map, known: &[&str]) -> ScriptResult<()> {
    crate::bindings::options::Options::new(function, options, known).map(|_| ())
}

pub(crate) fn string_option(options: &rhai::Map, key: &str) -> ScriptResult<Option<String>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => Err(script_error("Invalid", &format!("`{key}` must be a string, not {}", v.type_name()))),
    }
}

pub(crate) fn bool_option(options: &rhai::Map, key: &str, default: bool) -> ScriptResult<bool> {
    match options.get(key) {
        None => Ok(default),
        Some(v) if v.is_unit() => Ok(default),
        Some(v) => v.as_bool().map_err(|t| script_error("Invalid", &format!("`{key}` must be true or false, not {t}"))),
    }
}

pub(crate) fn timeout_option(options: &rhai::Map, default: Duration) -> ScriptResult<Duration> {
    match options.get("timeout") {
        None => Ok(default),
        Some(v) if v.is_unit() => Ok(default),
        Some(v) => {
            let d = duration_arg(v, "`timeout`")?;
            if d.is_zero() {
                return Err(script_error("Invalid", "`timeout` must be longer than zero"));
            }
            Ok(d)
        }
    }
}

/// An error's message followed by its causes, for one-line reports.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    message
}

/// Hands a command to the gate with a check closure and an apply closure,
/// keeping the kind of a backend error for the script.
pub(crate) fn gated<T>(
    run: &Run,
    change: Change,
    check: impl FnOnce(&Permit) -> Result<(), process::Error>,
    apply: impl FnOnce(&Permit) -> Result<T, process::Error>,
) -> ScriptResult<Outcome<T>> {
    let failure: Arc<Mutex<Option<rhai::Map>>> = Arc::default();
    let slot = failure.clone();
    let redactor = run.redactor().clone();
    let apply = move |permit: &Permit| -> Result<T, BoxError> {
        apply(permit).map_err(|e| {
            let message = with_causes(&e);
            let mut map = error_map(e.kind(), &redactor.redact(&message));
            if let process::Error::Failed { status, stderr_tail, .. } = &e {
                map.insert("status".into(), i64::from(*status).into());
                map.insert("stderr".into(), redactor.redact(stderr_tail).into());
            }
            *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(map);
            BoxError::from(message)
        })
    };
    let check = |permit: &Permit| check(permit).map_err(|e| BoxError::from(with_causes(&e)));
    run.change_legacy(change, check, apply).map_err(|gate_error| {
        match failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            Some(map) => Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE)),
            None => gate_error,
        }
    })
}
