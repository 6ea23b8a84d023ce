//! The errors that end a `hubops` command, and the exit code each one means.
//!
//! Every module has its own error enum; this one only gathers them for the one
//! place (`crate::main`) that reports a fatal error ([`report`], through the
//! printer) and picks the exit code.

use std::path::PathBuf;

use crate::diagnostics::Diagnostic;
use crate::params::ParamProblems;

pub use crate::diagnostics::Status;

/// An error that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line did not parse; clap renders its own message.
    #[error("{0}")]
    Cli(#[from] clap::Error),
    /// No runbook by that name is bundled or on the search path.
    #[error("unknown runbook `{name}`")]
    UnknownRunbook {
        /// The name as given.
        name: String,
        /// The closest known name, if one is close.
        suggestion: Option<String>,
    },
    /// No bundled world or module by that name (`eject --world`, `--module`).
    #[error("no bundled {what} `{name}`")]
    UnknownBundled {
        /// `world` or `module`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// The bundled names.
        known: Vec<String>,
    },
    /// A name that cannot name a runbook (`hubops new`).
    #[error("`{name}` cannot name a runbook: {why}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// A file could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The runbook's parameters were missing, unknown or ill-typed.
    #[error(transparent)]
    Params(#[from] ParamProblems),
    /// A script did not compile, or failed while running.
    #[error(transparent)]
    Script(#[from] Box<Diagnostic>),
    /// A world file could not be loaded.
    #[error(transparent)]
    World(#[from] crate::world::Error),
    /// The journal could not be opened or read.
    /// `hubops capture` wrote nothing.
    #[error(transparent)]
    Capture(#[from] crate::commands::CaptureError),
    #[error(transparent)]
    Journal(#[from] crate::journal::Error),
    /// `--resume` cannot continue that run.
    #[error(transparent)]
    Resume(#[from] crate::run::resume::Error),
    /// Another run holds a lock this run needs.
    #[error(transparent)]
    Lock(#[from] crate::run::lock::Error),
    /// `eject` would overwrite a file.
    #[error("`{}` already exists", path.display())]
    Exists {
        /// The file that is in the way.
        path: PathBuf,
    },
    /// A check found problems in one or more scripts (already printed).
    #[error("{count} problem{} found", if *count == 1 { "" } else { "s" })]
    CheckFailed {
        /// How many problems were found.
        count: usize,
    },
    /// Something hubops itself got wrong.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The exit status this error ends the process with.
    #[must_use]
    pub fn exit_code(&self) -> Status {
        match self {
            Self::Cli(e) if !e.use_stderr() => Status::Success,
            Self::Script(diag) => diag.status,
            Self::CheckFailed { .. } => Status::Failed,
            _ => Status::Usage,
        }
    }

    /// A suggestion shown after the error, where one helps.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownRunbook { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            Self::UnknownRunbook { .. } => {
                Some("`hubops list` shows the bundled runbooks and those on the search path".into())
            }
            Self::UnknownBundled { name, known, .. } => Some(
                crate::suggestion::closest(name, known.iter().map(String::as_str))
                    .map_or_else(|| format!("bundled: {}", known.join(", ")), |s| format!("did you mean `{s}`?")),
            ),
            Self::Params(p) => Some(format!("`hubops show {}` lists the parameters of this runbook", p.runbook)),
            Self::Exists { .. } => Some("pass --force to overwrite it".into()),
            Self::World(e) => e.hint(),
            Self::Lock(crate::run::lock::Error::Held { .. }) => {
                Some("wait for that run to end; a run that died released its locks with it".into())
            }
            Self::Resume(crate::run::resume::Error::Superseded { journal, .. }) => {
                Some(format!("hubops run ... --resume {journal}"))
            }
            _ => None,
        }
    }
}

/// Prints the fatal error of a command: clap's own rendering for command-line
/// errors, a located diagnostic for script errors, otherwise the headline
/// with its causes and a hint.
pub(crate) fn report(err: &Error, printer: crate::output::Printer) {
    match err {
        Error::Cli(clap_err) => {
            let _ = clap_err.print();
        }
        Error::Script(diag) => printer.error_block(&diag.render(printer.stderr_colored())),
        _ => {
            let causes: Vec<String> = std::iter::successors(std::error::Error::source(err), |e| e.source())
                .map(ToString::to_string)
                .collect();
            printer.fatal(&err.to_string(), &causes, err.hint().as_deref());
        }
    }
}
