//! `k8s::` - Kubernetes clusters by kube context: reads (get, list, exists,
//! logs), writes through the effects gate (apply, create, patch, delete,
//! `delete_all`, scale) and waits. A `Cluster` is live (kubeconfig) or one of
//! the world's `clusters:`, decided by the run's target, never by a binding.
//! Objects cross as maps with the API's own field names.

mod cluster;
mod copy;
mod reads;
mod wait;
mod writes;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

pub use cluster::Cluster;
pub(crate) use cluster::SECTION;

use self::cluster::{check_options, from_dynamic, namespace_arg, scoped, selector, to_dynamic};
use self::wait::{Until, DEFAULT_TIMEOUT};
use crate::backends::k8s::exec::ExecTarget;
use crate::backends::k8s::{parse_manifests, DeleteOptions, LogOptions, PatchType};
use crate::bindings::{duration_arg, script_error, ScriptResult};
use crate::run::Run;

#[export_module]
pub(crate) mod k8s {
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
        super::cluster::open(&run, None)
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
        super::cluster::open(&run, Some(context))
    }

    /// The context name.
    ///
    /// ```rhai
    /// print(k8s::cluster("blue").context);   // blue
    /// ```
    #[rhai_fn(global, get = "context", pure)]
    pub fn get_context(c: &mut Cluster) -> String {
        c.context.clone()
    }

    /// The API server URL.
    ///
    /// ```rhai
    /// print(k8s::cluster("blue").server);
    /// ```
    #[rhai_fn(global, get = "server", pure)]
    pub fn get_server(c: &mut Cluster) -> String {
        c.server.clone()
    }

    /// `Cluster(blue)`.
    ///
    /// ```rhai
    /// print(`${k8s::cluster("blue")}`);
    /// ```
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn describe(c: &mut Cluster) -> String {
        format!("Cluster({})", c.context)
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
        to_dynamic(&super::reads::get(&run, c, kind, &namespace_arg(&ns)?, name)?)
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
        Ok(super::reads::get_opt(&run, c, kind, &namespace_arg(&ns)?, name)?.is_some())
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

    /// Server-side apply of a manifest map (field manager `hubops`); returns
    /// the object as stored. A namespaced manifest without
    /// `metadata.namespace` goes to the context's namespace. In a dry run the
    /// API server validates it (`dryRun=All`) and the would-be object is
    /// returned.
    ///
    /// ```rhai
    /// blue.apply(#{ apiVersion: "v1", kind: "ConfigMap",
    ///               metadata: #{ name: "cutover", namespace: "daskhub" }, data: #{ state: "started" } });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn apply(ctx: NativeCallContext, c: &mut Cluster, manifest: rhai::Map) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let obj = from_dynamic(&manifest.into(), "the manifest")?;
        to_dynamic(&super::writes::apply_one(&run, c, &obj, false)?)
    }

    /// Server-side apply of YAML text with one or many documents (`---`);
    /// returns the stored objects in order. Each document is one change.
    ///
    /// ```rhai
    /// blue.apply(`
    /// apiVersion: v1
    /// kind: PersistentVolume
    /// metadata: { name: restored-alice }
    /// spec: { capacity: { storage: 10Gi }, accessModes: [ReadWriteOnce], csi: { driver: ebs.csi.aws.com, volumeHandle: vol-0abc } }
    /// `);
    /// ```
    #[rhai_fn(global, name = "apply", return_raw, pure)]
    pub fn apply_yaml(ctx: NativeCallContext, c: &mut Cluster, yaml: &str) -> Result<rhai::Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let docs = parse_manifests(yaml).map_err(|e| script_error("Invalid", &e.to_string()))?;
        docs.iter().map(|d| super::writes::apply_one(&run, c, d, false).and_then(|o| to_dynamic(&o))).collect()
    }

    /// Creates an object; `Conflict` if it exists.
    ///
    /// ```rhai
    /// blue.create(#{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "daskhub-restore" } });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn create(ctx: NativeCallContext, c: &mut Cluster, manifest: rhai::Map) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let obj = from_dynamic(&manifest.into(), "the manifest")?;
        to_dynamic(&super::writes::apply_one(&run, c, &obj, true)?)
    }

    /// Patches an object with a JSON merge patch (a map); returns it.
    ///
    /// ```rhai
    /// blue.patch("svc", "daskhub", "proxy-public", #{ metadata: #{ annotations: #{ "hubops/cutover": "done" } } });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn patch(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
        patch: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::patch(&ctx, c, (kind, &ns, name), &patch, &rhai::Map::new())
    }

    /// Patches an object; `type` is `"merge"` (default), `"strategic"` or
    /// `"json"` (an array of RFC 6902 operations).
    ///
    /// ```rhai
    /// blue.patch("deploy", "jupyterhub", "hub", [#{ op: "replace", path: "/spec/replicas", value: 0 }], #{ type: "json" });
    /// ```
    #[rhai_fn(global, name = "patch", return_raw, pure)]
    pub fn patch_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
        patch: Dynamic,
        options: rhai::Map,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::patch(&ctx, c, (kind, &ns, name), &patch, &options)
    }

    /// Deletes an object; `NotFound` if it is not there. Deleting a
    /// namespace, service, pod, PVC or PV is destructive (asks unless
    /// `--yes`). Returns `true`.
    ///
    /// ```rhai
    /// blue.delete("svc", "daskhub", "proxy-public");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn delete(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        super::delete(&ctx, c, (kind, &ns, name), &rhai::Map::new())
    }

    /// Deletes with options: `wait` (`true` or a timeout such as `"2m"`:
    /// until it is gone), `grace` (seconds), `preconditions`
    /// (`#{uid, resourceVersion}`), `ignore_not_found` (returns `false`
    /// instead of failing).
    ///
    /// ```rhai
    /// blue.delete("pod", "jupyterhub", "jupyter-alice", #{ wait: "2m", grace: 30, ignore_not_found: true });
    /// ```
    #[rhai_fn(global, name = "delete", return_raw, pure)]
    pub fn delete_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
        options: rhai::Map,
    ) -> Result<bool, Box<EvalAltResult>> {
        super::delete(&ctx, c, (kind, &ns, name), &options)
    }

    /// Deletes every object of a kind in a namespace selected by `labels`
    /// and/or `fields` (one change); returns the deleted names.
    ///
    /// ```rhai
    /// let gone = blue.delete_all("pods", "daskhub", #{ labels: "component=singleuser-server" });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn delete_all(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        options: rhai::Map,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let sel = selector(&options, &["labels", "fields"], "delete_all")?;
        if sel.labels.is_none() && sel.fields.is_none() {
            return Err(script_error(
                "Usage",
                "`delete_all` needs `labels` or `fields`: it never deletes a whole kind",
            ));
        }
        let names = super::writes::delete_all(&run, c, kind, &namespace_arg(&ns)?, &sel)?;
        Ok(names.into_iter().map(Dynamic::from).collect())
    }

    /// Sets the replicas of a `Deployment`, `StatefulSet` or `ReplicaSet`; returns
    /// the answer of the `scale` subresource (live) or the object (world).
    ///
    /// ```rhai
    /// blue.scale("deploy", "jupyterhub", "hub", 0);
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn scale(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
        replicas: i64,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        to_dynamic(&super::writes::scale(&run, c, (kind, &namespace_arg(&ns)?, name), replicas)?)
    }

    /// Waits until an object meets a condition, for at most 5 minutes:
    /// `"Ready"`, `"Available"`, any status condition type; `"Bound"`,
    /// `"Active"`, any phase; `"phase=Running"` or `"path=value"`;
    /// `"deleted"`; or a closure over the object (`()` when it is absent)
    /// returning `true`. Live it watches the object; on a world it waits in
    /// virtual time. Returns the object (`()` once deleted); `Timeout` error
    /// when time runs out.
    ///
    /// ```rhai
    /// let hub = blue.wait("deploy", "jupyterhub", "hub", "Available");
    /// blue.wait("pvc", "daskhub", "claim-alice", |pvc| pvc != () && pvc.status.phase == "Bound");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn wait(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
        condition: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::wait(&ctx, c, (kind, &ns, name), &condition, &rhai::Map::new())
    }

    /// Waits with options: `timeout` (`"10m"` or seconds; default `"5m"`).
    ///
    /// ```rhai
    /// blue.wait("ns", (), "nublado2-alice", "deleted", #{ timeout: "10m" });
    /// ```
    #[rhai_fn(global, name = "wait", return_raw, pure)]
    pub fn wait_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        ns: Dynamic,
        name: &str,
        condition: Dynamic,
        options: rhai::Map,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::wait(&ctx, c, (kind, &ns, name), &condition, &options)
    }

    /// Runs a command in a pod's container: an array of words, or a string
    /// run by `sh -c`. Returns `#{stdout, stderr, status}`; a non-zero
    /// status is an answer, not an error. In a dry run nothing runs: the
    /// pod is checked and `#{planned: true, status: ()}` is returned.
    ///
    /// ```rhai
    /// let r = blue.exec("jupyterhub", hub_pod, ["ls", "/srv/jupyterhub"]);
    /// if r.status != 0 { fail(r.stderr); }
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn exec(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        cmd: Dynamic,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::exec(&ctx, c, (ns, pod), &cmd, &rhai::Map::new())
    }

    /// Runs a command with options: `container`, `stdin` (a string sent
    /// to the command, then closed).
    ///
    /// ```rhai
    /// blue.exec("jupyterhub", hub_pod, "cat > /tmp/note", #{ container: "hub", stdin: "moved\n" });
    /// ```
    #[rhai_fn(global, name = "exec", return_raw, pure)]
    pub fn exec_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        cmd: Dynamic,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::exec(&ctx, c, (ns, pod), &cmd, &options)
    }

    /// Copies a file from a pod to a pod, on the same or another cluster,
    /// streamed through hubops (no temporary file) and verified by SHA-256.
    /// Returns `#{bytes, sha256}`. This is how a runbook moves the hub
    /// database between hub pods.
    ///
    /// ```rhai
    /// blue.copy("daskhub", old_hub, "/srv/jupyterhub/jupyterhub.sqlite",
    ///           green, "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub.sqlite");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    #[allow(clippy::too_many_arguments)] // source and destination, as kubectl cp names them
    pub fn copy(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        to: Cluster,
        to_ns: &str,
        to_pod: &str,
        to_path: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::copy_pods(&ctx, (c, ns, pod, path), (&to, to_ns, to_pod, to_path), &rhai::Map::new())
    }

    /// Pod-to-pod copy with options: `container` (source), `to_container`.
    ///
    /// ```rhai
    /// blue.copy("daskhub", old_hub, db, green, "jupyterhub", new_hub, db, #{ container: "hub", to_container: "hub" });
    /// ```
    #[rhai_fn(global, name = "copy", return_raw, pure)]
    #[allow(clippy::too_many_arguments)] // source and destination, as kubectl cp names them
    pub fn copy_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        to: Cluster,
        to_ns: &str,
        to_pod: &str,
        to_path: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::copy_pods(&ctx, (c, ns, pod, path), (&to, to_ns, to_pod, to_path), &options)
    }

    /// Copies a file out of a pod to a local path (see the next form).
    ///
    /// ```rhai
    /// blue.copy_from("daskhub", old_hub, "/srv/jupyterhub/jupyterhub.sqlite", "./jupyterhub.sqlite");
    /// ```
    #[rhai_fn(global, name = "copy_from", return_raw, pure)]
    pub fn copy_from_plain(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        local: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        copy_from(ctx, c, ns, pod, path, local, rhai::Map::new())
    }

    /// Copies a file out of a pod to a local path, verified by SHA-256
    /// (`kubectl cp ns/pod:path local`); options: `container`. On a world
    /// the file lands in the run's scratch space (where `copy_to` finds
    /// it), never on disk.
    ///
    /// ```rhai
    /// blue.copy_from("daskhub", old_hub, "/srv/jupyterhub/jupyterhub.sqlite", "./jupyterhub.sqlite", #{ container: "hub" });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn copy_from(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        local: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        check_options(&options, &["container"], "copy_from")?;
        let from = copy::PodPath { cluster: c, target: target(ns, pod, options.get("container")), path: path.into() };
        map_of(&copy::copy_from(&run, &from, local)?)
    }

    /// Copies a local file into a pod (see the next form).
    ///
    /// ```rhai
    /// green.copy_to("./jupyterhub.sqlite", "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub.sqlite");
    /// ```
    #[rhai_fn(global, name = "copy_to", return_raw, pure)]
    pub fn copy_to_plain(
        ctx: NativeCallContext,
        c: &mut Cluster,
        local: &str,
        ns: &str,
        pod: &str,
        path: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        copy_to(ctx, c, local, ns, pod, path, rhai::Map::new())
    }

    /// Copies a local file into a pod, verified by SHA-256
    /// (`kubectl cp local ns/pod:path`); options: `container`.
    ///
    /// ```rhai
    /// green.copy_to("./jupyterhub.sqlite", "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub.sqlite", #{ container: "hub" });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn copy_to(
        ctx: NativeCallContext,
        c: &mut Cluster,
        local: &str,
        ns: &str,
        pod: &str,
        path: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        check_options(&options, &["container"], "copy_to")?;
        let to = copy::PodPath { cluster: c, target: target(ns, pod, options.get("container")), path: path.into() };
        map_of(&copy::copy_to(&run, local, &to)?)
    }
}

fn target(ns: &str, pod: &str, container: Option<&Dynamic>) -> ExecTarget {
    ExecTarget {
        ns: ns.into(),
        pod: pod.into(),
        container: container.filter(|c| !c.is_unit()).map(ToString::to_string),
    }
}

fn map_of(value: &Value) -> ScriptResult<rhai::Map> {
    to_dynamic(value)?.try_cast::<rhai::Map>().ok_or_else(|| script_error("Internal", "expected a map"))
}

fn exec(
    ctx: &NativeCallContext,
    c: &Cluster,
    (ns, pod): (&str, &str),
    cmd: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    check_options(options, &["container", "stdin"], "exec")?;
    let words = copy::command_arg(cmd)?;
    let stdin = options.get("stdin").filter(|v| !v.is_unit()).map(ToString::to_string).unwrap_or_default();
    let out = copy::exec(&run, c, &target(ns, pod, options.get("container")), &words, stdin.as_bytes())?;
    let mut map = rhai::Map::new();
    if let Some(out) = out {
        map.insert("stdout".into(), String::from_utf8_lossy(&out.stdout).into_owned().into());
        map.insert("stderr".into(), String::from_utf8_lossy(&out.stderr).into_owned().into());
        map.insert("status".into(), out.status.into());
    } else {
        map.insert("stdout".into(), "".into());
        map.insert("stderr".into(), "".into());
        map.insert("status".into(), Dynamic::UNIT);
        map.insert("planned".into(), true.into());
    }
    Ok(map)
}

type PodArg<'a> = (&'a Cluster, &'a str, &'a str, &'a str);

fn copy_pods(
    ctx: &NativeCallContext,
    from: PodArg<'_>,
    to: PodArg<'_>,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    check_options(options, &["container", "to_container"], "copy")?;
    let src = copy::PodPath {
        cluster: from.0,
        target: target(from.1, from.2, options.get("container")),
        path: from.3.into(),
    };
    let dst =
        copy::PodPath { cluster: to.0, target: target(to.1, to.2, options.get("to_container")), path: to.3.into() };
    map_of(&copy::copy(&run, &src, &dst)?)
}

fn list(
    ctx: &NativeCallContext,
    c: &Cluster,
    kind: &str,
    ns: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    let sel = selector(options, &["labels", "fields"], "list")?;
    let items = reads::list(&run, c, kind, &namespace_arg(ns)?, &sel)?;
    items.iter().map(to_dynamic).collect()
}

fn logs(ctx: &NativeCallContext, c: &Cluster, ns: &str, pod: &str, options: &rhai::Map) -> ScriptResult<String> {
    let run = Run::from_context(ctx)?;
    check_options(options, &["container", "tail"], "logs")?;
    let container = options.get("container").filter(|v| !v.is_unit()).map(ToString::to_string);
    let tail = match options.get("tail").filter(|v| !v.is_unit()) {
        None => None,
        Some(t) => Some(t.as_int().map_err(|_| script_error("Invalid", "`tail` is a number of lines"))?),
    };
    reads::logs(&run, c, ns, pod, &LogOptions { container, tail })
}

fn patch(
    ctx: &NativeCallContext,
    c: &Cluster,
    (kind, ns, name): (&str, &Dynamic, &str),
    doc: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    check_options(options, &["type"], "patch")?;
    let how = match options.get("type") {
        None => PatchType::Merge,
        Some(t) => PatchType::parse(&t.to_string()).map_err(|e| script_error("Invalid", &e.to_string()))?,
    };
    let doc: Value = if doc.is_string() {
        serde_norway::from_str(&doc.to_string())
            .map_err(|e| script_error("Invalid", &format!("the patch is not YAML or JSON: {e}")))?
    } else {
        from_dynamic(doc, "the patch")?
    };
    to_dynamic(&writes::patch(&run, c, (kind, &namespace_arg(ns)?, name), &doc, how)?)
}

fn delete(
    ctx: &NativeCallContext,
    c: &Cluster,
    (kind, ns, name): (&str, &Dynamic, &str),
    options: &rhai::Map,
) -> ScriptResult<bool> {
    let run = Run::from_context(ctx)?;
    check_options(options, &["wait", "grace", "preconditions", "ignore_not_found"], "delete")?;
    let resolved = c.kind(&run, kind)?;
    let ns = scoped(&resolved, &namespace_arg(ns)?, false)?;
    let mut opts = DeleteOptions::default();
    if let Some(grace) = options.get("grace").filter(|v| !v.is_unit()) {
        let secs = duration_arg(grace, "`grace`")?.as_secs();
        opts.grace = Some(u32::try_from(secs).map_err(|_| script_error("Invalid", "`grace` is too long"))?);
    }
    if let Some(pre) = options.get("preconditions").filter(|v| !v.is_unit()) {
        let pre = pre
            .read_lock::<rhai::Map>()
            .ok_or_else(|| script_error("Invalid", "`preconditions` is a map with `uid` and/or `resourceVersion`"))?;
        check_options(&pre, &["uid", "resourceVersion"], "delete` `preconditions")?;
        opts.uid = pre.get("uid").map(ToString::to_string);
        opts.resource_version = pre.get("resourceVersion").map(ToString::to_string);
    }
    let ignore = options.get("ignore_not_found").is_some_and(|v| v.as_bool().unwrap_or(false));
    let wait_for = match options.get("wait") {
        None => None,
        Some(w) if w.as_bool() == Ok(false) || w.is_unit() => None,
        Some(w) if w.as_bool() == Ok(true) => Some(DEFAULT_TIMEOUT),
        Some(w) => Some(duration_arg(w, "`wait`")?),
    };
    let deleted = writes::delete(&run, c, (&resolved, &ns, name), &opts, ignore)?;
    if let (true, Some(timeout)) = (deleted, wait_for) {
        let until = Until::from_dynamic(&Dynamic::from("deleted"))?;
        let _gone = wait::wait(ctx, &run, c, (kind, &ns, name), &until, timeout)?;
    }
    Ok(deleted)
}

fn wait(
    ctx: &NativeCallContext,
    c: &Cluster,
    (kind, ns, name): (&str, &Dynamic, &str),
    condition: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options(options, &["timeout"], "wait")?;
    let timeout = options.get("timeout").map_or(Ok(DEFAULT_TIMEOUT), |t| duration_arg(t, "`timeout`"))?;
    let until = Until::from_dynamic(condition)?;
    wait::wait(ctx, &run, c, (kind, &namespace_arg(ns)?, name), &until, timeout)
}
