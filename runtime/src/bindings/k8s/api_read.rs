//! `k8s::` reads: opening clusters, get, exists, list, logs.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::cluster::{self, namespace_arg, selector, to_dynamic, Cluster};
use super::reads;
use crate::backends::k8s::LogOptions;
use crate::bindings::options::Options;
use crate::bindings::ScriptResult;
use crate::run::Run;

#[export_module]
pub(crate) mod k8s_read {
    /// An open kube context.
    pub type Cluster = super::Cluster;

    /// Opens the current kube context (live: the kubeconfig's
    /// `current-context`, or the in-cluster service account; on a world: the
    /// cluster marked `current: true`, or the only one).
    ///
    /// ```rhai
    /// let here = k8s::cluster();
    /// print(here.context);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cluster(ctx: NativeCallContext) -> Result<Cluster, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        cluster::open(&run, None)
    }

    /// Opens a kube context by name. Live, the kubeconfig comes from
    /// `--kubeconfig` / `HUBOPS_KUBECONFIG`, else `KUBECONFIG`, else
    /// `~/.kube/config`, and the API server must answer (`Unreachable`
    /// otherwise). An unknown context is a `Usage` error listing the
    /// contexts that exist. Several clusters can be open at once.
    ///
    /// ```rhai
    /// let blue = k8s::cluster("blue");
    /// let green = k8s::cluster("green");
    /// ```
    #[rhai_fn(name = "cluster", return_raw)]
    pub fn cluster_named(ctx: NativeCallContext, context: &str) -> Result<Cluster, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        cluster::open(&run, Some(context))
    }

    /// The context name.
    ///
    /// ```rhai
    /// print(k8s::cluster("blue").context);   // blue
    /// ```
    #[rhai_fn(global, get = "context", pure)]
    pub fn get_context(c: &mut Cluster) -> String {
        c.0.context().to_string()
    }

    /// The API server URL.
    ///
    /// ```rhai
    /// print(k8s::cluster("blue").server);
    /// ```
    #[rhai_fn(global, get = "server", pure)]
    pub fn get_server(c: &mut Cluster) -> String {
        c.0.server().to_string()
    }

    /// `Cluster(blue)`.
    ///
    /// ```rhai
    /// print(`${k8s::cluster("blue")}`);
    /// ```
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn describe(c: &mut Cluster) -> String {
        format!("Cluster({})", c.0.context())
    }

    /// One object as a map with the API's field names; `NotFound` if it does
    /// not exist. `kind` is what kubectl takes (`svc`, `pods`,
    /// `deployments.apps`, `applications.argoproj.io`); cluster-scoped kinds
    /// (`ns`, `pv`) take `""` or `()` as namespace.
    ///
    /// ```rhai
    /// let svc = blue.get("svc", "daskhub", "proxy-public");
    /// let lb = svc.status.loadBalancer.ingress[0].hostname;
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn get(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        Ok(to_dynamic(&reads::get(&run, c, kind, &namespace_arg(&ns)?, name)?))
    }

    /// Whether an object exists.
    ///
    /// ```rhai
    /// if blue.exists("ns", (), "nublado2-alice") { print("still there"); }
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn exists(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        Ok(reads::get_opt(&run, c, kind, &namespace_arg(&ns)?, name)?.is_some())
    }

    /// Every object of a kind in a namespace (`""` or `()`: all namespaces,
    /// or a cluster-scoped kind), as an array of maps.
    ///
    /// ```rhai
    /// let claims = blue.list("pvc", "daskhub");
    /// let namespaces = blue.list("ns", ());
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn list(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::list(&ctx, c, kind, &ns, &rhai::Map::new())
    }

    /// Selected objects: `labels` (a selector string such as
    /// `"component=singleuser-server"`, or a map of exact matches) and
    /// `fields` (`"status.phase=Running"`).
    ///
    /// ```rhai
    /// let users = blue.list("pods", "daskhub", #{ labels: "component=singleuser-server", fields: "status.phase=Running" });
    /// ```
    #[rhai_fn(global, name = "list", return_raw, pure)]
    pub fn list_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        options: rhai::Map,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::list(&ctx, c, kind, &ns, &options)
    }

    /// A pod's log (its only or first container).
    ///
    /// ```rhai
    /// print(blue.logs("jupyterhub", "hub-7d9f-abcde"));
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn logs(ctx: NativeCallContext, c: &mut Cluster, ns: &str, pod: &str) -> Result<String, Box<EvalAltResult>> {
        super::logs(&ctx, c, ns, pod, &rhai::Map::new())
    }

    /// A pod's log with options: `container`, `tail` (last lines).
    ///
    /// ```rhai
    /// print(blue.logs("jupyterhub", hub_pod, #{ container: "hub", tail: 50 }));
    /// ```
    #[rhai_fn(global, name = "logs", return_raw, pure)]
    pub fn logs_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        options: rhai::Map,
    ) -> Result<String, Box<EvalAltResult>> {
        super::logs(&ctx, c, ns, pod, &options)
    }
}

fn list(
    ctx: &NativeCallContext,
    c: &Cluster,
    kind: &str,
    ns: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    let sel = selector("list", options)?;
    let items = reads::list(&run, c, kind, &namespace_arg(ns)?, &sel)?;
    Ok(items.iter().map(to_dynamic).collect())
}

fn logs(ctx: &NativeCallContext, c: &Cluster, ns: &str, pod: &str, options: &rhai::Map) -> ScriptResult<String> {
    let run = Run::from_context(ctx)?;
    let options = Options::new("logs", options, &["container", "tail"])?;
    let (container, tail) = (options.str("container")?, options.int("tail")?);
    reads::logs(&run, c, ns, pod, &LogOptions { container, tail })
}
