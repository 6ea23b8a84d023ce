//! Writes, every one handed to the effects gate as one change with one
//! closure: the cluster's backend makes it, or under the gate's
//! `Permit::Check` has it validated (`dryRun=All` live: the API server
//! validates it and runs admission, nothing is stored; on a world, on a
//! copy of the cluster).
//!
//! A refused write reaches the script with the API's `kind` (`NotFound`,
//! `Conflict`, `Forbidden`, `Invalid`, ...) and the gate's verdict in `gate`
//! (`Refused`, or `WouldFail` in a dry run).

use serde_json::Value;

use super::cluster::{scoped, Cluster};
use crate::backends::k8s::{name_of, namespace_of, DeleteOptions, PatchType, ResourceKind, Selector};
use crate::bindings::{script_error, ScriptResult};
use crate::effects::{Outcome, Permit};
use crate::run::Run;
use crate::script as error;

/// The kind of a manifest, on this cluster.
fn kind_of_manifest(run: &Run, c: &Cluster, obj: &Value) -> ScriptResult<ResourceKind> {
    if !obj.is_object() {
        return Err(script_error("Invalid", "a manifest is a map with `apiVersion`, `kind` and `metadata`"));
    }
    let (Some(kind), Some(_)) =
        (obj.get("kind").and_then(Value::as_str), obj.get("apiVersion").and_then(Value::as_str))
    else {
        return Err(script_error("Invalid", "the manifest has no `apiVersion` or `kind`"));
    };
    if name_of(obj).is_none() {
        return Err(script_error("Invalid", &format!("the {kind} manifest has no `metadata.name`")));
    }
    c.read(run, async |k| k.kind_of_manifest(obj).await)
}

/// Server-side apply (`create` when `create` is true) of one manifest.
/// Returns the object as stored (in a dry run: as it would be).
pub(crate) fn apply_one(run: &Run, c: &Cluster, obj: &Value, create: bool) -> ScriptResult<Value> {
    let kind = kind_of_manifest(run, c, obj)?;
    let ns = if kind.namespaced {
        namespace_of(obj).map_or_else(|| c.0.default_namespace().to_string(), String::from)
    } else {
        String::new()
    };
    let name = name_of(obj).unwrap_or_default();
    let verb = if create { "create" } else { "apply" };
    // What the plan compares the manifest with: the object as it is, in
    // the fields the manifest sets (an apply leaves the others alone).
    let before = if create { None } else { current(run, c, &kind, &ns, name).map(|live| project(&live, obj)) };
    let change = c
        .change(verb, kind.describe(&ns, name), &ns)
        .before_after(before.map(|b| shown(&kind, &b)), Some(shown(&kind, obj)));
    let outcome = if create {
        run.change(change, async |p: &Permit| c.0.create(p, &kind, &ns, obj).await)?
    } else {
        run.change(change, async |p: &Permit| c.0.apply(p, &kind, &ns, obj).await)?
    };
    Ok(outcome.into_inner())
}

/// The object as it is now, for the plan; `None` when it is not there or
/// cannot be read (the change itself then says why, if it fails).
fn current(run: &Run, c: &Cluster, kind: &ResourceKind, ns: &str, name: &str) -> Option<Value> {
    c.read(run, async |k| k.get_opt(kind, ns, name).await).ok().flatten()
}

/// `live` cut down to the paths `shape` has.
fn project(live: &Value, shape: &Value) -> Value {
    match (live, shape) {
        (Value::Object(l), Value::Object(s)) => {
            Value::Object(s.keys().filter_map(|k| Some((k.clone(), project(l.get(k)?, &s[k])))).collect())
        }
        (Value::Array(l), Value::Array(s)) => {
            Value::Array(l.iter().zip(s.iter()).map(|(l, s)| project(l, s)).collect())
        }
        (live, _) => live.clone(),
    }
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

/// Patches one object; returns it (in a dry run: as it would be).
pub(crate) fn patch(
    run: &Run,
    c: &Cluster,
    (kind, ns, name): (&str, &str, &str),
    doc: &Value,
    how: PatchType,
) -> ScriptResult<Value> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    // A JSON patch is a list of operations, not a shape of the object.
    let before = match how {
        PatchType::Json => None,
        PatchType::Merge | PatchType::Strategic => {
            current(run, c, &kind, &ns, name).map(|live| shown(&kind, &project(&live, doc)))
        }
    };
    let change = c.change("patch", kind.describe(&ns, name), &ns).before_after(before, Some(doc.clone()));
    let outcome = run.change(change, async |p: &Permit| c.0.patch(p, &kind, (&ns, name), doc, how).await)?;
    Ok(outcome.into_inner())
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
    let before = current(run, c, &kind, &ns, name).and_then(|live| live.pointer("/spec/replicas").cloned());
    let change = c.change("scale", kind.describe(&ns, name), &ns).before_after(before, Some(replicas.into()));
    let outcome = run.change(change, async |p: &Permit| c.0.scale(p, &kind, (&ns, name), replicas).await)?;
    Ok(outcome.into_inner())
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
    if ignore_not_found && c.read(run, async |k| k.get_opt(kind, ns, name).await)?.is_none() {
        return Ok(false);
    }
    let mut change = c.change("delete", kind.describe(ns, name), ns);
    if kind.delete_is_destructive() {
        change = change.destructive();
    }
    // Gone in the meantime and allowed to be: the backend's `NotFound`
    // refusal is the answer.
    match run.change(change, async |p: &Permit| c.0.delete(p, kind, (ns, name), options).await) {
        Ok(_) => Ok(true),
        Err(e) if ignore_not_found && error::kind_of(&e).as_deref() == Some("NotFound") => Ok(false),
        Err(e) => Err(e),
    }
}

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
    let mut change = c.change("delete all", what, &ns);
    if kind.delete_is_destructive() {
        change = change.destructive();
    }
    let outcome = run.change(change, async |p: &Permit| c.0.delete_all(p, &kind, &ns, selector).await)?;
    Ok(Outcome::into_inner(outcome))
}
