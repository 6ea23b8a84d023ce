//! `wait`: until an object meets a condition, with a timeout (default
//! [`DEFAULT_TIMEOUT`]), through the run's one wait path (`Run::wait`:
//! journaled, printed, on the run's clock, "would wait" in a dry run). The
//! backend's [`Watch`](crate::backends::k8s::watch::Watch) does the looking:
//! live it watches the object (the API server pushes each change); on a
//! world it says when the cluster's next scheduled change is, so virtual
//! time jumps there.
//!
//! Each look runs when the run calls the poll, before it blocks on the
//! returned future: the condition may be a script closure, and a closure
//! may call bindings, which must not be called from inside the runtime.

use std::cell::RefCell;
use std::time::Duration;

use rhai::{Dynamic, FnPtr, NativeCallContext};
use serde_json::Value;

use super::cluster::{scoped, to_dynamic, Cluster};
use crate::backends::k8s::condition::Condition;
use crate::backends::k8s::Error;
use crate::run::{Poll, Run, Wait, WaitError, Waited};
use crate::script::{script_error, ScriptResult};

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

/// What holds an object that was deleted but is still there: its phase
/// and finalizers (`metadata.finalizers`, then a namespace's
/// `spec.finalizers`); `None` when it is not being deleted.
fn held(obj: &Value) -> Option<(String, Vec<String>)> {
    obj.pointer("/metadata/deletionTimestamp")?;
    let names = |p: &str| -> Vec<String> {
        obj.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let mut finalizers = names("/metadata/finalizers");
    finalizers.extend(names("/spec/finalizers"));
    let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("being deleted").to_string();
    Some((phase, finalizers))
}

/// Waits; returns the object as it was when the condition held (`()` once
/// deleted). In a dry run it looks once: the object as it is now.
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
    let spec = Wait::new(format!("{what} {goal}"), timeout)
        .label(format!("for {what} to be {goal}"))
        .journal(format!("k8s/{} {what} to be {goal}", c.context()))
        .announce();
    let watch = RefCell::new(crate::backends::k8s::watch::Watch::new(&c.0, &kind, &ns, name));
    let seen: RefCell<Option<Value>> = RefCell::new(None);
    let look = |within: Duration| -> ScriptResult<Poll<Option<Value>>> {
        let look = run.block_on(watch.borrow_mut().look(within))?.map_err(|e| run.fail(&e))?;
        seen.replace(look.object.clone());
        if until.met(ctx, look.object.as_ref())? {
            return Ok(Poll::Done(look.object));
        }
        Ok(Poll::waiting(None, look.again))
    };
    let found = |obj: Option<Value>| obj.map_or(Dynamic::UNIT, |o| to_dynamic(&o));
    match run.wait(&spec, |within| std::future::ready(look(within))) {
        Ok(Waited::Done { value, .. }) => Ok(found(value)),
        Ok(Waited::WouldWait { .. }) => Ok(found(seen.take())),
        Err(WaitError::Failed(e)) => Err(e),
        Err(WaitError::Timeout { .. }) => {
            let after = crate::duration::format(timeout);
            let deleting = matches!(until, Until::Named(Condition::Deleted));
            match seen.take().filter(|_| deleting).and_then(|obj| held(&obj)) {
                Some((phase, finalizers)) => Err(run.fail(&Error::StillTerminating { what, phase, finalizers, after })),
                None => Err(run.fail(&Error::Timeout { what, condition: goal, after })),
            }
        }
        Err(WaitError::Interrupted) => Err(script_error("Interrupted", "interrupted")),
        Err(WaitError::Stopped(why)) => Err(script_error("Runaway", &why)),
    }
}
