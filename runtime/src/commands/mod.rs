//! One function per command: turn the parsed command line into the library's
//! calls and print what the command produces. Runs go through `run::execute`.

use std::path::PathBuf;

use crate::bindings::Extension;
use crate::catalog::{self, Catalog};
use crate::check::{check, declaration};
use crate::config::{Command, Config, DocsFormat, EjectConfig, RunConfig};
use crate::engine::{self, Build};
use crate::error::Status;
use crate::output::{Printer, Tone};
use crate::params::{show_plain, Declaration, Supplied};
mod run;

use crate::Error;
use run::{execute as execute_run, RunRequest};

pub(crate) fn execute(config: Config, extensions: &[Extension], printer: Printer) -> Result<Status, Error> {
    let catalog = Catalog::new(config.path.clone());
    match config.command {
        Command::List => {
            list(&catalog, printer);
            Ok(Status::Success)
        }
        Command::Show(runbook) => {
            let runbook = catalog.resolve(&runbook)?;
            let decl = declaration(&runbook, &catalog, extensions)?.unwrap_or_default();
            printer.result(&describe(&runbook, &decl));
            Ok(Status::Success)
        }
        Command::Check(scripts) => check(&scripts, &catalog, extensions, printer).map(|()| Status::Success),
        Command::Eject(args) => eject(&args, &catalog, printer).map(|()| Status::Success),
        Command::Docs(format) => {
            docs(format, extensions, printer)?;
            Ok(Status::Success)
        }
        Command::RunHelp { runbook, asked, text } => {
            run_help(runbook.as_deref(), asked, text, &catalog, extensions, printer)
        }
        Command::Run(args) => run(*args, &catalog, extensions, printer),
    }
}

fn list(catalog: &Catalog, printer: Printer) {
    let runbooks = catalog.list();
    let width = runbooks.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for rb in runbooks {
        printer.result(&format!("{:<width$}  {}  [{}]", rb.name, rb.summary(), rb.origin_label()));
    }
}

fn describe(runbook: &catalog::Runbook, decl: &Declaration) -> String {
    let mut out = format!("{} ({})\n\n", runbook.name, runbook.origin_label());
    let description = runbook.description();
    if !description.is_empty() {
        for line in description.lines() {
            out.push_str(&format!("  {line}\n").replace("  \n", "\n"));
        }
        out.push('\n');
    }
    if let Some(world) = runbook.default_world() {
        out.push_str(&format!("Rehearse on its world `{world}`: hubops run {} --rehearse\n\n", runbook.name));
    }
    if decl.params.is_empty() {
        out.push_str("Parameters: none\n");
        return out;
    }
    out.push_str("Parameters:\n");
    let width = decl.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in &decl.params {
        let mut facts = vec![p.ty.to_string()];
        facts.push(if p.required { "required".into() } else { "optional".into() });
        if let Some(d) = &p.default {
            // A secret's default is a secret too.
            facts.push(if p.secret { "default ***".into() } else { format!("default {}", show_plain(d)) });
        }
        if p.secret {
            facts.push("secret".into());
        }
        out.push_str(&format!("  {:<width$}  {}\n", p.name, facts.join(", ")));
        let pad = " ".repeat(width + 4);
        if !p.doc.is_empty() {
            out.push_str(&format!("{pad}{}\n", p.doc));
        }
        if !p.choices.is_empty() {
            let choices: Vec<String> = p.choices.iter().map(show_plain).collect();
            out.push_str(&format!("{pad}one of: {}\n", choices.join(", ")));
        }
        if let Some(e) = p.example.as_ref().filter(|_| !p.secret) {
            out.push_str(&format!("{pad}example: --set {}={}\n", p.name, show_plain(e)));
        }
    }
    out
}

fn run_help(
    runbook: Option<&str>,
    asked: bool,
    mut help: String,
    catalog: &Catalog,
    extensions: &[Extension],
    printer: Printer,
) -> Result<Status, Error> {
    if let Some(name) = runbook {
        let runbook = catalog.resolve(name)?;
        let decl = declaration(&runbook, catalog, extensions)?.unwrap_or_default();
        help.push_str(&format!("\nRunbook {}\n", describe(&runbook, &decl)));
    } else {
        help.push_str("\nName a runbook (`hubops list`) to see its parameters: hubops run NAME --help\n");
    }
    printer.result(help.trim_end());
    Ok(if asked { Status::Success } else { Status::Usage })
}

fn run(args: RunConfig, catalog: &Catalog, extensions: &[Extension], printer: Printer) -> Result<Status, Error> {
    let runbook = catalog.resolve(&args.runbook)?;
    let file = match &args.params_file {
        Some(path) => Some((
            path.display().to_string(),
            crate::state::read_bounded(path).map_err(|source| Error::Read { path: path.clone(), source })?,
        )),
        None => None,
    };
    if args.save_world.is_some() && args.target == crate::config::Target::Live {
        printer.warn("--save-world only applies to runs on a world (--world or --rehearse); ignored");
    }
    execute_run(RunRequest {
        runbook,
        supplied: Supplied { sets: args.sets, file, world: None },
        dry_run: args.dry_run,
        target: args.target,
        save_world: args.save_world,
        faults: args.faults,
        yes: args.yes,
        kubeconfig: args.kubeconfig,
        journal: args.journal,
        on_failure: args.on_failure,
        resume: args.resume,
        max_virtual_time: args.max_virtual_time,
        printer,
        catalog,
        extensions,
    })
}

fn eject(args: &EjectConfig, catalog: &Catalog, printer: Printer) -> Result<(), Error> {
    let text = catalog::bundled_runbook(&args.runbook).ok_or_else(|| Error::UnknownRunbook {
        name: args.runbook.clone(),
        suggestion: crate::suggestion::closest(&args.runbook, catalog.list().iter().map(|r| r.name.as_str())),
    })?;
    if args.dest.as_deref() == Some(std::path::Path::new("-")) {
        printer.result(text.trim_end());
        return Ok(());
    }
    let dest = match &args.dest {
        None => PathBuf::from(format!("{}.rhai", args.runbook)),
        // An existing folder, or one named with a trailing slash (made here).
        Some(d) if d.is_dir() || d.to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) => {
            crate::state::create_dir_all(d).map_err(|source| Error::Write { path: d.clone(), source })?;
            d.join(format!("{}.rhai", args.runbook))
        }
        Some(d) => d.clone(),
    };
    let mut files = vec![(dest.clone(), text.to_string())];
    if args.with_modules {
        let folder = dest.parent().map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
        let mut pending: Vec<String> = imported_names(text);
        let mut seen = Vec::new();
        while let Some(name) = pending.pop() {
            if seen.contains(&name) {
                continue;
            }
            if let Some(module) = catalog::bundled_module(&name) {
                pending.extend(imported_names(module));
                files.push((folder.join(format!("{name}.rhai")), module.to_string()));
            }
            seen.push(name);
        }
    }
    for (path, _) in &files {
        if path.exists() && !args.force {
            return Err(Error::Exists { path: path.clone() });
        }
    }
    for (path, content) in files {
        crate::state::write_file(&path, content.as_bytes(), args.force)
            .map_err(|source| Error::Write { path: path.clone(), source })?;
        printer.status(Tone::Progress, "Wrote", &path.display().to_string());
    }
    Ok(())
}

/// The module names a script imports with a literal path.
fn imported_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("import"))
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .map(|s| s.trim_end_matches(".rhai").to_string())
        .collect()
}

fn docs(format: DocsFormat, extensions: &[Extension], printer: Printer) -> Result<(), Error> {
    let (resolver, _) = engine::resolver(None, Vec::new());
    let engine = engine::build(Build { resolver, extensions, run: None, optimize: true });
    let text = match format {
        DocsFormat::Json => engine.gen_fn_metadata_to_json(false).map_err(|e| Error::Internal(e.to_string()))?,
        DocsFormat::Definitions => engine.definitions().single_file(),
        DocsFormat::Markdown => crate::bindings::reference_markdown(&engine)?,
    };
    printer.result(text.trim_end());
    Ok(())
}
