//! `argocd::` - Argo CD applications through their `Application` custom
//! resource (`applications.argoproj.io`), with no argocd CLI: status
//! reads, syncs (the Application's `operation` field, patched through the
//! effects gate, so a dry run is the API server's own `dryRun=All`), waits
//! on the Kubernetes family's watch (virtual time on worlds), and Helm
//! parameters and values on the Application's source. On worlds the
//! simulated controller completes syncs as the world's `argocd:` section
//! says (see `backends::argocd::world`).

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::k8s::cluster::{from_dynamic, to_dynamic, Cluster};
use super::k8s::wait::{self, Until, DEFAULT_TIMEOUT};
use super::k8s::{reads, writes};
use super::options::Options;
use super::{script_error, ScriptResult};
use crate::backends::argocd::{self as argo, Goal, KIND};
use crate::backends::k8s::{PatchType, Selector};
use crate::effects::Permit;
use crate::run::Run;

#[export_module]
pub(crate) mod argocd {
    /// An open kube context.
    pub type Cluster = super::Cluster;

    /// An Argo CD application's state: `#{name, namespace, project,
    /// sync_status, health, synced, healthy, revision, operation, message,
    /// pending, source, auto_sync, self_heal, auto_prune, suspended,
    /// parent}`. `sync_status` and `health` are Argo CD's words
    /// (`Synced`/`OutOfSync`, `Healthy`/`Progressing`/`Degraded`/...;
    /// `Unknown` before the controller has looked; not `sync`, which is
    /// reserved in Rhai), `synced` and `healthy` the same as booleans;
    /// `operation` is the phase of
    /// the newest operation (`Running`, `Succeeded`, `Failed`, or `""`);
    /// `pending` is true while a sync is asked for or running; `source` is
    /// the Application's `spec.source` (`repoURL`, `path`, `targetRevision`,
    /// `helm`, ...); `auto_sync` whether Argo CD syncs it by itself
    /// (`spec.syncPolicy.automated`), `self_heal` and `auto_prune` how;
    /// `suspended` whether `argocd::suspend_auto_sync` suspended that;
    /// `parent` the app of apps that manages it, or `""`. `NotFound` when
    /// there is no such Application.
    ///
    /// ```rhai
    /// let app = argocd::app(k8s::cluster("green"), "argocd", "nublado");
    /// print(`${app.sync_status} ${app.health} at ${app.revision}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn app(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        super::summary(&super::get_app(&run, &cluster, ns, name)?)
    }

    /// Every Argo CD application in namespace `ns`, as `argocd::app`
    /// describes them.
    ///
    /// ```rhai
    /// let stale = argocd::apps(k8s::cluster("green"), "argocd").filter(|a| !a.synced);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn apps(ctx: NativeCallContext, cluster: Cluster, ns: &str) -> Result<Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let apps = reads::list(&run, &cluster, KIND, ns, &Selector::default())?;
        apps.iter().map(|a| super::summary(a).map(Dynamic::from_map)).collect()
    }

    /// Asks Argo CD to sync an application, as `argocd app sync` does (the
    /// name is `sync_app` because `sync` is reserved in Rhai): sets
    /// its `operation` (a mutation through the gate; a dry run has the API
    /// server validate the patch with `dryRun=All`). Returns the
    /// application's state right after (`pending: true`; in a dry run
    /// `planned: true`, as nothing was asked); follow with `argocd::wait`.
    /// `Conflict` if an operation is already under way.
    ///
    /// ```rhai
    /// let green = k8s::cluster("green");
    /// argocd::sync_app(green, "argocd", "science-platform");
    /// argocd::wait(green, "argocd", "science-platform");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn sync_app(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::sync(&ctx, &cluster, ns, name, &rhai::Map::new())
    }

    /// `argocd::sync_app` with options: `prune` (delete objects the application
    /// no longer has; default false) and `revision` (the git revision or
    /// chart version to sync to; default the application's target).
    ///
    /// ```rhai
    /// argocd::sync_app(k8s::cluster("green"), "argocd", "nublado", #{ prune: true, revision: "main" });
    /// ```
    #[rhai_fn(name = "sync_app", return_raw)]
    pub fn sync_app_with(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::sync(&ctx, &cluster, ns, name, &options)
    }

    /// Waits until an application has no operation under way and is
    /// `Synced` and `Healthy` (timeout 5 minutes; virtual time on worlds).
    /// Returns its state. `Timeout` when it is not, `Failed` when its sync
    /// failed.
    ///
    /// ```rhai
    /// let app = argocd::wait(k8s::cluster("green"), "argocd", "nublado");
    /// print(app.revision);
    /// ```
    #[rhai_fn(name = "wait", return_raw)]
    pub fn wait_for(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait(&ctx, &cluster, ns, name, &rhai::Map::new())
    }

    /// `argocd::wait` with options: `synced` and `healthy` (each default
    /// true; false: not waited for) and `timeout` (default `"5m"`).
    ///
    /// ```rhai
    /// argocd::wait(k8s::cluster("green"), "argocd", "mobu", #{ healthy: false, timeout: "10m" });
    /// ```
    #[rhai_fn(name = "wait", return_raw)]
    pub fn wait_with(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait(&ctx, &cluster, ns, name, &options)
    }

    /// Suspends an application's automated sync (Argo CD would otherwise
    /// undo a window's deletions at once when it self-heals): removes
    /// `spec.syncPolicy.automated`, keeping the policy in the annotation
    /// `hubops.dev/suspended-auto-sync` so `argocd::resume_auto_sync` puts
    /// back exactly that. A mutation through the gate (a dry run has the
    /// API server validate the patch); nothing to change, and no change,
    /// when it does not sync by itself. Returns its state (`suspended`)
    /// with `automated`, the policy it had (`()` when none), for
    /// `argocd::resume_auto_sync`.
    ///
    /// ```rhai
    /// let app = argocd::suspend_auto_sync(k8s::cluster("rsp"), "argocd", "nublado2");
    /// if app.suspended { must_undo("auto-sync nublado2", "auto-sync of nublado2 suspended", "argocd::resume_auto_sync"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn suspend_auto_sync(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::auto_sync(&ctx, &cluster, ns, name, true)
    }

    /// Puts back the automated sync `argocd::suspend_auto_sync` suspended
    /// (from the annotation it left) and removes the annotation. A mutation
    /// through the gate; no change when hubops suspended nothing there.
    /// Returns the application's state.
    ///
    /// ```rhai
    /// argocd::resume_auto_sync(k8s::cluster("rsp"), "argocd", "nublado2");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn resume_auto_sync(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::auto_sync(&ctx, &cluster, ns, name, false)
    }

    /// Sets an application's automated sync policy to `automated` (the
    /// `automated` that `argocd::suspend_auto_sync` returned) and removes
    /// hubops' annotation: always a change, so a dry run plans the resume
    /// its suspension would need. Returns the application's state.
    ///
    /// ```rhai
    /// let held = argocd::suspend_auto_sync(rsp, "argocd", "nublado2");
    /// argocd::resume_auto_sync(rsp, "argocd", "nublado2", held.automated);
    /// ```
    #[rhai_fn(name = "resume_auto_sync", return_raw)]
    pub fn resume_auto_sync_to(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        automated: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::resume_to(&ctx, &cluster, ns, name, automated)
    }

    /// Sets Helm parameters on the application's source
    /// (`spec.source.helm.parameters`, as `argocd app set -p` does):
    /// parameters named in the map are replaced or added, the others kept.
    /// A mutation through the gate; Argo CD applies it at the next sync.
    ///
    /// ```rhai
    /// argocd::set_helm_parameters(k8s::cluster("green"), "argocd", "nublado",
    ///     #{ "jupyterhub.hub.baseUrl": "/n3" });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set_helm_parameters(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        parameters: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let app = super::get_app(&run, &cluster, ns, name)?;
        let params = from_dynamic(&parameters.into(), "the parameters")?;
        let Value::Object(params) = params else { return Err(script_error("Invalid", "parameters are a map")) };
        if let Some((key, _)) = params.iter().find(|(_, v)| v.is_object() || v.is_array() || v.is_null()) {
            return Err(script_error("Invalid", &format!("parameter `{key}` must be a string, number or bool")));
        }
        let doc = super::argo::helm_parameters(&app, &params).map_err(|e| script_error("Usage", &e))?;
        super::summary(&writes::patch(&run, &cluster, (KIND, ns, name), &doc, PatchType::Merge)?)
    }

    /// Merges Helm values into the application's source
    /// (`spec.source.helm.valuesObject`; a `()` value removes a key).
    /// A mutation through the gate; Argo CD applies it at the next sync.
    ///
    /// ```rhai
    /// argocd::set_helm_values(k8s::cluster("green"), "argocd", "nublado2",
    ///     #{ jupyterhub: #{ hub: #{ baseUrl: "/n2" } } });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set_helm_values(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        values: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let app = super::get_app(&run, &cluster, ns, name)?;
        let values = from_dynamic(&values.into(), "the values")?;
        let doc = super::argo::helm_values(&app, &values).map_err(|e| script_error("Usage", &e))?;
        super::summary(&writes::patch(&run, &cluster, (KIND, ns, name), &doc, PatchType::Merge)?)
    }
}

fn summary(app: &Value) -> ScriptResult<rhai::Map> {
    to_dynamic(&argo::summary(app))
        .try_cast::<rhai::Map>()
        .ok_or_else(|| script_error("Internal", "application summary is not a map"))
}

fn not_found(c: &Cluster, ns: &str, name: &str) -> Box<EvalAltResult> {
    script_error(
        "NotFound",
        &format!("Argo CD application `{name}` not found in namespace `{ns}` of cluster `{}`", c.context()),
    )
}

fn get_app(run: &Run, c: &Cluster, ns: &str, name: &str) -> ScriptResult<Value> {
    reads::get_opt(run, c, KIND, ns, name)?.ok_or_else(|| not_found(c, ns, name))
}

fn sync(ctx: &NativeCallContext, c: &Cluster, ns: &str, name: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let options = Options::new("argocd::sync_app", options, &["prune", "revision"])?;
    let prune = options.bool("prune")?.unwrap_or(false);
    let revision = options.str("revision")?;
    get_app(&run, c, ns, name)?;
    let kind = c.kind(&run, KIND)?;
    let doc = argo::sync_operation(prune, revision.as_deref());
    let change = c.change("sync", kind.describe(ns, name), ns).before_after(None, Some(doc.clone()));
    // Whether a sync runs already is asked when the sync is sent, not
    // before the gate: a resumed run is handed back the sync it started
    // (which is running now) instead of being refused by it.
    let app = run.change(change, async |p: &Permit| {
        let now = c.0.get_opt(&kind, ns, name).await?;
        if now.as_ref().is_some_and(argo::pending) {
            return Err(crate::backends::k8s::Error::Api {
                code: 409,
                reason: "Conflict".into(),
                message: format!(
                    "Argo CD application `{name}` in namespace `{ns}` already has an operation in progress; wait for it with argocd::wait"
                ),
            });
        }
        argo::sync(&c.0, p, &kind, (ns, name), &doc).await
    })?;
    let planned = app.is_planned();
    let mut map = summary(&app.into_inner())?;
    map.insert("planned".into(), planned.into());
    Ok(map)
}

fn auto_sync(ctx: &NativeCallContext, c: &Cluster, ns: &str, name: &str, suspend: bool) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let app = get_app(&run, c, ns, name)?;
    let (verb, doc, before) = if suspend {
        ("suspend auto-sync", argo::suspend_patch(&app, run.lineage()), argo::automated(&app).cloned())
    } else {
        let doc = argo::resume_patch(&app).map_err(|e| script_error("Invalid", &e))?;
        ("resume auto-sync", doc, None)
    };
    let policy =
        argo::automated(&app).cloned().or_else(|| argo::suspended(&app).and_then(|r| r.get("automated").cloned()));
    let with_policy = |mut map: rhai::Map| {
        map.insert("automated".into(), policy.as_ref().map_or(Dynamic::UNIT, to_dynamic));
        map
    };
    let Some(doc) = doc else { return summary(&app).map(with_policy) };
    let kind = c.kind(&run, KIND)?;
    let after = doc.pointer("/spec/syncPolicy/automated").cloned();
    let change = c.change(verb, kind.describe(ns, name), ns).before_after(before, after);
    let outcome =
        run.change(change, async |p: &Permit| c.0.patch(p, &kind, (ns, name), &doc, PatchType::Merge).await)?;
    summary(&outcome.into_inner()).map(with_policy)
}

fn resume_to(
    ctx: &NativeCallContext,
    c: &Cluster,
    ns: &str,
    name: &str,
    automated: rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    get_app(&run, c, ns, name)?;
    let policy = from_dynamic(&automated.into(), "the automated policy")?;
    if !policy.is_object() {
        return Err(script_error(
            "Invalid",
            "an automated sync policy is a map such as #{ prune: true, selfHeal: true }",
        ));
    }
    let doc = serde_json::json!({
        "metadata": { "annotations": { argo::SUSPENDED: null } },
        "spec": { "syncPolicy": { "automated": policy } },
    });
    let kind = c.kind(&run, KIND)?;
    let change = c.change("resume auto-sync", kind.describe(ns, name), ns).before_after(None, Some(policy));
    let outcome =
        run.change(change, async |p: &Permit| c.0.patch(p, &kind, (ns, name), &doc, PatchType::Merge).await)?;
    summary(&outcome.into_inner())
}

fn wait(ctx: &NativeCallContext, c: &Cluster, ns: &str, name: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let options = Options::new("argocd::wait", options, &["synced", "healthy", "timeout"])?;
    let goal =
        Goal { synced: options.bool("synced")?.unwrap_or(true), healthy: options.bool("healthy")?.unwrap_or(true) };
    let timeout = options.positive_duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    get_app(&run, c, ns, name)?;
    let kind = c.kind(&run, KIND)?;
    c.read(&run, async |k| argo::notice(k, &kind, (ns, name)))?;
    let until = Until::Check(Box::new(move |app| goal.over(app)), goal.describe());
    let found = wait::wait(ctx, &run, c, (KIND, ns, name), &until, timeout)?;
    if found.is_unit() {
        return Err(not_found(c, ns, name));
    }
    let app = from_dynamic(&found, "the application")?;
    if let (false, Some(why)) = (goal.met(&app), argo::failed(&app)) {
        return Err(script_error(
            "Failed",
            &format!("the sync of Argo CD application `{name}` in namespace `{ns}` failed: {why}"),
        ));
    }
    summary(&app)
}
