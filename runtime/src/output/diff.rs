//! A change's before and after, field by field: which paths were added,
//! changed or removed (`spec.template.spec.containers[0].image`), with
//! their values in YAML, long ones folded. Pure data and text; the plan
//! renderer decides where it goes.

use serde::Serialize;
use serde_json::Value;

/// One difference at one path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Field {
    /// `spec.replicas`, `metadata.labels["app.kubernetes.io/name"]`; empty
    /// for the value as a whole.
    pub(crate) path: String,
    /// `added`, `changed` or `removed`.
    pub(crate) op: &'static str,
    /// The value before (not for `added`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) before: Option<Value>,
    /// The value after (not for `removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<Value>,
}

/// The differences between `before` and `after` (either may be absent: a
/// create, a delete), paths in the order of the values' keys.
pub(crate) fn fields(before: Option<&Value>, after: Option<&Value>) -> Vec<Field> {
    let mut out = Vec::new();
    match (before, after) {
        (None, None) => {}
        (None, Some(a)) => out.push(Field { path: String::new(), op: "added", before: None, after: Some(a.clone()) }),
        (Some(b), None) => {
            out.push(Field { path: String::new(), op: "removed", before: Some(b.clone()), after: None });
        }
        (Some(b), Some(a)) => walk("", b, a, &mut out),
    }
    out
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<Field>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, bv) in b {
                let at = join(path, key);
                match a.get(key) {
                    Some(av) => walk(&at, bv, av, out),
                    None => out.push(Field { path: at, op: "removed", before: Some(bv.clone()), after: None }),
                }
            }
            for (key, av) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
                out.push(Field { path: join(path, key), op: "added", before: None, after: Some(av.clone()) });
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, bv) in b.iter().enumerate() {
                let at = format!("{path}[{i}]");
                match a.get(i) {
                    Some(av) => walk(&at, bv, av, out),
                    None => out.push(Field { path: at, op: "removed", before: Some(bv.clone()), after: None }),
                }
            }
            for (i, av) in a.iter().enumerate().skip(b.len()) {
                out.push(Field { path: format!("{path}[{i}]"), op: "added", before: None, after: Some(av.clone()) });
            }
        }
        (b, a) if b != a => {
            out.push(Field { path: path.to_string(), op: "changed", before: Some(b.clone()), after: Some(a.clone()) });
        }
        _ => {}
    }
}

/// `spec` + `replicas` -> `spec.replicas`; keys that are not plain words
/// are quoted: `labels["app.kubernetes.io/name"]`.
fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::from(key)),
    }
}

/// The longest a scalar is shown before it is folded.
const LONG: usize = 100;
/// The most lines a value's YAML is shown with before it is folded.
const LINES: usize = 12;

/// A value as YAML: one line for scalars (folded past 100 characters),
/// a block for maps and lists (folded past 12 lines).
pub(crate) fn yaml(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) if !s.contains('\n') => vec![fold(&scalar(value, s))],
        Value::String(s) => {
            let lines: Vec<&str> = s.lines().collect();
            let mut out: Vec<String> = vec!["|".into()];
            out.extend(lines.iter().take(LINES).map(|l| format!("  {}", fold(l))));
            if lines.len() > LINES {
                out.push(format!("  ... ({} more lines)", lines.len() - LINES));
            }
            out
        }
        Value::Object(m) if m.is_empty() => vec!["{}".into()],
        Value::Array(a) if a.is_empty() => vec!["[]".into()],
        Value::Object(_) | Value::Array(_) => {
            let text = serde_norway::to_string(value).unwrap_or_else(|_| value.to_string());
            let lines: Vec<&str> = text.lines().collect();
            let mut out: Vec<String> = lines.iter().take(LINES).map(|l| fold(l)).collect();
            if lines.len() > LINES {
                out.push(format!("... ({} more lines)", lines.len() - LINES));
            }
            out
        }
        other => vec![other.to_string()],
    }
}

/// A string as YAML writes it alone: plain where that reads back the same.
fn scalar(value: &Value, s: &str) -> String {
    let text = serde_norway::to_string(value).unwrap_or_else(|_| s.to_string());
    text.trim_end().trim_start_matches("--- ").to_string()
}

fn fold(line: &str) -> String {
    let n = line.chars().count();
    if n <= LONG {
        return line.to_string();
    }
    let head: String = line.chars().take(LONG - 20).collect();
    format!("{head}... ({n} characters)")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_of_what_was_added_changed_and_removed() {
        let before = json!({"spec": {"replicas": 1, "strategy": "Recreate", "c": [{"image": "a:1"}]}});
        let after = json!({"spec": {"replicas": 3, "c": [{"image": "a:2"}, {"image": "b"}]}, "metadata": {"labels": {"app.k/n": "x"}}});
        let f = fields(Some(&before), Some(&after));
        let mut shown: Vec<(String, &str)> = f.iter().map(|f| (f.path.clone(), f.op)).collect();
        shown.sort();
        assert_eq!(
            shown,
            [
                ("metadata".to_string(), "added"),
                ("spec.c[0].image".to_string(), "changed"),
                ("spec.c[1]".to_string(), "added"),
                ("spec.replicas".to_string(), "changed"),
                ("spec.strategy".to_string(), "removed"),
            ]
        );
        assert_eq!(join("metadata.labels", "app.kubernetes.io/name"), "metadata.labels[\"app.kubernetes.io/name\"]");
    }

    #[test]
    fn long_values_are_folded() {
        let long = "x".repeat(300);
        assert_eq!(yaml(&json!(long)), [format!("{}... (300 characters)", "x".repeat(80))]);
        let many: Vec<i64> = (0..20).collect();
        let lines = yaml(&json!(many));
        assert_eq!(lines.len(), 13);
        assert_eq!(lines[12], "... (8 more lines)");
        assert_eq!(yaml(&json!("true")), ["'true'"]);
        assert_eq!(yaml(&json!("web")), ["web"]);
        assert_eq!(yaml(&json!(3)), ["3"]);
    }
}
