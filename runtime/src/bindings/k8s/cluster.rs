//! The `Cluster` handle and what every `k8s::` binding shares: opening a
//! context (live or on the world), resolving kinds, namespace rules, turning
//! backend errors into script errors, and reaching the world's clusters.

use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, EvalAltResult};
use serde_json::Value;

use crate::backends::k8s::live::LiveCluster;
use crate::backends::k8s::world::{ClusterWorld, K8sWorld};
use crate::backends::k8s::{Error, ResourceKind, Selector};
use crate::bindings::{error_map, script_error, ScriptResult};
use crate::run::Run;

/// The world section the family owns.
pub(crate) const SECTION: &str = "clusters";

/// An open kube context: `k8s::cluster("blue")`.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) context: String,
    pub(crate) server: String,
    pub(crate) default_namespace: String,
    /// `None` on a world.
    pub(crate) live: Option<Arc<LiveCluster>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({})", self.context)
    }
}

/// A backend error as scripts see it: `kind`, `message`, and for errors with
/// causes, `causes`.
pub(crate) fn fail(run: &Run, err: &Error) -> Box<EvalAltResult> {
    let mut map = error_map(err.kind(), &run.redactor().redact(&err.to_string()));
    let causes: rhai::Array = std::iter::successors(std::error::Error::source(err), |e| e.source())
        .map(|e| Dynamic::from(run.redactor().redact(&e.to_string())))
        .collect();
    if !causes.is_empty() {
        map.insert("causes".into(), causes.into());
    }
    if let Error::UnknownContext { known, .. } = err {
        let contexts: rhai::Array = known.iter().map(|c| Dynamic::from(c.clone())).collect();
        map.insert("contexts".into(), contexts.into());
    }
    Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))
}

/// Opens a context: on a world, one of its `clusters:`; live, from the
/// kubeconfig, checking that the API server answers.
pub(crate) fn open(run: &Run, context: Option<&str>) -> ScriptResult<Cluster> {
    run.check_cancelled()?;
    if let Some(world) = run.world() {
        let world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let part = world.part::<K8sWorld>(SECTION);
        let known: Vec<String> = part.map(|p| p.clusters.keys().cloned().collect()).unwrap_or_default();
        let name = match context {
            Some(c) => c.to_string(),
            None => part.and_then(K8sWorld::current).map(String::from).ok_or_else(|| {
                fail(run, &Error::Kubeconfig { message: "the world marks no cluster `current: true`".into() })
            })?,
        };
        let Some(cluster) = part.and_then(|p| p.clusters.get(&name)) else {
            return Err(fail(run, &Error::UnknownContext { context: name, known }));
        };
        let server = cluster.server.clone().unwrap_or_else(|| format!("https://{name}.world.example"));
        if cluster.unreachable {
            return Err(fail(run, &Error::Unreachable { context: name, server, source: None }));
        }
        return Ok(Cluster { context: name, server, default_namespace: "default".into(), live: None });
    }
    let kubeconfig = run.kubeconfig().map(std::path::Path::to_path_buf);
    let live = run
        .block_on(async move { LiveCluster::connect(kubeconfig.as_deref(), context).await })?
        .map_err(|e| fail(run, &e))?;
    Ok(Cluster {
        context: live.context.clone(),
        server: live.server.clone(),
        default_namespace: live.default_namespace.clone(),
        live: Some(Arc::new(live)),
    })
}

impl Cluster {
    /// The gate's system name for changes on this cluster.
    pub(crate) fn system(&self) -> String {
        format!("k8s/{}", self.context)
    }

    /// Runs `f` on this cluster's part of the world, after applying the
    /// scheduled changes that are due.
    pub(crate) fn world<T>(
        &self,
        run: &Run,
        f: impl FnOnce(&mut ClusterWorld, &mut K8sWorld) -> Result<T, Error>,
    ) -> ScriptResult<T> {
        self.world_raw(run, f).map_err(|e| fail(run, &e))
    }

    /// [`Self::world`] with the backend's error, for the gate's closures.
    pub(crate) fn world_raw<T>(
        &self,
        run: &Run,
        f: impl FnOnce(&mut ClusterWorld, &mut K8sWorld) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let missing = || Error::UnknownContext { context: self.context.clone(), known: Vec::new() };
        let world = run.world().ok_or_else(missing)?;
        let mut world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = Duration::try_from(run.clock().now().duration_since(world.start())).unwrap_or_default();
        let part = world.part_mut::<K8sWorld>(SECTION).ok_or_else(missing)?;
        part.settle(elapsed);
        // Taken out so that `f` can see both the cluster and the section.
        let mut cluster = part.clusters.remove(&self.context).ok_or_else(missing)?;
        let out = if cluster.unreachable {
            Err(Error::Unreachable { context: self.context.clone(), server: self.server.clone(), source: None })
        } else {
            f(&mut cluster, part)
        };
        part.clusters.insert(self.context.clone(), cluster);
        out
    }

    /// Resolves a kind name on this cluster.
    pub(crate) fn kind(&self, run: &Run, text: &str) -> ScriptResult<ResourceKind> {
        match &self.live {
            Some(live) => run.block_on(live.resolve(text))?.map_err(|e| fail(run, &e)),
            None => self.world(run, |c, _| c.resolve(text)),
        }
    }
}

/// A namespace argument: a string, `""` or `()`.
pub(crate) fn namespace_arg(ns: &Dynamic) -> ScriptResult<String> {
    if ns.is_unit() {
        return Ok(String::new());
    }
    ns.clone()
        .into_immutable_string()
        .map(|s| s.to_string())
        .map_err(|t| script_error("Invalid", &format!("a namespace is a string, \"\" or (), not {t}")))
}

/// The namespace an object of `kind` is addressed in: namespaced kinds need
/// one, cluster-scoped kinds take none.
pub(crate) fn scoped(kind: &ResourceKind, ns: &str, for_list: bool) -> ScriptResult<String> {
    let name = kind.kind.to_ascii_lowercase();
    match (kind.namespaced, ns.is_empty()) {
        (true, true) if !for_list => Err(script_error("Usage", &format!("`{name}` is namespaced: give a namespace"))),
        (false, false) => Err(script_error(
            "Usage",
            &format!("`{name}` is cluster-scoped: give \"\" or () as its namespace, not `{ns}`"),
        )),
        _ => Ok(ns.to_string()),
    }
}

/// Selector options: `labels` and `fields`, each a string or, for labels, a
/// map of exact matches.
pub(crate) fn selector(options: &rhai::Map, allowed: &[&str], function: &str) -> ScriptResult<Selector> {
    check_options(options, allowed, function)?;
    let text = |key: &str| -> ScriptResult<Option<String>> {
        let Some(value) = options.get(key).filter(|v| !v.is_unit()) else { return Ok(None) };
        if let Some(map) = value.read_lock::<rhai::Map>() {
            return Ok(Some(map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")));
        }
        value
            .clone()
            .into_immutable_string()
            .map(|s| Some(s.to_string()))
            .map_err(|t| script_error("Invalid", &format!("`{key}` is a selector string or a map, not {t}")))
    };
    Ok(Selector { labels: text("labels")?, fields: text("fields")? })
}

/// Rejects options a function does not know.
pub(crate) fn check_options(options: &rhai::Map, allowed: &[&str], function: &str) -> ScriptResult<()> {
    for key in options.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(script_error(
                "Invalid",
                &format!("`{function}` has no option `{key}` (options: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// A JSON object as a script value.
// Direct rather than through `rhai::serde`: objects are converted on every
// read, and the generic serializer costs more than the API call on a local
// server.
pub(crate) fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => n.as_i64().map_or_else(|| n.as_f64().unwrap_or(f64::NAN).into(), Dynamic::from),
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => items.iter().map(to_dynamic).collect::<rhai::Array>().into(),
        Value::Object(map) => {
            let map: rhai::Map = map.iter().map(|(k, v)| (k.as_str().into(), to_dynamic(v))).collect();
            map.into()
        }
    }
}

/// A script value as JSON.
pub(crate) fn from_dynamic(value: &Dynamic, what: &str) -> ScriptResult<Value> {
    rhai::serde::from_dynamic::<Value>(value)
        .map_err(|e| script_error("Invalid", &format!("{what} cannot be sent to Kubernetes: {e}")))
}
