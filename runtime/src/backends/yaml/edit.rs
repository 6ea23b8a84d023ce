//! Lossless edits of block-style YAML mappings: set or remove one key and
//! leave every other byte of the file as it was (comments, blank lines,
//! order, quoting, indentation). A serde round trip would rewrite all of it,
//! and these files are reviewed in git.
//!
//! The editor works on lines: it finds the key by indentation, rewrites the
//! key's own line(s), and inserts or drops lines only there. It then checks
//! its own work: the edited text, parsed, must equal the original parsed
//! with exactly that change applied. Anything the line model cannot edit
//! safely (flow mappings, anchors, keys inside sequences, ...) is refused
//! with a reason rather than edited wrongly.

use serde_json::Value;

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file is not YAML.
    #[error("not valid YAML: {0}")]
    Syntax(String),
    /// A key on the path holds something other than a block mapping.
    #[error("`{key}` is {what}, not a block mapping, so `{path}` cannot be edited in place")]
    NotMapping {
        /// The key that is not a mapping.
        key: String,
        /// What it is.
        what: &'static str,
        /// The whole key path.
        path: String,
    },
    /// The file uses YAML this editor does not edit.
    #[error("{0}")]
    Unsupported(String),
    /// The edit would have changed more than the key (a bug guard).
    #[error("editing `{0}` in place would change more than that key; edit the file by hand")]
    Unsafe(String),
    /// An empty key path or key.
    #[error("`{0}` is not a key path (keys separated by dots, or an array of keys)")]
    BadPath(String),
}

/// One line, split where the editor needs it.
#[derive(Debug, Clone)]
struct Line<'a> {
    /// The line with its line break.
    raw: &'a str,
    /// The line without its line break.
    text: &'a str,
    indent: usize,
    kind: Kind<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind<'a> {
    /// Blank, or only a comment.
    Trivia,
    /// A document marker (`---`) at the top.
    Marker,
    /// `- item`.
    Item,
    /// `key: value  # comment`.
    Entry {
        key: String,
        /// Byte offset in `text` where the value starts (after `: `).
        value_start: usize,
        /// Byte offset where the value ends (before spaces and a comment).
        value_end: usize,
        value: &'a str,
    },
    /// Anything else (continuation of a multi-line scalar, flow text, ...).
    Other,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            let text = raw.strip_suffix('\n').unwrap_or(raw);
            let text = text.strip_suffix('\r').unwrap_or(text);
            let indent = text.len() - text.trim_start_matches(' ').len();
            let rest = &text[indent..];
            let kind = if rest.trim().is_empty() || rest.starts_with('#') {
                Kind::Trivia
            } else if indent == 0 && (rest == "---" || rest.starts_with("--- ") || rest.starts_with('%')) {
                Kind::Marker
            } else if rest == "-" || rest.starts_with("- ") {
                Kind::Item
            } else {
                entry(text, indent).unwrap_or(Kind::Other)
            };
            Line { raw, text, indent, kind }
        })
        .collect()
}

/// `key: value # c` at `indent` -> an entry, if the line is one.
fn entry(text: &str, indent: usize) -> Option<Kind<'_>> {
    let rest = &text[indent..];
    let (key, after_key) = if let Some(stripped) = rest.strip_prefix('"') {
        let end = closing_double(stripped)?;
        let key: String = serde_json::from_str(&rest[..end + 2]).ok()?;
        (key, indent + end + 2)
    } else if let Some(stripped) = rest.strip_prefix('\'') {
        let end = closing_single(stripped)?;
        (stripped[..end].replace("''", "'"), indent + end + 2)
    } else {
        if rest.starts_with(['{', '[', '?', '&', '*', '!', '|', '>']) {
            return None;
        }
        let colon = rest
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| rest[i + 1..].is_empty() || rest[i + 1..].starts_with([' ', '\t']))?;
        let key = rest[..colon].trim_end();
        if key.contains(" #") {
            return None;
        }
        (key.to_string(), indent + colon)
    };
    let after = text.get(after_key..)?;
    let after = after.strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let value_start = text.len() - after.trim_start().len();
    let value_end = value_start + value_length(&text[value_start..]);
    Some(Kind::Entry { key, value_start, value_end, value: &text[value_start..value_end] })
}

/// Length of the value at the start of `text`, without trailing spaces and
/// a comment.
fn value_length(text: &str) -> usize {
    if text.starts_with('#') {
        return 0;
    }
    let end = if let Some(stripped) = text.strip_prefix('"') {
        closing_double(stripped).map_or(text.len(), |e| e + 2)
    } else if let Some(stripped) = text.strip_prefix('\'') {
        closing_single(stripped).map_or(text.len(), |e| e + 2)
    } else {
        text.find(" #").or_else(|| text.find("\t#")).unwrap_or(text.len())
    };
    text[..end].trim_end().len()
}

/// Index of the closing `"` in the text after an opening one.
fn closing_double(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Index of the closing `'` in the text after an opening one (`''` is an
/// escaped quote).
fn closing_single(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// A key path: `jupyterhub.hub.baseUrl`.
pub fn parse_path(path: &str) -> Result<Vec<String>, Error> {
    let keys: Vec<String> = path.split('.').map(str::to_string).collect();
    if keys.iter().any(String::is_empty) {
        return Err(Error::BadPath(path.into()));
    }
    Ok(keys)
}

/// Where an entry is and how far its value's lines go.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// The entry's line.
    line: usize,
    /// One past the last line that belongs to its value (continuation
    /// lines, nested entries, sequence items), trailing trivia excluded.
    end: usize,
}

/// The lines `[start, end)` that belong to the value of the entry (or
/// document) whose own indentation is `indent` (`None`: the document).
fn block_end(lines: &[Line<'_>], start: usize, indent: Option<usize>) -> usize {
    let mut end = start;
    for (i, line) in lines.iter().enumerate().skip(start) {
        match (&line.kind, indent) {
            (Kind::Trivia, _) => {}
            // `---` opening the document; a later one starts another.
            (Kind::Marker, None) if end == start => {}
            (Kind::Marker, _) => return end,
            (_, None) => end = i + 1,
            // Sequence items may sit at their key's own indentation.
            (Kind::Item, Some(n)) if line.indent >= n => end = i + 1,
            (_, Some(n)) if line.indent > n => end = i + 1,
            _ => return end,
        }
    }
    end
}

/// Entries directly inside `[start, end)`: the indentation of the first
/// content line is the mapping's.
fn children<'a>(lines: &'a [Line<'a>], start: usize, end: usize) -> Result<Option<(usize, Vec<usize>)>, &'static str> {
    let mut indent = None;
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        match line.kind {
            Kind::Trivia | Kind::Marker => continue,
            Kind::Item if indent.is_none() => return Err("a sequence"),
            Kind::Other if indent.is_none() => return Err("not a block mapping"),
            _ => {}
        }
        let n = *indent.get_or_insert(line.indent);
        if line.indent == n {
            match line.kind {
                Kind::Entry { .. } => found.push(i),
                Kind::Item => {}
                _ => return Err("not a block mapping"),
            }
        }
    }
    Ok(indent.map(|n| (n, found)))
}

fn find(lines: &[Line<'_>], start: usize, end: usize, key: &str) -> Result<Option<(Found, usize)>, &'static str> {
    let Some((indent, entries)) = children(lines, start, end)? else { return Ok(None) };
    for i in entries {
        if matches!(&lines[i].kind, Kind::Entry { key: k, .. } if k == key) {
            return Ok(Some((Found { line: i, end: block_end(lines, i + 1, Some(indent)) }, indent)));
        }
    }
    Ok(None)
}

/// What an entry's inline value says about descending into it.
fn inline_kind(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        None
    } else if value.starts_with(['|', '>']) {
        Some("a block scalar")
    } else if value.starts_with('{') {
        Some("a flow mapping")
    } else if value.starts_with('[') {
        Some("a flow sequence")
    } else if value.starts_with(['&', '*', '!']) {
        Some("an anchor, alias or tagged value")
    } else {
        Some("a scalar")
    }
}

/// The file's indentation step: the smallest positive difference between
/// an entry and the first entry nested under it; 2 when there is none.
fn indent_step(lines: &[Line<'_>]) -> usize {
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
fn render(value: &Value, old_inline: Option<&str>) -> (String, Vec<String>) {
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

fn scalar(value: &Value) -> String {
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

/// The edit to make.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set the key to this value, creating missing mappings on the way.
    Set(Value),
    /// Remove the key (nothing to do when it is missing).
    Remove,
}

/// Applies `op` at `path` to `text`. Returns the new text (the same text
/// when nothing changes).
pub fn edit(text: &str, path: &[String], op: &Op) -> Result<String, Error> {
    let dotted = path.join(".");
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(Error::BadPath(dotted));
    }
    let before = parse(text)?;
    let expected = expected(&before, path, op).map_err(|key| Error::NotMapping {
        key,
        what: "not a mapping",
        path: dotted.clone(),
    })?;
    if expected == before {
        return Ok(text.to_string());
    }
    if text.contains('\t') && text.lines().any(|l| l.starts_with('\t')) {
        return Err(Error::Unsupported("the file indents with tabs".into()));
    }
    let edited = edit_lines(text, path, op, &dotted)?;
    let after = parse(&edited).map_err(|_| Error::Unsafe(dotted.clone()))?;
    if after != expected {
        return Err(Error::Unsafe(dotted));
    }
    Ok(edited)
}

/// Reads YAML into JSON values (an empty file is an empty mapping).
pub fn parse(text: &str) -> Result<Value, Error> {
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| Error::Syntax(e.to_string()))?;
    let value = serde_json::to_value(yaml).map_err(|e| Error::Syntax(e.to_string()))?;
    Ok(if value.is_null() { Value::Object(serde_json::Map::new()) } else { value })
}

/// The document as it must read after the edit; `Err(key)` names a key on
/// the path that holds something other than a mapping.
fn expected(doc: &Value, path: &[String], op: &Op) -> Result<Value, String> {
    let mut out = doc.clone();
    let mut node = &mut out;
    for (depth, key) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let Value::Object(map) = node else {
            return Err(if depth == 0 { "the document".into() } else { path[depth - 1].clone() });
        };
        if last {
            match op {
                Op::Set(v) => {
                    map.insert(key.clone(), v.clone());
                }
                Op::Remove => {
                    map.remove(key);
                }
            }
            return Ok(out);
        }
        if !map.contains_key(key) {
            if *op == Op::Remove {
                return Ok(out);
            }
            map.insert(key.clone(), Value::Object(serde_json::Map::new()));
        }
        node = map.get_mut(key).ok_or_else(|| key.clone())?;
        if node.is_null() && matches!(op, Op::Set(_)) {
            *node = Value::Object(serde_json::Map::new());
        }
    }
    Ok(out)
}

fn edit_lines(text: &str, path: &[String], op: &Op, dotted: &str) -> Result<String, Error> {
    let lines = split_lines(text);
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let step = indent_step(&lines);
    let not_mapping = |key: &str, what: &'static str| Error::NotMapping { key: key.into(), what, path: dotted.into() };
    // Walk down as far as the path exists.
    let (mut start, mut end) = (0, block_end(&lines, 0, None));
    let mut parent: Option<(Found, usize, &str)> = None;
    for (depth, key) in path.iter().enumerate() {
        let found =
            find(&lines, start, end, key).map_err(|what| not_mapping(parent.map_or("the document", |p| p.2), what))?;
        let Some((found, indent)) = found else {
            return match op {
                Op::Remove => Ok(text.to_string()),
                Op::Set(value) => Ok(insert(&lines, parent, &path[depth..], value, step, newline)),
            };
        };
        if depth + 1 == path.len() {
            return Ok(match op {
                Op::Set(value) => replace(&lines, found, indent, value, step, newline),
                Op::Remove => remove(&lines, found, parent, newline),
            });
        }
        if let Kind::Entry { value, .. } = &lines[found.line].kind {
            if let Some(what) = inline_kind(value) {
                if !(value.starts_with("null") || *value == "~") || *op == Op::Remove {
                    return Err(not_mapping(key, what));
                }
                // `hub: null` / `hub: ~` becomes a mapping only by rewriting the line.
                return Err(Error::Unsupported(format!("`{key}` is null; set `{key}` to a map instead")));
            }
        }
        parent = Some((found, indent, key.as_str()));
        start = found.line + 1;
        end = found.end;
    }
    Err(Error::BadPath(dotted.into()))
}

/// The text with lines `[from, to)` replaced by `new` (each given the
/// file's line break). Every other line keeps its bytes, its own break
/// included, and the file keeps its ending.
fn splice(lines: &[Line<'_>], from: usize, to: usize, new: &[String], newline: &str) -> String {
    let mut out = String::new();
    for line in &lines[..from] {
        out.push_str(line.raw);
    }
    if !new.is_empty() && !out.is_empty() && !out.ends_with('\n') {
        out.push_str(newline);
    }
    for line in new {
        out.push_str(line);
        out.push_str(newline);
    }
    for line in &lines[to..] {
        out.push_str(line.raw);
    }
    let unterminated = lines.last().is_some_and(|l| !l.raw.ends_with('\n'));
    if to == lines.len() && !new.is_empty() && unterminated {
        out.truncate(out.len() - newline.len());
    }
    out
}

fn replace(lines: &[Line<'_>], found: Found, indent: usize, value: &Value, step: usize, newline: &str) -> String {
    let line = &lines[found.line];
    let Kind::Entry { value_start, value_end, value: old, .. } = &line.kind else {
        return splice(lines, 0, 0, &[], newline);
    };
    let (inline, block) = render(value, (!old.is_empty()).then_some(*old));
    let key_part = line.text[..*value_start].trim_end();
    // What followed the old value (spaces and a comment) stays; with no
    // old value, the spacing after the colon does.
    let rest = if old.is_empty() { &line.text[key_part.len()..] } else { &line.text[*value_end..] };
    let spaced;
    let rest = if rest.starts_with('#') {
        spaced = format!(" {rest}");
        spaced.as_str()
    } else {
        rest
    };
    let first = if inline.is_empty() { format!("{key_part}{rest}") } else { format!("{key_part} {inline}{rest}") };
    let pad = " ".repeat(indent + step);
    let mut new = vec![first];
    new.extend(block.into_iter().map(|l| format!("{pad}{l}")));
    splice(lines, found.line, found.end.max(found.line + 1), &new, newline)
}

fn remove(lines: &[Line<'_>], found: Found, parent: Option<(Found, usize, &str)>, newline: &str) -> String {
    let end = found.end.max(found.line + 1);
    let Some((p, _, _)) = parent else { return splice(lines, found.line, end, &[], newline) };
    let others = (p.line + 1..p.end).any(|i| !(found.line..end).contains(&i) && lines[i].kind != Kind::Trivia);
    let Kind::Entry { value_start, .. } = lines[p.line].kind else {
        return splice(lines, found.line, end, &[], newline);
    };
    if others {
        return splice(lines, found.line, end, &[], newline);
    }
    // The last key of a mapping: the parent becomes `{}`, not null.
    let t = lines[p.line].text;
    let mut new = vec![format!("{} {{}}{}", t[..value_start].trim_end(), &t[value_start..])];
    new.extend(lines[p.line + 1..found.line].iter().map(|l| l.text.to_string()));
    splice(lines, p.line, end, &new, newline)
}

fn insert(
    lines: &[Line<'_>],
    parent: Option<(Found, usize, &str)>,
    keys: &[String],
    value: &Value,
    step: usize,
    newline: &str,
) -> String {
    // Where the new lines go, and at what indentation.
    let (at, indent) = match parent {
        None => (block_end(lines, 0, None), 0),
        Some((p, parent_indent, _)) => {
            let indent = children(lines, p.line + 1, p.end).ok().flatten().map_or(parent_indent + step, |(n, _)| n);
            (p.end.max(p.line + 1), indent)
        }
    };
    let mut new = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let pad = " ".repeat(indent + i * step);
        let key_text = scalar(&Value::String(key.clone()));
        if i + 1 < keys.len() {
            new.push(format!("{pad}{key_text}:"));
            continue;
        }
        let (inline, block) = render(value, None);
        new.push(if inline.is_empty() { format!("{pad}{key_text}:") } else { format!("{pad}{key_text}: {inline}") });
        let inner = " ".repeat(indent + (i + 1) * step);
        new.extend(block.into_iter().map(|l| format!("{inner}{l}")));
    }
    splice(lines, at, at, &new, newline)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const VALUES: &str = "# Phalanx values for nublado2 on idfdev.
# Reviewed in git: keep the comments.

jupyterhub:
  hub:
    # Where the hub is served.
    baseUrl: \"/nb\"   # moves to /n2 in the migration
    image:
      name: lsstsqre/nublado2
      tag: '2.6.1'
  proxy:
    service:
      type: ClusterIP

singleuser:
  cpu: 2          # cores
  extraEnv:
    - name: A
      value: b
tolerations:
- key: x
  operator: Exists
flow: {a: 1}
notes: |
  hub:
    baseUrl: not a key
# trailing comment
";

    fn set(text: &str, path: &str, value: Value) -> Result<String, Error> {
        edit(text, &parse_path(path).unwrap(), &Op::Set(value))
    }

    fn remove(text: &str, path: &str) -> Result<String, Error> {
        edit(text, &parse_path(path).unwrap(), &Op::Remove)
    }

    #[test]
    fn setting_a_key_changes_only_its_value() {
        let out = set(VALUES, "jupyterhub.hub.baseUrl", json!("/n2")).unwrap();
        assert_eq!(out, VALUES.replace("baseUrl: \"/nb\"   # moves", "baseUrl: \"/n2\"   # moves"));
        let out = set(VALUES, "singleuser.cpu", json!(4)).unwrap();
        assert_eq!(out, VALUES.replace("  cpu: 2          # cores", "  cpu: 4          # cores"));
        let out = set(VALUES, "jupyterhub.hub.image.tag", json!("3.0.0")).unwrap();
        assert_eq!(out, VALUES.replace("tag: '2.6.1'", "tag: '3.0.0'"), "single quotes stay single");
        let out = set(VALUES, "jupyterhub.proxy.service.type", json!("true")).unwrap();
        assert_eq!(
            out,
            VALUES.replace("type: ClusterIP", "type: 'true'"),
            "strings that read as other types are quoted"
        );
    }

    #[test]
    fn setting_the_same_value_changes_nothing() {
        assert_eq!(set(VALUES, "jupyterhub.hub.baseUrl", json!("/nb")).unwrap(), VALUES);
    }

    #[test]
    fn setting_a_missing_key_adds_lines_under_its_parent() {
        let out = set(VALUES, "jupyterhub.hub.cookieSecure", json!(true)).unwrap();
        assert_eq!(out, VALUES.replace("      tag: '2.6.1'\n", "      tag: '2.6.1'\n    cookieSecure: true\n"));
        let out = set(VALUES, "jupyterhub.hub.config.Authenticator.admin_users", json!(["alice", "bob"])).unwrap();
        assert_eq!(
            out,
            VALUES.replace(
                "      tag: '2.6.1'\n",
                "      tag: '2.6.1'\n    config:\n      Authenticator:\n        admin_users:\n          - alice\n          - bob\n"
            )
        );
        let out = set(VALUES, "cachemachine", json!(false)).unwrap();
        assert_eq!(out, VALUES.replace("# trailing comment\n", "cachemachine: false\n# trailing comment\n"));
    }

    #[test]
    fn setting_a_block_to_a_scalar_and_back() {
        let out = set(VALUES, "jupyterhub.proxy", json!("off")).unwrap();
        assert_eq!(out, VALUES.replace("  proxy:\n    service:\n      type: ClusterIP\n", "  proxy: 'off'\n"));
        let out = set(VALUES, "singleuser.cpu", json!({ "limit": 4, "guarantee": 1 })).unwrap();
        assert_eq!(
            out,
            VALUES.replace("  cpu: 2          # cores\n", "  cpu:          # cores\n    guarantee: 1\n    limit: 4\n")
        );
    }

    #[test]
    fn removing_a_key_drops_its_lines_only() {
        let out = remove(VALUES, "jupyterhub.hub.baseUrl").unwrap();
        assert_eq!(out, VALUES.replace("    baseUrl: \"/nb\"   # moves to /n2 in the migration\n", ""));
        let out = remove(VALUES, "jupyterhub.hub.image").unwrap();
        assert_eq!(out, VALUES.replace("    image:\n      name: lsstsqre/nublado2\n      tag: '2.6.1'\n", ""));
        let out = remove(VALUES, "tolerations").unwrap();
        assert_eq!(out, VALUES.replace("tolerations:\n- key: x\n  operator: Exists\n", ""));
        assert_eq!(remove(VALUES, "jupyterhub.hub.missing").unwrap(), VALUES);
        assert_eq!(remove(VALUES, "nothere.at.all").unwrap(), VALUES);
    }

    #[test]
    fn removing_the_last_key_leaves_an_empty_mapping() {
        let out = remove(VALUES, "jupyterhub.proxy.service.type").unwrap();
        assert_eq!(out, VALUES.replace("    service:\n      type: ClusterIP\n", "    service: {}\n"));
    }

    #[test]
    fn refuses_what_it_cannot_edit_in_place() {
        let err = set(VALUES, "singleuser.extraEnv.name", json!("x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`extraEnv` is not a mapping, not a block mapping, so `singleuser.extraEnv.name` cannot be edited in place"
        );
        let err = set(VALUES, "flow.b", json!(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`flow` is a flow mapping, not a block mapping, so `flow.b` cannot be edited in place"
        );
        let err = set(VALUES, "notes.hub", json!(2)).unwrap_err();
        assert!(err.to_string().starts_with("`notes` is not a mapping"), "{err}");
        assert!(set("a: [\n", "a", json!(1)).unwrap_err().to_string().starts_with("not valid YAML"));
        assert_eq!(
            parse_path("a..b").unwrap_err().to_string(),
            "`a..b` is not a key path (keys separated by dots, or an array of keys)"
        );
    }

    #[test]
    fn keeps_crlf_and_a_missing_final_newline() {
        let text = "a: 1\r\nb:\r\n  c: 2\r\n";
        assert_eq!(set(text, "b.d", json!(3)).unwrap(), "a: 1\r\nb:\r\n  c: 2\r\n  d: 3\r\n");
        assert_eq!(set("a: 1", "a", json!(2)).unwrap(), "a: 2");
        assert_eq!(set("a: 1", "b", json!(2)).unwrap(), "a: 1\nb: 2");
        assert_eq!(set("", "a.b", json!("x")).unwrap(), "a:\n  b: x\n");
        assert_eq!(set("# only a comment\n", "a", json!(1)).unwrap(), "a: 1\n# only a comment\n");
    }

    #[test]
    fn follows_the_files_indentation() {
        let text = "hub:\n    image:\n        tag: 1\n";
        assert_eq!(
            set(text, "hub.image.name", json!("x")).unwrap(),
            "hub:\n    image:\n        tag: 1\n        name: x\n"
        );
        assert_eq!(
            set(text, "hub.baseUrl", json!("/n2")).unwrap(),
            "hub:\n    image:\n        tag: 1\n    baseUrl: /n2\n"
        );
        assert_eq!(
            set(text, "proxy.https.enabled", json!(true)).unwrap(),
            "hub:\n    image:\n        tag: 1\nproxy:\n    https:\n        enabled: true\n"
        );
    }

    #[test]
    fn tricky_lines() {
        assert_eq!(set("url: http://a:8080/x # c\n", "url", json!("http://b")).unwrap(), "url: http://b # c\n");
        assert_eq!(set("---\nhub:\n  a: 1\n", "hub.a", json!(2)).unwrap(), "---\nhub:\n  a: 2\n");
        assert_eq!(set("hub:\n# at column 0\n  a: 1\n", "hub.a", json!(2)).unwrap(), "hub:\n# at column 0\n  a: 2\n");
        assert_eq!(
            edit("\"hub.x\": 1\n", &["hub.x".to_string()], &Op::Set(json!(2))),
            Ok("\"hub.x\": 2\n".to_string())
        );
        assert_eq!(set("a: one\n  two\nb: 1\n", "a", json!("x")).unwrap(), "a: x\nb: 1\n");
        assert_eq!(set("hub:\nproxy: 1\n", "hub.baseUrl", json!("/n2")).unwrap(), "hub:\n  baseUrl: /n2\nproxy: 1\n");
        assert_eq!(set("hub:   # the hub\n  a: 1\n", "hub", json!(4)).unwrap(), "hub: 4   # the hub\n");
        assert_eq!(set("k:    # empty\n", "k", json!(4)).unwrap(), "k: 4    # empty\n");
        let err = set("base: &b /nb\nother: *b\n", "base", json!("/n2")).unwrap_err();
        assert_eq!(err.to_string(), "editing `base` in place would change more than that key; edit the file by hand");
    }

    proptest::proptest! {
        #[test]
        fn edits_never_panic_and_never_change_other_keys(
            text in "([a-c]{1,2}:( [0-9x]| *\\{\\}| \\|)?\n( {2,4}[a-c]{1,2}: [0-9]\n| *# c\n| *- [0-9]\n)*){0,6}",
            path in "[a-c]{1,2}(\\.[a-c]{1,2}){0,2}",
            value in 0i64..10,
            op in 0u8..2,
        ) {
            let keys = parse_path(&path).unwrap();
            let op = if op == 0 { Op::Set(json!(value)) } else { Op::Remove };
            if let Ok(out) = edit(&text, &keys, &op) {
                // The editor checks itself; a success is the expected document.
                let before = parse(&text).unwrap();
                proptest::prop_assert_eq!(parse(&out).unwrap(), expected(&before, &keys, &op).unwrap());
            }
        }
    }
}
