//! What the command line asked for, in plain types: cli.rs turns clap's
//! parse into these, and nothing past cli.rs sees clap. A leaf: it imports
//! nothing of hubops.

use std::path::PathBuf;

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// What stdout carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Status on stderr, script results on stdout.
    Human,
    /// Every journal event on stdout, one JSON object per line.
    Json,
}

/// What a failed run does with the steps it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop and report; completed steps stay as they are.
    Stop,
    /// Run the rollback of every completed step that has one, newest first.
    Rollback,
}

/// What `hubops docs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocsFormat {
    /// A Markdown reference.
    Markdown,
    /// Rhai definition files for editors (`.d.rhai`).
    Definitions,
    /// The engine's function metadata as JSON.
    Json,
    /// The world file format's reference, in Markdown.
    World,
    /// The world file format's JSON Schema.
    WorldSchema,
}

/// How output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// When to colour.
    pub color: ColorChoice,
    /// Only errors and results.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
    /// Progress bars allowed (on a terminal).
    pub progress: bool,
    /// What stdout carries.
    pub output: OutputFormat,
}

/// Where a run's systems are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Real clusters, accounts and resolvers.
    Live,
    /// The simulated world in this file (or name).
    World(String),
    /// The runbook's own default world.
    Rehearse,
}

/// `hubops run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Runbook name or path.
    pub runbook: String,
    /// `--set KEY=VALUE`, in order.
    pub sets: Vec<String>,
    /// `--params FILE`.
    pub params_file: Option<PathBuf>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--plan-out FILE`: the dry run's plan as JSON.
    pub plan_out: Option<PathBuf>,
    /// Live, a world, or the runbook's own world.
    pub target: Target,
    /// `--save-world FILE`.
    pub save_world: Option<PathBuf>,
    /// `--faults FILE`: faults injected into a world run.
    pub faults: Option<PathBuf>,
    /// `--kubeconfig FILE`.
    pub kubeconfig: Option<PathBuf>,
    /// `--yes`.
    pub yes: bool,
    /// `--ack NAME`, in order: acknowledgements answered ahead of time.
    pub acks: Vec<String>,
    /// `--journal PATH`.
    pub journal: Option<PathBuf>,
    /// `--on-failure`.
    pub on_failure: OnFailure,
    /// `--resume RUN`.
    pub resume: Option<String>,
    /// `--max-virtual-time`: the most time a run's virtual clock may move.
    pub max_virtual_time: std::time::Duration,
    /// `--break-lock`: take a remote lock another run holds (asked first).
    pub break_lock: bool,
}

/// What `hubops eject` writes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ejected {
    /// A bundled runbook.
    Runbook {
        /// Also the stdlib modules it imports.
        with_modules: bool,
        /// Also its default world.
        with_world: bool,
    },
    /// A bundled world.
    World,
    /// A bundled stdlib module.
    Module,
}

/// `hubops eject`.
#[derive(Debug, Clone)]
pub struct EjectConfig {
    /// Bundled runbook (world, module) name.
    pub runbook: String,
    /// A file, a folder, or `-`.
    pub dest: Option<PathBuf>,
    /// What it is, and what comes with it.
    pub what: Ejected,
    /// Overwrite existing files.
    pub force: bool,
}

/// The command to carry out.
#[derive(Debug, Clone)]
pub enum Command {
    /// `hubops list`.
    List,
    /// `hubops show RUNBOOK`.
    Show(String),
    /// `hubops check SCRIPTS...`.
    Check(Vec<String>),
    /// `hubops eject`.
    Eject(EjectConfig),
    /// `hubops capture`.
    Capture(crate::commands::CaptureConfig),
    /// `hubops run`.
    Run(Box<RunConfig>),
    /// `hubops run --help` (or `hubops run` with no runbook): the help text,
    /// with the runbook's parameters when one is named.
    RunHelp {
        /// The runbook named, if any.
        runbook: Option<String>,
        /// Whether help was asked for (exit 0) or the runbook was missing (exit 2).
        asked: bool,
        /// clap's rendering of `hubops run --help`.
        text: String,
    },
    /// `hubops docs`.
    Docs {
        /// What to print.
        format: DocsFormat,
        /// `--out DIR`: write files there instead.
        out: Option<PathBuf>,
    },
    /// `hubops new NAME`.
    New {
        /// The runbook's name.
        name: String,
        /// Overwrite existing files.
        force: bool,
    },
    /// Text clap rendered for the command line itself (`completions`,
    /// `man`), printed as it is.
    Print(String),
}

/// A whole invocation.
#[derive(Debug, Clone)]
pub struct Config {
    /// How output looks.
    pub ui: Ui,
    /// `--path` folders, searched before the bundled runbooks.
    pub path: Vec<PathBuf>,
    /// What to do.
    pub command: Command,
}
