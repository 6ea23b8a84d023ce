//! The `Cluster` handle and what every `k8s::` binding shares: opening a
//! context from the run's target, resolving kinds, namespace and selector
//! arguments, and objects as script values. The handle holds the family
//! value ([`backends::k8s::Cluster`](crate::backends::k8s::Cluster)), live
//! or on the world; bindings call its verbs and never ask which.

use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;

use crate::backends::k8s::{self, ResourceKind, Selector};
use crate::bindings::options::Options;
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

pub(crate) use crate::backends::k8s::world_cluster::SECTION;

/// An open kube context: `k8s::cluster("blue")`.
#[derive(Clone)]
pub struct Cluster(pub(crate) Arc<k8s::Cluster>);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({})", self.0.context())
    }
}

/// Opens a context: on a world, one of its `clusters:`; live, from the
/// kubeconfig, checking that the API server answers.
pub(crate) fn open(run: &Run, context: Option<&str>) -> ScriptResult<Cluster> {
    run.check_cancelled()?;
    let cluster = Arc::new(run.block_on(k8s::Cluster::open(run.target(), context))?.map_err(|e| run.fail(&e))?);
    let system = format!("k8s/{}", cluster.context());
    // A resumed run must work on the cluster the run it continues worked on.
    run.note_target(&system, cluster.server())?;
    if matches!(*cluster, k8s::Cluster::Live(_)) {
        run.register_remote_lock(&system, Arc::new(KubeLease(cluster.clone())));
    }
    Ok(Cluster(cluster))
}

impl Cluster {
    /// The context name.
    pub(crate) fn context(&self) -> &str {
        self.0.context()
    }

    /// The gate's system name for changes on this cluster.
    pub(crate) fn system(&self) -> String {
        format!("k8s/{}", self.context())
    }

    /// A change on this cluster, working in `ns` (a cluster-scoped one, `""`,
    /// works in the context's default namespace): the run holds this
    /// cluster's Lease there first.
    pub(crate) fn change(&self, verb: &str, target: String, ns: &str) -> crate::effects::Change {
        let scope = if ns.is_empty() { self.0.default_namespace() } else { ns };
        crate::effects::Change::new(self.system(), verb, target).scoped(scope)
    }

    /// Resolves a kind name on this cluster.
    pub(crate) fn kind(&self, run: &Run, text: &str) -> ScriptResult<ResourceKind> {
        run.block_on(self.0.resolve(text))?.map_err(|e| run.fail(&e))
    }

    /// Runs a read on the cluster, its error as the script's.
    pub(crate) fn read<T>(
        &self,
        run: &Run,
        read: impl AsyncFnOnce(&k8s::Cluster) -> Result<T, k8s::Error>,
    ) -> ScriptResult<T> {
        run.block_on(read(&self.0))?.map_err(|e| run.fail(&e))
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

/// Selector options of `function`: `labels` and `fields`, each a string
/// or, for labels, a map of exact matches.
pub(crate) fn selector(function: &str, options: &rhai::Map) -> ScriptResult<Selector> {
    let options = Options::new(function, options, &["labels", "fields"])?;
    let text = |key: &str| -> ScriptResult<Option<String>> {
        let Some(value) = options.get(key) else { return Ok(None) };
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

/// A live cluster's run lock: the Lease `hubops-lock` in the namespace a
/// change works in (see `backends::k8s::lease`).
#[derive(Debug)]
struct KubeLease(Arc<k8s::Cluster>);

type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

impl crate::run::lock::RemoteLock for KubeLease {
    fn take<'a>(
        &'a self,
        permit: &'a crate::effects::Permit,
        scope: &'a str,
        holder: &'a crate::run::lock::Holder,
        force: bool,
    ) -> Boxed<'a, crate::run::lock::Remote> {
        use crate::backends::k8s::lease::{acquire, Taken};
        use crate::run::lock::Remote;
        Box::pin(async move {
            let taken = acquire(&self.0, permit, scope, (&holder.run, &holder.operator), force).await;
            Ok(match taken.map_err(|e| e.to_string())? {
                Taken::Acquired => Remote::Taken,
                Taken::TakenOver(h) => Remote::TakenOver(h.describe()),
                Taken::Broken(h) => Remote::Broken(h.describe()),
                Taken::HeldBy(h) => Remote::HeldBy(h.describe()),
            })
        })
    }

    fn renew<'a>(
        &'a self,
        permit: &'a crate::effects::Permit,
        scope: &'a str,
        holder: &'a crate::run::lock::Holder,
    ) -> Boxed<'a, bool> {
        Box::pin(async move {
            crate::backends::k8s::lease::renew(&self.0, permit, scope, &holder.run).await.map_err(|e| e.to_string())
        })
    }

    fn release<'a>(
        &'a self,
        permit: &'a crate::effects::Permit,
        scope: &'a str,
        holder: &'a crate::run::lock::Holder,
    ) -> Boxed<'a, ()> {
        Box::pin(async move {
            crate::backends::k8s::lease::release(&self.0, permit, scope, &holder.run).await.map_err(|e| e.to_string())
        })
    }
}
