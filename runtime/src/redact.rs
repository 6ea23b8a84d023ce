//! Secret redaction: values of parameters declared `secret: true` are
//! replaced by `***` in everything the run writes (journal, plan, errors).
//! A leaf: it imports nothing of hubops.

use std::sync::{Arc, RwLock};

use serde_json::Value;

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// A redactor for these secret values (longest first, so one secret that
    /// contains another is replaced whole).
    #[must_use]
    pub fn new(secrets: Vec<String>) -> Self {
        let redactor = Self::default();
        for secret in secrets {
            redactor.add(&secret);
        }
        redactor
    }

    /// Adds a secret learnt during the run (a bearer token a binding was
    /// given, a password read from a Secret): from now on it is redacted too.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut secrets = vec![secret.to_string()];
        // JSON-escaped forms too, since journal lines are JSON.
        let escaped: Vec<String> = secrets
            .iter()
            .filter_map(|s| serde_json::to_string(s).ok())
            .map(|s| s.trim_matches('"').to_string())
            .collect();
        secrets.extend(escaped);
        let mut known = self.secrets.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.extend(secrets);
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
    }

    /// `text` with every secret replaced by `***`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let secrets = self.secrets.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    /// `value` with every secret replaced by `***` inside its strings (keys
    /// included); numbers, booleans and the JSON structure are left alone.
    #[must_use]
    pub fn redact_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (self.redact(k), self.redact_value(v))).collect())
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_plain_and_json_escaped_secrets() {
        let r = Redactor::new(vec!["tok\"en".into(), "abc".into()]);
        assert_eq!(r.redact("Bearer abc"), "Bearer ***");
        assert_eq!(r.redact(r#"{"t":"tok\"en"}"#), r#"{"t":"***"}"#);
    }
}
