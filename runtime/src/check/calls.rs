//! The calls of one compiled script, each resolved the way a run would
//! resolve it, without running anything: plain calls against the engine's
//! global functions and the script's own, `ns::f(..)` against a static
//! module or an imported one, `x.f(..)` against every function a method
//! call can reach. Every call is found: in branches, loops, closures and
//! rollbacks alike (a closure's body is a function of the AST).
//!
//! Types are not known before a run, so a call resolves when a function of
//! that name takes that many arguments; a wrong type is still the run's to
//! report.

use std::collections::{BTreeMap, BTreeSet};

use rhai::{ASTNode, Expr, FnAccess, Position, AST};

use crate::signature::Signature;

/// Names the parser turns into calls that no module registers.
const KEYWORDS: [&str; 12] = [
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "this",
    "throw",
];

/// A script function: its name and parameters.
#[derive(Debug, Clone)]
pub(crate) struct ScriptFn {
    pub(crate) name: String,
    pub(crate) params: Vec<String>,
}

impl ScriptFn {
    fn display(&self, prefix: &str) -> String {
        format!("{prefix}{}({})", self.name, self.params.join(", "))
    }
}

/// What a call can reach besides the engine: the script's own functions
/// and, by alias, the public functions of the modules it imports.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) own: Vec<ScriptFn>,
    pub(crate) modules: BTreeMap<String, Vec<ScriptFn>>,
}

/// One call that would fail.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) pos: Position,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

/// The functions a script defines (closures excluded; private ones too
/// when `private`).
pub(crate) fn script_fns(ast: &AST, private: bool) -> Vec<ScriptFn> {
    ast.iter_functions()
        .filter(|f| !f.name.starts_with("anon$"))
        .filter(|f| private || f.access != FnAccess::Private)
        .map(|f| ScriptFn { name: f.name.to_string(), params: f.params.iter().map(ToString::to_string).collect() })
        .collect()
}

#[derive(Debug)]
enum Call {
    Plain,
    Method,
    In(String),
}

/// Every call in `ast` that no function of its name and argument count answers.
pub(crate) fn problems(ast: &AST, engine: &[Signature], known: &Known) -> Vec<Problem> {
    let mut calls: Vec<(Call, String, usize, Position)> = Vec::new();
    // A method call may reach a closure kept in a map (`obj.act()`), which
    // no function list shows: names used as map keys or properties pass.
    let mut properties: BTreeSet<String> = BTreeSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => {
                let name = call.name.to_string();
                let is_ident = name.starts_with(|c: char| c.is_alphabetic() || c == '_');
                if is_ident && call.op_token.is_none() && !name.starts_with("anon$") {
                    let how =
                        if call.namespace.is_empty() { Call::Plain } else { Call::In(call.namespace.to_string()) };
                    calls.push((how, name, call.args.len(), *pos));
                }
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => {
                calls.push((Call::Method, call.name.to_string(), call.args.len(), *pos));
            }
            Some(ASTNode::Expr(Expr::Map(map, _))) => {
                properties.extend(map.0.iter().map(|(key, _)| key.name.to_string()));
            }
            Some(ASTNode::Expr(Expr::Property(prop, _))) => {
                properties.insert(prop.2.to_string());
            }
            _ => {}
        }
        true
    });
    // Closures' bodies are walked after the script's statements: report in
    // the order of the text.
    calls.sort_by_key(|(.., pos)| (pos.line(), pos.position()));
    let mut found = Vec::new();
    for (how, name, n, pos) in calls {
        let problem = match how {
            Call::Plain => plain(engine, known, &name, n),
            Call::Method if properties.contains(&name) => None,
            Call::Method => method(engine, known, &name, n),
            Call::In(ns) => namespaced(engine, known, &ns, &name, n),
        };
        if let Some((message, hint)) = problem {
            found.push(Problem { pos, message, hint });
        }
    }
    found
}

type Verdict = Option<(String, Option<String>)>;

fn plain(engine: &[Signature], known: &Known, name: &str, n: usize) -> Verdict {
    if KEYWORDS.contains(&name) {
        return None;
    }
    let native: Vec<&Signature> = engine.iter().filter(|s| s.global && s.callable() && s.name == name).collect();
    let own: Vec<&ScriptFn> = known.own.iter().filter(|f| f.name == name).collect();
    if native.iter().any(|s| s.params.len() == n) || own.iter().any(|f| f.params.len() == n) {
        return None;
    }
    if native.is_empty() && own.is_empty() {
        let names = engine
            .iter()
            .filter(|s| s.global && s.callable())
            .map(|s| s.name.as_str())
            .chain(known.own.iter().map(|f| f.name.as_str()));
        return Some((format!("unknown function `{name}`"), did_you_mean(name, names)));
    }
    let takes = native.iter().map(|s| s.display()).chain(own.iter().map(|f| f.display("")));
    Some((format!("function `{name}` cannot be called with {}", arguments(n)), Some(it_takes(takes))))
}

fn method(engine: &[Signature], known: &Known, name: &str, n: usize) -> Verdict {
    if KEYWORDS.contains(&name) {
        return None;
    }
    let native: Vec<&Signature> =
        engine.iter().filter(|s| s.global && s.callable() && s.name == name && !s.params.is_empty()).collect();
    let own: Vec<&ScriptFn> = known.own.iter().filter(|f| f.name == name).collect();
    // A method call passes its object first; a script function gets it as `this`.
    if native.iter().any(|s| s.params.len() == n + 1) || own.iter().any(|f| f.params.len() == n) {
        return None;
    }
    if native.is_empty() && own.is_empty() {
        let names = engine
            .iter()
            .filter(|s| s.global && s.callable() && !s.params.is_empty())
            .map(|s| s.name.as_str())
            .chain(known.own.iter().map(|f| f.name.as_str()));
        return Some((format!("unknown method `{name}`"), did_you_mean(name, names)));
    }
    let takes = native.iter().map(|s| s.display()).chain(own.iter().map(|f| f.display("this.")));
    Some((format!("method `{name}` cannot be called with {}", arguments(n)), Some(it_takes(takes))))
}

fn namespaced(engine: &[Signature], known: &Known, ns: &str, name: &str, n: usize) -> Verdict {
    let full = format!("{ns}::{name}");
    if let Some(fns) = known.modules.get(ns) {
        let named: Vec<&ScriptFn> = fns.iter().filter(|f| f.name == name).collect();
        if named.iter().any(|f| f.params.len() == n) {
            return None;
        }
        if named.is_empty() {
            let candidates: Vec<String> = fns.iter().map(|f| format!("{ns}::{}", f.name)).collect();
            return Some((
                format!("unknown function `{full}`"),
                did_you_mean(&full, candidates.iter().map(String::as_str)),
            ));
        }
        let takes = named.iter().map(|f| f.display(&format!("{ns}::")));
        return Some((format!("function `{full}` cannot be called with {}", arguments(n)), Some(it_takes(takes))));
    }
    let in_module: Vec<&Signature> = engine.iter().filter(|s| s.module.as_deref() == Some(ns)).collect();
    if in_module.is_empty() {
        let modules: BTreeSet<&str> =
            engine.iter().filter_map(|s| s.module.as_deref()).chain(known.modules.keys().map(String::as_str)).collect();
        return Some((format!("unknown module `{ns}`"), did_you_mean(ns, modules.into_iter())));
    }
    let named: Vec<&&Signature> = in_module.iter().filter(|s| s.name == name).collect();
    if named.iter().any(|s| s.params.len() == n) {
        return None;
    }
    if named.is_empty() {
        let candidates: Vec<String> =
            in_module.iter().filter(|s| s.callable()).map(|s| format!("{ns}::{}", s.name)).collect();
        return Some((
            format!("unknown function `{full}`"),
            did_you_mean(&full, candidates.iter().map(String::as_str)),
        ));
    }
    let takes = named.iter().map(|s| {
        // `k8s::apply(c, ..)` is written as a plain call here, even where
        // the function is also a method.
        Signature { global: false, ..(**s).clone() }.display()
    });
    Some((format!("function `{full}` cannot be called with {}", arguments(n)), Some(it_takes(takes))))
}

fn arguments(n: usize) -> String {
    match n {
        0 => "no arguments".into(),
        1 => "1 argument".into(),
        n => format!("{n} arguments"),
    }
}

fn it_takes(signatures: impl Iterator<Item = String>) -> String {
    let mut all: Vec<String> = signatures.collect();
    all.sort();
    all.dedup();
    format!("it takes: {}", all.join("; "))
}

fn did_you_mean<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let names: BTreeSet<&str> = names.collect();
    crate::suggestion::closest(name, names.into_iter()).map(|s| format!("did you mean `{s}`?"))
}
