//! Where runbooks, modules and worlds come from: the ones embedded at build
//! time, and the site folders on the search path (`--path`, `HUBOPS_PATH`).
//! Finding and reading only; nothing here compiles or runs a script.

use std::path::{Path, PathBuf};

use crate::Error;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Where a runbook was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Embedded in the binary.
    Bundled,
    /// A `.rhai` file in a search-path folder, or named on the command line.
    File(PathBuf),
}

/// A runbook's text and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Runbook {
    pub(crate) name: String,
    pub(crate) origin: Origin,
    pub(crate) text: String,
}

impl Runbook {
    /// The name errors and the journal use for the script: its path, or
    /// `bundled:NAME`.
    pub(crate) fn source_name(&self) -> String {
        match &self.origin {
            Origin::Bundled => format!("{}.rhai", self.name),
            Origin::File(path) => path.display().to_string(),
        }
    }

    /// The folder imports are resolved from first, for file runbooks.
    pub(crate) fn folder(&self) -> Option<PathBuf> {
        match &self.origin {
            Origin::Bundled => None,
            Origin::File(path) => Some(path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)),
        }
    }

    pub(crate) fn origin_label(&self) -> String {
        match &self.origin {
            Origin::Bundled => "bundled".into(),
            Origin::File(path) => path.display().to_string(),
        }
    }

    /// The leading `//!` block, without its `key: value` header lines.
    pub(crate) fn description(&self) -> String {
        doc_lines(&self.text)
            .filter(|line| header_value(line).is_none() && capture_value(line).is_none())
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }

    /// The first paragraph of the description, on one line.
    pub(crate) fn summary(&self) -> String {
        self.description().split("\n\n").next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The default world named in the header (`//! world: NAME`).
    pub(crate) fn default_world(&self) -> Option<String> {
        doc_lines(&self.text).find_map(|line| header_value(line).map(str::to_string))
    }

    /// What `hubops capture` reads for this runbook: the header's
    /// `//! capture: KIND PARAM...` lines, in order.
    pub(crate) fn capture_lines(&self) -> Vec<String> {
        doc_lines(&self.text).filter_map(|line| capture_value(line).map(str::to_string)).collect()
    }
}

fn capture_value(line: &str) -> Option<&str> {
    line.strip_prefix("capture:").map(str::trim).filter(|v| !v.is_empty())
}

fn doc_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map_while(|line| line.trim_start().strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
}

fn header_value(line: &str) -> Option<&str> {
    line.strip_prefix("world:").map(str::trim).filter(|v| !v.is_empty())
}

/// The bundled runbooks, modules and worlds, and the search path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    search_path: Vec<PathBuf>,
}

impl Catalog {
    pub(crate) fn new(search_path: Vec<PathBuf>) -> Self {
        Self { search_path }
    }

    pub(crate) fn search_path(&self) -> &[PathBuf] {
        &self.search_path
    }

    /// Finds a runbook by file path (anything with a `/` or ending in `.rhai`)
    /// or by name: the search path first, so a site copy wins, then bundled.
    pub(crate) fn resolve(&self, name_or_path: &str) -> Result<Runbook, Error> {
        let looks_like_path = has_ext(name_or_path, "rhai")
            || name_or_path.contains(std::path::MAIN_SEPARATOR)
            || name_or_path.contains('/');
        if looks_like_path {
            return read_runbook(Path::new(name_or_path));
        }
        for dir in &self.search_path {
            let path = dir.join(format!("{name_or_path}.rhai"));
            if path.is_file() {
                return read_runbook(&path);
            }
        }
        if let Some(text) = bundled_runbook(name_or_path) {
            return Ok(Runbook { name: name_or_path.to_string(), origin: Origin::Bundled, text: text.to_string() });
        }
        let names: Vec<String> = self.list().into_iter().map(|r| r.name).collect();
        Err(Error::UnknownRunbook {
            name: name_or_path.to_string(),
            suggestion: crate::suggestion::closest(name_or_path, names.iter().map(String::as_str)),
        })
    }

    /// Every runbook: search-path folders in order, then bundled ones not
    /// shadowed by a site copy. Modules (files with no top-level work) are
    /// left out; `is_runbook` decides.
    pub(crate) fn list(&self) -> Vec<Runbook> {
        let mut found: Vec<Runbook> = Vec::new();
        for dir in &self.search_path {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if path.extension().is_none_or(|e| e != "rhai") {
                    continue;
                }
                if let Ok(runbook) = read_runbook(&path) {
                    if is_runbook(&runbook.text) && !found.iter().any(|r| r.name == runbook.name) {
                        found.push(runbook);
                    }
                }
            }
        }
        for (name, text) in embedded::RUNBOOKS {
            if !found.iter().any(|r| r.name == *name) {
                found.push(Runbook { name: (*name).to_string(), origin: Origin::Bundled, text: (*text).to_string() });
            }
        }
        found
    }

    /// A world by name or path, for `--rehearse` and `--world`: a path as
    /// given; a bare name in the runbook's folder, the search path, then bundled.
    /// A world by path or name: a path as given; a name next to the runbook,
    /// on the search path, then bundled. A name that looks like a path (a
    /// folder in it, or a `.yaml` ending) is never answered by a bundled world:
    /// `--world cae.yaml` with no such file is an error, not the bundled `cae`.
    /// Returns the text, where it came from, and the file when there is one.
    pub(crate) fn world(&self, name: &str, near: Option<&Path>) -> Option<(String, String, Option<PathBuf>)> {
        let as_path = Path::new(name);
        let path_like = has_ext(name, "yaml") || has_ext(name, "yml") || name.contains(std::path::MAIN_SEPARATOR);
        let file =
            if has_ext(name, "yaml") || has_ext(name, "yml") { name.to_string() } else { format!("{name}.yaml") };
        let mut candidates: Vec<PathBuf> = Vec::new();
        if as_path.is_absolute() || as_path.is_file() {
            // A path as given: absolute, or relative to where hubops runs.
            candidates.push(as_path.to_path_buf());
        } else {
            if let Some(dir) = near {
                candidates.push(dir.join(&file));
                candidates.push(dir.join("worlds").join(&file));
            }
            for dir in &self.search_path {
                candidates.push(dir.join(&file));
                candidates.push(dir.join("worlds").join(&file));
            }
        }
        for path in candidates {
            if let Ok(text) = crate::state::read_bounded(&path) {
                return Some((text, path.display().to_string(), Some(path)));
            }
        }
        if path_like {
            return None;
        }
        let stem = file.trim_end_matches(".yaml").trim_end_matches(".yml");
        embedded::WORLDS
            .iter()
            .find(|(n, _)| *n == stem)
            .map(|(n, text)| ((*text).to_string(), format!("{n} (bundled)"), None))
    }
}

/// Whether `name` ends in `.ext`, in any case.
pub(crate) fn has_ext(name: &str, ext: &str) -> bool {
    Path::new(name).extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn read_runbook(path: &Path) -> Result<Runbook, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("runbook").to_string();
    Ok(Runbook { name, origin: Origin::File(path.to_path_buf()), text })
}

/// Whether a script does work at the top level (a runbook) rather than only
/// defining functions and constants (a module). Decided by the text, so that
/// `list` stays fast and needs no engine: a runbook calls `params(` or `step(`.
pub(crate) fn is_runbook(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
        .any(|line| line.contains("params(") || line.contains("step("))
}

pub(crate) fn bundled_runbook(name: &str) -> Option<&'static str> {
    embedded::RUNBOOKS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub(crate) fn bundled_module(name: &str) -> Option<&'static str> {
    embedded::MODULES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The text of the bundled world `name`.
pub(crate) fn bundled_world(name: &str) -> Option<&'static str> {
    embedded::WORLDS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of the bundled modules.
pub(crate) fn bundled_modules() -> impl Iterator<Item = &'static str> {
    embedded::MODULES.iter().map(|(n, _)| *n)
}

/// The names and texts of the bundled worlds.
pub(crate) fn bundled_worlds() -> impl Iterator<Item = (&'static str, &'static str)> {
    embedded::WORLDS.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_skips_header_lines() {
        let rb = Runbook {
            name: "x".into(),
            origin: Origin::Bundled,
            text: "//! Check the hub.\n//!\n//! More words.\n//! world: hub\nlet a = 1;\n//! not doc".into(),
        };
        assert_eq!(rb.description(), "Check the hub.\n\nMore words.");
        assert_eq!(rb.summary(), "Check the hub.");
        assert_eq!(rb.default_world().as_deref(), Some("hub"));
    }

    #[test]
    fn runbooks_and_modules_are_told_apart() {
        assert!(is_runbook("let p = params(#{});"));
        assert!(!is_runbook("fn helper(x) { x }\n// step( in a comment"));
    }
}
