//! `hubops` runs JupyterHub maintenance runbooks: Rhai scripts with typed
//! bindings, rehearsed on simulated worlds, dry-run against real systems, or
//! applied, with every mutation passing one effects gate and journaled.
//!
//! Data flows one way: CLI -> run -> engine -> bindings -> effects -> backends.
//! This file only wires the modules together and owns the process exit code.

pub mod backends;
pub mod bindings;
mod catalog;
mod check;
mod cli;
mod commands;
mod diagnostics;
mod duration;
pub mod effects;
mod engine;
pub mod error;
mod output;
mod params;
mod resolver;
pub mod run;
pub mod world;

use std::ffi::OsString;
use std::process::ExitCode;

pub use bindings::Extension;
pub use error::Error;

/// Runs the command line `args` (program name first) with the built-in binding
/// families plus `extensions`, prints a fatal error if there is one, and returns
/// the process exit code: 0 done, 1 the runbook failed or refused, 2 usage,
/// configuration or internal error, 130 interrupted.
pub fn main(args: impl IntoIterator<Item = OsString>, extensions: &[Extension]) -> ExitCode {
    let (result, printer) = cli::Cli::parse_from(args).map_or_else(
        |err| (Err(err), output::Printer::fallback()),
        |cli| {
            let printer = cli.printer();
            (commands::execute(cli, extensions, printer), printer)
        },
    );
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            printer.fatal(&err);
            err.exit_code().into()
        }
    }
}
