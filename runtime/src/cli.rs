//! The command line, syntax only: clap derive types, turned into the plain
//! [`crate::config`] types before anything acts on them (the low/high args
//! habit), so no other module sees clap.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};

/// Run JupyterHub maintenance runbooks: rehearse them on a simulated site,
/// dry-run them against the real one, then apply them, with a journal of
/// everything that happened.
#[derive(Debug, Parser)]
#[command(name = "hubops", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Start with `hubops list`, then `hubops run hub-health --rehearse`.")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Print only errors and results
    #[arg(short, long, global = true, env = "HUBOPS_QUIET")]
    pub(crate) quiet: bool,
    /// Print more detail (repeat for debug logging; `RUST_LOG` also works)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// When to colour output
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, env = "HUBOPS_COLOR")]
    pub(crate) color: ColorArg,
    /// Never draw progress bars, even on a terminal
    #[arg(long, global = true, env = "HUBOPS_NO_PROGRESS")]
    pub(crate) no_progress: bool,
    /// Folder of site runbooks and modules, searched before the bundled ones (repeatable)
    #[arg(long = "path", global = true, value_name = "DIR", env = "HUBOPS_PATH", value_delimiter = ':')]
    pub(crate) path: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the bundled runbooks and those on the search path
    List,
    /// Describe a runbook and its parameters without running it
    Show {
        /// Runbook name or path to a .rhai file
        runbook: String,
    },
    /// Compile scripts and check their parameter declarations, imports and calls (runs nothing)
    Check {
        /// Runbook names or .rhai files
        #[arg(required = true)]
        scripts: Vec<String>,
    },
    /// Write a bundled runbook out for editing
    Eject(EjectArgs),
    /// Read the live site a runbook acts on (read-only) into a world file to rehearse on
    Capture(CaptureArgs),
    /// Run a runbook: live, --dry-run, or rehearsed on a simulated world
    Run(Box<RunArgs>),
    /// Print the reference of every binding, generated from the engine
    Docs {
        /// What to print
        #[arg(long, value_enum, default_value_t = DocsFormat::Markdown)]
        format: DocsFormat,
        /// Write into this folder instead of printing (`definitions`: one `.d.rhai` file per module)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write a new runbook and a world to rehearse it on: NAME.rhai and NAME.yaml
    New {
        /// The runbook's name (letters, digits, `-` and `_`)
        name: String,
        /// Overwrite existing files
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script: `hubops completions bash > /etc/bash_completion.d/hubops`
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `hubops man > hubops.1`
    Man,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DocsFormat {
    /// A Markdown reference
    Markdown,
    /// Rhai definition files for editors (`.d.rhai`): with --out DIR one per module, else concatenated
    Definitions,
    /// The engine's function metadata as JSON
    Json,
    /// The reference of the world file format, in Markdown
    World,
    /// The JSON Schema of world files, for editors (YAML language server)
    WorldSchema,
}

#[derive(Debug, Args)]
pub(crate) struct EjectArgs {
    /// Bundled runbook name (or world, or module, with --world / --module)
    pub(crate) runbook: String,
    /// Where to write it: a file, a folder, or `-` for stdout (default: ./NAME.rhai, ./NAME.yaml)
    pub(crate) dest: Option<PathBuf>,
    /// Also write the stdlib modules it imports, next to it
    #[arg(long)]
    pub(crate) with_modules: bool,
    /// Also write the runbook's default world, next to it
    #[arg(long, conflicts_with_all = ["world", "module"])]
    pub(crate) with_world: bool,
    /// NAME is a bundled world (`hubops eject --world cae`)
    #[arg(long, conflicts_with = "module")]
    pub(crate) world: bool,
    /// NAME is a bundled stdlib module (`hubops eject --module jupyterhub`)
    #[arg(long)]
    pub(crate) module: bool,
    /// Overwrite existing files
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CaptureArgs {
    /// Runbook whose header (`//! capture: ...`) says what to read
    pub(crate) runbook: String,
    /// Set a parameter of the runbook (repeatable): --set blue=cae-blue
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
    /// Read parameters from a YAML file (`--set` wins over it)
    #[arg(long = "params", value_name = "FILE")]
    pub(crate) params_file: Option<PathBuf>,
    /// Where to write the world (`-` for stdout)
    #[arg(short, long, value_name = "FILE", default_value = "captured.yaml")]
    pub(crate) out: PathBuf,
    /// Kubeconfig file (default: `KUBECONFIG`, then ~/.kube/config)
    #[arg(long, value_name = "FILE", env = "HUBOPS_KUBECONFIG")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Overwrite the file
    #[arg(long)]
    pub(crate) force: bool,
    /// Folder of journals whose live runs' waits give the world's timings (default: hubops' journals)
    #[arg(long, value_name = "DIR")]
    pub(crate) journals: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct RunArgs {
    /// Runbook name (see `hubops list`) or path to a .rhai file
    pub(crate) runbook: Option<String>,
    /// Set a parameter (repeatable): --set zone=example.org
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
    /// Read parameters from a YAML file (`--set` wins over it)
    #[arg(long = "params", value_name = "FILE", env = "HUBOPS_PARAMS")]
    pub(crate) params_file: Option<PathBuf>,
    /// Check every change against the real systems and print the plan; change nothing
    #[arg(long, env = "HUBOPS_DRY_RUN")]
    pub(crate) dry_run: bool,
    /// Also write the dry run's plan as JSON to this file (for review tools and tickets)
    #[arg(long, value_name = "FILE", env = "HUBOPS_PLAN_OUT", requires = "dry_run")]
    pub(crate) plan_out: Option<PathBuf>,
    /// Run against the simulated site in this world file instead of live systems
    #[arg(long, value_name = "FILE", env = "HUBOPS_WORLD", conflicts_with = "rehearse")]
    pub(crate) world: Option<PathBuf>,
    /// Run against the runbook's own default world (virtual time, nothing real touched)
    #[arg(long)]
    pub(crate) rehearse: bool,
    /// Write the world as the run left it to this YAML file (world runs only)
    #[arg(long, value_name = "FILE")]
    pub(crate) save_world: Option<PathBuf>,
    /// Inject the faults in this YAML file (a world's `faults:` section) into the rehearsal
    #[arg(long, value_name = "FILE", env = "HUBOPS_FAULTS")]
    pub(crate) faults: Option<PathBuf>,
    /// Kubeconfig file for `k8s::cluster` (default: `KUBECONFIG`, then ~/.kube/config)
    #[arg(long, value_name = "FILE", env = "HUBOPS_KUBECONFIG")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Answer yes to every confirmation of a change (never to an acknowledgement)
    #[arg(short, long, env = "HUBOPS_YES")]
    pub(crate) yes: bool,
    /// Acknowledge that the manual step NAME is done (repeatable): the runbook's checklist items
    #[arg(long = "ack", value_name = "NAME")]
    pub(crate) ack: Vec<String>,
    /// Where to write the journal (default: under the XDG state directory)
    #[arg(long, value_name = "PATH", env = "HUBOPS_JOURNAL")]
    pub(crate) journal: Option<PathBuf>,
    /// What stdout carries: results for people, or the journal as JSON lines
    #[arg(long, value_enum, default_value_t = OutputFormat::Human, env = "HUBOPS_OUTPUT")]
    pub(crate) output: OutputFormat,
    /// On failure, run the rollbacks of completed steps (newest first)
    #[arg(long, value_enum, default_value_t = OnFailure::Stop, env = "HUBOPS_ON_FAILURE")]
    pub(crate) on_failure: OnFailure,
    /// Continue a failed run (journal path or run id): finished steps are not run again
    #[arg(long, value_name = "RUN")]
    pub(crate) resume: Option<String>,
    /// The most virtual time a rehearsal or dry run may take before it is stopped as a runaway
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration, env = "HUBOPS_MAX_VIRTUAL_TIME")]
    pub(crate) max_virtual_time: std::time::Duration,
    /// Take a cluster's lock (Lease) another run holds, after asking (for a run that died on another machine)
    #[arg(long, env = "HUBOPS_BREAK_LOCK")]
    pub(crate) break_lock: bool,
    /// Print help, with the runbook's parameters when a runbook is named
    #[arg(short = 'h', long = "help")]
    pub(crate) help: bool,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorArg {
    /// Colour when writing to a terminal and `NO_COLOR` is unset
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Status on stderr, script results on stdout
    Human,
    /// Every journal event on stdout, one JSON object per line
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnFailure {
    /// Stop and report; completed steps stay as they are
    Stop,
    /// Run the rollback of every completed step that has one, newest first
    Rollback,
}

impl Cli {
    fn parse_from(args: impl IntoIterator<Item = OsString>) -> Result<Self, crate::Error> {
        Ok(<Self as Parser>::try_parse_from(args)?)
    }

    /// The completion script for `shell`.
    fn completions(shell: clap_complete::Shell) -> String {
        use clap::CommandFactory;
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Self::command(), "hubops", &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The manual page, in roff.
    fn man() -> Result<String, crate::Error> {
        use clap::CommandFactory;
        let mut out = Vec::new();
        clap_mangen::Man::new(Self::command())
            .render(&mut out)
            .map_err(|e| crate::Error::Internal(format!("cannot render the manual page: {e}")))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The help text of `hubops run`, as clap renders it.
    fn run_help() -> String {
        use clap::CommandFactory;
        let mut cmd = Self::command();
        cmd.build();
        cmd.find_subcommand_mut("run").map(|run| run.render_help().to_string()).unwrap_or_default()
    }
}

/// Parses the command line (program name first) into a [`Config`].
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Config, crate::Error> {
    let cli = Cli::parse_from(args)?;
    let output = match &cli.command {
        Command::Run(run) => run.output,
        _ => OutputFormat::Human,
    };
    let g = &cli.global;
    let ui = config::Ui {
        color: match g.color {
            ColorArg::Auto => config::ColorChoice::Auto,
            ColorArg::Always => config::ColorChoice::Always,
            ColorArg::Never => config::ColorChoice::Never,
        },
        quiet: g.quiet,
        verbose: g.verbose,
        progress: !g.no_progress,
        output: match output {
            OutputFormat::Human => config::OutputFormat::Human,
            OutputFormat::Json => config::OutputFormat::Json,
        },
    };
    let command = match cli.command {
        Command::List => config::Command::List,
        Command::Show { runbook } => config::Command::Show(runbook),
        Command::Check { scripts } => config::Command::Check(scripts),
        Command::Eject(e) => config::Command::Eject(config::EjectConfig {
            runbook: e.runbook,
            dest: e.dest,
            what: match (e.world, e.module) {
                (true, _) => config::Ejected::World,
                (_, true) => config::Ejected::Module,
                _ => config::Ejected::Runbook { with_modules: e.with_modules, with_world: e.with_world },
            },
            force: e.force,
        }),
        Command::Capture(c) => config::Command::Capture(crate::commands::CaptureConfig {
            runbook: c.runbook,
            sets: c.set,
            params_file: c.params_file,
            out: c.out,
            kubeconfig: c.kubeconfig,
            force: c.force,
            journals: c.journals,
        }),
        Command::Docs { format, out } => config::Command::Docs {
            format: match format {
                DocsFormat::Markdown => config::DocsFormat::Markdown,
                DocsFormat::Definitions => config::DocsFormat::Definitions,
                DocsFormat::Json => config::DocsFormat::Json,
                DocsFormat::World => config::DocsFormat::World,
                DocsFormat::WorldSchema => config::DocsFormat::WorldSchema,
            },
            out,
        },
        Command::New { name, force } => config::Command::New { name, force },
        Command::Completions { shell } => config::Command::Print(Cli::completions(shell)),
        Command::Man => config::Command::Print(Cli::man()?),
        Command::Run(run) => run_config(*run),
    };
    Ok(Config { ui, path: cli.global.path, command })
}

fn run_config(args: RunArgs) -> config::Command {
    let runbook = match args.runbook {
        Some(runbook) if !args.help => runbook,
        named => return config::Command::RunHelp { runbook: named, asked: args.help, text: Cli::run_help() },
    };
    let target = match (&args.world, args.rehearse) {
        (Some(world), _) => config::Target::World(world.display().to_string()),
        (None, true) => config::Target::Rehearse,
        (None, false) => config::Target::Live,
    };
    config::Command::Run(Box::new(config::RunConfig {
        runbook,
        sets: args.set,
        params_file: args.params_file,
        dry_run: args.dry_run,
        plan_out: args.plan_out,
        target,
        save_world: args.save_world,
        faults: args.faults,
        kubeconfig: args.kubeconfig,
        yes: args.yes,
        acks: args.ack,
        journal: args.journal,
        on_failure: match args.on_failure {
            OnFailure::Stop => config::OnFailure::Stop,
            OnFailure::Rollback => config::OnFailure::Rollback,
        },
        resume: args.resume,
        max_virtual_time: args.max_virtual_time,
        break_lock: args.break_lock,
    }))
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(text)
}
