//! `wait`: until an object meets a condition, with a timeout (default
//! [`DEFAULT_TIMEOUT`]). Live, it watches the object (one `watch` request,
//! the API server pushes each change); on a world, it advances virtual time
//! to each scheduled change of the cluster until the condition holds or the
//! timeout passes. In a dry run it checks once and reports "would wait".

use std::time::{Duration, Instant};

use futures::StreamExt;
use rhai::{Dynamic, FnPtr, NativeCallContext};
use serde_json::Value;

use super::cluster::{fail, scoped, to_dynamic, Cluster};
use crate::backends::k8s::condition::Condition;
use crate::backends::k8s::live::LiveCluster;
use crate::backends::k8s::{Error, ResourceKind};
use crate::bindings::{script_error, ScriptResult};
use crate::journal::Event;
use crate::output::Tone;
use crate::run::Run;

/// How long a wait waits unless told otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_mins(5);

/// A condition written in Rust, over the object as last seen.
pub(crate) type Test = Box<dyn Fn(Option<&Value>) -> bool>;

/// A condition as a script gives it: a name or a closure over the object.
pub(crate) enum Until {
    Named(Condition),
    Closure(FnPtr),
    /// A test written in Rust by a family built on this wait (Argo CD's),
    /// and how it reads in messages.
    Check(Test, String),
}

impl Until {
    pub(crate) fn from_dynamic(value: &Dynamic) -> ScriptResult<Self> {
        if let Some(f) = value.clone().try_cast::<FnPtr>() {
            return Ok(Self::Closure(f));
        }
        let text = value.clone().into_immutable_string().map_err(|t| {
            script_error("Invalid", &format!("a wait condition is a string such as \"Ready\" or a closure, not {t}"))
        })?;
        Condition::parse(&text).map(Self::Named).map_err(|e| script_error("Invalid", &e.to_string()))
    }

    fn describe(&self) -> String {
        match self {
            Self::Named(c) => c.to_string(),
            Self::Closure(_) => "as the closure wants".into(),
            Self::Check(_, goal) => goal.clone(),
        }
    }

    fn met(&self, ctx: &NativeCallContext, obj: Option<&Value>) -> ScriptResult<bool> {
        match self {
            Self::Named(c) => Ok(c.met(obj)),
            Self::Closure(f) => {
                let arg = obj.map_or(Dynamic::UNIT, to_dynamic);
                f.call_within_context::<bool>(ctx, (arg,))
            }
            Self::Check(f, _) => Ok(f(obj)),
        }
    }
}

fn current(run: &Run, c: &Cluster, kind: &ResourceKind, ns: &str, name: &str) -> ScriptResult<Option<Value>> {
    match &c.live {
        Some(live) => run.block_on(live.get_opt(kind, ns, name))?.map_err(|e| fail(run, &e)),
        None => c.world(run, |w, _| match w.get(kind, ns, name) {
            Ok(o) => Ok(Some(o)),
            Err(Error::Api { code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }),
    }
}

/// Waits; returns the object as it was when the condition held (`()` once
/// deleted).
pub(crate) fn wait(
    ctx: &NativeCallContext,
    run: &Run,
    c: &Cluster,
    (kind, ns, name): (&str, &str, &str),
    until: &Until,
    timeout: Duration,
) -> ScriptResult<Dynamic> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    let what = kind.describe(&ns, name);
    let goal = until.describe();
    let label = format!("{what} to be {goal}");
    let virtual_time = run.clock().is_virtual();
    let record = |outcome: &str, waited: Duration| {
        run.record(&Event::Wait {
            what: format!("k8s/{} {label}", c.context),
            duration_ms: waited.as_millis() as u64,
            outcome: outcome.into(),
            virtual_time,
        });
    };
    let found = |obj: Option<Value>| Ok(obj.map_or(Dynamic::UNIT, |o| to_dynamic(&o)));
    let now = current(run, c, &kind, &ns, name)?;
    if until.met(ctx, now.as_ref())? {
        record("done", Duration::ZERO);
        return found(now);
    }
    if run.dry_run() {
        record("would_wait", Duration::ZERO);
        run.printer().status(
            Tone::Plan,
            "Would wait",
            &format!("for {label} (timeout {})", crate::duration::format(timeout)),
        );
        return found(now);
    }
    run.printer().status(
        Tone::Progress,
        "Waiting",
        &format!("for {label} (timeout {})", crate::duration::format(timeout)),
    );
    let target = Target { kind: &kind, ns: &ns, name };
    let outcome = match &c.live {
        None => wait_world(ctx, run, c, &target, until, timeout)?,
        Some(live) => wait_live(ctx, run, live, &target, until, timeout)?,
    };
    match outcome {
        Waited::Met(obj, waited) => {
            record("done", waited);
            let note = if virtual_time { " (virtual time)" } else { "" };
            run.printer().status(
                Tone::Progress,
                "Waited",
                &format!("{} for {label}{note}", crate::duration::format(waited)),
            );
            found(obj)
        }
        Waited::TimedOut(waited) => {
            record("timeout", waited);
            Err(fail(run, &Error::Timeout { what, condition: goal, after: crate::duration::format(timeout) }))
        }
    }
}

struct Target<'a> {
    kind: &'a ResourceKind,
    ns: &'a str,
    name: &'a str,
}

enum Waited {
    Met(Option<Value>, Duration),
    TimedOut(Duration),
}

/// Advances virtual time from one scheduled change of the cluster to the
/// next until the condition holds or the timeout passes.
fn wait_world(
    ctx: &NativeCallContext,
    run: &Run,
    c: &Cluster,
    t: &Target<'_>,
    until: &Until,
    timeout: Duration,
) -> ScriptResult<Waited> {
    let mut waited = Duration::ZERO;
    loop {
        let next = c.world(run, |w, _| Ok(w.next_event()))?;
        let elapsed = Duration::try_from(run.clock().now().duration_since(world_start(run))).unwrap_or_default();
        let step = match next {
            Some(at) if at.saturating_sub(elapsed) <= timeout.saturating_sub(waited) => at.saturating_sub(elapsed),
            _ => {
                sleep(run, timeout.saturating_sub(waited))?;
                return Ok(Waited::TimedOut(timeout));
            }
        };
        sleep(run, step)?;
        waited += step;
        let obj = current(run, c, t.kind, t.ns, t.name)?;
        if until.met(ctx, obj.as_ref())? {
            return Ok(Waited::Met(obj, waited));
        }
    }
}

/// Watches the object (the API server pushes each change) until the
/// condition holds or the timeout passes.
fn wait_live(
    ctx: &NativeCallContext,
    run: &Run,
    live: &LiveCluster,
    t: &Target<'_>,
    until: &Until,
    timeout: Duration,
) -> ScriptResult<Waited> {
    let started = Instant::now();
    let mut stream = live.watch(t.kind, t.ns, t.name);
    loop {
        let remaining = timeout.saturating_sub(started.elapsed());
        let next = run.block_on(async { tokio::time::timeout(remaining, stream.next()).await })?;
        match next {
            Err(_) => return Ok(Waited::TimedOut(started.elapsed())),
            Ok(None) => {
                let what = t.kind.describe(t.ns, t.name);
                return Err(fail(run, &Error::Client { message: format!("the watch of {what} ended"), source: None }));
            }
            Ok(Some(Err(e))) => return Err(fail(run, &e)),
            Ok(Some(Ok(obj))) => {
                if until.met(ctx, obj.as_ref())? {
                    return Ok(Waited::Met(obj, started.elapsed()));
                }
            }
        }
    }
}

fn world_start(run: &Run) -> jiff::Timestamp {
    run.world()
        .map_or_else(|| run.clock().now(), |w| w.lock().unwrap_or_else(std::sync::PoisonError::into_inner).start())
}

fn sleep(run: &Run, d: Duration) -> ScriptResult<()> {
    run.clock().sleep(d, &run.cancel, |_| {}).map_err(|_| script_error("Interrupted", "interrupted"))
}
