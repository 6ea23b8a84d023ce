//! Reads: get, exists, list, logs. Live calls go to the API server; world
//! calls read the simulated cluster.

use serde_json::Value;

use super::cluster::{fail, scoped, Cluster};
use crate::backends::k8s::{Error, LogOptions, Selector};
use crate::bindings::ScriptResult;
use crate::run::Run;

/// One object, `None` when it does not exist.
pub(crate) fn get_opt(run: &Run, c: &Cluster, kind: &str, ns: &str, name: &str) -> ScriptResult<Option<Value>> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    match &c.live {
        Some(live) => run.block_on(live.get_opt(&kind, &ns, name))?.map_err(|e| fail(run, &e)),
        None => c.world(run, |w, _| match w.get(&kind, &ns, name) {
            Ok(obj) => Ok(Some(obj)),
            Err(Error::Api { code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }),
    }
}

/// One object; `NotFound` when it does not exist.
pub(crate) fn get(run: &Run, c: &Cluster, kind: &str, ns: &str, name: &str) -> ScriptResult<Value> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, false)?;
    match &c.live {
        Some(live) => run.block_on(live.get(&kind, &ns, name))?.map_err(|e| fail(run, &e)),
        None => c.world(run, |w, _| w.get(&kind, &ns, name)),
    }
}

/// Selected objects; `ns` "" lists every namespace.
pub(crate) fn list(run: &Run, c: &Cluster, kind: &str, ns: &str, selector: &Selector) -> ScriptResult<Vec<Value>> {
    let kind = c.kind(run, kind)?;
    let ns = scoped(&kind, ns, true)?;
    match &c.live {
        Some(live) => run.block_on(live.list(&kind, &ns, selector))?.map_err(|e| fail(run, &e)),
        None => c.world(run, |w, _| w.list(&kind, &ns, selector)),
    }
}

/// A container's log.
pub(crate) fn logs(run: &Run, c: &Cluster, ns: &str, pod: &str, options: &LogOptions) -> ScriptResult<String> {
    match &c.live {
        Some(live) => run.block_on(live.logs(ns, pod, options))?.map_err(|e| fail(run, &e)),
        None => c.world(run, |w, _| w.logs(ns, pod, options)),
    }
}
