//! A unified diff of a one-key edit, as `git diff` would show it. An edit
//! changes one contiguous run of lines, so the diff is one hunk: the lines
//! between the common head and the common tail, with three lines of context.

use std::fmt::Write as _;

const CONTEXT: usize = 3;

/// The unified diff of `old` -> `new` for file `name`; empty when equal.
#[must_use]
pub fn unified(old: &str, new: &str, name: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if head == a.len() && head == b.len() {
        return String::new();
    }
    let room = a.len().min(b.len()) - head;
    let tail = a.iter().rev().zip(b.iter().rev()).take(room).take_while(|(x, y)| x == y).count();
    let (a_end, b_end) = (a.len() - tail, b.len() - tail);
    let start = head.saturating_sub(CONTEXT);
    let after = tail.min(CONTEXT);
    let range = |count: usize| if count == 0 { format!("{start},0") } else { format!("{},{count}", start + 1) };
    let mut out = format!("--- a/{name}\n+++ b/{name}\n");
    let _ = writeln!(out, "@@ -{} +{} @@", range(a_end + after - start), range(b_end + after - start));
    let mut emit = |mark: char, line: &str| {
        out.push(mark);
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    for line in &a[start..head] {
        emit(' ', line);
    }
    for line in &a[head..a_end] {
        emit('-', line);
    }
    for line in &b[head..b_end] {
        emit('+', line);
    }
    for line in &a[a_end..a_end + after] {
        emit(' ', line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hunk_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        assert_eq!(
            unified(old, new, "values.yaml"),
            "--- a/values.yaml\n+++ b/values.yaml\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
    }

    #[test]
    fn insertions_removals_and_missing_newlines() {
        assert_eq!(unified("a\n", "a\n", "f"), "");
        assert_eq!(unified("a\n", "a\nb\n", "f"), "--- a/f\n+++ b/f\n@@ -1,1 +1,2 @@\n a\n+b\n");
        assert_eq!(unified("a\nb\n", "b\n", "f"), "--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n-a\n b\n");
        assert_eq!(unified("", "x: 1\n", "f"), "--- a/f\n+++ b/f\n@@ -0,0 +1,1 @@\n+x: 1\n");
        assert_eq!(
            unified("a", "b", "f"),
            "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
        );
    }
}
