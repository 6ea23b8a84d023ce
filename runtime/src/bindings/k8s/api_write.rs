//! `k8s::` writes (each one change through the effects gate) and waits.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::cluster::{from_dynamic, namespace_arg, scoped, selector, to_dynamic, Cluster};
use super::wait::{self, Until, DEFAULT_TIMEOUT};
use super::writes;
use crate::backends::k8s::{parse_manifests, DeleteOptions, PatchType};
use crate::bindings::options::{duration, Options};
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

#[export_module]
pub(crate) mod k8s_write {
    /// An open kube context.
    pub type Cluster = super::Cluster;

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
        Ok(to_dynamic(&writes::apply_one(&run, c, &obj, false)?))
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
        docs.iter().map(|d| writes::apply_one(&run, c, d, false).map(|o| to_dynamic(&o))).collect()
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
        Ok(to_dynamic(&writes::apply_one(&run, c, &obj, true)?))
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
        let sel = selector("delete_all", &options)?;
        if sel.labels.is_none() && sel.fields.is_none() {
            return Err(script_error(
                "Usage",
                "`delete_all` needs `labels` or `fields`: it never deletes a whole kind",
            ));
        }
        let names = writes::delete_all(&run, c, kind, &namespace_arg(&ns)?, &sel)?;
        Ok(names.into_iter().map(Dynamic::from).collect())
    }

    /// Sets the replicas of a `Deployment`, `StatefulSet` or `ReplicaSet`; returns
    /// the `scale` subresource's answer (`#{spec: #{replicas}, status: ...}`).
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
        Ok(to_dynamic(&writes::scale(&run, c, (kind, &namespace_arg(&ns)?, name), replicas)?))
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
}

fn patch(
    ctx: &NativeCallContext,
    c: &Cluster,
    (kind, ns, name): (&str, &Dynamic, &str),
    doc: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    let options = Options::new("patch", options, &["type"])?;
    let how = match options.str("type")? {
        None => PatchType::Merge,
        Some(t) => PatchType::parse(&t).map_err(|e| script_error("Invalid", &e.to_string()))?,
    };
    let doc: Value = if doc.is_string() {
        serde_norway::from_str(&doc.to_string())
            .map_err(|e| script_error("Invalid", &format!("the patch is not YAML or JSON: {e}")))?
    } else {
        from_dynamic(doc, "the patch")?
    };
    Ok(to_dynamic(&writes::patch(&run, c, (kind, &namespace_arg(ns)?, name), &doc, how)?))
}

fn delete(
    ctx: &NativeCallContext,
    c: &Cluster,
    (kind, ns, name): (&str, &Dynamic, &str),
    options: &rhai::Map,
) -> ScriptResult<bool> {
    let run = Run::from_context(ctx)?;
    let options = Options::new("delete", options, &["wait", "grace", "preconditions", "ignore_not_found"])?;
    let resolved = c.kind(&run, kind)?;
    let ns = scoped(&resolved, &namespace_arg(ns)?, false)?;
    let mut opts = DeleteOptions::default();
    if let Some(grace) = options.duration("grace")? {
        opts.grace = Some(u32::try_from(grace.as_secs()).map_err(|_| script_error("Invalid", "`grace` is too long"))?);
    }
    if let Some(pre) = options.map("preconditions")? {
        let pre = Options::new("delete` `preconditions", &pre, &["uid", "resourceVersion"])?;
        opts.uid = pre.get("uid").map(ToString::to_string);
        opts.resource_version = pre.get("resourceVersion").map(ToString::to_string);
    }
    let ignore = options.bool("ignore_not_found")?.unwrap_or(false);
    let wait_for = match options.get("wait") {
        None => None,
        Some(w) if w.as_bool() == Ok(false) => None,
        Some(w) if w.as_bool() == Ok(true) => Some(DEFAULT_TIMEOUT),
        Some(w) => Some(duration(w, "`wait`")?),
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
    let timeout = Options::new("wait", options, &["timeout"])?.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    let until = Until::from_dynamic(condition)?;
    wait::wait(ctx, &run, c, (kind, &namespace_arg(ns)?, name), &until, timeout)
}
