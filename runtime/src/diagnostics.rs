//! Turns Rhai errors into what a person reads: a lowercase headline, the
//! script position as `file:line:col` with the source line and a caret, the
//! chain of calls it came through, and a hint where one helps. Also decides
//! the exit status a script error means. Rendering only; no I/O.

use std::collections::BTreeMap;
use std::fmt;

use rhai::{EvalAltResult, ParseError, Position};

use crate::signature::Signature;

/// Words Rhai reserves: none can name a parameter, a map key or a
/// variable (a test checks each against the engine).
pub(crate) const RESERVED_WORDS: [&str; 61] = [
    "Fn",
    "as",
    "async",
    "await",
    "break",
    "call",
    "case",
    "catch",
    "const",
    "continue",
    "curry",
    "debug",
    "default",
    "do",
    "else",
    "eval",
    "export",
    "false",
    "fn",
    "for",
    "go",
    "goto",
    "if",
    "import",
    "in",
    "is",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "let",
    "loop",
    "match",
    "module",
    "new",
    "nil",
    "null",
    "package",
    "print",
    "private",
    "protected",
    "public",
    "return",
    "shared",
    "spawn",
    "static",
    "super",
    "switch",
    "sync",
    "this",
    "thread",
    "throw",
    "true",
    "try",
    "type_of",
    "until",
    "use",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// A located error in a script.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// The headline, lowercase, no trailing period.
    pub message: String,
    /// The error's `kind` as scripts see it (`Failed`, `NotFound`, `Syntax`, ...).
    pub kind: String,
    /// Where it happened.
    pub location: Option<Location>,
    /// How it got there: calls and imports, outermost last.
    pub causes: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// The exit status it means.
    pub status: Status,
    /// What is shown after it (the plan of a dry run that failed).
    pub after: Option<String>,
}

/// A position in a script, with its line of source text.
#[derive(Debug, Clone)]
pub struct Location {
    /// The script's name (a path, or `NAME.rhai` for bundled ones).
    pub source: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// The text of that line, when the source is known.
    pub text: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// The texts of the scripts an error may point into, by source name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    texts: BTreeMap<String, String>,
    /// The functions the engine knows, for "did you mean" and "it takes".
    pub(crate) functions: Vec<Signature>,
}

impl Sources {
    pub(crate) fn add(&mut self, name: &str, text: &str) {
        self.texts.insert(name.to_string(), text.to_string());
    }

    fn locate(&self, source: &str, pos: Position) -> Option<Location> {
        let (line, col) = (pos.line()?, pos.position().unwrap_or(1));
        let text = self.texts.get(source).and_then(|t| t.lines().nth(line - 1)).map(str::to_string);
        Some(Location { source: source.to_string(), line, col, text })
    }
}

impl Diagnostic {
    fn new(message: String, kind: &str, status: Status) -> Self {
        Self { message, kind: kind.into(), location: None, causes: Vec::new(), hint: None, status, after: None }
    }

    /// A problem found by reading a script (no run): status 1 for `check`.
    pub(crate) fn at(sources: &Sources, source: &str, pos: Position, message: String, kind: &str) -> Self {
        let mut diag = Self::new(message, kind, Status::Usage);
        diag.location = sources.locate(source, pos);
        diag
    }

    /// A script that did not compile.
    pub(crate) fn from_parse(sources: &Sources, source: &str, err: &ParseError) -> Self {
        let message = match err.err_type() {
            rhai::ParseErrorType::VariableUndefined(name) => format!("unknown variable `{name}`"),
            rhai::ParseErrorType::ModuleUndefined(name) => format!("unknown module `{name}`"),
            other => format!("syntax error: {}", lowercase_first(&other.to_string())),
        };
        let mut diag = Self::new(message, "Syntax", Status::Usage);
        diag.location = sources.locate(source, err.position());
        // `#{ new: .. }`, `let fn = ..`: the word where the parser stopped.
        let word: Option<String> = diag.location.as_ref().and_then(|l| {
            let rest: String = l.text.as_deref()?.chars().skip(l.col.saturating_sub(1)).collect();
            let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            RESERVED_WORDS.contains(&word.as_str()).then_some(word)
        });
        if let Some(word) = word {
            diag.hint = Some(format!(
                "`{word}` is reserved in Rhai and cannot name a parameter, map key or variable: call it something else, such as `{word}_value` (`hubops docs` lists the reserved words)"
            ));
        }
        diag
    }

    /// A script that failed while running.
    pub(crate) fn from_eval(sources: &Sources, main_source: &str, err: &EvalAltResult) -> Self {
        let mut source = main_source.to_string();
        let mut causes = Vec::new();
        let mut err = err;
        loop {
            match err {
                EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, pos) => {
                    let what =
                        if name.starts_with("anon$") { "in a closure".to_string() } else { format!("in `{name}`") };
                    causes.push(format!("{what}, called at {}", place(&source, *pos)));
                    if !fn_source.is_empty() {
                        source.clone_from(fn_source);
                    }
                    err = inner;
                }
                EvalAltResult::ErrorInModule(path, inner, pos) => {
                    causes.push(format!("in module `{path}`, imported at {}", place(&source, *pos)));
                    source.clone_from(path);
                    err = inner;
                }
                _ => break,
            }
        }
        causes.reverse();
        let mut diag = Self::innermost(sources, err);
        if let Some(inner_source) = innermost_source(err) {
            source = inner_source;
        }
        diag.location = sources.locate(&source, err.position());
        diag.causes.extend(causes);
        diag
    }

    fn innermost(sources: &Sources, err: &EvalAltResult) -> Self {
        match err {
            EvalAltResult::ErrorRuntime(value, _) => from_error_value(value),
            EvalAltResult::ErrorTerminated(token, _) if token.to_string() == "runaway" => {
                let mut d = Self::new(
                    "the runbook computed for a minute without calling hubops and was stopped".into(),
                    "Limit",
                    Status::Failed,
                );
                d.hint = Some("look for a loop that never ends, or one that grows a list without bound".into());
                d
            }
            EvalAltResult::ErrorTerminated(..) => Self::new("interrupted".into(), "Interrupted", Status::Interrupted),
            EvalAltResult::ErrorFunctionNotFound(signature, _) => not_found(sources, signature),
            EvalAltResult::ErrorVariableNotFound(name, _) => {
                Self::new(format!("unknown variable `{name}`"), "Script", Status::Failed)
            }
            EvalAltResult::ErrorTooManyOperations(_) => {
                let mut d =
                    Self::new("the runbook ran too many operations and was stopped".into(), "Limit", Status::Failed);
                d.hint = Some("look for a loop that never ends".into());
                d
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                let mut d = Self::new("functions nest too deeply".into(), "Limit", Status::Failed);
                d.hint = Some("look for a function that calls itself without end".into());
                d
            }
            EvalAltResult::ErrorParsing(kind, _) => {
                Self::new(format!("syntax error: {}", lowercase_first(&kind.to_string())), "Syntax", Status::Usage)
            }
            EvalAltResult::ErrorModuleNotFound(name, _) => {
                let mut d = Self::new(format!("module `{name}` not found"), "NotFound", Status::Usage);
                d.hint = Some(
                    "modules are looked up in the script's folder, the search path (--path), then the bundled stdlib"
                        .into(),
                );
                d
            }
            EvalAltResult::ErrorDataRace(..) => {
                let mut d = Self::new(
                    "a variable was used while a method call on it was still running".into(),
                    "Script",
                    Status::Failed,
                );
                // Rhai locks a captured variable at the head of a method
                // chain for the whole chain, so a closure in the chain cannot
                // use it: `blue.list(..).map(|p| blue.get(..))`.
                d.hint = Some(
                    "store the result of the first call in a variable, then chain on that: `let pods = blue.list(..); pods.map(|p| blue.get(..))`"
                        .into(),
                );
                d
            }
            other => {
                let text = other.to_string();
                let plain = text.rfind(" (line ").filter(|_| text.ends_with(')')).map_or(text.as_str(), |i| &text[..i]);
                Self::new(lowercase_first(plain), "Script", Status::Failed)
            }
        }
    }

    /// The whole error as it is printed on stderr.
    pub fn render(&self, color: bool) -> String {
        let (red, blue, cyan, bold, reset) =
            if color { ("\x1b[1;31m", "\x1b[1;34m", "\x1b[1;36m", "\x1b[1m", "\x1b[0m") } else { ("", "", "", "", "") };
        let mut out = format!("{red}error{reset}{bold}: {}{reset}", self.message);
        if let Some(loc) = &self.location {
            let width = loc.line.to_string().len();
            let pad = " ".repeat(width);
            out.push_str(&format!("\n{pad}{blue}-->{reset} {}:{}:{}", loc.source, loc.line, loc.col));
            if let Some(text) = &loc.text {
                let caret_pad: String =
                    text.chars().take(loc.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                out.push_str(&format!("\n{pad} {blue}|{reset}"));
                out.push_str(&format!("\n{blue}{}{reset} {blue}|{reset} {text}", loc.line));
                out.push_str(&format!("\n{pad} {blue}|{reset} {caret_pad}{red}^{reset}"));
            }
        }
        for cause in &self.causes {
            out.push_str(&format!("\ncaused by: {cause}"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n{cyan}hint{reset}: {hint}"));
        }
        if let Some(after) = &self.after {
            out.push_str(&format!("\n{after}"));
        }
        out
    }
}

fn place(source: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{source}:{line}:{col}"),
        (Some(line), None) => format!("{source}:{line}"),
        _ => source.to_string(),
    }
}

fn innermost_source(err: &EvalAltResult) -> Option<String> {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => value
            .read_lock::<rhai::Map>()
            .and_then(|m| m.get("source").map(ToString::to_string))
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// An error raised by a binding or `fail`: a map with `kind` and `message`.
fn from_error_value(value: &rhai::Dynamic) -> Diagnostic {
    let Some(map) = value.read_lock::<rhai::Map>() else {
        let text = value.to_string();
        let message = if text.trim().is_empty() || value.is_unit() {
            "the script threw an empty value (`throw` with no message)".to_string()
        } else {
            lowercase_first(&text)
        };
        return Diagnostic::new(message, "Thrown", Status::Failed);
    };
    let get = |key: &str| map.get(key).map(ToString::to_string).filter(|s| !s.is_empty());
    let kind = get("kind").unwrap_or_else(|| "Thrown".into());
    let status = match kind.as_str() {
        "Usage" => Status::Usage,
        "Interrupted" => Status::Interrupted,
        _ => Status::Failed,
    };
    // Never an empty headline: say what kind of error came, and that it
    // said nothing.
    let message = get("message")
        .or_else(|| Some(value.to_string()).filter(|s| !s.trim().is_empty() && s != "\"\""))
        .unwrap_or_else(|| format!("a `{kind}` error with no message"));
    let mut diag = Diagnostic::new(message, &kind, status);
    if let Some(causes) = map.get("causes").and_then(|c| c.read_lock::<rhai::Array>().map(|a| a.clone())) {
        diag.causes = causes.iter().map(ToString::to_string).collect();
    }
    diag.hint = get("hint");
    diag
}

fn not_found(sources: &Sources, signature: &str) -> Diagnostic {
    let name = signature.split(" (").next().unwrap_or(signature).trim();
    let args = signature.strip_prefix(name).unwrap_or("").trim();
    // `route53::swap` names a module's function; `swap` any global one, a
    // method call's included.
    let matches = |f: &&Signature| match name.rsplit_once("::") {
        Some((module, fn_name)) => f.module.as_deref() == Some(module) && f.name == fn_name,
        None => f.global && f.name == name,
    };
    let known: Vec<&Signature> = sources.functions.iter().filter(matches).collect();
    if known.is_empty() {
        let mut d = Diagnostic::new(format!("unknown function `{name}`"), "Script", Status::Failed);
        let names: Vec<String> = sources
            .functions
            .iter()
            .filter(|f| f.callable())
            .map(|f| match (&f.module, f.global) {
                (Some(m), false) => format!("{m}::{}", f.name),
                _ => f.name.clone(),
            })
            .collect();
        d.hint =
            crate::suggestion::closest(name, names.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
        if d.hint.is_none() {
            d.hint = Some("`hubops docs` lists every function".into());
        }
        d
    } else {
        let mut d = Diagnostic::new(
            format!(
                "function `{name}` cannot be called with {}",
                if args.is_empty() || args == "()" { "no arguments".to_string() } else { rhai_args(args) }
            ),
            "Script",
            Status::Failed,
        );
        // Shadowed built-ins appear twice; return types add nothing here.
        let mut sigs: Vec<String> =
            known.iter().map(|s| s.display().split(" ->").next().unwrap_or_default().to_string()).collect();
        sigs.sort_unstable();
        sigs.dedup();
        d.hint = Some(format!("it takes: {}", sigs.join("; ")));
        d
    }
}

/// `(i64, &str)` as Rhai says it: `(int, string)`.
fn rhai_args(args: &str) -> String {
    let inner = args.trim().trim_start_matches('(').trim_end_matches(')');
    let types: Vec<String> = inner.split(',').map(crate::signature::rhai_type).collect();
    format!("({})", types.join(", "))
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return String::new() };
    let rest: String = chars.collect();
    // Keep acronyms and names as they are.
    if rest.starts_with(|c: char| c.is_uppercase()) {
        return text.trim_end_matches('.').to_string();
    }
    format!("{}{rest}", first.to_lowercase()).trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_the_column() {
        let mut sources = Sources::default();
        sources.add("x.rhai", "let a = 1;\nlet b = oops(a);\n");
        let d = Diagnostic::at(&sources, "x.rhai", Position::new(2, 9), "unknown function `oops`".into(), "Script");
        assert_eq!(
            d.render(false),
            "error: unknown function `oops`\n --> x.rhai:2:9\n  |\n2 | let b = oops(a);\n  |         ^"
        );
    }

    #[test]
    fn reserved_words_are_the_engines() {
        let engine = rhai::Engine::new();
        for word in RESERVED_WORDS {
            assert!(engine.compile(format!("#{{ {word}: 1 }}")).is_err(), "`{word}` is not reserved");
        }
        assert!(engine.compile("#{ exit: 1, begin: 2, old: 3 }").is_ok());
    }

    #[test]
    fn a_reserved_parameter_name_gets_a_hint() {
        let text = "let p = params(#{ new: #{} });\n";
        let err = rhai::Engine::new().compile(text).unwrap_err();
        let d = Diagnostic::from_parse(&Sources::of("x.rhai", text), "x.rhai", &err);
        assert_eq!(
            d.render(false),
            "error: syntax error: 'new' is a reserved keyword\n --> x.rhai:1:19\n  |\n1 | let p = params(#{ new: #{} });\n  |                   ^\nhint: `new` is reserved in Rhai and cannot name a parameter, map key or variable: call it something else, such as `new_value` (`hubops docs` lists the reserved words)"
        );
    }

    #[test]
    fn keeps_names_capitalised() {
        assert_eq!(lowercase_first("Expecting ';'."), "expecting ';'");
        assert_eq!(lowercase_first("EOF reached"), "EOF reached");
    }
}

/// How a command ended, as the process exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: the command did what it was asked.
    Success,
    /// 1: the runbook failed, refused, or a check found problems.
    Failed,
    /// 2: usage, configuration or internal error.
    Usage,
    /// 130: interrupted by Ctrl-C.
    Interrupted,
}

impl From<Status> for std::process::ExitCode {
    fn from(status: Status) -> Self {
        Self::from(match status {
            Status::Success => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            Status::Interrupted => 130,
        })
    }
}
