//! The editor's line model: each line of a values file classified as what
//! the editor needs to know (blank or comment, document marker, sequence
//! item, `key: value` entry, anything else), with byte offsets of an
//! entry's value so an edit can rewrite exactly that, and the blocks that
//! belong to an entry or a sequence item. Reading only: nothing here edits.

/// One line, split where the editor needs it.
#[derive(Debug, Clone)]
pub(super) struct Line<'a> {
    /// The line with its line break.
    pub(super) raw: &'a str,
    /// The line without its line break.
    pub(super) text: &'a str,
    /// Columns of leading spaces; for an item's first entry seen as an
    /// entry ([`as_entry`]), the column where its key starts.
    pub(super) indent: usize,
    pub(super) kind: Kind<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind<'a> {
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

pub(super) fn split_lines(text: &str) -> Vec<Line<'_>> {
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
pub(super) fn value_length(text: &str) -> usize {
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

/// What follows an item's dash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemContent {
    /// Nothing (or a comment): the item's value is on the lines below.
    Below,
    /// `- key: value`: a mapping whose first entry is on the dash line, its
    /// keys at this column.
    Mapping(usize),
    /// A scalar, flow collection or anything else on the dash line, at this
    /// column.
    Inline(usize),
}

/// What an item line (`Kind::Item`) holds after its dash.
pub(super) fn item_content(line: &Line<'_>) -> ItemContent {
    let after_dash = line.indent + 1;
    let rest = &line.text[after_dash..];
    let column = after_dash + (rest.len() - rest.trim_start_matches(' ').len());
    let content = &line.text[column..];
    if content.is_empty() || content.starts_with('#') {
        ItemContent::Below
    } else if matches!(entry(line.text, column), Some(Kind::Entry { .. })) {
        ItemContent::Mapping(column)
    } else {
        ItemContent::Inline(column)
    }
}

/// An item line whose first entry is on it (`- key: value`) seen as that
/// entry, at the column of its key (its text, dash included, unchanged).
pub(super) fn as_entry<'a>(line: &Line<'a>, column: usize) -> Line<'a> {
    let kind = entry(line.text, column).unwrap_or(Kind::Other);
    Line { raw: line.raw, text: line.text, indent: column, kind }
}

/// The lines `[start, end)` that belong to the value of the entry (or
/// document) whose own indentation is `indent` (`None`: the document),
/// trailing trivia excluded.
pub(super) fn block_end(lines: &[Line<'_>], start: usize, indent: Option<usize>) -> usize {
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

/// The items of the block sequence in `[start, end)`: each item's first
/// line and one past its last (trailing trivia excluded). `Err` says what
/// the block is instead.
pub(super) fn items(lines: &[Line<'_>], start: usize, end: usize) -> Result<Vec<(usize, usize)>, &'static str> {
    let mut indent = None;
    let mut found: Vec<(usize, usize)> = Vec::new();
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        match line.kind {
            Kind::Trivia | Kind::Marker => continue,
            Kind::Item if indent.is_none() => indent = Some(line.indent),
            _ if indent.is_none() => return Err("not a block sequence"),
            _ => {}
        }
        let n = indent.unwrap_or_default();
        if line.indent == n && line.kind == Kind::Item {
            found.push((i, i + 1));
        } else if line.indent > n {
            if let Some(last) = found.last_mut() {
                last.1 = i + 1;
            }
        } else {
            return Err("not a block sequence");
        }
    }
    Ok(found)
}
