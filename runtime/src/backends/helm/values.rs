//! What an upgrade changes in a release's values: the leaves that differ
//! between the values it has and the values it would have, by dotted key.
//! Values that look like credentials are not shown, only that they change.

use serde_json::{Map, Value};

/// One changed leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Dotted key: `hub.baseUrl`.
    pub key: String,
    /// The value before; `None` when the key was not set.
    pub before: Option<Value>,
    /// The value after; `None` when the key is no longer set.
    pub after: Option<Value>,
}

/// Key fragments whose values are not printed.
const SENSITIVE: [&str; 6] = ["secret", "token", "password", "passwd", "key", "credential"];

impl Difference {
    /// Whether the key looks like it holds a credential.
    #[must_use]
    pub fn sensitive(&self) -> bool {
        let key = self.key.to_ascii_lowercase();
        SENSITIVE.iter().any(|s| key.contains(s))
    }

    /// `hub.baseUrl: "/nb" -> "/n2"`, credentials masked.
    #[must_use]
    pub fn line(&self) -> String {
        let show = |v: &Option<Value>| match v {
            None => "(unset)".to_string(),
            Some(_) if self.sensitive() => "***".to_string(),
            Some(v) => v.to_string(),
        };
        format!("{}: {} -> {}", self.key, show(&self.before), show(&self.after))
    }
}

/// The leaves that differ, in key order. Mappings are compared key by key;
/// sequences and scalars are leaves. `null` and a missing key are the same.
#[must_use]
pub fn diff(before: &Value, after: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn walk(prefix: &str, before: &Value, after: &Value, out: &mut Vec<Difference>) {
    let empty = Map::new();
    match (before, after) {
        (Value::Object(_) | Value::Null, Value::Object(_) | Value::Null) if !(before.is_null() && after.is_null()) => {
            let (b, a) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                walk(&path, b.get(key).unwrap_or(&Value::Null), a.get(key).unwrap_or(&Value::Null), out);
            }
        }
        _ if before == after => {}
        _ => {
            let some = |v: &Value| (!v.is_null()).then(|| v.clone());
            out.push(Difference { key: prefix.to_string(), before: some(before), after: some(after) });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn leaves_that_change_by_dotted_key() {
        let before =
            json!({ "hub": { "baseUrl": "/nb", "image": { "tag": "1" } }, "proxy": { "secretToken": "a" }, "old": 1 });
        let after = json!({ "hub": { "baseUrl": "/n2", "image": { "tag": "1" } }, "proxy": { "secretToken": "b" }, "new": [1] });
        let lines: Vec<String> = diff(&before, &after).iter().map(Difference::line).collect();
        assert_eq!(
            lines,
            [
                "hub.baseUrl: \"/nb\" -> \"/n2\"",
                "new: (unset) -> [1]",
                "old: 1 -> (unset)",
                "proxy.secretToken: *** -> ***"
            ]
        );
        assert!(diff(&json!(null), &json!({})).is_empty());
        assert_eq!(diff(&json!(null), &json!({ "a": { "b": 1 } }))[0].key, "a.b");
    }
}
