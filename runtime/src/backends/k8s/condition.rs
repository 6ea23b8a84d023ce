//! Named wait conditions, evaluated on the object as last seen (`None` when
//! it does not exist). Closures over the object are evaluated by the
//! binding, on the script thread.
//!
//! - `deleted`: the object is gone; `exists`: it is there.
//! - `phase=Running` (or any `path=value`, `status.phase=Bound`, with
//!   `phase` short for `status.phase`).
//! - `condition=Ready` or a bare word such as `Ready`, `Available`,
//!   `Complete`: a `status.conditions` entry of that type is `"True"`, or
//!   else `status.phase` equals the word (`Bound`, `Active`, `Running`).

use serde_json::Value;

use super::select::lookup;
use super::Error;

/// A parsed named condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The object is gone.
    Deleted,
    /// The object exists.
    Exists,
    /// A field has a value.
    Field(String, String),
    /// A status condition is True, or the phase has this name.
    Named(String),
}

impl Condition {
    /// Parses a condition as scripts write it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        match text {
            "" => Err(Error::Usage("a wait condition is empty".into())),
            "deleted" | "delete" | "gone" => Ok(Self::Deleted),
            "exists" | "created" => Ok(Self::Exists),
            _ => match text.split_once('=') {
                Some(("condition", name)) => Ok(Self::Named(name.trim().into())),
                Some(("phase", value)) => Ok(Self::Field("status.phase".into(), value.trim().into())),
                Some((path, value)) => Ok(Self::Field(path.trim().trim_start_matches('.').into(), value.trim().into())),
                None if text.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(Self::Named(text.into())),
                None => Err(Error::Usage(format!(
                    "wait condition `{text}` is not `deleted`, `exists`, a condition such as `Ready`, or `path=value`"
                ))),
            },
        }
    }

    /// Whether the object satisfies the condition.
    #[must_use]
    pub fn met(&self, obj: Option<&Value>) -> bool {
        match (self, obj) {
            (Self::Deleted, found) => found.is_none(),
            (Self::Exists, found) => found.is_some(),
            (_, None) => false,
            (Self::Field(path, want), Some(obj)) => lookup(obj, path).is_some_and(|v| match v {
                Value::String(s) => s == want,
                other => *other == serde_json::from_str::<Value>(want).unwrap_or(Value::Null),
            }),
            (Self::Named(name), Some(obj)) => {
                let by_condition = obj
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(name.as_str())))
                    .map(|c| c.get("status").and_then(Value::as_str) == Some("True"));
                by_condition
                    .unwrap_or_else(|| obj.pointer("/status/phase").and_then(Value::as_str) == Some(name.as_str()))
            }
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deleted => f.write_str("deleted"),
            Self::Exists => f.write_str("present"),
            Self::Field(path, value) => write!(f, "{path}={value}"),
            Self::Named(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_conditions() {
        let pod = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "False"}]}});
        let pvc = json!({"status": {"phase": "Bound"}});
        let check = |c: &str, o: Option<&Value>| Condition::parse(c).unwrap().met(o);
        assert!(check("Ready", Some(&pod)));
        assert!(check("condition=Ready", Some(&pod)));
        assert!(!check("PodScheduled", Some(&pod)));
        assert!(check("phase=Running", Some(&pod)));
        assert!(check("Running", Some(&pod)));
        assert!(check("Bound", Some(&pvc)));
        assert!(!check("Bound", Some(&pod)));
        assert!(check("deleted", None));
        assert!(!check("deleted", Some(&pod)));
        assert!(!check("Ready", None));
        assert!(Condition::parse("is ready").is_err());
    }
}
