//! What a person sees. stdout carries results (script `print`, `--output json`
//! events); stderr carries status lines, progress, warnings, plans and errors.
//! One [`Printer`] is made from the command line and passed down; nothing else
//! writes to the terminal. A closed stdout pipe is not an error.
//!
//! It also renders what the gate keeps as data: the status line of each
//! change and the dry run's plan, field by field ([`plan`]; the gate talks
//! to a person only through the [`Console`] implemented here), and the
//! line each wait shows while it lasts ([`progress`]).
//!
//! Library logs (kube-rs, the AWS SDK) show only with `-v`: a person reads
//! hubops' own words, which say what answered and how.

mod diff;
mod plan;
mod progress;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use crate::config::{ColorChoice, OutputFormat, Ui};
use crate::effects::{Answer, Change, Console};
use crate::forecast::{StepTime, Window};

pub(crate) use plan::plan_json;
pub(crate) use progress::WaitLine;

/// Every text the printer writes passes here: the process's secrets never
/// reach a terminal or a pipe.
fn clean(text: &str) -> String {
    crate::redact::global().redact(text)
}

/// Library logs (`-vv`, `RUST_LOG`) pass the same redaction as everything else.
struct RedactingWriter;

impl std::io::Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = clean(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The width of the verb column, as cargo has it.
const VERB_WIDTH: usize = 12;

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
    pub(crate) fn new(ui: Ui) -> Self {
        let color = match ui.color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        let printer = Self { color, quiet: ui.quiet, verbose: ui.verbose, progress: ui.progress, output: ui.output };
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
            0 => "hubops=warn",
            1 => "warn",
            2 => "warn,hubops=debug",
            _ => "debug",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        // A second initialisation (tests that call `main` twice) is harmless.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(|| RedactingWriter)
            .with_ansi(self.stderr_colored())
            .without_time()
            .try_init();
    }

    fn stderr_is_terminal(self) -> bool {
        std::io::stderr().is_terminal()
    }

    /// Whether stderr gets colour.
    pub(crate) fn stderr_colored(self) -> bool {
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

    /// A cargo-style status line: a right-aligned verb, then what it is
    /// about. A verb longer than the column (`Would snapshot`) keeps its
    /// first word there and the rest starts the message, so every message
    /// starts in the same column (and every `Would` line reads the same).
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
        // `Would wait`, `Would delete`: every plan line reads the same way.
        let (verb, message) = match verb.split_once(' ') {
            Some((first, rest)) if first == "Would" || verb.chars().count() > VERB_WIDTH => {
                (first, format!("{rest} {message}"))
            }
            _ => (verb, message.to_string()),
        };
        let message = clean(&message);
        self.stderr_line(&format!("{style}{verb:>VERB_WIDTH$}{style:#} {message}"));
    }

    /// A line of detail under the last status line, shown with `-v` only.
    pub fn detail(self, message: &str) {
        if self.verbose > 0 && !self.quiet {
            let message = clean(message);
            self.stderr_line(&format!("{DIM}{:>VERB_WIDTH$} {message}{DIM:#}", ""));
        }
    }

    /// A plain line on stderr, unless quiet.
    pub fn note(self, message: &str) {
        if !self.quiet {
            self.stderr_line(&clean(message));
        }
    }

    /// A warning on stderr (shown even when quiet).
    pub fn warn(self, message: &str) {
        let message = clean(message);
        self.stderr_line(&format!("{YELLOW}warning{YELLOW:#}{BOLD}:{BOLD:#} {message}"));
    }

    /// One line on stderr, above any progress lines being drawn.
    fn stderr_line(self, line: &str) {
        progress::suspend(self.draws_progress(), || {
            let _ = writeln!(self.err(), "{line}");
        });
    }

    /// A result on stdout. A closed pipe is ignored.
    pub fn result(self, line: &str) {
        let line = clean(line);
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    /// A raw line on stdout (JSON events). A closed pipe is ignored.
    pub(crate) fn stdout_line(self, line: &str) {
        let mut out = std::io::stdout().lock();
        let line = clean(line);
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A fatal error's text, already rendered, on stderr (even when quiet).
    pub(crate) fn error_block(self, text: &str) {
        let text = clean(text);
        let _ = writeln!(self.err(), "{text}");
    }

    /// A fatal error: a headline, its causes and a hint.
    pub(crate) fn fatal(self, headline: &str, causes: &[String], hint: Option<&str>) {
        let mut text = format!("{RED}error{RED:#}{BOLD}: {headline}{BOLD:#}");
        for cause in causes {
            text.push_str(&format!("\ncaused by: {cause}"));
        }
        if let Some(hint) = hint {
            text.push_str(&format!("\n{CYAN}hint{CYAN:#}: {hint}"));
        }
        self.error_block(&text);
    }

    /// A bar for a live wait, drawn only on a terminal and when allowed.
    pub(crate) fn wait_bar(self, what: &str, total: Duration) -> Option<indicatif::ProgressBar> {
        if self.quiet || !self.progress || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = progress::add(indicatif::ProgressBar::new(total.as_millis() as u64));
        let style =
            indicatif::ProgressStyle::with_template("{prefix:>12.cyan.bold} {msg} [{bar:30}] {elapsed}/{duration}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix("Waiting");
        bar.set_message(clean(what));
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
        let question = clean(question);
        let _ = write!(self.err(), "{YELLOW}{:>VERB_WIDTH$}{YELLOW:#} {question} [y/N] ", "Confirm");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let answer = line.trim().to_ascii_lowercase();
        Ok(answer == "y" || answer == "yes")
    }
}

impl Printer {
    /// What a rehearsal forecasts, after it ran: the virtual time it took,
    /// the steps that took some, and each window the runbook marked (last,
    /// so a rehearsal ends with them).
    pub(crate) fn forecast(self, total: Duration, steps: &[StepTime], windows: &[Window], now: jiff::Timestamp) {
        let format = |d: Duration| if d.is_zero() { "0s".to_string() } else { crate::duration::format(d) };
        self.status(Tone::Progress, "Forecast", &format!("{} of virtual time on the world's clock", format(total)));
        for s in steps.iter().filter(|s| !s.took.is_zero()) {
            self.status(Tone::Progress, "", &format!("{} {}: {}", s.index, s.name, format(s.took)));
        }
        for w in windows {
            let span = match (&w.from, &w.to) {
                (Some(from), Some(to)) if from != to => format!(" (from `{from}` to `{to}`)"),
                (Some(from), Some(_)) => format!(" (`{from}`)"),
                (Some(from), None) => format!(" (from `{from}`)"),
                (None, _) => String::new(),
            };
            let note = if w.failed { " until the run failed" } else { "" };
            self.status(Tone::Progress, "", &format!("{} window: {}{note}{span}", w.name, format(w.length(now))));
        }
    }
}

impl Console for Printer {
    fn planned(&self, change: &Change, would_fail: Option<&str>) {
        match would_fail {
            None => self.status(Tone::Plan, "Would", &change.describe()),
            Some(why) => self.status(Tone::Bad, "Would fail", &format!("{}: {why}", change.describe())),
        }
    }

    fn applying(&self, change: &Change) {
        self.status(Tone::Progress, "Applying", &change.describe());
    }

    fn answered(&self, question: &str, answer: Answer) {
        match answer {
            Answer::WouldAsk => self.status(Tone::Plan, "Would ask", question),
            Answer::YesByFlag => self.status(Tone::Progress, "Confirmed", &format!("{question} (--yes)")),
            Answer::AckByFlag => self.status(Tone::Progress, "Acknowledged", question),
            _ => {}
        }
    }

    fn replayed(&self, change: &Change) {
        self.status(Tone::Progress, "Skipping", &format!("{} (made by the run this one resumes)", change.describe()));
    }

    fn ask(&self, question: &str) -> Option<std::io::Result<bool>> {
        if !self.interactive() {
            return None;
        }
        Some(Printer::ask(*self, question))
    }
}
