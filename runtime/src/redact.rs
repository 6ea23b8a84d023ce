//! Secret redaction. Values of parameters declared `secret: true` (and
//! secrets learnt during a run: bearer tokens, passwords read from a Secret)
//! are taken out of everything hubops writes: the journal, stdout, stderr,
//! errors and their causes, plans, saved worlds, validation errors, logs.
//!
//! Redaction works on values, not on serialised text: journal events and
//! world sections are walked as JSON trees and only string (and number)
//! values are rewritten, so a secret such as `1`, `ok` or `true` can never
//! break the JSON around it. Each secret is matched in the encodings people
//! meet: as written, JSON-escaped at any depth, URL-encoded, base64 (at any
//! alignment inside a longer base64 text), and with its first letter in
//! either case (error messages lowercase their first letter). Secrets
//! shorter than [`SHORT`] characters are matched only as whole values, since
//! replacing `ok` inside every word would destroy the text around it and
//! tell a reader where the secret was.
//!
//! The secrets of a process are held in one process-wide set ([`global`]):
//! the printer, the journal and world saves all consult it, so nothing can
//! be written that skipped it. A leaf: it imports nothing of hubops.

use std::sync::{Arc, OnceLock, RwLock};

use base64::Engine as _;
use serde_json::Value;

/// Secrets shorter than this are matched only as whole values.
pub const SHORT: usize = 6;

/// What a secret is replaced by.
pub const MASK: &str = "***";

#[derive(Debug, Default)]
struct Known {
    /// Forms matched anywhere in a text, longest first.
    anywhere: Vec<String>,
    /// Texts matched only as a whole value (short secrets, and every form
    /// of long ones too, which a whole-value match covers anyway).
    whole: Vec<String>,
    /// Integer secrets, matched as JSON numbers.
    numbers: Vec<i64>,
}

/// The set of secrets to take out of output. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    known: Arc<RwLock<Known>>,
}

/// The process-wide set every writer consults.
#[must_use]
pub fn global() -> &'static Redactor {
    static GLOBAL: OnceLock<Redactor> = OnceLock::new();
    GLOBAL.get_or_init(Redactor::default)
}

impl Redactor {
    /// A redactor for these secret values.
    #[must_use]
    pub fn new(secrets: Vec<String>) -> Self {
        let redactor = Self::default();
        for secret in secrets {
            redactor.add(&secret);
        }
        redactor
    }

    /// Adds a secret (its text form): from now on it is redacted too.
    pub fn add(&self, secret: &str) {
        let secret = secret.trim_matches('\n');
        if secret.is_empty() || secret == MASK {
            return;
        }
        let mut known = self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if secret.chars().count() < SHORT {
            push_unique(&mut known.whole, secret.to_string());
            return;
        }
        for form in forms(secret) {
            push_unique(&mut known.anywhere, form);
        }
        known.anywhere.sort_by_key(|s| std::cmp::Reverse(s.len()));
        push_unique(&mut known.whole, secret.to_string());
    }

    /// Adds a secret of any type: strings as they are; numbers, booleans,
    /// lists and maps by their text forms and their leaves.
    pub fn add_value(&self, value: &Value) {
        match value {
            Value::Null => {}
            Value::String(s) => self.add(s),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    let mut known = self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if !known.numbers.contains(&i) {
                        known.numbers.push(i);
                    }
                }
                self.add(&n.to_string());
            }
            Value::Bool(b) => self.add(&b.to_string()),
            Value::Array(items) => {
                for item in items {
                    self.add_value(item);
                }
                self.add(&value.to_string());
            }
            Value::Object(map) => {
                for item in map.values() {
                    self.add_value(item);
                }
                self.add(&value.to_string());
            }
        }
    }

    /// Adds every non-empty string in `value` (a secret answer, such as a
    /// Vault read), and nothing else: its numbers and keys are not secret.
    pub fn add_strings(&self, value: &Value) {
        match value {
            Value::String(s) if !s.is_empty() => self.add(s),
            Value::Array(items) => items.iter().for_each(|v| self.add_strings(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_strings(v)),
            _ => {}
        }
    }

    /// Whether any secret is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.anywhere.is_empty() && known.whole.is_empty() && known.numbers.is_empty()
    }

    /// `text` with every secret replaced by `***`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.whole.iter().any(|w| w == text.trim()) {
            return MASK.to_string();
        }
        let mut out = text.to_string();
        for form in &known.anywhere {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        out
    }

    /// A map key: long secrets are taken out of it, but a key is never
    /// replaced whole (`data` is the journal's own structure, not a secret).
    fn redact_key(&self, key: &str) -> String {
        let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = key.to_string();
        for form in &known.anywhere {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        out
    }

    /// `value` with every secret taken out of its strings (and out of keys)
    /// and integer secrets replaced; the JSON structure is left alone.
    #[must_use]
    pub fn redact_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Number(n) => {
                let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                if n.as_i64().is_some_and(|i| known.numbers.contains(&i)) {
                    Value::from(MASK)
                } else {
                    value.clone()
                }
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (self.redact_key(k), self.redact_value(v))).collect())
            }
            Value::Bool(_) | Value::Null => value.clone(),
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !item.is_empty() && !list.contains(&item) {
        list.push(item);
    }
}

/// Every form of a long secret that can appear in text.
fn forms(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut bases = vec![secret.to_string()];
    // First letter in either case: error messages lowercase their first letter.
    for flipped in [first_lower(secret), first_upper(secret)] {
        if flipped != secret {
            bases.push(flipped);
        }
    }
    for base in bases {
        // JSON-escaped, and escaped again (a JSON string inside a JSON string).
        let mut escaped = base.clone();
        for _ in 0..3 {
            out.push(escaped.clone());
            let quoted = serde_json::to_string(&escaped).unwrap_or_default();
            let next = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_string();
            if next == escaped {
                break;
            }
            escaped = next;
        }
        out.push(url_encode(&base, false));
        out.push(url_encode(&base, true));
        out.extend(base64_cores(&base));
    }
    out.retain(|f| f.chars().count() >= SHORT.min(secret.chars().count()));
    out
}

fn first_lower(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

fn first_upper(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// Percent-encoding of everything but RFC 3986's unreserved characters;
/// `plus` writes spaces as `+` (form encoding).
fn url_encode(s: &str, plus: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' if plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The parts of the base64 encoding of `s` that are the same wherever `s`
/// starts inside a longer text: for each of the three alignments, the
/// characters that depend only on the secret's bytes.
fn base64_cores(s: &str) -> Vec<String> {
    let bytes = s.as_bytes();
    let mut out = vec![base64::engine::general_purpose::STANDARD.encode(bytes)];
    for engine in [&base64::engine::general_purpose::STANDARD_NO_PAD, &base64::engine::general_purpose::URL_SAFE_NO_PAD]
    {
        for offset in 0..3usize {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            // Characters that cover a prefix byte vary with what precedes the
            // secret, and the last partial one with what follows it.
            let first = (offset * 8).div_ceil(6);
            let last = padded.len() * 8 / 6;
            if let Some(core) = encoded.get(first..last) {
                out.push(core.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_plain_and_json_escaped_secrets() {
        let r = Redactor::new(vec!["tok\"en-123".into(), "abcdefgh".into()]);
        assert_eq!(r.redact("Bearer abcdefgh"), "Bearer ***");
        assert_eq!(r.redact(r#"{"t":"tok\"en-123"}"#), r#"{"t":"***"}"#);
        assert_eq!(r.redact(r#"{"t":"{\"u\":\"tok\\\"en-123\"}"}"#), r#"{"t":"{\"u\":\"***\"}"}"#);
    }

    #[test]
    fn encodings_people_meet_are_caught() {
        let secret = "S3cr3t p@ss/word";
        let r = Redactor::new(vec![secret.into()]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("user:{secret}"));
        for text in [
            format!("url ?token={}", url_encode(secret, false)),
            format!("form token={}", url_encode(secret, true)),
            format!("basic {b64}"),
            format!("error: {}", first_lower(secret)),
        ] {
            let out = r.redact(&text);
            assert!(!out.contains("3cr3t"), "{text} -> {out}");
            assert!(out.contains(MASK), "{text} -> {out}");
        }
        for offset in 0..6 {
            let text = base64::engine::general_purpose::STANDARD.encode(format!("{}{secret}tail", "x".repeat(offset)));
            assert!(r.redact(&text).contains(MASK), "offset {offset}: {text}");
        }
    }

    #[test]
    fn short_secrets_are_whole_values_only_and_keep_json_valid() {
        for secret in ["1", "0", "ok", "data", "true"] {
            let r = Redactor::new(vec![secret.into()]);
            let event = json!({"type": "log", "data": {"ok": true, "n": 1, "message": "data ok", "v": secret}});
            let out = r.redact_value(&event);
            let text = serde_json::to_string(&out).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back["data"]["v"], json!(MASK), "{secret}: {text}");
            assert_eq!(back["data"]["message"], json!("data ok"), "{secret}: {text}");
            assert_eq!(back["type"], json!("log"));
        }
    }

    #[test]
    fn non_string_secrets_are_redacted_by_their_text_forms() {
        let r = Redactor::default();
        r.add_value(&json!(987_654_321));
        r.add_value(&json!(["alpha-secret", "beta-secret"]));
        r.add_value(&json!({"key": "gamma-secret"}));
        let out = r
            .redact_value(&json!({"n": 987_654_321, "s": "id 987654321", "l": ["alpha-secret"], "m": "gamma-secret!"}));
        assert_eq!(out, json!({"n": MASK, "s": "id ***", "l": [MASK], "m": "***!"}));
    }
}
