//! The functions every runbook has: `params`, `step`, `window`, `fail`,
//! `confirm`, `acknowledge`, `wait_until`, `sleep`, `now`, `timestamp`,
//! `parallel` (over an array, or a [`Feed`] as it comes), the "must undo"
//! ledger (`must_undo`, `undone`, `pending_undo`), and `log::info` /
//! `log::warn`.
//! Bookkeeping and flow only; none of these touches an outside system.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, FnPtr, NativeCallContext};

use super::feed::Feed;
use super::{duration_arg, script_error, ScriptResult};
use crate::diagnostics::{Diagnostic, Sources};
use crate::journal::Event;
use crate::output::Tone;
use crate::run::Run;

#[export_module]
pub(crate) mod core {
    /// Declares the runbook's parameters and returns their values as a map.
    /// Call it once, at the top, with a literal map so `hubops show` can read
    /// it without running the script. Fields of each parameter: `type`
    /// (string, int, float, bool, list, map, duration),
    /// `required`, `doc`, `example`, `choices`, `secret` (and `default_value`,
    /// since `default` is a reserved word in Rhai).
    ///
    /// ```rhai
    /// let p = params(#{
    ///     zone: #{ doc: "Route53 zone", example: "example.org" },
    ///     ttl:  #{ type: "int", default_value: 60 },
    /// });
    /// print(p.zone);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn params(ctx: NativeCallContext, declaration: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        let _ = declaration;
        super::params_values(&ctx)
    }

    /// Runs `body` as a named step: journaled with its start, end, duration
    /// and result. Step names are unique within a run. Returns what `body`
    /// returns.
    ///
    /// ```rhai
    /// let lb = step("read the load balancer", || "a1b2.elb.amazonaws.com");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn step(ctx: NativeCallContext, name: &str, body: FnPtr) -> Result<Dynamic, Box<EvalAltResult>> {
        super::run_step(&ctx, name, &body, None)
    }

    /// Runs `body` as a named step with a rollback: if the run fails later and
    /// was started with `--on-failure rollback`, `rollback` runs (newest step
    /// first).
    ///
    /// ```rhai
    /// step("point hub at green", || zone_set("green"), || zone_set("blue"));
    /// ```
    #[rhai_fn(name = "step", return_raw)]
    pub fn step_with_rollback(
        ctx: NativeCallContext,
        name: &str,
        body: FnPtr,
        rollback: FnPtr,
    ) -> ScriptResult<Dynamic> {
        super::run_step(&ctx, name, &body, Some(rollback))
    }

    /// Marks a window of the run, such as the downtime users see: `body`
    /// runs inside it, and the rehearsal's forecast says how long it lasts
    /// on the world's clock, from the first step started in it to the last
    /// step finished in it ("downtime window: 14m (from `take the hub down`
    /// to `DNS answers the new address everywhere`)"). Journaled (`window`
    /// events). Returns what `body` returns.
    ///
    /// ```rhai
    /// window("downtime", || {
    ///     step("take the hub down", || log::info("scaled to 0"));
    ///     step("bring the hub up", || log::info("scaled to 1"));
    /// });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn window(ctx: NativeCallContext, name: &str, body: FnPtr) -> ScriptResult<Dynamic> {
        super::open_window(&ctx, name)?;
        let result = body.call_within_context::<Dynamic>(&ctx, ());
        super::close_window(&ctx, name, result.is_err())?;
        result
    }

    /// Opens a window of the run (see `window`) that `close_window` closes,
    /// for a window that does not fit one closure (it starts in one stage of
    /// a runbook and ends in a helper). A window still open when the run
    /// ends is closed then.
    ///
    /// ```rhai
    /// open_window("downtime");
    /// step("take the hub down", || log::info("scaled to 0"));
    /// close_window("downtime");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn open_window(ctx: NativeCallContext, name: &str) -> ScriptResult<()> {
        super::open_window(&ctx, name)
    }

    /// Closes a window opened with `open_window`.
    ///
    /// ```rhai
    /// open_window("copy");
    /// step("copy the homes", || log::info("copied"));
    /// close_window("copy");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn close_window(ctx: NativeCallContext, name: &str) -> ScriptResult<()> {
        super::close_window(&ctx, name, false)
    }

    /// Stops the runbook with a message (exit code 1): a refusal or a failed
    /// precondition.
    ///
    /// ```rhai
    /// if users > 0 { fail(`${users} users are still active`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn fail(message: &str) -> Result<(), Box<EvalAltResult>> {
        Err(script_error("Failed", message))
    }

    /// Asks the operator a yes/no question on the terminal. `--yes` answers
    /// yes; a dry run records "would ask" and goes on; no terminal and no
    /// `--yes` is an error, never a silent yes. Answering no stops the run.
    ///
    /// ```rhai
    /// confirm("Cognito callback URLs updated to the new hub?");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn confirm(ctx: NativeCallContext, question: &str) -> Result<bool, Box<EvalAltResult>> {
        super::confirm(&ctx, question)
    }

    /// Asks the operator to acknowledge something done by hand, outside
    /// hubops (a console setting, a message sent): the checklist of a
    /// runbook. Only a person answers: at the terminal, or ahead of time with
    /// `--ack NAME` (one per item); `--yes`, which answers questions about
    /// changes, never does. Journaled with its name. A dry run records "would
    /// ask" and returns false; no answer is an error naming the `--ack` to
    /// pass; answering no stops the run (with how to go on if changes were
    /// made). Returns true once acknowledged.
    ///
    /// ```rhai
    /// acknowledge("cognito-blue", "Blue's Cognito callback URLs now name legacy.cal-adapt.org?");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn acknowledge(ctx: NativeCallContext, name: &str, text: &str) -> Result<bool, Box<EvalAltResult>> {
        super::acknowledge(&ctx, name, text)
    }

    /// Waits until `check` returns `true`, calling it every `every` (default
    /// "30s") for at most `timeout` (default "5m") on the run's clock:
    /// journaled and printed like every wait, virtual on worlds. `check`
    /// returns `true` when the wait is over, or a string saying what it still
    /// waits for (`"2 users (alice, bob)"`), shown whenever it changes.
    /// Returns `#{waited, would_wait, waiting}` (`waiting`: the last string).
    /// Past the timeout it fails (`kind: "Timeout"`) with the last string. In
    /// a dry run it checks once and, if not done, reports "would wait up to
    /// TIMEOUT for WHAT" and returns with `would_wait: true`, so the rest of
    /// the run is planned too.
    ///
    /// ```rhai
    /// let r = wait_until("the hub to have no users", #{ timeout: "15m" }, || {
    ///     let n = 0;
    ///     if n == 0 { true } else { `${n} users` }
    /// });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wait_until(
        ctx: NativeCallContext,
        what: &str,
        options: rhai::Map,
        check: FnPtr,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::super::until::wait_until(&ctx, what, &options, &check)
    }

    /// Waits on the run's clock: `"90s"`, `"15m"`, `"1h30m"` or a number of
    /// seconds. Virtual on worlds (no wall time passes); in a dry run it
    /// records "would wait" and returns.
    ///
    /// ```rhai
    /// sleep("5m");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn sleep(ctx: NativeCallContext, duration: &str) -> Result<(), Box<EvalAltResult>> {
        super::sleep(&ctx, &duration.into())
    }

    /// Waits a number of seconds on the run's clock. (Replaces Rhai's own
    /// `sleep`, which would block in wall time even on a world.)
    ///
    /// ```rhai
    /// sleep(30);
    /// ```
    #[rhai_fn(name = "sleep", return_raw)]
    pub fn sleep_secs(ctx: NativeCallContext, seconds: i64) -> Result<(), Box<EvalAltResult>> {
        super::sleep(&ctx, &seconds.into())
    }

    /// Waits a fractional number of seconds on the run's clock.
    ///
    /// ```rhai
    /// sleep(0.5);
    /// ```
    #[rhai_fn(name = "sleep", return_raw)]
    pub fn sleep_float(ctx: NativeCallContext, seconds: f64) -> Result<(), Box<EvalAltResult>> {
        super::sleep(&ctx, &seconds.into())
    }

    /// The current time on the run's clock (virtual on worlds), RFC 3339.
    ///
    /// ```rhai
    /// log::info(`cutover at ${now()}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn now(ctx: NativeCallContext) -> Result<String, Box<EvalAltResult>> {
        Ok(Run::from_context(&ctx)?.clock().now().to_string())
    }

    /// A count with its noun, plural when it is not one: `plural(1, "user")`
    /// is `1 user`, `plural(3, "user")` is `3 users`. Nouns whose plural is
    /// not `-s` take it as a third argument.
    ///
    /// ```rhai
    /// log::info(`${plural(active.len(), "user")} still active`);
    /// ```
    pub fn plural(n: i64, noun: &str) -> String {
        let many = if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("sh") || noun.ends_with("ch") {
            format!("{noun}es")
        } else {
            format!("{noun}s")
        };
        format!("{n} {}", if n == 1 { noun.to_string() } else { many })
    }

    /// [`plural`] with the plural given: `plural(2, "index", "indices")`.
    ///
    /// ```rhai
    /// print(plural(pvcs.len(), "claim", "claims"));
    /// ```
    #[rhai_fn(name = "plural")]
    pub fn plural_as(n: i64, one: &str, many: &str) -> String {
        format!("{n} {}", if n == 1 { one } else { many })
    }

    /// A list as a person writes it: `names(["alice", "bob", "carol"])` is
    /// `alice, bob and carol`; more than ten end with `and N more`.
    ///
    /// ```rhai
    /// fail(`still logged in: ${names(active.map(|a| a.user))}`);
    /// ```
    pub fn names(items: Array) -> String {
        const SHOWN: usize = 10;
        let all: Vec<String> = items
            .iter()
            .map(|d| d.clone().into_immutable_string().map_or_else(|_| d.to_string(), |s| s.to_string()))
            .collect();
        match all.len() {
            0 => "none".into(),
            1 => all[0].clone(),
            n if n > SHOWN => format!("{} and {} more", all[..SHOWN].join(", "), n - SHOWN),
            n => format!("{} and {}", all[..n - 1].join(", "), all[n - 1]),
        }
    }

    /// A duration in whole seconds: `seconds("15m") == 900`.
    ///
    /// ```rhai
    /// let deadline = timestamp() + seconds(p.timeout);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn seconds(duration: Dynamic) -> Result<i64, Box<EvalAltResult>> {
        let d = super::duration_arg(&duration, "the argument of `seconds`")?;
        Ok(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    /// Seconds since 1970 of an RFC 3339 time such as JupyterHub's
    /// `last_activity` (`"2026-11-21T05:41:12.123456Z"`).
    ///
    /// ```rhai
    /// let idle = timestamp() - parse_time(user.last_activity);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn parse_time(text: &str) -> Result<i64, Box<EvalAltResult>> {
        text.parse::<jiff::Timestamp>()
            .map(jiff::Timestamp::as_second)
            .map_err(|e| script_error("Invalid", &format!("`{text}` is not an RFC 3339 time: {e}")))
    }

    /// The current time on the run's clock, in seconds since 1970.
    ///
    /// ```rhai
    /// let deadline = timestamp() + 900;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn timestamp(ctx: NativeCallContext) -> Result<i64, Box<EvalAltResult>> {
        Ok(Run::from_context(&ctx)?.clock().now().as_second())
    }

    /// Records that the run did something that must be undone before the
    /// site is left (a silenced monitor, a suspended auto-sync): `id`
    /// names it (unique in the run and the runs it resumes), `what` says
    /// what was done, `undo` how a person undoes it. Journaled; until
    /// `undone(id)`, a resume starts owing it and the end of the run names
    /// it on stderr. In a dry run nothing was done: it is journaled as
    /// planned and not owed.
    ///
    /// ```rhai
    /// must_undo("mobu-silence", "mobu flocks silenced: test", "sync Argo CD application `mobu`");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn must_undo(ctx: NativeCallContext, id: &str, what: &str, undo: &str) -> Result<(), Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        if id.trim().is_empty() {
            return Err(script_error("Invalid", "`must_undo` needs an id"));
        }
        run.must_undo(id, what, undo);
        Ok(())
    }

    /// Records that what `must_undo(id, ..)` recorded was undone. Returns
    /// whether it was owed (false: nothing by that id was, nothing is
    /// journaled).
    ///
    /// ```rhai
    /// undone("mobu-silence");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn undone(ctx: NativeCallContext, id: &str) -> Result<bool, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        Ok(run.undone(id))
    }

    /// What the run owes, including what the runs it resumes left owed:
    /// `[#{id, what, undo}]`, by id.
    ///
    /// ```rhai
    /// for owed in pending_undo() { log::warn(`still to undo: ${owed.what}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn pending_undo(ctx: NativeCallContext) -> Result<Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        Ok(run
            .owed()
            .into_iter()
            .map(|(id, owed)| {
                let mut map = rhai::Map::new();
                map.insert("id".into(), id.into());
                map.insert("what".into(), owed.what.into());
                map.insert("undo".into(), owed.undo.into());
                Dynamic::from_map(map)
            })
            .collect())
    }

    /// Calls `f` on every item with at most `limit` calls in flight and
    /// returns the results in input order. The first failing item (in input
    /// order) is reported with the item; items not yet started are skipped,
    /// those in flight finish.
    ///
    /// ```rhai
    /// let sizes = parallel(["alice", "bob"], 4, |user| user.len());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn parallel(ctx: NativeCallContext, items: Array, limit: i64, f: FnPtr) -> Result<Array, Box<EvalAltResult>> {
        super::parallel(&ctx, &super::Items::Fixed(items), limit, &f)
    }

    /// Items found while they are worked on (`homes::changes` makes one).
    pub type Feed = super::Feed;

    /// `parallel` over a feed: each item is taken as it comes, while what
    /// makes the feed goes on finding more, and the results are in the
    /// order the items came. It returns when the feed has ended and every
    /// item is done; how the feed ended is `feed.wait()`'s.
    ///
    /// ```rhai
    /// let found = homes::changes(from, since, []);
    /// let results = parallel(found, 16, |user| homes::copy(from, to, user));
    /// ```
    #[rhai_fn(name = "parallel", return_raw)]
    pub fn parallel_feed(
        ctx: NativeCallContext,
        items: Feed,
        limit: i64,
        f: FnPtr,
    ) -> Result<Array, Box<EvalAltResult>> {
        super::parallel(&ctx, &super::Items::Fed(items), limit, &f)
    }

    /// Waits for a feed to end and says how: `#{items, error}`, `error`
    /// being `()` when everything was found, else the error that stopped
    /// the search (a map with `kind` and `message`, as `catch` gives).
    ///
    /// ```rhai
    /// let how = found.wait();
    /// if how.error != () { log::warn(`the search stopped: ${how.error.message}`); }
    /// ```
    #[rhai_fn(global, name = "wait", return_raw)]
    pub fn feed_wait(ctx: NativeCallContext, feed: &mut Feed) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let (items, error) = feed.wait(&run.cancel).ok_or_else(|| script_error("Interrupted", "interrupted"))?;
        let mut map = rhai::Map::new();
        map.insert("items".into(), items.into());
        map.insert("error".into(), error.unwrap_or(Dynamic::UNIT));
        Ok(map)
    }
}

/// What `parallel` works through.
enum Items {
    /// An array: every item known.
    Fixed(Array),
    /// A feed: items as they come.
    Fed(Feed),
}

impl Items {
    /// How many items there are, when that is known already.
    fn known(&self) -> Option<usize> {
        match self {
            Self::Fixed(items) => Some(items.len()),
            Self::Fed(feed) => feed.len_if_ended(),
        }
    }

    /// Item `i`, waiting for it to come; `None` when there is none, or
    /// when `give_up` says so first.
    fn take(&self, i: usize, give_up: impl Fn() -> bool) -> Option<Dynamic> {
        match self {
            Self::Fixed(items) => items.get(i).cloned(),
            Self::Fed(feed) => feed.get(i, give_up),
        }
    }

    /// Item `i`, if it has come (for messages).
    fn seen(&self, i: usize) -> Dynamic {
        match self {
            Self::Fixed(items) => items.get(i).cloned(),
            Self::Fed(feed) => feed.peek(i),
        }
        .unwrap_or(Dynamic::UNIT)
    }
}

#[export_module]
pub(crate) mod log {
    /// Logs a message: shown on stderr and kept in the journal.
    ///
    /// ```rhai
    /// log::info("blue has 0 active users");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn info(ctx: NativeCallContext, message: &str) -> Result<(), Box<EvalAltResult>> {
        super::log(&ctx, "info", message)
    }

    /// Logs a warning: shown on stderr (even with -q) and kept in the journal.
    ///
    /// ```rhai
    /// log::warn("green has no users yet");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn warn(ctx: NativeCallContext, message: &str) -> Result<(), Box<EvalAltResult>> {
        super::log(&ctx, "warn", message)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn params_values(ctx: &NativeCallContext) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let values = lock(&run.params)
        .take()
        .ok_or_else(|| script_error("Script", "`params` can be called only once, at the top of the runbook"))?;
    let dynamic = rhai::serde::to_dynamic(&values.by_name)?;
    dynamic.try_cast::<rhai::Map>().ok_or_else(|| script_error("Script", "parameter values are not a map"))
}

/// A one-line message for an error, for the journal.
pub(crate) fn short_message(err: &EvalAltResult) -> String {
    Diagnostic::from_eval(&Sources::default(), "", err).message
}

fn run_step(ctx: &NativeCallContext, name: &str, body: &FnPtr, rollback: Option<FnPtr>) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let index = lock(&run.steps).begin(name).ok_or_else(|| {
        script_error("Script", &format!("step `{name}` is declared twice; step names must be unique within a run"))
    })?;
    crate::crash::point("step-start", index);
    let clock_start = run.clock().now();
    run.record(&Event::StepStart { step: name.into(), index, at: clock_start.to_string() });
    lock(&run.forecast).step_started(name);
    let rollback = rollback.map(|f| crate::run::Rollback {
        f,
        imports: ctx.global_runtime_state().scan_imports_raw().map(|(n, m)| (n.clone(), m.clone())).collect(),
        libs: ctx.global_runtime_state().lib.iter().cloned().collect(),
    });
    if let Some(done) = run.resumed.as_ref().and_then(|r| r.steps.get(name).map(|v| (r.from.clone(), v.clone()))) {
        let (from, result) = done;
        run.printer().status(Tone::Progress, "Skipping", &format!("{index} {name} (finished in run {from})"));
        run.record(&Event::StepEnd {
            step: name.into(),
            index,
            status: "resumed".into(),
            duration_ms: 0,
            clock_ms: run.clock().is_virtual().then_some(0),
            result: result.clone(),
            error: None,
            at: Some(run.clock().now().to_string()),
        });
        lock(&run.steps).complete(name, rollback);
        return result.map_or(Ok(Dynamic::UNIT), rhai::serde::to_dynamic);
    }
    run.printer().status(Tone::Progress, "Step", &format!("{index} {name}"));
    let started = Instant::now();
    let result = body.call_within_context::<Dynamic>(ctx, ());
    lock(&run.steps).end(name);
    let duration_ms = started.elapsed().as_millis() as u64;
    let took = std::time::Duration::try_from(run.clock().now().duration_since(clock_start)).unwrap_or_default();
    let clock_ms = run.clock().is_virtual().then_some(took.as_millis() as u64);
    lock(&run.forecast).step_ended(index, name, took, result.is_ok());
    match result {
        Ok(value) => {
            let json = if value.is_unit() {
                None
            } else {
                Some(
                    rhai::serde::from_dynamic::<serde_json::Value>(&value).unwrap_or_else(|_| value.to_string().into()),
                )
            };
            run.record(&Event::StepEnd {
                step: name.into(),
                index,
                status: "ok".into(),
                duration_ms,
                clock_ms,
                result: json,
                error: None,
                at: Some(run.clock().now().to_string()),
            });
            lock(&run.steps).complete(name, rollback);
            crate::crash::point("step-end", index);
            Ok(value)
        }
        Err(err) => {
            let error = Some(run.redactor().redact(&short_message(&err)));
            run.record(&Event::StepEnd {
                step: name.into(),
                index,
                status: "failed".into(),
                duration_ms,
                clock_ms,
                result: None,
                error,
                at: Some(run.clock().now().to_string()),
            });
            Err(err)
        }
    }
}

fn open_window(ctx: &NativeCallContext, name: &str) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let now = run.clock().now();
    lock(&run.forecast).open(name, now).map_err(|e| script_error("Script", &e.to_string()))?;
    run.record(&Event::Window {
        name: name.into(),
        phase: "open".into(),
        at: now.to_string(),
        status: None,
        clock_ms: None,
        from: None,
        to: None,
    });
    Ok(())
}

fn close_window(ctx: &NativeCallContext, name: &str, failed: bool) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.close_window(name, failed).map_err(|e| script_error("Script", &e.to_string()))
}

fn confirm(ctx: &NativeCallContext, question: &str) -> ScriptResult<bool> {
    let run = Run::from_context(ctx)?;
    let question = run.redactor().redact(question);
    run.confirm(&question)
}

fn acknowledge(ctx: &NativeCallContext, name: &str, text: &str) -> ScriptResult<bool> {
    let run = Run::from_context(ctx)?;
    let simple = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !simple {
        return Err(script_error(
            "Invalid",
            &format!("`{name}` cannot name an acknowledgement: use lowercase letters, digits and `-` (it is passed as --ack NAME)"),
        ));
    }
    let text = run.redactor().redact(text);
    run.acknowledge(name, &text)
}

fn sleep(ctx: &NativeCallContext, duration: &Dynamic) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    run.pause(duration_arg(duration, "the duration of `sleep`")?)
}

fn log(ctx: &NativeCallContext, level: &str, message: &str) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    let message = run.redactor().redact(message);
    run.record(&Event::Log { level: level.into(), message: message.clone() });
    if level == "warn" {
        run.printer().warn(&message);
    } else {
        run.printer().status(Tone::Progress, "Info", &message);
    }
    Ok(())
}

fn parallel(ctx: &NativeCallContext, items: &Items, limit: i64, f: &FnPtr) -> ScriptResult<Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let Ok(limit) = usize::try_from(limit) else {
        return Err(script_error("Invalid", "the limit of `parallel` must be at least 1"));
    };
    if limit == 0 {
        return Err(script_error("Invalid", "the limit of `parallel` must be at least 1"));
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // By item, as many as were taken.
    let results: Mutex<Vec<Option<ScriptResult<Dynamic>>>> = Mutex::new(Vec::new());
    let (engine, fn_name, source, pos) = (ctx.engine(), ctx.fn_name(), ctx.fn_source(), ctx.call_position());
    let global = ctx.global_runtime_state();
    // On a virtual clock the workers take turns (see `clock`), so a
    // rehearsal under `parallel` gives the same journal every time.
    let workers = run.clock().workers(items.known().map_or(limit, |n| limit.min(n)));
    std::thread::scope(|scope| {
        for &ticket in &workers.tickets {
            let worker_global = global.clone();
            // Each worker gets its own copy of what the closure captured.
            // Captured variables are shared cells, and calling a method on
            // one (`ec2.snapshot(id)`) write-locks it for the whole call, so
            // workers sharing a handle would fail with "data race detected".
            let mut f = f.clone();
            for captured in f.iter_curry_mut() {
                *captured = captured.flatten_clone();
            }
            let (next, stop, results, run, workers) = (&next, &stop, &results, &run, &workers);
            let spawned = std::thread::Builder::new().stack_size(8 << 20).spawn_scoped(scope, move || {
                if workers.start(ticket, &run.cancel).is_ok() {
                    loop {
                        if stop.load(Ordering::SeqCst) || run.cancel.is_cancelled() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        // A wait for the next item ends when another one failed.
                        let give_up = || stop.load(Ordering::SeqCst) || run.cancel.is_cancelled();
                        let Some(item) = items.take(i, give_up) else { break };
                        {
                            let mut slots = lock(results);
                            if slots.len() <= i {
                                slots.resize_with(i + 1, || None);
                            }
                        }
                        let call = NativeCallContext::new_with_all_fields(engine, fn_name, source, &worker_global, pos);
                        let outcome = f.call_raw(&call, None, [item]);
                        if outcome.is_err() {
                            stop.store(true, Ordering::SeqCst);
                        }
                        lock(results)[i] = Some(outcome);
                    }
                }
                workers.finish(ticket);
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a parallel worker: {e}");
                stop.store(true, Ordering::SeqCst);
                workers.finish(ticket);
            }
        }
    });
    workers.resume(&run.cancel).map_err(|_| script_error("Interrupted", "interrupted"))?;
    let mut results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if items.known().is_none() && !stop.load(Ordering::SeqCst) {
        // Only Ctrl-C ends the workers before the feed ends.
        run.check_cancelled()?;
    }
    // Items that came but were not taken (the run stopped first) count as
    // not run; so does an array's tail.
    let n = items.known().unwrap_or(results.len()).max(results.len());
    results.resize_with(n, || None);
    let skipped = results.iter().filter(|r| r.is_none()).count();
    let mut out = Array::with_capacity(n);
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Some(Ok(value)) => out.push(value),
            Some(Err(err)) => return Err(item_error(i, &items.seen(i), &err, skipped)),
            None => {}
        }
    }
    if out.len() < n {
        run.check_cancelled()?;
        return Err(script_error("Failed", &format!("parallel: {skipped} of {n} items did not run")));
    }
    Ok(out)
}

fn item_error(index: usize, item: &Dynamic, err: &EvalAltResult, skipped: usize) -> Box<EvalAltResult> {
    let diag = Diagnostic::from_eval(&Sources::default(), "", err);
    let mut map = super::error_map(&diag.kind, &format!("parallel: item {index} (`{item}`) failed: {}", diag.message));
    let mut causes: Array = diag.causes.iter().map(|c| Dynamic::from(c.clone())).collect();
    if skipped > 0 {
        causes.push(Dynamic::from(format!("{skipped} items not yet started were skipped")));
    }
    map.insert("causes".into(), causes.into());
    map.insert("item".into(), item.clone());
    map.insert("index".into(), (index as i64).into());
    Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))
}
