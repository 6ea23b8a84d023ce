//! Bounded waits on the run's clock with progress lines and a journal entry;
//! in a dry run, "would wait" instead.

use std::time::Duration;

use super::super::{duration_arg, script_error, ScriptResult};
use super::aws_error;
use crate::backends::aws::Error;
use crate::journal::Event;
use crate::output::Tone;
use crate::run::Run;

/// How often waits poll: live systems every few seconds; on worlds and in dry
/// runs the clock is virtual, so coarser steps cost nothing.
fn poll_interval(run: &Run) -> Duration {
    if run.clock().is_virtual() {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(2)
    }
}

/// What one poll of a wait saw.
pub(crate) enum Poll<T> {
    /// Done, with the final value.
    Done(T),
    /// Not yet: a short status for progress lines (`42%`).
    Pending(String),
}

/// Polls `poll` until it is done or `timeout` passes on the run's clock,
/// printing progress when it changes and journaling the wait.
pub(crate) fn wait_until<T>(
    run: &Run,
    what: &str,
    timeout: Duration,
    mut poll: impl FnMut() -> ScriptResult<Result<Poll<T>, Error>>,
) -> ScriptResult<T> {
    let start = run.clock().now();
    let mut shown = String::new();
    loop {
        let status = poll()?.map_err(|e| aws_error(run, &e))?;
        let waited = Duration::try_from(run.clock().now().duration_since(start)).unwrap_or_default();
        let event = |outcome: &str| Event::Wait {
            what: what.to_string(),
            duration_ms: waited.as_millis() as u64,
            outcome: outcome.into(),
            virtual_time: run.clock().is_virtual(),
        };
        match status {
            Poll::Done(value) => {
                run.record(&event("done"));
                run.printer().status(Tone::Progress, "Done", &format!("{what} ({})", crate::duration::format(waited)));
                return Ok(value);
            }
            Poll::Pending(progress) => {
                if waited >= timeout {
                    run.record(&event("timeout"));
                    let err = Error::Timeout {
                        what: format!("{what}: still {progress}"),
                        after: crate::duration::format(timeout),
                    };
                    return Err(aws_error(run, &err));
                }
                if progress != shown {
                    run.printer().status(Tone::Progress, "Waiting", &format!("{what}: {progress}"));
                    shown = progress;
                }
                let step = poll_interval(run).min(timeout.saturating_sub(waited).max(Duration::from_millis(1)));
                run.clock().sleep(step, &run.cancel, |_| {}).map_err(|_| script_error("Interrupted", "interrupted"))?;
            }
        }
    }
}

/// A dry run's answer to a wait: nothing was changed, so there is nothing to
/// wait for; say what would have been waited for.
pub(crate) fn would_wait(run: &Run, what: &str) {
    run.record(&Event::Wait {
        what: what.to_string(),
        duration_ms: 0,
        outcome: "would_wait".into(),
        virtual_time: true,
    });
    run.printer().status(Tone::Plan, "Would wait", what);
}

/// Whether this run only plans changes (waits only; mutations never ask).
pub(crate) fn planning(run: &Run) -> bool {
    run.dry_run()
}

/// The `timeout` option of a wait.
pub(crate) fn timeout_opt(options: &rhai::Map, default: Duration) -> ScriptResult<Duration> {
    options.get("timeout").map_or(Ok(default), |t| duration_arg(t, "`timeout`"))
}
