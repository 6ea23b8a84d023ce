//! Reads: get, exists, list, logs, each one call of the cluster's backend
//! (the API server live, the simulated cluster on a world).

use serde_json::Value;

use super::cluster::{scoped, Cluster};
use crate::backends::k8s::{LogOptions, Selector};
use crate::bindings::ScriptResult;
use crate::run::Run;

/// One object, `None` when it does not exist.
pub(crate) fn get_opt(run: &Run, c: &Cluster, kind: &str, ns: &str, name: &str) -> ScriptResult<Option<Value>> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    c.read(run, async |k| k.get_opt(&kind, &ns, name).await)
}

/// One object; `NotFound` when it does not exist.
pub(crate) fn get(run: &Run, c: &Cluster, kind: &str, ns: &str, name: &str) -> ScriptResult<Value> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    c.read(run, async |k| k.get(&kind, &ns, name).await)
}

/// Selected objects; `ns` "" lists every namespace.
pub(crate) fn list(run: &Run, c: &Cluster, kind: &str, ns: &str, selector: &Selector) -> ScriptResult<Vec<Value>> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, true)?;
    c.read(run, async |k| k.list(&kind, &ns, selector).await)
}

/// A container's log.
pub(crate) fn logs(run: &Run, c: &Cluster, ns: &str, pod: &str, options: &LogOptions) -> ScriptResult<String> {
    c.read(run, async |k| k.logs(ns, pod, options).await)
}
