//! Lossless edits of block-style YAML: set or remove one key, or one entry
//! of a sequence (`config.autostart[0].business.use_cachemachine`), and
//! leave every other byte of the file as it was (comments, blank lines,
//! order, quoting, indentation). A serde round trip would rewrite all of it,
//! and these files are reviewed in git.
//!
//! The editor works on lines ([`lines`]): it finds the key by indentation,
//! rewrites the key's own line(s), and inserts or drops lines only there
//! ([`write`]). It then checks its own work: the edited text, parsed, must
//! equal the original parsed with exactly that change applied. Anything
//! the line model cannot edit safely (flow collections, anchors, nested
//! sequences, ...) is refused with a reason rather than edited wrongly.

mod lines;
mod render;
#[cfg(test)]
mod tests;
mod write;

use serde_json::Value;

use lines::{as_entry, block_end, item_content, split_lines, ItemContent, Kind, Line};
use render::indent_step;
use write::{insert, remove, remove_item, replace, replace_item, Parent};

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
    /// A key followed by an index holds something other than a block sequence.
    #[error("`{key}` is {what}, not a block sequence, so `{path}` cannot be edited in place")]
    NotSequence {
        /// The key that is not a sequence.
        key: String,
        /// What it is.
        what: &'static str,
        /// The whole key path.
        path: String,
    },
    /// An index past the end of its sequence.
    #[error("`{sequence}` has {len} entries, so `{path}` does not exist")]
    NoIndex {
        /// The sequence.
        sequence: String,
        /// How many entries it has.
        len: usize,
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
    #[error("`{0}` is not a key path (keys separated by dots, `[N]` for an entry of a sequence, or an array of keys and indices)")]
    BadPath(String),
}

/// One step of a key path: a mapping's key, or a sequence's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key of a mapping.
    Key(String),
    /// An entry of a sequence, from 0.
    Index(usize),
}

/// A key path as written: `config.autostart[0].business`, `jupyterhub.hub.baseUrl`.
pub fn parse_path(path: &str) -> Result<Vec<Seg>, Error> {
    let bad = || Error::BadPath(path.into());
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.find('[').map_or((part, ""), |i| (&part[..i], &part[i..]));
        if name.is_empty() || name.contains(']') {
            return Err(bad());
        }
        segs.push(Seg::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(bad)?;
            let index = rest[1..close].parse::<usize>().map_err(|_| bad())?;
            segs.push(Seg::Index(index));
            rest = &rest[close + 1..];
            if !(rest.is_empty() || rest.starts_with('[')) {
                return Err(bad());
            }
        }
    }
    Ok(segs)
}

/// A key path as messages show it: `config.autostart[0].business`.
#[must_use]
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// How a message names what `path[..depth]` leads to: its last key with
/// the indices after it (`autostart[0]`), or `the document`.
fn label(path: &[Seg], depth: usize) -> String {
    let start = path[..depth].iter().rposition(|s| matches!(s, Seg::Key(_)));
    start.map_or_else(|| "the document".into(), |s| dotted(&path[s..depth]))
}

/// Looks `path` up in a parsed document.
#[must_use]
pub fn lookup<'a>(doc: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |node, seg| match seg {
        Seg::Key(k) => node.get(k),
        Seg::Index(i) => node.get(i),
    })
}

/// The edit to make.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set the key (or entry) to this value, creating missing mappings on the way.
    Set(Value),
    /// Remove the key (nothing to do when it is missing) or the entry (which
    /// must exist: the entries after it move up).
    Remove,
}

/// Applies `op` at `path` to `text`. Returns the new text (the same text
/// when nothing changes).
pub fn edit(text: &str, path: &[Seg], op: &Op) -> Result<String, Error> {
    let shown = dotted(path);
    if !matches!(path.first(), Some(Seg::Key(_))) || path.iter().any(|s| *s == Seg::Key(String::new())) {
        return Err(Error::BadPath(shown));
    }
    let before = parse(text)?;
    let expected = expected(&before, path, op)?;
    if expected == before {
        return Ok(text.to_string());
    }
    if text.contains('\t') && text.lines().any(|l| l.starts_with('\t')) {
        return Err(Error::Unsupported("the file indents with tabs".into()));
    }
    let edited = edit_lines(text, path, op, &shown)?;
    let after = parse(&edited).map_err(|_| Error::Unsafe(shown.clone()))?;
    if after != expected {
        return Err(Error::Unsafe(shown));
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

/// The document as it must read after the edit.
fn expected(doc: &Value, path: &[Seg], op: &Op) -> Result<Value, Error> {
    let shown = dotted(path);
    let mut out = doc.clone();
    let mut node = &mut out;
    for (depth, seg) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let next_is_index = matches!(path.get(depth + 1), Some(Seg::Index(_)));
        match seg {
            Seg::Key(key) => {
                let Value::Object(map) = node else {
                    return Err(Error::NotMapping { key: label(path, depth), what: "not a mapping", path: shown });
                };
                if last {
                    match op {
                        Op::Set(v) => map.insert(key.clone(), v.clone()),
                        Op::Remove => map.remove(key),
                    };
                    return Ok(out);
                }
                if !map.contains_key(key) {
                    if *op == Op::Remove {
                        return Ok(out);
                    }
                    if next_is_index {
                        let sequence = dotted(&path[..=depth]);
                        return Err(Error::NoIndex { sequence, len: 0, path: shown });
                    }
                    map.insert(key.clone(), Value::Object(serde_json::Map::new()));
                }
                node = map.get_mut(key).ok_or_else(|| Error::BadPath(shown.clone()))?;
                if node.is_null() && matches!(op, Op::Set(_)) && !next_is_index {
                    *node = Value::Object(serde_json::Map::new());
                }
            }
            Seg::Index(i) => {
                let Value::Array(entries) = node else {
                    return Err(Error::NotSequence { key: label(path, depth), what: "not a sequence", path: shown });
                };
                if *i >= entries.len() {
                    return Err(Error::NoIndex { sequence: dotted(&path[..depth]), len: entries.len(), path: shown });
                }
                if last {
                    match op {
                        Op::Set(v) => entries[*i] = v.clone(),
                        Op::Remove => {
                            entries.remove(*i);
                        }
                    }
                    return Ok(out);
                }
                node = &mut entries[*i];
            }
        }
    }
    Ok(out)
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

fn edit_lines(text: &str, path: &[Seg], op: &Op, dotted: &str) -> Result<String, Error> {
    let mut lines = split_lines(text);
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let step = indent_step(&lines);
    let not_mapping = |key: String, what: &'static str| Error::NotMapping { key, what, path: dotted.into() };
    let not_sequence = |key: String, what: &'static str| Error::NotSequence { key, what, path: dotted.into() };
    // Walk down as far as the path exists.
    let (mut start, mut end) = (0, block_end(&lines, 0, None));
    let mut parent = Parent::Document;
    for (depth, seg) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        match seg {
            Seg::Key(key) => {
                let found = find(&lines, start, end, key).map_err(|what| not_mapping(label(path, depth), what))?;
                let Some((found, indent)) = found else {
                    return match op {
                        Op::Remove => Ok(text.to_string()),
                        Op::Set(value) => insert(&lines, &parent, &path[depth..], value, step, newline),
                    };
                };
                if last {
                    return Ok(match op {
                        Op::Set(value) => replace(&lines, found, indent, value, step, newline),
                        Op::Remove => remove(&lines, found, &parent, newline),
                    });
                }
                if let Kind::Entry { value, .. } = &lines[found.line].kind {
                    if let Some(what) = inline_kind(value) {
                        if matches!(path.get(depth + 1), Some(Seg::Index(_))) {
                            return Err(not_sequence(label(path, depth + 1), what));
                        }
                        if !(value.starts_with("null") || *value == "~") || *op == Op::Remove {
                            return Err(not_mapping(label(path, depth + 1), what));
                        }
                        // `hub: null` / `hub: ~` becomes a mapping only by rewriting the line.
                        return Err(Error::Unsupported(format!("`{key}` is null; set `{key}` to a map instead")));
                    }
                }
                parent = Parent::Entry { found, indent };
                start = found.line + 1;
                end = found.end;
            }
            Seg::Index(i) => {
                let entries =
                    lines::items(&lines, start, end).map_err(|what| not_sequence(label(path, depth), what))?;
                let Some(&(line, item_end)) = entries.get(*i) else {
                    let sequence = self::dotted(&path[..depth]);
                    return Err(Error::NoIndex { sequence, len: entries.len(), path: dotted.into() });
                };
                if last {
                    return match op {
                        Op::Set(value) => Ok(replace_item(&lines, (line, item_end), value, newline)),
                        Op::Remove => remove_item(&lines, &entries, *i, &parent, newline),
                    };
                }
                if matches!(path.get(depth + 1), Some(Seg::Index(_))) {
                    return Err(Error::Unsupported(format!(
                        "`{}` is a sequence inside a sequence; edit the file by hand",
                        label(path, depth + 1)
                    )));
                }
                let dash = lines[line].indent;
                match item_content(&lines[line]) {
                    ItemContent::Mapping(column) => {
                        let entry = as_entry(&lines[line], column);
                        lines[line] = entry;
                        parent = Parent::Item { line, end: item_end, dash, keys: column };
                        start = line;
                    }
                    ItemContent::Below => {
                        let keys = children(&lines, line + 1, item_end)
                            .map_err(|what| not_mapping(label(path, depth + 1), what))?
                            .map(|(n, _)| n)
                            .ok_or_else(|| {
                                Error::Unsupported(format!(
                                    "`{}` is null; set it to a map instead",
                                    label(path, depth + 1)
                                ))
                            })?;
                        parent = Parent::Item { line, end: item_end, dash, keys };
                        start = line + 1;
                    }
                    ItemContent::Inline(column) => {
                        let value = &lines[line].text[column..];
                        let what = inline_kind(value).unwrap_or("a scalar");
                        return Err(not_mapping(label(path, depth + 1), what));
                    }
                }
                end = item_end;
            }
        }
    }
    Err(Error::BadPath(dotted.into()))
}
