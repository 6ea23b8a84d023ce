//! Arguments and errors at the script boundary of the AWS families: options
//! maps, tags, AWS errors as script error maps (with `kind` and `code`), and
//! placeholder ids of what a dry run only planned.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult};

use super::super::{error_map, script_error, ScriptResult};
use crate::backends::aws::{self as backend, Error};
use crate::run::Run;

/// An AWS error as a script error: `kind`, `message`, and `code` (AWS's
/// error code) where AWS gave one.
pub(crate) fn aws_error(run: &Run, err: &Error) -> Box<EvalAltResult> {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        // Layers of the HTTP stack often repeat their cause's text.
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    let mut map = error_map(err.kind(), &run.redactor().redact(&message));
    if let Some(code) = err.code() {
        map.insert("code".into(), code.into());
    }
    if let Error::Ambiguous { candidates, .. } = err {
        map.insert(
            "candidates".into(),
            candidates.iter().map(|c| Dynamic::from(c.clone())).collect::<rhai::Array>().into(),
        );
    }
    Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))
}

/// Where a gate error came from: the AWS error the check or apply closure
/// hit, kept so the script sees AWS's `kind` and `code` rather than only
/// the gate's `Refused`/`WouldFail` (which moves to `gate`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Cause(Arc<std::sync::Mutex<Option<Kept>>>);

/// An AWS error's `kind` and code.
type Kept = (&'static str, Option<String>);

impl Cause {
    /// Remembers `err` and boxes it for the gate.
    pub(crate) fn keep(&self, err: Error) -> Box<dyn std::error::Error + Send + Sync> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((err.kind(), err.code().map(ToString::to_string)));
        Box::new(err)
    }

    /// Rewrites a gate error map with the kept AWS kind and code.
    pub(crate) fn enrich(&self, err: Box<EvalAltResult>) -> Box<EvalAltResult> {
        let kept = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let Some((kind, code)) = kept else {
            return err;
        };
        let EvalAltResult::ErrorRuntime(value, pos) = err.as_ref() else {
            return err;
        };
        let Some(mut map) = value.clone().try_cast::<rhai::Map>() else {
            return err;
        };
        let pos = *pos;
        // The gate's verdict (`Refused`, `WouldFail`) moves to `gate`, as the
        // Kubernetes family does; `kind` becomes AWS's.
        if let Some(verdict) = map.get("kind").cloned() {
            map.insert("gate".into(), verdict);
        }
        map.insert("kind".into(), kind.into());
        if let Some(code) = code {
            map.insert("code".into(), code.into());
        }
        Box::new(EvalAltResult::ErrorRuntime(map.into(), pos))
    }
}

/// Boxes an interruption (or other script error) for the gate.
pub(crate) fn boxed(err: Box<EvalAltResult>) -> Box<dyn std::error::Error + Send + Sync> {
    err
}

/// Fails on options a function does not know.
pub(crate) fn check_options(function: &str, options: &rhai::Map, known: &[&str]) -> ScriptResult<()> {
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            return Err(script_error(
                "Invalid",
                &format!("`{function}` has no option `{key}` (options: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// A string option.
pub(crate) fn opt_str(options: &rhai::Map, key: &str) -> ScriptResult<Option<String>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .clone()
            .into_immutable_string()
            .map(|s| Some(s.to_string()))
            .map_err(|t| script_error("Invalid", &format!("`{key}` must be a string, not {t}"))),
    }
}

/// An integer option.
pub(crate) fn opt_int(options: &rhai::Map, key: &str) -> ScriptResult<Option<i64>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => {
            v.as_int().map(Some).map_err(|t| script_error("Invalid", &format!("`{key}` must be an integer, not {t}")))
        }
    }
}

/// A boolean option.
pub(crate) fn opt_bool(options: &rhai::Map, key: &str) -> ScriptResult<Option<bool>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .map_err(|t| script_error("Invalid", &format!("`{key}` must be true or false, not {t}"))),
    }
}

/// A map of tags (`#{ Name: "home" }`).
pub(crate) fn tags_arg(value: Option<&Dynamic>, what: &str) -> ScriptResult<backend::Tags> {
    let Some(value) = value.filter(|v| !v.is_unit()) else {
        return Ok(backend::Tags::new());
    };
    let map =
        value.read_lock::<rhai::Map>().ok_or_else(|| script_error("Invalid", &format!("{what} must be a map")))?;
    Ok(map.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// A string or an array of strings.
pub(crate) fn strings_arg(value: &Dynamic, what: &str) -> ScriptResult<Vec<String>> {
    if let Some(array) = value.read_lock::<rhai::Array>() {
        return Ok(array.iter().map(ToString::to_string).collect());
    }
    value
        .clone()
        .into_immutable_string()
        .map(|s| vec![s.to_string()])
        .map_err(|t| script_error("Invalid", &format!("{what} must be a string or an array of strings, not {t}")))
}

/// Any serializable value as a script value.
pub(crate) fn to_dynamic<T: serde::Serialize>(value: &T) -> ScriptResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// A serializable struct as a script map.
pub(crate) fn to_map<T: serde::Serialize>(value: &T) -> ScriptResult<rhai::Map> {
    to_dynamic(value)?
        .try_cast::<rhai::Map>()
        .ok_or_else(|| script_error("Internal", "an AWS object did not convert to a map"))
}

/// A placeholder id for something a dry run only planned: `vol-planned-1`.
pub(crate) fn planned_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}-planned-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Whether `id` is a placeholder of a planned resource.
pub(crate) fn is_planned(id: &str) -> bool {
    id.contains("-planned-")
}
