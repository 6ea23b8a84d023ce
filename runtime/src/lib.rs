//! `hubops` runs JupyterHub maintenance runbooks: Rhai scripts with typed
//! bindings, rehearsed on simulated worlds, dry-run against real systems, or
//! applied, with every mutation passing one effects gate and journaled.
//!
//! Data flows one way: CLI -> commands -> run -> engine -> bindings -> gate ->
//! backends. Below them are the leaves (journal, redact, clock, cancel,
//! config, suggestion, duration), which import none of them. This file only
//! wires the modules together and owns the process exit code.

pub mod backends;
pub mod bindings;
mod cancel;
mod catalog;
mod check;
mod cli;
mod clock;
mod commands;
mod config;
mod crash;
mod diagnostics;
mod digest;
mod duration;
pub mod effects;
mod engine;
pub mod error;
mod forecast;
pub mod journal;
mod output;
mod params;
mod redact;
mod resolver;
pub mod run;
mod script;
mod signature;
mod state;
mod suggestion;
pub mod world;
mod yaml_limits;

use std::ffi::OsString;
use std::process::ExitCode;

pub use bindings::Extension;
pub use error::Error;

/// Runs the command line `args` (program name first) with the built-in binding
/// families plus `extensions`, prints a fatal error if there is one, and returns
/// the process exit code: 0 done, 1 the runbook failed or refused, 2 usage,
/// configuration or internal error, 130 interrupted.
pub fn main(args: impl IntoIterator<Item = OsString>, extensions: &[Extension]) -> ExitCode {
    let (result, printer) = cli::parse(args).map_or_else(
        |err| (Err(err), output::Printer::fallback()),
        |config| {
            let printer = output::Printer::new(config.ui);
            (commands::execute(config, extensions, printer), printer)
        },
    );
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            error::report(&err, printer);
            err.exit_code().into()
        }
    }
}
