//! Reading scripts without running them: the parameter declaration (for
//! `show`, `run` and `check`), and `hubops check`: syntax, declarations,
//! imports that resolve and compile, and calls to functions that exist.
//! No execution and no network.

use std::collections::{BTreeMap, BTreeSet};

use rhai::{ASTNode, Expr, Position, Stmt, AST};

use crate::bindings::Extension;
use crate::catalog::{Catalog, Runbook};
use crate::diagnostics::{Diagnostic, Sources};
use crate::engine::{self, Build};
use crate::params::{self, Declaration};
use crate::Error;

/// Functions the parser turns into calls that no module registers.
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

/// Compiles a runbook for reading (optimisation off) and returns its
/// parameter declaration; syntax or declaration problems are errors.
pub(crate) fn declaration(
    runbook: &Runbook,
    catalog: &Catalog,
    extensions: &[Extension],
) -> Result<Option<Declaration>, Error> {
    let source = runbook.source_name();
    let sources = Sources::of(&source, &runbook.text);
    let ast = compile_for_reading(runbook, catalog, extensions)
        .map_err(|e| Error::Script(Box::new(Diagnostic::from_parse(&sources, &source, &e))))?;
    params::extract(&ast).map_err(|problems| {
        let first = &problems[0];
        let mut diag = Diagnostic::at(&sources, &source, first.pos, first.message.clone(), "Params");
        if problems.len() > 1 {
            diag.hint = Some(format!("{} more problems: `hubops check {}` lists them all", problems.len() - 1, source));
        }
        Error::Script(Box::new(diag))
    })
}

fn compile_for_reading(
    runbook: &Runbook,
    catalog: &Catalog,
    extensions: &[Extension],
) -> Result<AST, rhai::ParseError> {
    let (resolver, _) = engine::resolver(runbook.folder(), catalog.search_path().to_vec());
    let engine = engine::build(Build { resolver, extensions, run: None, optimize: false });
    engine.compile(&runbook.text)
}

/// `hubops check`: every problem in every script, each with `file:line:col`.
pub(crate) fn check(
    names: &[String],
    catalog: &Catalog,
    extensions: &[Extension],
    printer: crate::output::Printer,
) -> Result<(), Error> {
    let mut total = 0;
    for name in names {
        let runbook = catalog.resolve(name)?;
        let problems = check_one(&runbook, catalog, extensions);
        if problems.is_empty() {
            printer.status(crate::output::Tone::Progress, "Checked", &runbook.source_name());
        }
        for diag in &problems {
            printer.note(&diag.render(false));
        }
        total += problems.len();
    }
    if total > 0 {
        return Err(Error::CheckFailed { count: total });
    }
    Ok(())
}

fn check_one(runbook: &Runbook, catalog: &Catalog, extensions: &[Extension]) -> Vec<Diagnostic> {
    let source = runbook.source_name();
    let sources = Sources::of(&source, &runbook.text);
    let (resolver, _) = engine::resolver(runbook.folder(), catalog.search_path().to_vec());
    let engine = engine::build(Build { resolver, extensions, run: None, optimize: false });
    let ast = match engine.compile(&runbook.text) {
        Ok(ast) => ast,
        Err(e) => return vec![Diagnostic::from_parse(&sources, &source, &e)],
    };
    let mut problems: Vec<Diagnostic> = Vec::new();
    if let Err(decl) = params::extract(&ast) {
        problems.extend(decl.into_iter().map(|p| Diagnostic::at(&sources, &source, p.pos, p.message, "Params")));
    }
    let (resolver, _) = engine::resolver(runbook.folder(), catalog.search_path().to_vec());
    // Imports: each must resolve and compile; their functions become known.
    let mut module_fns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, alias, pos) in imports(&ast) {
        match resolver.find(&path) {
            None => {
                problems.push(Diagnostic::at(&sources, &source, pos, format!("module `{path}` not found"), "NotFound"));
            }
            Some((module_source, text)) => match engine.compile(&text) {
                Err(e) => {
                    let mut d = Diagnostic::from_parse(&Sources::of(&module_source, &text), &module_source, &e);
                    d.causes.push(format!("imported at {source}:{}", pos.line().unwrap_or(0)));
                    problems.push(d);
                }
                Ok(module_ast) => {
                    let fns = module_ast.iter_functions().map(|f| f.name.to_string()).collect();
                    if let Some(alias) = alias {
                        module_fns.insert(alias, fns);
                    }
                }
            },
        }
    }
    let known = known_functions(&engine, &ast);
    for (namespace, name, pos) in calls(&ast) {
        let found = match &namespace {
            None => known.contains(&name) || KEYWORDS.contains(&name.as_str()),
            Some(ns) => {
                module_fns.get(ns).map_or_else(|| known.contains(&format!("{ns}::{name}")), |fns| fns.contains(&name))
            }
        };
        if !found {
            let full = namespace.as_ref().map_or_else(|| name.clone(), |ns| format!("{ns}::{name}"));
            let mut d = Diagnostic::at(&sources, &source, pos, format!("unknown function `{full}`"), "Script");
            let candidates: Vec<String> = match &namespace {
                Some(ns) if module_fns.contains_key(ns) => {
                    module_fns[ns].iter().map(|f| format!("{ns}::{f}")).collect()
                }
                _ => known.iter().cloned().collect(),
            };
            d.hint = crate::suggestion::closest(&full, candidates.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            problems.push(d);
        }
    }
    problems
}

/// `import "path" as alias;` statements anywhere in the script.
fn imports(ast: &AST) -> Vec<(String, Option<String>, Position)> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, pos))) = path.last() {
            if let Expr::StringConstant(p, _) = &x.0 {
                let alias = Some(x.1.name.to_string()).filter(|a| !a.is_empty());
                found.push((p.to_string(), alias, *pos));
            }
        }
        true
    });
    found
}

/// Every plain or namespaced function call (not method calls or operators).
fn calls(ast: &AST) -> Vec<(Option<String>, String, Position)> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::FnCall(call, pos))) = path.last() {
            let name = call.name.to_string();
            let is_ident = name.starts_with(|c: char| c.is_alphabetic() || c == '_');
            if is_ident && call.op_token.is_none() && !name.starts_with("anon$") {
                let ns = (!call.namespace.is_empty()).then(|| call.namespace.to_string());
                found.push((ns, name, *pos));
            }
        }
        true
    });
    found
}

fn known_functions(engine: &rhai::Engine, ast: &AST) -> BTreeSet<String> {
    let mut known: BTreeSet<String> =
        engine::signatures(engine).iter().map(|s| s.split('(').next().unwrap_or(s).trim().to_string()).collect();
    known.extend(ast.iter_functions().map(|f| f.name.to_string()));
    known
}
