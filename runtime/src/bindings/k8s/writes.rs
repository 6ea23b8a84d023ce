//! Writes, every one handed to the effects gate as one change: the gate's
//! check closure sends the same request with `dryRun=All` (the API server
//! validates it and runs admission, nothing is stored; on a world, the
//! change is made on a copy), its apply closure makes it.
//!
//! A refused write reaches the script with the API's `kind` (`NotFound`,
//! `Conflict`, `Forbidden`, `Invalid`, ...) and the gate's verdict in `gate`
//! (`Refused`, or `WouldFail` in a dry run).

use std::cell::{Cell, RefCell};

use rhai::EvalAltResult;
use serde_json::Value;

use super::cluster::{fail, scoped, Cluster};
use crate::backends::k8s::kinds;
use crate::backends::k8s::{name_of, namespace_of, DeleteOptions, Error, PatchType, ResourceKind, Selector};
use crate::bindings::{script_error, ScriptResult};
use crate::effects::{Change, Permit};
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Hands one change to the gate. `op(permit, dry_run)` makes it, or with
/// `dry_run` only has it validated. Returns what the system answered (in a
/// dry run: its answer to the check, the would-be result).
pub(crate) fn mutate<T>(run: &Run, change: Change, op: impl Fn(&Permit, bool) -> Result<T, Error>) -> ScriptResult<T> {
    let planned: RefCell<Option<T>> = RefCell::new(None);
    let failed: Cell<Option<&'static str>> = Cell::new(None);
    let boxed = |e: Error| {
        failed.set(Some(e.kind()));
        Box::new(e) as BoxError
    };
    let check = |p: &Permit| -> Result<(), BoxError> {
        let value = op(p, true).map_err(boxed)?;
        *planned.borrow_mut() = Some(value);
        Ok(())
    };
    let apply = |p: &Permit| op(p, false).map_err(boxed);
    match run.change_legacy(change, check, apply) {
        Ok(Outcome::Applied(value)) => Ok(value),
        Ok(Outcome::Planned) => {
            planned.take().ok_or_else(|| script_error("Internal", "a planned change has no answer"))
        }
        Err(err) => Err(retag(err, failed.get())),
    }
}

pub(crate) fn retag(err: Box<EvalAltResult>, kind: Option<&'static str>) -> Box<EvalAltResult> {
    let Some(kind) = kind else { return err };
    match *err {
        EvalAltResult::ErrorRuntime(value, pos) if value.is_map() => {
            let mut map = value.cast::<rhai::Map>();
            if let Some(gate) = map.insert("kind".into(), kind.into()) {
                map.insert("gate".into(), gate);
            }
            Box::new(EvalAltResult::ErrorRuntime(map.into(), pos))
        }
        other => Box::new(other),
    }
}

fn interrupted(_: Box<EvalAltResult>) -> Error {
    Error::Client { message: "interrupted".into(), source: None }
}

/// The kind of a manifest, on this cluster.
fn kind_of_manifest(run: &Run, c: &Cluster, obj: &Value) -> ScriptResult<ResourceKind> {
    if !obj.is_object() {
        return Err(script_error("Invalid", "a manifest is a map with `apiVersion`, `kind` and `metadata`"));
    }
    let (Some(kind), Some(api_version)) =
        (obj.get("kind").and_then(Value::as_str), obj.get("apiVersion").and_then(Value::as_str))
    else {
        return Err(script_error("Invalid", "the manifest has no `apiVersion` or `kind`"));
    };
    if name_of(obj).is_none() {
        return Err(script_error("Invalid", &format!("the {kind} manifest has no `metadata.name`")));
    }
    if let Some(found) = kinds::builtin_of_object(obj) {
        return Ok(found);
    }
    match &c.live {
        Some(live) => {
            let group = kinds::group_of(api_version);
            let version = api_version.rsplit('/').next().unwrap_or(api_version);
            let text = if group.is_empty() {
                kind.to_ascii_lowercase()
            } else {
                format!("{}.{version}.{group}", kind.to_ascii_lowercase())
            };
            run.block_on(live.resolve(&text))?.map_err(|e| fail(run, &e))
        }
        None => c.world(run, |w, _| w.kind_of_object(obj)),
    }
}

fn manifest_namespace(c: &Cluster, kind: &ResourceKind, obj: &Value) -> String {
    if kind.namespaced {
        namespace_of(obj).map_or_else(|| c.default_namespace.clone(), String::from)
    } else {
        String::new()
    }
}

/// Server-side apply (`create` when `create` is true) of one manifest.
pub(crate) fn apply_one(run: &Run, c: &Cluster, obj: &Value, create: bool) -> ScriptResult<Value> {
    let kind = kind_of_manifest(run, c, obj)?;
    let ns = manifest_namespace(c, &kind, obj);
    let name = name_of(obj).unwrap_or_default();
    let verb = if create { "create" } else { "apply" };
    let change = Change::new(c.system(), verb, kind.describe(&ns, name)).before_after(None, Some(shown(&kind, obj)));
    mutate(run, change, |p, dry| match (&c.live, create) {
        (Some(live), false) => run.block_on(live.apply(p, &kind, &ns, obj, dry)).map_err(interrupted)?,
        (Some(live), true) => run.block_on(live.create(p, &kind, &ns, obj, dry)).map_err(interrupted)?,
        (None, _) => c.world_raw(run, |w, _| {
            let mut copy;
            let target = if dry {
                copy = w.clone();
                &mut copy
            } else {
                w
            };
            if create {
                target.create(p, &kind, &ns, obj)
            } else {
                target.apply(p, &kind, &ns, obj)
            }
        }),
    })
}

/// A manifest as the plan and journal show it: a Secret's values are
/// replaced by `<redacted>`.
fn shown(kind: &ResourceKind, obj: &Value) -> Value {
    let mut obj = obj.clone();
    if kind.group.is_empty() && kind.kind == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = obj.get_mut(field) {
                for value in values.values_mut() {
                    *value = Value::from("<redacted>");
                }
            }
        }
    }
    obj
}

/// Patches one object.
pub(crate) fn patch(
    run: &Run,
    c: &Cluster,
    (kind, ns, name): (&str, &str, &str),
    doc: &Value,
    how: PatchType,
) -> ScriptResult<Value> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    let change = Change::new(c.system(), "patch", kind.describe(&ns, name)).before_after(None, Some(doc.clone()));
    mutate(run, change, |p, dry| match &c.live {
        Some(live) => run.block_on(live.patch(p, &kind, &ns, name, doc, how, dry)).map_err(interrupted)?,
        None => c.world_raw(run, |w, _| {
            if dry {
                w.clone().patch(p, &kind, &ns, name, doc, how)
            } else {
                w.patch(p, &kind, &ns, name, doc, how)
            }
        }),
    })
}

/// Sets the replicas of a `Deployment`, `StatefulSet`, `ReplicaSet`, ...
pub(crate) fn scale(
    run: &Run,
    c: &Cluster,
    (kind, ns, name): (&str, &str, &str),
    replicas: i64,
) -> ScriptResult<Value> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    if replicas < 0 {
        return Err(script_error("Invalid", "replicas must not be negative"));
    }
    let change = Change::new(c.system(), "scale", kind.describe(&ns, name)).before_after(None, Some(replicas.into()));
    mutate(run, change, |p, dry| match &c.live {
        Some(live) => run.block_on(live.scale(p, &kind, &ns, name, replicas, dry)).map_err(interrupted)?,
        None => c.world_raw(run, |w, _| {
            if dry {
                w.clone().scale(p, &kind, &ns, name, replicas)
            } else {
                w.scale(p, &kind, &ns, name, replicas)
            }
        }),
    })
}

/// Deletes one object. `Ok(false)`: it was not there and `ignore_not_found`.
pub(crate) fn delete(
    run: &Run,
    c: &Cluster,
    (kind, ns, name): (&ResourceKind, &str, &str),
    options: &DeleteOptions,
    ignore_not_found: bool,
) -> ScriptResult<bool> {
    // Absent and allowed to be: nothing to change, so nothing for the plan.
    if ignore_not_found && super::reads::get_opt(run, c, &kind.plural_query(), ns, name)?.is_none() {
        return Ok(false);
    }
    let mut change = Change::new(c.system(), "delete", kind.describe(ns, name));
    if kind.delete_is_destructive() {
        change = change.destructive();
    }
    let result = mutate(run, change, |p, dry| match &c.live {
        Some(live) => run.block_on(live.delete(p, kind, ns, name, options, dry)).map_err(interrupted)?.map(|_| ()),
        None => c.world_raw(run, |w, _| {
            if dry { w.clone().delete(p, kind, ns, name, options) } else { w.delete(p, kind, ns, name, options) }
                .map(|_| ())
        }),
    });
    match result {
        Ok(()) => Ok(true),
        Err(e) if ignore_not_found && kind_of(&e) == Some("NotFound".into()) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) use crate::bindings::error::kind_of;

/// Deletes every selected object of a kind; returns their names.
pub(crate) fn delete_all(
    run: &Run,
    c: &Cluster,
    kind: &str,
    ns: &str,
    selector: &Selector,
) -> ScriptResult<Vec<String>> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    let mut what = format!("{} in {}", kind.plural, if ns.is_empty() { "the cluster" } else { &ns });
    if let Some(labels) = &selector.labels {
        what.push_str(&format!(" -l {labels}"));
    }
    if let Some(fields) = &selector.fields {
        what.push_str(&format!(" --field-selector {fields}"));
    }
    let mut change = Change::new(c.system(), "delete all", what);
    if kind.delete_is_destructive() {
        change = change.destructive();
    }
    mutate(run, change, |p, dry| match &c.live {
        Some(live) => run.block_on(live.delete_all(p, &kind, &ns, selector, dry)).map_err(interrupted)?,
        None => c.world_raw(run, |w, _| {
            if dry {
                w.clone().delete_all(p, &kind, &ns, selector)
            } else {
                w.delete_all(p, &kind, &ns, selector)
            }
        }),
    })
}
