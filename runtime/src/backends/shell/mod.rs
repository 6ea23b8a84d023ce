//! Local commands: running a process (argv only, a deadline, Ctrl-C), the
//! argv of `rsync` and `ssh` and what their output means, and [`Shell`], the
//! family value that runs `sh::run`, `sh::ssh` and `sh::rsync` on this
//! machine or on a world's simulated hosts. Every verb takes the gate's
//! [`Permit`]; under `Permit::Check` nothing runs but what validates (rsync's
//! own `--dry-run`). Nothing here knows Rhai or decides whether a command
//! runs.

pub mod process;
pub mod rsync;
pub mod ssh;
pub mod world;

use crate::backends::Target;
use crate::cancel::Cancel;
use crate::effects::Permit;
use process::{Error, Invocation, Output};
use rsync::{Report, Transfer};
use ssh::Session;
use world::LOCAL;

/// What ssh exits with when it, not the remote command, failed (rsync
/// passes it on when its own ssh could not connect or log in).
pub(crate) const SSH_FAILED: i32 = 255;
/// rsync's "some source files vanished": normal on a live file system.
const RSYNC_VANISHED: i32 = 24;

/// Where commands run, chosen once from the run's target.
#[derive(Debug, Clone)]
pub enum Shell {
    /// This machine; Ctrl-C stops what runs.
    Live(Cancel),
    /// The world's `hosts:` (host `local` is this machine).
    World(crate::world::Shared),
}

/// Which exit statuses are an answer rather than an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Any status is returned to the caller.
    Any,
    /// A non-zero status is [`Error::Failed`].
    Success,
}

impl Exit {
    fn judge(self, program: &str, output: Output) -> Result<Output, Error> {
        match self {
            Self::Any => Ok(output),
            Self::Success => process::require_success(program, output),
        }
    }
}

impl Shell {
    /// The shell of a run on `target`; `cancel` stops live processes.
    #[must_use]
    pub fn new(target: &Target, cancel: Cancel) -> Self {
        match target {
            Target::Live(_) => Self::Live(cancel),
            Target::World(world) => Self::World(world.clone()),
        }
    }

    /// Runs a local program (`sh::run`). Under `Permit::Check` nothing is
    /// started: live, the program and working directory must exist; on a
    /// world, host `local` must have an answer. `None` then: nothing ran.
    pub fn run(&self, permit: &Permit, inv: &Invocation, exit: Exit) -> Result<Option<Output>, Error> {
        let output = match self {
            Self::Live(_) if permit.is_check() => return process::can_start(inv).map(|()| None),
            Self::Live(cancel) => process::run(permit, inv, cancel)?,
            Self::World(world) => {
                let output = world::read(world, |h| h.answer(LOCAL, &inv.display()))?;
                if permit.is_check() {
                    return Ok(None);
                }
                output
            }
        };
        exit.judge(&inv.program, output).map(Some)
    }

    /// Runs a command on a host over ssh (`sh::ssh`); ssh's own failure
    /// (exit 255) is [`Error::Unreachable`]. Under `Permit::Check` nothing
    /// connects: live, the `ssh` program must exist; on a world, the host
    /// must be reachable and have an answer. `None` then: nothing ran.
    pub fn ssh(&self, permit: &Permit, session: &Session, exit: Exit) -> Result<Option<Output>, Error> {
        let output = match self {
            Self::Live(_) if permit.is_check() => return process::can_start(&session.invocation).map(|()| None),
            Self::Live(cancel) => process::run(permit, &session.invocation, cancel)?,
            Self::World(world) => {
                let output = world::read(world, |h| h.answer(&session.host, &session.line))?;
                if permit.is_check() {
                    return Ok(None);
                }
                output
            }
        };
        if output.status == SSH_FAILED {
            return Err(Error::Unreachable { host: session.host.clone(), stderr_tail: process::tail(&output.stderr) });
        }
        exit.judge(&session.invocation.program, output).map(Some)
    }

    /// Copies a tree with `rsync -a` (`sh::rsync`) and reports what moved,
    /// with rsync's exit status. Under `Permit::Check` live rsync runs with
    /// its own `--dry-run` (it reads both ends and changes neither), and a
    /// world only reports: the report says what would move.
    pub fn rsync(
        &self,
        permit: &Permit,
        transfer: &Transfer,
        timeout: std::time::Duration,
    ) -> Result<(Report, i32), Error> {
        match self {
            Self::Live(cancel) => {
                let transfer = if permit.is_check() { transfer.previewed() } else { transfer.clone() };
                let output = process::run(permit, &transfer.invocation(timeout), cancel)?;
                let status = output.status;
                if status != 0 && status != RSYNC_VANISHED {
                    let stderr_tail = process::tail(&output.stderr);
                    return Err(Error::Failed { program: "rsync".into(), status, stderr_tail });
                }
                Ok((rsync::parse(&output.stdout), status))
            }
            Self::World(shared) => {
                let struck = crate::world::faults::strike(
                    &mut shared.lock(),
                    crate::world::faults::Call::Rsync { src: &transfer.src, dst: &transfer.dst },
                    !permit.is_check() && !transfer.preview,
                );
                let exit = match struck {
                    Some(crate::world::faults::Struck::RsyncExit(code)) => Some(code),
                    _ => None,
                };
                if let Some(code) = exit.filter(|c| *c != 0 && *c != RSYNC_VANISHED) {
                    return Err(rsync_failure(code));
                }
                let (report, status) = world::change(shared, |h, now| h.rsync(permit, transfer, now))?;
                // 24: what was there is copied, and rsync says some vanished.
                Ok((report, exit.unwrap_or(status)))
            }
        }
    }
}

/// The error of an rsync a world's fault makes exit with `code`, as rsync
/// words it.
fn rsync_failure(code: i32) -> Error {
    let what = match code {
        11 => "error in file IO",
        12 => "error in rsync protocol data stream",
        23 => "some files/attrs were not transferred (see previous errors)",
        30 => "timeout in data send/receive",
        35 => "timeout waiting for daemon connection",
        _ => "unexplained error",
    };
    Error::Failed { program: "rsync".into(), status: code, stderr_tail: format!("rsync error: {what} (code {code})") }
}

#[cfg(test)]
pub(crate) mod tests;
