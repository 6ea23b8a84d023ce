//! Arguments at the script boundary of the AWS families that are not option
//! keys (those go through `bindings::options`): tags, values that may be one
//! string or several, and AWS objects as script maps.

use rhai::Dynamic;

use super::super::{script_error, ScriptResult};
use crate::backends::aws as backend;

/// A map of tags (`#{ Name: "home" }`); values of any type become text.
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
