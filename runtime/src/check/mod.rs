//! Reading scripts without running them: the parameter declaration (for
//! `show`, `run` and `check`), and `hubops check`: syntax, declarations,
//! imports that resolve (through the run's resolver) and compile, and every
//! call resolved against what the engine registers, the script's own
//! functions and the modules it imports ([`calls`]); imported modules are
//! checked too. No execution and no network.

mod calls;

use std::collections::{BTreeMap, BTreeSet};

use rhai::{ASTNode, Expr, Position, Stmt, AST};

use crate::bindings::Extension;
use crate::catalog::{Catalog, Runbook};
use crate::diagnostics::{Diagnostic, Sources};
use crate::engine::{self, Build};
use crate::params::{self, Declaration};
use crate::Error;

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
    let (resolver, _) = engine::resolver(runbook.folder(), catalog.search_path().to_vec());
    let engine = engine::build(Build { resolver, extensions, run: None, optimize: false });
    let (resolver, _) = engine::resolver(runbook.folder(), catalog.search_path().to_vec());
    let signatures = crate::signature::of_engine(&engine, true);
    let mut checker = Checker { engine: &engine, resolver: &resolver, signatures: &signatures, seen: BTreeSet::new() };
    let mut problems = Vec::new();
    checker.script(&source, &runbook.text, true, &mut problems);
    problems
}

/// Checks a script and, once each, the modules it imports.
struct Checker<'a> {
    engine: &'a rhai::Engine,
    resolver: &'a crate::resolver::Resolver,
    signatures: &'a [crate::signature::Signature],
    /// Modules already checked (by source name).
    seen: BTreeSet<String>,
}

impl Checker<'_> {
    /// The problems of one script. `declares`: a runbook's parameter
    /// declaration is checked too (a module has none).
    fn script(&mut self, source: &str, text: &str, declares: bool, problems: &mut Vec<Diagnostic>) {
        let sources = Sources::of(source, text);
        let ast = match self.engine.compile(text) {
            Ok(ast) => ast,
            Err(e) => {
                problems.push(Diagnostic::from_parse(&sources, source, &e));
                return;
            }
        };
        if declares {
            if let Err(decl) = params::extract(&ast) {
                problems.extend(decl.into_iter().map(|p| Diagnostic::at(&sources, source, p.pos, p.message, "Params")));
            }
        }
        // Imports: each must resolve and compile; their functions become known.
        let mut known = calls::Known { own: calls::script_fns(&ast, true), modules: BTreeMap::new() };
        for (path, alias, pos) in imports(&ast) {
            let Some((module_source, module_text)) = self.resolver.find(&path) else {
                problems.push(Diagnostic::at(&sources, source, pos, format!("module `{path}` not found"), "NotFound"));
                continue;
            };
            let at = format!("imported at {source}:{}", pos.line().unwrap_or(0));
            match self.engine.compile(&module_text) {
                Err(e) => {
                    let mut d = Diagnostic::from_parse(&Sources::of(&module_source, &module_text), &module_source, &e);
                    d.causes.push(at);
                    problems.push(d);
                }
                Ok(module_ast) => {
                    if let Some(alias) = alias {
                        known.modules.insert(alias, calls::script_fns(&module_ast, false));
                    }
                    if self.seen.insert(module_source.clone()) {
                        let mut inner = Vec::new();
                        self.script(&module_source, &module_text, false, &mut inner);
                        for mut d in inner {
                            d.causes.push(at.clone());
                            problems.push(d);
                        }
                    }
                }
            }
        }
        for p in calls::problems(&ast, self.signatures, &known) {
            let mut d = Diagnostic::at(&sources, source, p.pos, p.message, "Script");
            d.hint = p.hint;
            problems.push(d);
        }
    }
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
