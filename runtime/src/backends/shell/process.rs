//! Running one local process to completion: argv only (no shell), stdin
//! closed, stdout and stderr captured, a deadline, and Ctrl-C. On timeout or
//! Ctrl-C the whole process group is stopped (SIGTERM, then SIGKILL after a
//! grace period), so an `rsync` and the `ssh` it started go together.
//!
//! Processes are started only through [`effects::command`], so every call
//! here needs the gate's [`Permit`]. Nothing here knows Rhai.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::effects::{self, Failure, Permit};

/// Captured output beyond this many bytes per stream is dropped (the
/// process still runs to the end; its pipe is drained).
const CAPTURE_LIMIT: usize = 16 << 20;
/// How long a stopped process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How often the deadline and Ctrl-C are looked at while a child runs (its
/// end is noticed at once: see [`Exit`]).
const POLL: Duration = Duration::from_millis(20);
/// How much of stderr an error message quotes.
const TAIL_LINES: usize = 10;

/// A process to run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The program: a name looked up on `PATH`, or a path.
    pub program: String,
    /// Its arguments, passed as they are (never through a shell).
    pub args: Vec<String>,
    /// Working directory; the current one when `None`.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The wall-clock limit. Wall time even on a virtual clock: a real
    /// process takes real time whatever the run's clock says.
    pub timeout: Duration,
    /// Give the process a stdin pipe that stays open, with nothing written
    /// to it, until the process ends (else stdin is closed). An `ssh` whose
    /// remote command watches its stdin (see `backends::homes`) then learns
    /// that hubops is gone however hubops ended, even by SIGKILL: the pipe
    /// closes with hubops.
    pub hold_stdin: bool,
}

impl Invocation {
    /// A process with no extra environment, in the current directory.
    #[must_use]
    pub fn new(program: impl Into<String>, args: Vec<String>, timeout: Duration) -> Self {
        Self { program: program.into(), args, cwd: None, env: Vec::new(), timeout, hold_stdin: false }
    }

    /// The command line as a person would type it (POSIX quoting), for
    /// plans, journals and errors.
    #[must_use]
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a finished process left (recorded in the journal, so a resume
/// hands it back instead of running the command again).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Output {
    /// Exit code; `128 + signal` when a signal ended it, as shells report.
    pub status: i32,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

/// Why a process did not run to an answer (or, on a world, a simulated
/// host could not give one). Every `sh::` verb and the Helm CLI fail with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program is not on `PATH` (or the path does not exist).
    #[error("`{program}` is not installed or not on PATH")]
    NotFound {
        /// The program.
        program: String,
    },
    /// The working directory a command was given does not exist.
    #[error("cannot start `{program}`: working directory `{cwd}` does not exist")]
    NoWorkingDirectory {
        /// The program.
        program: String,
        /// The working directory, as given.
        cwd: String,
    },
    /// The process could not be started. The OS error is part of the
    /// message, not a separate cause: it is the whole story, and scripts
    /// print `e.message` alone.
    #[error("cannot start `{program}`: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// What the OS said.
        reason: std::io::Error,
    },
    /// The deadline passed; the process group was stopped.
    #[error("`{program}` did not finish within {after} and was stopped{}", tail_suffix(.stderr_tail))]
    Timeout {
        /// The program.
        program: String,
        /// The timeout, as written.
        after: String,
        /// The last lines of stderr.
        stderr_tail: String,
    },
    /// Ctrl-C; the process group was stopped.
    #[error("interrupted while `{program}` ran; it was stopped")]
    Interrupted {
        /// The program.
        program: String,
    },
    /// The process exited non-zero and the caller asked for success.
    #[error("`{program}` exited with status {status}{}", tail_suffix(.stderr_tail))]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: i32,
        /// The last lines of stderr.
        stderr_tail: String,
    },
    /// `ssh` could not reach or log in to the host (its exit status 255).
    #[error("ssh to `{host}` failed{}", tail_suffix(.stderr_tail))]
    Unreachable {
        /// The host.
        host: String,
        /// The last lines of ssh's stderr.
        stderr_tail: String,
    },
    /// A run on a world whose file has no `hosts:` section.
    #[error("the world has no `hosts:` section; add the hosts this runbook reaches (host `local` is this machine)")]
    NoHosts,
    /// A world host has no answer for a command line.
    #[error("world host `{host}` has no answer for `{line}` (add it to its `commands`)")]
    NoAnswer {
        /// The host.
        host: String,
        /// The command line, as matched.
        line: String,
    },
    /// A path a world host cannot hold as a file.
    #[error("`{path}` is not a file path")]
    NotAFile {
        /// The path.
        path: String,
    },
    /// Waiting on the process failed.
    #[error("lost track of `{program}`: {reason}")]
    Wait {
        /// The program.
        program: String,
        /// What the OS said.
        reason: std::io::Error,
    },
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } | Self::NoAnswer { .. } => "NotFound",
            Self::NoWorkingDirectory { .. } | Self::Spawn { .. } | Self::Wait { .. } | Self::Unreachable { .. } => {
                "Unreachable"
            }
            Self::Timeout { .. } => "Timeout",
            Self::Interrupted { .. } => "Interrupted",
            Self::Failed { .. } => "Failed",
            Self::NoHosts => "Usage",
            Self::NotAFile { .. } => "Invalid",
        }
    }

    /// A failed exit carries its status and the end of stderr, so a runbook
    /// can decide on them (`e.status == 4`).
    fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::Failed { status, stderr_tail, .. } => {
                vec![("status", (*status).into()), ("stderr", stderr_tail.clone().into())]
            }
            _ => Vec::new(),
        }
    }
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

/// The last few non-empty lines of `text`, newlines kept, so an error shows
/// them as the tool printed them.
#[must_use]
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..].join("\n")
}

/// `Err(Failed)` unless the process exited 0.
pub fn require_success(program: &str, output: Output) -> Result<Output, Error> {
    if output.status == 0 {
        Ok(output)
    } else {
        Err(Error::Failed { program: program.into(), status: output.status, stderr_tail: tail(&output.stderr) })
    }
}

/// Whether `program` can be found: a path that exists, or a name on `PATH`.
/// Used by dry runs, which must not start anything to find out.
#[must_use]
pub fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

/// What a dry run can know about a local process without starting it: the
/// program is there and so is its working directory.
pub fn can_start(inv: &Invocation) -> Result<(), Error> {
    if let Some(cwd) = &inv.cwd {
        if !cwd.is_dir() {
            return Err(Error::NoWorkingDirectory { program: inv.program.clone(), cwd: cwd.display().to_string() });
        }
    }
    resolve(&inv.program).map(|_| ()).ok_or_else(|| Error::NotFound { program: inv.program.clone() })
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `inv` to completion. Any exit status is an answer; only not running,
/// the deadline and Ctrl-C are errors.
pub fn run(permit: &Permit, inv: &Invocation, cancel: &Cancel) -> Result<Output, Error> {
    run_with_lines(permit, inv, cancel, None)
}

/// What is handed each whole line of stdout as it arrives (without its
/// newline; a last line without one is handed over when the pipe closes).
pub type LineSink = Box<dyn FnMut(&str) + Send>;

/// [`run`], handing each line of stdout to `lines` as the process prints
/// it, instead of keeping stdout for the answer (whose `stdout` is then
/// empty: what the lines say is the caller's to keep).
pub fn run_with_lines(
    permit: &Permit,
    inv: &Invocation,
    cancel: &Cancel,
    lines: Option<LineSink>,
) -> Result<Output, Error> {
    let program = inv.program.clone();
    let mut cmd = effects::command(permit, &inv.program);
    let stdin = if inv.hold_stdin { Stdio::piped() } else { Stdio::null() };
    cmd.args(&inv.args).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group: a timeout or Ctrl-C stops it and its children
    // together, and the terminal's Ctrl-C reaches hubops, which decides.
    cmd.process_group(0);
    if let Some(cwd) = &inv.cwd {
        cmd.current_dir(cwd);
    }
    for (key, value) in &inv.env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound if inv.cwd.as_ref().is_none_or(|c| c.is_dir()) => {
            Error::NotFound { program: program.clone() }
        }
        _ => Error::Spawn { program: program.clone(), reason: source },
    })?;
    // Held, never written, dropped (closed) when this function returns.
    let _stdin = child.stdin.take();
    let stdout = Capture::start(child.stdout.take(), lines);
    let stderr = Capture::start(child.stderr.take(), None);
    let deadline = Instant::now() + inv.timeout;
    let exit = Exit::watch(&child);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                stop(&mut child);
                return Err(Error::Wait { program, reason: source });
            }
        }
        if cancel.is_cancelled() {
            stop(&mut child);
            return Err(Error::Interrupted { program });
        }
        let now = Instant::now();
        if now >= deadline {
            stop(&mut child);
            let after = crate::duration::format(inv.timeout);
            return Err(Error::Timeout { program, after, stderr_tail: tail(&stderr.text()) });
        }
        exit.wait(POLL.min(deadline - now));
    };
    // A child that left a background process behind may hold the pipes open;
    // wait for them until the deadline, then stop the group.
    for capture in [&stdout, &stderr] {
        while !capture.drained(POLL) {
            if cancel.is_cancelled() || Instant::now() >= deadline {
                kill_group(&child, nix::sys::signal::Signal::SIGKILL);
                break;
            }
        }
    }
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1);
    Ok(Output { status: code, stdout: stdout.text(), stderr: stderr.text() })
}

/// Word that a child has ended, from a thread blocked in `waitid` with
/// `WNOWAIT`: it does not reap the child, so the pid stays the child's
/// until `try_wait` reaps it and a stop of a running child never signals a
/// pid that was handed to someone else.
struct Exit(mpsc::Receiver<()>);

impl Exit {
    fn watch(child: &Child) -> Self {
        let (tx, rx) = mpsc::channel();
        if let Ok(pid) = i32::try_from(child.id()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            let spawned = std::thread::Builder::new().name("hubops-wait".into()).spawn(move || {
                use nix::sys::wait::{waitid, Id, WaitPidFlag};
                // Any other error (the child was reaped already) is word too.
                while waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) == Err(nix::errno::Errno::EINTR)
                {
                }
                let _ = tx.send(());
            });
            if spawned.is_err() {
                tracing::debug!("no thread to wait for a child; looking every {POLL:?}");
            }
        }
        Self(rx)
    }

    /// Returns when the child has ended or after `pause`.
    fn wait(&self, pause: Duration) {
        match self.0.recv_timeout(pause) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            // Its word was taken already, or there is no watcher.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(pause),
        }
    }
}

/// SIGTERM to the group, SIGKILL after the grace period, then reap.
fn stop(child: &mut Child) {
    kill_group(child, nix::sys::signal::Signal::SIGTERM);
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            // The leader is gone; stragglers in the group get no more grace.
            kill_group(child, nix::sys::signal::Signal::SIGKILL);
            return;
        }
        std::thread::sleep(POLL);
    }
    kill_group(child, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

fn kill_group(child: &Child, signal: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group may be gone already; nothing to do then.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}

/// A pipe drained on its own thread into a bounded buffer.
struct Capture {
    buffer: Arc<Drained>,
}

/// The bytes kept and whether the pipe has closed, with word of that.
type Drained = (Mutex<(Vec<u8>, bool)>, Condvar);

impl Capture {
    fn start(pipe: Option<impl Read + Send + 'static>, mut lines: Option<LineSink>) -> Self {
        let buffer = Arc::new((Mutex::new((Vec::new(), pipe.is_none())), Condvar::new()));
        if let Some(mut pipe) = pipe {
            let shared = buffer.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                // The start of a line not yet ended, for `lines`.
                let mut partial = Vec::new();
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let Some(sink) = &mut lines {
                                hand_lines(&mut partial, &chunk[..n], sink);
                            } else {
                                let mut guard = lock(&shared.0);
                                let room = CAPTURE_LIMIT.saturating_sub(guard.0.len());
                                guard.0.extend_from_slice(&chunk[..n.min(room)]);
                            }
                        }
                    }
                }
                if let Some(sink) = &mut lines {
                    if !partial.is_empty() {
                        sink(&String::from_utf8_lossy(&partial));
                    }
                }
                lock(&shared.0).1 = true;
                shared.1.notify_all();
            });
        }
        Self { buffer }
    }

    /// Whether the pipe has closed, waiting up to `pause` for it.
    fn drained(&self, pause: Duration) -> bool {
        let (state, closed) = &*self.buffer;
        let guard = lock(state);
        let (guard, _) =
            closed.wait_timeout_while(guard, pause, |s| !s.1).unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.1
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.buffer.0).0).into_owned()
    }
}

/// Hands every line `bytes` ends (with what `partial` held before it) to
/// `sink`, and keeps the rest in `partial`.
fn hand_lines(partial: &mut Vec<u8>, bytes: &[u8], sink: &mut LineSink) {
    let mut rest = bytes;
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        partial.extend_from_slice(&rest[..end]);
        sink(&String::from_utf8_lossy(partial));
        partial.clear();
        rest = &rest[end + 1..];
    }
    partial.extend_from_slice(rest);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// POSIX shell quoting for display: safe words as they are, anything else in
/// single quotes.
#[must_use]
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_a_shell() {
        assert_eq!(quote("rsync"), "rsync");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
        let inv = Invocation::new("echo", vec!["a b".into(), "--x=1".into()], Duration::from_secs(1));
        assert_eq!(inv.display(), "echo 'a b' --x=1");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text = (1..=20).map(|i| format!("line {i}\n")).collect::<Vec<_>>().join("\n");
        let t = tail(&text);
        assert!(t.starts_with("line 11\n") && t.ends_with("line 20"), "{t}");
    }

    fn sh(script: &str) -> Invocation {
        Invocation::new("sh", vec!["-c".into(), script.into()], Duration::from_secs(30))
    }

    #[test]
    fn hands_each_line_of_stdout_over_instead_of_keeping_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let inv = sh("echo alice; printf 'bob\\n\\ncarol'");
        let lines: LineSink = Box::new(move |l| lock(&sink).push(l.to_string()));
        let out = run_with_lines(&Permit::for_tests(), &inv, &Cancel::default(), Some(lines)).unwrap();
        assert_eq!(*lock(&seen), ["alice", "bob", "", "carol"]);
        assert_eq!((out.status, out.stdout.as_str()), (0, ""), "kept once, by the sink");
    }

    #[test]
    fn a_line_is_handed_over_while_the_process_still_runs() {
        // The process ends only once it is told, through its stdin, that
        // its first line arrived: handed over only at its end, the line
        // would never come and the run would time out.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("told");
        let made = Invocation::new("mkfifo", vec![fifo.display().to_string()], Duration::from_secs(10));
        run(&Permit::for_tests(), &made, &Cancel::default()).unwrap();
        let told = fifo.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let lines: LineSink = Box::new(move |line| {
            lock(&sink).push(line.to_string());
            if line == "first" {
                let tell = Invocation::new(
                    "sh",
                    vec!["-c".into(), "echo go > \"$1\"".into(), "tell".into(), told.display().to_string()],
                    Duration::from_secs(10),
                );
                run(&Permit::for_tests(), &tell, &Cancel::default()).unwrap();
            }
        });
        let mut inv = sh("echo first; read -r x < \"$1\"; echo \"then $x\"");
        inv.args.extend(["waits".into(), fifo.display().to_string()]);
        let out = run_with_lines(&Permit::for_tests(), &inv, &Cancel::default(), Some(lines)).unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(*lock(&seen), ["first", "then go"]);
    }

    #[test]
    fn a_timeout_and_ctrl_c_still_stop_a_process_that_is_waited_for() {
        let inv = Invocation::new("sleep", vec!["30".into()], Duration::from_millis(300));
        assert!(matches!(run(&Permit::for_tests(), &inv, &Cancel::default()), Err(Error::Timeout { .. })));
        let cancel = Cancel::default();
        let later = cancel.clone();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            later.cancel();
        });
        let long = Invocation::new("sleep", vec!["30".into()], Duration::from_mins(1));
        assert!(matches!(run(&Permit::for_tests(), &long, &cancel), Err(Error::Interrupted { .. })));
        stopper.join().unwrap();
    }

    #[test]
    fn resolves_programs_without_running_them() {
        assert!(resolve("sh").is_some());
        assert!(resolve("/bin/sh").is_some());
        assert!(resolve("no-such-program-hubops").is_none());
    }
}
