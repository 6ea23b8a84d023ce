//! How the editor writes a value: in the file's own quoting where it can,
//! quoted where YAML 1.1 readers (Helm's among them) would read a plain
//! string as something else, and as indented block lines for mappings and
//! sequences. Text only: where the lines go is `write.rs`'s business.

use serde_json::Value;

use super::lines::{Kind, Line};

/// The file's indentation step: the smallest positive difference between
/// an entry and the first entry nested under it; 2 when there is none.
pub(super) fn indent_step(lines: &[Line<'_>]) -> usize {
    let mut step = usize::MAX;
    for pair in lines.windows(2) {
        if let (Kind::Entry { value, .. }, Kind::Entry { .. }) = (&pair[0].kind, &pair[1].kind) {
            if value.is_empty() && pair[1].indent > pair[0].indent {
                step = step.min(pair[1].indent - pair[0].indent);
            }
        }
    }
    if step == usize::MAX {
        2
    } else {
        step
    }
}

/// Renders a value for `key: <here>`: the inline part, and block lines
/// (without indentation) for non-empty mappings and sequences.
pub(super) fn render(value: &Value, old_inline: Option<&str>) -> (String, Vec<String>) {
    match value {
        Value::String(s) => {
            // Keep the file's quoting style for strings where it can hold them.
            let inline = match old_inline.and_then(|o| o.chars().next()) {
                Some('"') => serde_json::to_string(s).unwrap_or_default(),
                Some('\'') if !s.contains('\n') => format!("'{}'", s.replace('\'', "''")),
                _ => scalar(value),
            };
            (inline, Vec::new())
        }
        Value::Object(m) if !m.is_empty() => (String::new(), block(value)),
        Value::Array(a) if !a.is_empty() => (String::new(), block(value)),
        _ => (scalar(value), Vec::new()),
    }
}

pub(super) fn scalar(value: &Value) -> String {
    if let Value::String(s) = value {
        if yaml11_ambiguous(s) {
            return format!("'{s}'");
        }
    }
    let text = serde_norway::to_string(value).unwrap_or_default();
    let text = text.trim_end_matches('\n');
    if text.contains('\n') {
        // A multi-line string: JSON's double-quoted form is valid YAML.
        serde_json::to_string(value).unwrap_or_default()
    } else {
        text.to_string()
    }
}

/// Plain strings that YAML 1.1 parsers (Helm's among them) read as booleans
/// or numbers, though YAML 1.2 does not: `off`, `yes`, `0x1F`, `1_000`.
fn yaml11_ambiguous(s: &str) -> bool {
    const WORDS: [&str; 11] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""];
    WORDS.contains(&s.to_ascii_lowercase().as_str())
        || (s.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c))
            && s.chars().all(|c| c.is_ascii_hexdigit() || "xXoO_.:+-".contains(c)))
}

fn block(value: &Value) -> Vec<String> {
    serde_norway::to_string(value).unwrap_or_default().lines().map(str::to_string).collect()
}
