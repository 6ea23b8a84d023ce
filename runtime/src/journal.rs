#![doc = include_str!("../JOURNAL.md")]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redact::Redactor;

/// Problems with the journal file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The journal could not be created.
    #[error("cannot create the journal `{}`", path.display())]
    Create {
        /// Where it was to go.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The journal could not be read back.
    #[error("cannot read the journal `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// A line of the journal is not an event.
    #[error("line {line} of the journal `{}` is not a journal event", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why not.
        #[source]
        source: serde_json::Error,
    },
}

/// One journal event. The JSON form is `{"type": <snake_case name>, "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    RunStart {
        /// Unique id of the run.
        run_id: String,
        /// Runbook name.
        runbook: String,
        /// Where the runbook came from (`bundled` or a path).
        origin: String,
        /// Parameter values, secrets replaced by `***`.
        params: Value,
        /// `live` or `world`.
        target: String,
        /// The world file, for world runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        world: Option<String>,
        /// Whether changes are only checked.
        dry_run: bool,
        /// hubops version.
        version: String,
        /// Wall-clock start, RFC 3339.
        started: String,
        /// The run's clock at the start (virtual on worlds), RFC 3339.
        clock: String,
        /// The run this one resumes (`--resume`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed_from: Option<String>,
        /// The first run of a chain of resumes; idempotency tokens derive from it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lineage: Option<String>,
    },
    /// A step began.
    StepStart {
        /// Step name (unique in the run).
        step: String,
        /// 1-based position.
        index: usize,
        /// The run's clock, RFC 3339.
        at: String,
    },
    /// A step ended.
    StepEnd {
        /// Step name.
        step: String,
        /// 1-based position.
        index: usize,
        /// `ok`, `failed`, or `resumed` (done by the run this one resumes; not run again).
        status: String,
        /// Wall time taken.
        duration_ms: u64,
        /// What the step returned (`ok` only), as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// Why it failed (`failed` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A change passed the effects gate.
    Change {
        /// `planned`, `would_fail` (dry run), `applied` or `failed`.
        phase: String,
        /// The change, secrets redacted.
        change: Value,
        /// Why it failed or would fail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A wait: a sleep, or waiting for a condition.
    Wait {
        /// What was waited for.
        what: String,
        /// How long was waited, or would have been (ms, run clock).
        duration_ms: u64,
        /// `done`, `timeout` or `would_wait` (dry run).
        outcome: String,
        /// Whether the time was virtual (world runs).
        #[serde(rename = "virtual")]
        virtual_time: bool,
    },
    /// A question was asked or answered.
    Prompt {
        /// The question.
        question: String,
        /// `yes`, `no`, `yes_by_flag` (--yes), `would_ask` (dry run) or `no_terminal`.
        answer: String,
    },
    /// A script log line (`log::info`, `log::warn`).
    Log {
        /// `info` or `warn`.
        level: String,
        /// The message.
        message: String,
    },
    /// A script `print`.
    Print {
        /// The printed text.
        text: String,
    },
    /// The run failed.
    Error {
        /// The error's kind as scripts see it.
        kind: String,
        /// The headline.
        message: String,
        /// `file:line:col`, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        /// The call chain.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        causes: Vec<String>,
    },
    /// A completed step's rollback ran (`--on-failure rollback`).
    Rollback {
        /// The step rolled back.
        step: String,
        /// `ok` or `failed`.
        status: String,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The run ended.
    RunEnd {
        /// `succeeded`, `failed` or `interrupted`.
        status: String,
        /// Wall time taken.
        duration_ms: u64,
        /// Changes applied.
        applied: usize,
        /// Changes planned (dry run).
        planned: usize,
        /// The run's clock at the end, RFC 3339.
        clock: String,
    },
}

/// Where each journal line is also sent (stdout with `--output json`).
pub type Echo = Box<dyn Fn(&str) + Send + Sync>;

/// The journal of one run: a JSON-lines file, and stdout with `--output json`.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    echo: Option<Echo>,
    redactor: Redactor,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Journal {
    pub(crate) fn create(path: &Path, echo: Option<Echo>, redactor: Redactor) -> Result<Self, Error> {
        let err = |source| Error::Create { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // hubops' own state, not an operator's system (issue 10: listed in the allow test)
            #[allow(clippy::disallowed_methods)]
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // hubops' own state, not an operator's system (issue 10: listed in the allow test)
        #[allow(clippy::disallowed_methods)]
        let file = File::create(path).map_err(err)?;
        Ok(Self { path: path.to_path_buf(), file: Mutex::new(file), echo, redactor })
    }

    /// Where the journal is written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an event, redacted, and flushes it: the journal must survive a
    /// crash or Ctrl-C. A write failure is reported once as a warning rather
    /// than stopping a maintenance half-way.
    pub fn record(&self, event: &Event) {
        let line = match serde_json::to_string(event) {
            Ok(line) => self.redactor.redact(&line),
            Err(e) => {
                tracing::error!("journal event not serialisable: {e}");
                return;
            }
        };
        {
            let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                tracing::warn!("cannot write the journal {}: {e}", self.path.display());
            }
        }
        if let Some(echo) = &self.echo {
            echo(&line);
        }
    }
}

/// Reads a journal back, event by event.
pub fn read(path: &Path) -> Result<Vec<Event>, Error> {
    let file = File::open(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let mut events = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        events.push(event);
    }
    Ok(events)
}

/// The default journal folder: `$XDG_STATE_HOME/hubops/runs`, or
/// `~/.local/state/hubops/runs`.
pub(crate) fn default_dir() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("hubops").join("runs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_type_and_data() {
        let line = serde_json::to_string(&Event::Log { level: "info".into(), message: "hi".into() }).unwrap();
        assert_eq!(line, r#"{"type":"log","data":{"level":"info","message":"hi"}}"#);
    }
}
