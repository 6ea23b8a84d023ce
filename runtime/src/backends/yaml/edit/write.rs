//! Rewriting the lines of one key or sequence entry: the new text is the
//! old one with only those lines replaced, inserted or dropped (every other
//! line keeps its bytes, its line break and the file's ending). The walk
//! that finds them is in `mod.rs`; whether the result is right is checked
//! there too.

use serde_json::Value;

use super::lines::{item_content, value_length, ItemContent, Kind, Line};
use super::render::{render, scalar};
use super::{block_end, children, Error, Found, Seg};

/// What the key being edited sits in.
#[derive(Debug, Clone, Copy)]
pub(super) enum Parent {
    /// The top of the document.
    Document,
    /// An entry whose value is a block mapping.
    Entry {
        /// The entry.
        found: Found,
        /// The entry's own indentation.
        indent: usize,
    },
    /// A sequence item whose value is a block mapping.
    Item {
        /// The item's dash line.
        line: usize,
        /// One past its last line.
        end: usize,
        /// The column of its dash.
        dash: usize,
        /// The column of its keys.
        keys: usize,
    },
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

pub(super) fn replace(
    lines: &[Line<'_>],
    found: Found,
    indent: usize,
    value: &Value,
    step: usize,
    newline: &str,
) -> String {
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

/// Whether a line other than trivia lies in `[from, to)` outside `[skip_from, skip_to)`.
fn others(lines: &[Line<'_>], (from, to): (usize, usize), (skip_from, skip_to): (usize, usize)) -> bool {
    (from..to).any(|i| !(skip_from..skip_to).contains(&i) && lines[i].kind != Kind::Trivia)
}

/// `key:` becomes `key: {}` (or `[]`): the line of an entry with its value
/// replaced, comment kept.
fn emptied(line: &Line<'_>, empty: &str) -> String {
    let Kind::Entry { value_start, .. } = line.kind else { return line.text.to_string() };
    let key_part = line.text[..value_start].trim_end();
    let rest = &line.text[key_part.len()..];
    let rest = if rest.trim().is_empty() { "" } else { rest };
    format!("{key_part} {empty}{rest}")
}

pub(super) fn remove(lines: &[Line<'_>], found: Found, parent: &Parent, newline: &str) -> String {
    let end = found.end.max(found.line + 1);
    match *parent {
        Parent::Document => splice(lines, found.line, end, &[], newline),
        Parent::Entry { found: p, .. } => {
            if others(lines, (p.line + 1, p.end), (found.line, end)) {
                return splice(lines, found.line, end, &[], newline);
            }
            // The last key of a mapping: the parent becomes `{}`, not null.
            let mut new = vec![emptied(&lines[p.line], "{}")];
            new.extend(lines[p.line + 1..found.line].iter().map(|l| l.text.to_string()));
            splice(lines, p.line, end, &new, newline)
        }
        Parent::Item { line, end: item_end, dash, keys } => {
            let content = if found.line == line { line } else { line + 1 };
            let pad = " ".repeat(dash);
            if !others(lines, (content, item_end), (found.line, end)) {
                // The last key of an item: it becomes `- {}`, not null.
                let mut new = vec![format!("{pad}- {{}}")];
                if found.line > line {
                    new.extend(lines[line + 1..found.line].iter().map(|l| l.text.to_string()));
                }
                return splice(lines, line, end, &new, newline);
            }
            if found.line != line {
                return splice(lines, found.line, end, &[], newline);
            }
            // The key on the dash line goes: the next key takes the dash.
            let Some(next) = (end..item_end).find(|&i| lines[i].kind != Kind::Trivia) else {
                return splice(lines, found.line, end, &[], newline);
            };
            let mut new: Vec<String> = lines[end..next].iter().map(|l| l.text.to_string()).collect();
            let text = lines[next].text;
            let tail = text.get(keys..).unwrap_or(text.trim_start());
            new.push(format!("{pad}-{}{tail}", " ".repeat(keys.saturating_sub(dash + 1).max(1))));
            splice(lines, found.line, next + 1, &new, newline)
        }
    }
}

/// Removes entry `i` of a sequence (`entries` as `lines::items` found
/// them); the last one leaves `key: []`.
pub(super) fn remove_item(
    lines: &[Line<'_>],
    entries: &[(usize, usize)],
    i: usize,
    parent: &Parent,
    newline: &str,
) -> Result<String, Error> {
    let (line, end) = entries[i];
    if entries.len() > 1 {
        return Ok(splice(lines, line, end, &[], newline));
    }
    let Parent::Entry { found: p, .. } = *parent else {
        return Err(Error::Unsupported("the only entry of this sequence cannot be removed in place".into()));
    };
    let mut new = vec![emptied(&lines[p.line], "[]")];
    new.extend(lines[p.line + 1..line].iter().map(|l| l.text.to_string()));
    Ok(splice(lines, p.line, end, &new, newline))
}

/// Sets sequence entry `(line, end)` to `value`.
pub(super) fn replace_item(lines: &[Line<'_>], (line, end): (usize, usize), value: &Value, newline: &str) -> String {
    let item = &lines[line];
    let dash = item.indent;
    let pad = " ".repeat(dash);
    let (old, rest) = match item_content(item) {
        ItemContent::Inline(column) => {
            let len = value_length(&item.text[column..]);
            (Some(&item.text[column..column + len]), &item.text[column + len..])
        }
        ItemContent::Mapping(_) | ItemContent::Below => (None, ""),
    };
    let (inline, block) = render(value, old);
    let mut new = Vec::new();
    if inline.is_empty() {
        let inner = " ".repeat(dash + 2);
        for (k, l) in block.iter().enumerate() {
            new.push(if k == 0 { format!("{pad}- {l}") } else { format!("{inner}{l}") });
        }
    } else {
        new.push(format!("{pad}- {inline}{rest}"));
    }
    splice(lines, line, end.max(line + 1), &new, newline)
}

pub(super) fn insert(
    lines: &[Line<'_>],
    parent: &Parent,
    keys: &[Seg],
    value: &Value,
    step: usize,
    newline: &str,
) -> Result<String, Error> {
    // Where the new lines go, and at what indentation.
    let (at, indent) = match *parent {
        Parent::Document => (block_end(lines, 0, None), 0),
        Parent::Entry { found: p, indent: parent_indent } => {
            let indent = children(lines, p.line + 1, p.end).ok().flatten().map_or(parent_indent + step, |(n, _)| n);
            (p.end.max(p.line + 1), indent)
        }
        Parent::Item { end, keys, .. } => (end, keys),
    };
    let mut new = Vec::new();
    for (i, seg) in keys.iter().enumerate() {
        let Seg::Key(key) = seg else {
            return Err(Error::Unsupported("a missing sequence cannot be created by an index".into()));
        };
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
    Ok(splice(lines, at, at, &new, newline))
}
