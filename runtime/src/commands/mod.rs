//! One function per command: turn the parsed command line into the library's
//! calls and print what the command produces. Runs go through `run::execute`.

use crate::bindings::Extension;
use crate::catalog::{self, Catalog};
use crate::check::{check, declaration};
use crate::config::{Command, Config, RunConfig};
use crate::error::Status;
use crate::output::Printer;
use crate::params::{show_plain, Declaration, Supplied};
mod capture;
mod docs;
mod eject;
mod new;
mod run;

use crate::Error;
pub(crate) use capture::CaptureConfig;
pub use capture::Error as CaptureError;
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
            printer.result(&describe(&runbook, &decl, &catalog));
            Ok(Status::Success)
        }
        Command::Check(scripts) => check(&scripts, &catalog, extensions, printer).map(|()| Status::Success),
        Command::Capture(args) => capture::capture(&args, &catalog, extensions, printer).map(|()| Status::Success),
        Command::Eject(args) => eject::eject(&args, &catalog, printer).map(|()| Status::Success),
        Command::Docs { format, out } => {
            docs::docs(format, out.as_deref(), extensions, printer)?;
            Ok(Status::Success)
        }
        Command::New { name, force } => new::new(&name, force, printer).map(|()| Status::Success),
        Command::Print(text) => {
            printer.result(text.trim_end());
            Ok(Status::Success)
        }
        Command::RunHelp { runbook, asked, text } => {
            run_help(runbook.as_deref(), asked, text, &catalog, extensions, printer)
        }
        Command::Run(args) => run(*args, &catalog, extensions, printer),
    }
}

/// The `--set`s a rehearsal needs on top of what its world gives: a hint
/// that does not run (exit 2) is worse than none. A required choice gets
/// its first choice, anything else its example.
fn required_sets(runbook: &catalog::Runbook, decl: &Declaration, catalog: &Catalog, world: &str) -> String {
    let given: Vec<String> = catalog
        .world(world, runbook.folder().as_deref())
        .and_then(|(text, _, _)| serde_norway::from_str::<serde_json::Value>(&text).ok())
        .and_then(|w| w.get("params").and_then(|p| p.as_object()).map(|p| p.keys().cloned().collect()))
        .unwrap_or_default();
    let mut sets = String::new();
    for p in decl.params.iter().filter(|p| p.required && p.default.is_none() && !given.contains(&p.name)) {
        let value = p.choices.first().or(p.example.as_ref()).map_or_else(|| "VALUE".to_string(), show_plain);
        sets.push_str(&format!(" --set {}={value}", p.name));
    }
    sets
}

fn list(catalog: &Catalog, printer: Printer) {
    let runbooks = catalog.list();
    let width = runbooks.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for rb in runbooks {
        printer.result(&format!("{:<width$}  {}  [{}]", rb.name, rb.summary(), rb.origin_label()));
    }
}

fn describe(runbook: &catalog::Runbook, decl: &Declaration, catalog: &Catalog) -> String {
    let mut out = format!("{} ({})\n\n", runbook.name, runbook.origin_label());
    let description = runbook.description();
    if !description.is_empty() {
        for line in description.lines() {
            out.push_str(&format!("  {line}\n").replace("  \n", "\n"));
        }
        out.push('\n');
    }
    if let Some(world) = runbook.default_world() {
        let sets = required_sets(runbook, decl, catalog, &world);
        out.push_str(&format!("Rehearse on its world `{world}`: hubops run {} --rehearse{sets}\n\n", runbook.name));
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
        help.push_str(&format!("\nRunbook {}\n", describe(&runbook, &decl, catalog)));
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
        plan_out: args.plan_out,
        target: args.target,
        save_world: args.save_world,
        faults: args.faults,
        yes: args.yes,
        acks: args.acks,
        kubeconfig: args.kubeconfig,
        journal: args.journal,
        on_failure: args.on_failure,
        resume: args.resume,
        max_virtual_time: args.max_virtual_time,
        break_lock: args.break_lock,
        printer,
        catalog,
        extensions,
    })
}
