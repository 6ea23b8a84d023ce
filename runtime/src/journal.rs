#![doc = include_str!("../JOURNAL.md")]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// The journal could not be written: the run stops (audit first).
    #[error("cannot write the journal `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The file exists and is something else than a journal.
    #[error("`{}` exists and is not a hubops journal; name another file with --journal", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// Another run is writing this journal now.
    #[error("the journal `{}` is being written by another run", path.display())]
    Busy {
        /// The file.
        path: PathBuf,
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
        /// The journal of the run this one resumes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed_journal: Option<String>,
        /// SHA-256 of the world file as loaded (world runs only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        world_digest: Option<String>,
        /// The OS user and host that ran it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
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
        /// Time the step took on the run's clock, in ms, when that clock is
        /// virtual (world runs and dry runs): the step's share of the
        /// rehearsal's forecast.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_ms: Option<u64>,
        /// What the step returned (`ok` only), as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// Why it failed (`failed` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The run's clock at the end, RFC 3339 (a resume on a world goes on
        /// from the latest of these: time passed even if the world was not saved).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// A change passed the effects gate.
    Change {
        /// `planned`, `would_fail` (dry run); `applied`, `failed`, or
        /// `replayed` (applied by an earlier run of the lineage; not sent again).
        phase: String,
        /// The change, secrets redacted.
        change: Value,
        /// Why it failed or would fail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The change's key: `LINEAGE/STEP/ORDINAL/DIGEST` (see JOURNAL.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The step the change was made in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// What the system answered (`applied`, `replayed`), as JSON, so a
        /// resumed run can hand it back without sending the change again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
    },
    /// A change is about to be sent (its `change` event follows once the
    /// system answered): a run killed in between leaves the change in doubt.
    ChangeStarted {
        /// The change's key.
        key: String,
        /// The step it is made in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// `verb target`.
        what: String,
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
        /// `yes`, `no`, `yes_by_flag` (--yes), `ack_by_flag` (--ack),
        /// `would_ask` (dry run) or `no_terminal`.
        answer: String,
        /// The acknowledgement's name, for `acknowledge` (a step done by hand).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
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
    /// This run was continued by a resume (appended to the resumed run's
    /// journal): it cannot be resumed again.
    Continued {
        /// The run that continues it.
        by: String,
        /// That run's journal.
        journal: String,
    },
    /// A lock on a target was taken, refused, broken or released.
    Lock {
        /// What is locked: `world /path/site.yaml`, `k8s/blue`, `lease k8s/blue daskhub`.
        target: String,
        /// `acquired`, `released`, `refused`, `broken`.
        action: String,
        /// The holder, for `refused` and `broken`: run, user@host, since.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder: Option<String>,
    },
    /// The world was written to disk (`--save-world`), after a change or at the end.
    WorldSaved {
        /// The file.
        path: String,
        /// SHA-256 of what was written.
        digest: String,
    },
    /// A system the run opened, and what it is (a resume checks it is the same).
    Target {
        /// `k8s/blue`, `aws/prod`.
        system: String,
        /// What it resolved to: the API server, the account's region.
        identity: String,
    },
    /// A window a runbook marks (`window("downtime", || ..)`) opened or
    /// closed: the part of the run the forecast measures.
    Window {
        /// The window's name.
        name: String,
        /// `open` or `close`.
        phase: String,
        /// The run's clock, RFC 3339.
        at: String,
        /// `ok`, or `failed` when the run failed inside it (`close` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// How long it was open on the run's clock, in ms (`close` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_ms: Option<u64>,
        /// The first step started inside it (`close` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// The last step that finished inside it (`close` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Something the run did that must be undone before the site is left
    /// as it was (a silenced monitor, a suspended auto-sync): recorded when
    /// it is done (`pending`) and again when it is undone (`undone`), so a
    /// resume, a rollback and the end of the run know what is still owed.
    MustUndo {
        /// The runbook's name for it, unique in a lineage: `mobu-silence`.
        id: String,
        /// What was done: `mobu flocks silenced: test, weekly`.
        what: String,
        /// How it is undone, for a person: `sync Argo CD application mobu`.
        undo: String,
        /// `pending`, `undone`, or `planned` (a dry run: it would be owed).
        state: String,
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
        /// Changes an earlier run of the lineage made, handed back instead of sent again.
        #[serde(default, skip_serializing_if = "is_zero")]
        replayed: usize,
        /// The run's clock at the end, RFC 3339.
        clock: String,
        /// Virtual time the run took (world runs and dry runs), in ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_ms: Option<u64>,
    },
}

/// Where each journal line is also sent (stdout with `--output json`).
pub type Echo = Box<dyn Fn(&str) + Send + Sync>;

/// The journal of one run: a JSON-lines file (and stdout with
/// `--output json`). It is opened for appending and never truncated: a
/// journal named with `--journal` that already holds runs gets this run
/// appended. The file is locked for the run's life, so two runs cannot
/// interleave lines in it. Every line is written and flushed before the
/// run goes on; the first line that cannot be written marks the journal
/// broken, and the run stops at its next binding call.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    echo: Option<Echo>,
    redactor: Redactor,
    broken: Mutex<Option<String>>,
    count: AtomicU64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (creating it and its folder when missing) the journal at `path`
    /// for appending, and locks it.
    pub(crate) fn open(path: &Path, echo: Option<Echo>, redactor: Redactor) -> Result<Self, Error> {
        let err = |source| Error::Create { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::state::create_dir_all(dir).map_err(err)?;
        }
        // Appending to a file that is not a journal would spoil it.
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0) {
            let head = std::fs::read(path).map_err(err)?;
            let first = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
            if serde_json::from_str::<Event>(&first).is_err() {
                return Err(Error::NotAJournal { path: path.to_path_buf() });
            }
        }
        let file = crate::state::append(path).map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Busy { path: path.to_path_buf() }),
            Err(std::fs::TryLockError::Error(source)) => return Err(err(source)),
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            echo,
            redactor,
            broken: Mutex::new(None),
            count: AtomicU64::new(0),
        })
    }

    /// Where the journal is written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many events this run wrote.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Why the journal cannot be written any more, once it cannot.
    pub(crate) fn broken(&self) -> Option<String> {
        self.broken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Appends an event, redacted, and flushes it: the journal must survive a
    /// crash or Ctrl-C. A failure marks the journal broken (see [`Self::broken`]).
    pub fn record(&self, event: &Event) {
        if let Err(e) = self.try_record(event) {
            let mut broken = self.broken.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if broken.is_none() {
                *broken = Some(format!(
                    "{e}: {}",
                    std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default()
                ));
            }
        }
    }

    /// [`Self::record`], with the write error.
    pub(crate) fn try_record(&self, event: &Event) -> Result<(), Error> {
        let line = serde_json::to_string(&event.redacted(&self.redactor)).unwrap_or_default();
        {
            let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            writeln!(file, "{line}")
                .and_then(|()| file.flush())
                .map_err(|source| Error::Write { path: self.path.clone(), source })?;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Some(echo) = &self.echo {
            echo(&line);
        }
        Ok(())
    }
}

impl Event {
    /// The event with every secret taken out of what runbooks and systems
    /// put in it (names, messages, values); hubops' own words (`type`,
    /// `status`, `phase`, `outcome`, ...) are left alone, so a secret such as
    /// `ok` can never turn a step's `status: ok` into something a resume
    /// cannot read.
    #[must_use]
    #[allow(clippy::many_single_char_names)] // five one-line helpers, one per field shape
    pub fn redacted(&self, r: &Redactor) -> Self {
        let t = |s: &String| r.redact(s);
        let o = |s: &Option<String>| s.as_ref().map(|s| r.redact(s));
        let v = |x: &Value| r.redact_value(x);
        let ov = |x: &Option<Value>| x.as_ref().map(|x| r.redact_value(x));
        let mut e = self.clone();
        match &mut e {
            Self::RunStart { params, world, .. } => {
                *params = v(params);
                *world = o(world);
            }
            Self::StepStart { step, .. } => *step = t(step),
            Self::StepEnd { step, result, error, .. } => {
                *step = t(step);
                *result = ov(result);
                *error = o(error);
            }
            Self::Change { change, error, step, result, .. } => {
                *change = v(change);
                *error = o(error);
                *step = o(step);
                *result = ov(result);
            }
            Self::ChangeStarted { step, what, .. } => {
                *step = o(step);
                *what = t(what);
            }
            Self::Wait { what, .. } => *what = t(what),
            Self::Prompt { question, .. } => *question = t(question),
            Self::Log { message, .. } => *message = t(message),
            Self::Print { text } => *text = t(text),
            Self::Error { message, location, causes, .. } => {
                *message = t(message);
                *location = o(location);
                *causes = causes.iter().map(|c| r.redact(c)).collect();
            }
            Self::Rollback { step, error, .. } => {
                *step = t(step);
                *error = o(error);
            }
            Self::Lock { target, holder, .. } => {
                *target = t(target);
                *holder = o(holder);
            }
            Self::Target { system, identity } => {
                *system = t(system);
                *identity = t(identity);
            }
            Self::Window { name, from, to, .. } => {
                *name = t(name);
                *from = o(from);
                *to = o(to);
            }
            Self::MustUndo { id, what, undo, .. } => {
                *id = t(id);
                *what = t(what);
                *undo = t(undo);
            }
            Self::Continued { .. } | Self::WorldSaved { .. } | Self::RunEnd { .. } => {}
        }
        e
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A journal read back.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// The 1-based number of a last line that was cut short (power loss,
    /// SIGKILL mid-write) and dropped.
    pub torn: Option<usize>,
}

/// Reads a journal back, event by event. A last line that is not an event
/// (a write cut short) is dropped and reported in [`Read::torn`]; a bad line
/// anywhere else is an error.
pub fn read_all(path: &Path) -> Result<Read, Error> {
    let text = std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<(usize, &str)> =
        text.split('\n').enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l)).collect();
    let mut out = Read::default();
    for (n, (line_no, line)) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(event) => out.events.push(event),
            Err(_) if n + 1 == lines.len() && !text.ends_with('\n') => out.torn = Some(*line_no),
            Err(source) => return Err(Error::Parse { path: path.to_path_buf(), line: *line_no, source }),
        }
    }
    Ok(out)
}

/// Reads a journal back, event by event (a torn last line is dropped).
pub fn read(path: &Path) -> Result<Vec<Event>, Error> {
    read_all(path).map(|r| r.events)
}

/// The runs a journal holds (a journal named with `--journal` may hold
/// several, one after the other), each starting with its `run_start`.
#[must_use]
pub fn runs(events: &[Event]) -> Vec<&[Event]> {
    let starts: Vec<usize> =
        events.iter().enumerate().filter(|(_, e)| matches!(e, Event::RunStart { .. })).map(|(i, _)| i).collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| &events[start..starts.get(n + 1).copied().unwrap_or(events.len())])
        .collect()
}

/// The default journal folder: `$XDG_STATE_HOME/hubops/runs`, or
/// `~/.local/state/hubops/runs`.
pub(crate) fn default_dir() -> PathBuf {
    crate::state::dir().join("runs")
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
