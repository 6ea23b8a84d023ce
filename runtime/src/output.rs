//! What a person sees. stdout carries results (script `print`, `--output json`
//! events); stderr carries status lines, progress, warnings, plans and errors.
//! One [`Printer`] is made from the command line and passed down; nothing else
//! writes to the terminal. A closed stdout pipe is not an error.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use crate::cli::OutputFormat;

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

/// Kinds of status line, which pick the colour of the verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Progress of the run (`Step`, `Applying`).
    Progress,
    /// Something that would happen (`Would delete`).
    Plan,
    /// Something worth a second look.
    Warn,
    /// Something that went wrong.
    Bad,
}

/// The one writer to the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    color: anstream::ColorChoice,
    quiet: bool,
    verbose: u8,
    progress: bool,
    output: OutputFormat,
}

impl Printer {
    pub(crate) fn new(color: ColorChoice, quiet: bool, verbose: u8, progress: bool, output: OutputFormat) -> Self {
        let color = match color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        let printer = Self { color, quiet, verbose, progress, output };
        printer.init_tracing();
        printer
    }

    /// The printer used when the command line itself did not parse.
    pub(crate) fn fallback() -> Self {
        Self {
            color: anstream::ColorChoice::Auto,
            quiet: false,
            verbose: 0,
            progress: false,
            output: OutputFormat::Human,
        }
    }

    fn init_tracing(self) {
        let default = match self.verbose {
            0 | 1 => "warn",
            2 => "hubops=debug",
            _ => "debug",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        // A second initialisation (tests that call `main` twice) is harmless.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(self.stderr_colored())
            .without_time()
            .try_init();
    }

    fn stderr_colored(self) -> bool {
        match self.color {
            anstream::ColorChoice::Always | anstream::ColorChoice::AlwaysAnsi => true,
            anstream::ColorChoice::Never => false,
            anstream::ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        }
    }

    fn err(self) -> anstream::AutoStream<std::io::Stderr> {
        anstream::AutoStream::new(std::io::stderr(), self.color)
    }

    /// Whether stdout carries JSON events rather than results for people.
    #[must_use]
    pub fn json(self) -> bool {
        self.output == OutputFormat::Json
    }

    /// Whether `-v` was given.
    #[must_use]
    pub fn verbose(self) -> bool {
        self.verbose > 0
    }

    /// A cargo-style status line: a right-aligned verb, then what it is about.
    pub fn status(self, tone: Tone, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        let style = match tone {
            Tone::Progress => GREEN,
            Tone::Plan => CYAN,
            Tone::Warn => YELLOW,
            Tone::Bad => RED,
        };
        let _ = writeln!(self.err(), "{style}{verb:>12}{style:#} {message}");
    }

    /// A line of detail under the last status line, shown with `-v` only.
    pub fn detail(self, message: &str) {
        if self.verbose > 0 && !self.quiet {
            let _ = writeln!(self.err(), "{DIM}{:>12} {message}{DIM:#}", "");
        }
    }

    /// A plain line on stderr, unless quiet.
    pub fn note(self, message: &str) {
        if !self.quiet {
            let _ = writeln!(self.err(), "{message}");
        }
    }

    /// A warning on stderr (shown even when quiet).
    pub fn warn(self, message: &str) {
        let _ = writeln!(self.err(), "{YELLOW}warning{YELLOW:#}{BOLD}:{BOLD:#} {message}");
    }

    /// A result on stdout. A closed pipe is ignored.
    pub fn result(self, line: &str) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    /// A raw line on stdout (JSON events). A closed pipe is ignored.
    pub(crate) fn stdout_line(self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// The fatal error of a command, with its causes and a hint.
    pub(crate) fn fatal(self, err: &crate::Error) {
        if let crate::Error::Cli(clap_err) = err {
            let _ = clap_err.print();
            return;
        }
        if let crate::Error::Script(diag) = err {
            self.error_block(&diag.render(self.stderr_colored()));
            return;
        }
        let mut text = format!("{RED}error{RED:#}{BOLD}: {err}{BOLD:#}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text.push_str(&format!("\ncaused by: {cause}"));
            source = cause.source();
        }
        if let Some(hint) = err.hint() {
            text.push_str(&format!("\n{CYAN}hint{CYAN:#}: {hint}"));
        }
        self.error_block(&text);
    }

    fn error_block(self, text: &str) {
        let _ = writeln!(self.err(), "{text}");
    }

    /// A bar for a live wait, drawn only on a terminal and when allowed.
    pub(crate) fn wait_bar(self, what: &str, total: Duration) -> Option<indicatif::ProgressBar> {
        if self.quiet || !self.progress || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
        let style =
            indicatif::ProgressStyle::with_template("{prefix:>12.cyan.bold} {msg} [{bar:30}] {elapsed}/{duration}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix("Waiting");
        bar.set_message(what.to_string());
        Some(bar)
    }

    /// Styles used by renderers that build their own text.
    pub(crate) fn paint(self, tone: Tone, text: &str) -> String {
        if !self.stderr_colored() {
            return text.to_string();
        }
        let style = match tone {
            Tone::Progress => GREEN,
            Tone::Plan => CYAN,
            Tone::Warn => YELLOW,
            Tone::Bad => RED,
        };
        format!("{style}{text}{style:#}")
    }

    /// Whether stdin and stderr are a terminal a person can answer on.
    #[must_use]
    pub fn interactive(self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    /// Ask a yes/no question on the terminal; anything but y/yes is no.
    pub(crate) fn ask(self, question: &str) -> std::io::Result<bool> {
        let _ = write!(self.err(), "{YELLOW}{:>12}{YELLOW:#} {question} [y/N] ", "Confirm");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let answer = line.trim().to_ascii_lowercase();
        Ok(answer == "y" || answer == "yes")
    }
}
