//! `wait_until`: a wait whose condition is a script closure (no active user
//! servers left, a hub that answers), through the run's one wait path, so a
//! runbook never loops on `sleep` and the clock itself: the wait is
//! journaled and printed like every other, virtual on worlds, and in a dry
//! run it looks once and reports what it would wait for instead of failing
//! at a deadline no time was spent reaching.
//!
//! The closure is called when the run polls, before it blocks on the
//! returned future: a closure calls bindings, which must not be called from
//! inside the runtime (the k8s `wait` does the same).

use std::cell::RefCell;
use std::time::Duration;

use rhai::{Dynamic, FnPtr, NativeCallContext};

use super::options::Options;
use super::{script_error, ScriptResult};
use crate::run::{Poll, Run, Wait, WaitError, Waited};

const DEFAULT_TIMEOUT: Duration = Duration::from_mins(5);
const DEFAULT_EVERY: Duration = Duration::from_secs(30);

/// What one call of the closure said.
enum Seen {
    Done,
    Waiting(String),
}

fn look(ctx: &NativeCallContext, check: &FnPtr) -> ScriptResult<Seen> {
    let answer: Dynamic = check.call_within_context(ctx, ())?;
    if answer.as_bool() == Ok(true) {
        return Ok(Seen::Done);
    }
    if answer.is_string() {
        return Ok(Seen::Waiting(answer.to_string()));
    }
    Err(script_error(
        "Invalid",
        &format!(
            "the check of `wait_until` must return true (done) or a string saying what it still waits for, not {}",
            answer.type_name()
        ),
    ))
}

pub(super) fn wait_until(
    ctx: &NativeCallContext,
    what: &str,
    options: &rhai::Map,
    check: &FnPtr,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let opts = Options::new("wait_until", options, &["timeout", "every"])?;
    let timeout = opts.positive_duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    let every = opts.positive_duration("every")?.unwrap_or(DEFAULT_EVERY);
    let what = run.redactor().redact(what);
    let spec =
        Wait::new(what.clone(), timeout).label(format!("for {what}")).journal(format!("until {what}")).announce();
    let last: RefCell<Option<String>> = RefCell::new(None);
    let poll = |_: Duration| -> ScriptResult<Poll<()>> {
        match look(ctx, check)? {
            Seen::Done => Ok(Poll::Done(())),
            Seen::Waiting(progress) => {
                let progress = run.redactor().redact(&progress);
                last.replace(Some(progress.clone()));
                Ok(Poll::pending(progress, every))
            }
        }
    };
    let result = |waited: Duration, would_wait: bool, waiting: Option<String>| {
        let mut map = rhai::Map::new();
        map.insert("waited".into(), crate::duration::format(waited).into());
        map.insert("would_wait".into(), would_wait.into());
        map.insert("waiting".into(), waiting.map_or(Dynamic::UNIT, Dynamic::from));
        map
    };
    match run.wait(&spec, |within| std::future::ready(poll(within))) {
        Ok(Waited::Done { waited, .. }) => Ok(result(waited, false, None)),
        Ok(Waited::WouldWait { progress }) => Ok(result(Duration::ZERO, true, progress)),
        Err(WaitError::Failed(e)) => Err(e),
        Err(WaitError::Timeout { progress, .. }) => Err(script_error(
            "Timeout",
            &format!(
                "still waiting for {what} after {}: {}",
                crate::duration::format(timeout),
                progress.or_else(|| last.take()).unwrap_or_default()
            ),
        )),
        Err(WaitError::Interrupted) => Err(script_error("Interrupted", "interrupted")),
        Err(WaitError::Stopped(why)) => Err(script_error("Runaway", &why)),
    }
}
