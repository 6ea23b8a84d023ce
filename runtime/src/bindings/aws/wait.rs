//! How the AWS families' waits (snapshot completed, volume state, volume
//! modification, change INSYNC) take the run's one wait path, worded the
//! same way for all of them: progress lines name what is waited for
//! (``Waiting snapshot `snap-1` completed: 42%``), sentences say "for" it
//! (``Would wait for snapshot `snap-1` completed``, ``Waited 5m for ...``).
//! A failed look and a timeout become AWS errors, as the script sees them.

use std::time::Duration;

use super::super::ScriptResult;
use crate::backends::aws::Error;
use crate::run::{Poll, Run, Wait, Waited};

/// A wait for `what`, at most `timeout`.
pub(crate) fn wait_for(what: &str, timeout: Duration) -> Wait {
    Wait::new(what, timeout).label(format!("for {what}"))
}

/// Waits through the run (journaled, printed, on the run's clock; a look
/// and "would wait" in a dry run).
pub(crate) fn wait<T>(
    run: &Run,
    wait: &Wait,
    poll: impl AsyncFnMut(Duration) -> Result<Poll<T>, Error>,
) -> ScriptResult<Waited<T>> {
    run.wait_or_fail(wait, poll, |progress| Error::Timeout {
        what: match progress {
            Some(p) => format!("{}: still {p}", wait.what),
            None => wait.what.clone(),
        },
        after: crate::duration::format(wait.timeout),
    })
}
