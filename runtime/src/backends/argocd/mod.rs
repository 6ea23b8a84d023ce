//! Argo CD through its `Application` custom resource
//! (`applications.argoproj.io`), with no argocd CLI and no Argo CD API
//! server: what an Application's status says ([`summary`]), the
//! `operation` a sync writes ([`sync_operation`]), Helm parameters on its
//! source ([`helm_parameters`]), when a wait is over ([`Goal`]), and the
//! sync itself ([`sync`]: a patch of the Application through the
//! Kubernetes family, live or on the world, where the simulated Argo CD
//! controller of [`world`] takes it up).
//!
//! Argo CD's controller starts an operation when `operation` is set on the
//! Application, reports it in `status.operationState`, and clears
//! `operation` once it has completed; a wait therefore also waits for the
//! operation to be gone.

use serde_json::{json, Map, Value};

use crate::backends::k8s::{self, Cluster, PatchType, ResourceKind};
use crate::effects::Permit;

pub mod world;

/// The kind name the Kubernetes family resolves.
pub const KIND: &str = "applications.argoproj.io";
/// The label Argo CD tracks an application's objects by.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The annotation hubops leaves on an Application whose automated sync it
/// suspended: the policy it had (and which run), so that it can be put
/// back exactly, by this run's rollback or a later run that finds it.
pub const SUSPENDED: &str = "hubops.dev/suspended-auto-sync";

fn text<'a>(app: &'a Value, pointer: &str) -> &'a str {
    app.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn or_unknown(value: &str) -> &str {
    if value.is_empty() {
        "Unknown"
    } else {
        value
    }
}

/// `#{name, namespace, project, sync_status, health, synced, healthy,
/// revision, operation, message, pending, source, auto_sync, self_heal,
/// auto_prune, suspended, parent}`: `sync_status` and
/// `health` are Argo CD's words (`Synced`,
/// `OutOfSync`, `Healthy`, `Progressing`, `Degraded`, ...; `Unknown` before
/// the controller has looked); `operation` is the phase of the newest
/// operation (`Running`, `Succeeded`, `Failed`, `Error`, or `""`), and
/// `pending` whether one is set and not yet completed. (`sync` is a
/// reserved word in Rhai, hence `sync_status`.) `auto_sync` says whether
/// Argo CD syncs it by itself (`spec.syncPolicy.automated`), `self_heal`
/// and `auto_prune` how; `suspended` whether hubops suspended that (see
/// [`SUSPENDED`]); `parent` the application that manages this Application
/// object (an app of apps, by its instance label), or `""`.
#[must_use]
pub fn summary(app: &Value) -> Value {
    let automated = automated(app);
    let flag = |k: &str| automated.and_then(|a| a.get(k)).and_then(Value::as_bool).unwrap_or(false);
    json!({
        "name": text(app, "/metadata/name"),
        "namespace": text(app, "/metadata/namespace"),
        "project": text(app, "/spec/project"),
        "sync_status": or_unknown(text(app, "/status/sync/status")),
        "health": or_unknown(text(app, "/status/health/status")),
        "synced": text(app, "/status/sync/status") == "Synced",
        "healthy": text(app, "/status/health/status") == "Healthy",
        "revision": text(app, "/status/sync/revision"),
        "operation": text(app, "/status/operationState/phase"),
        "message": text(app, "/status/operationState/message"),
        "pending": pending(app),
        "source": app.pointer("/spec/source").cloned()
            .or_else(|| app.pointer("/spec/sources").cloned())
            .unwrap_or(Value::Null),
        "auto_sync": automated.is_some(),
        "self_heal": flag("selfHeal"),
        "auto_prune": flag("prune"),
        "suspended": suspended(app).is_some(),
        "parent": app.pointer("/metadata/labels").and_then(|l| l.get(INSTANCE_LABEL)).and_then(Value::as_str).unwrap_or_default(),
    })
}

/// The automated sync policy, when Argo CD syncs the application by
/// itself (`automated` set and not `enabled: false`).
#[must_use]
pub fn automated(app: &Value) -> Option<&Value> {
    app.pointer("/spec/syncPolicy/automated")
        .filter(|a| a.is_object())
        .filter(|a| a.get("enabled").and_then(Value::as_bool) != Some(false))
}

/// What hubops recorded when it suspended the application's automated
/// sync: `{automated, by}`.
#[must_use]
pub fn suspended(app: &Value) -> Option<Value> {
    let text = app.pointer("/metadata/annotations").and_then(|a| a.get(SUSPENDED)).and_then(Value::as_str)?;
    serde_json::from_str(text).ok().or_else(|| Some(json!({ "automated": null, "by": text })))
}

/// The merge patch that suspends automated sync, recording the policy in
/// [`SUSPENDED`] (`by`: the run); `None` when it does not sync by itself.
#[must_use]
pub fn suspend_patch(app: &Value, by: &str) -> Option<Value> {
    let automated = automated(app)?;
    let record = json!({ "automated": automated, "by": by }).to_string();
    Some(json!({
        "metadata": { "annotations": { SUSPENDED: record } },
        "spec": { "syncPolicy": { "automated": null } },
    }))
}

/// The merge patch that puts back the automated sync [`suspend_patch`]
/// suspended; `None` when hubops suspended nothing there. `Err` when the
/// record is not one hubops wrote.
pub fn resume_patch(app: &Value) -> Result<Option<Value>, String> {
    let Some(record) = suspended(app) else { return Ok(None) };
    let automated = record.get("automated").filter(|a| a.is_object()).ok_or_else(|| {
        format!(
            "application `{}` has annotation `{SUSPENDED}` but it does not hold the policy to put back; set spec.syncPolicy.automated by hand and remove the annotation",
            text(app, "/metadata/name")
        )
    })?;
    Ok(Some(json!({
        "metadata": { "annotations": { SUSPENDED: null } },
        "spec": { "syncPolicy": { "automated": automated } },
    })))
}

/// Asks Argo CD to sync Application `at` (`(namespace, name)`): sets its
/// `operation` to `doc` ([`sync_operation`]). Live, a merge patch (under
/// `Permit::Check` with `dryRun=All`), which Argo CD's controller acts on;
/// on a world, the simulated controller starts the sync (under
/// `Permit::Check`, validated on a copy: nothing starts). Returns the
/// Application right after.
pub async fn sync(
    cluster: &Cluster,
    permit: &Permit,
    app_kind: &ResourceKind,
    at: (&str, &str),
    doc: &Value,
) -> Result<Value, k8s::Error> {
    match cluster {
        Cluster::Live(live) => live.patch(permit, app_kind, at, doc, PatchType::Merge).await,
        Cluster::World(world) => world::sync(world, permit, app_kind, at, doc),
    }
}

/// Before a wait: on a world, the simulated controller picks up an
/// operation that was set by other means (see [`world::notice`]); live,
/// Argo CD's own controller does, and nothing is needed.
pub fn notice(cluster: &Cluster, app_kind: &ResourceKind, at: (&str, &str)) -> Result<(), k8s::Error> {
    match cluster {
        Cluster::Live(_) => Ok(()),
        Cluster::World(world) => world::notice(world, app_kind, at),
    }
}

/// Whether an operation is set or still running.
#[must_use]
pub fn pending(app: &Value) -> bool {
    app.get("operation").is_some_and(|o| !o.is_null()) || text(app, "/status/operationState/phase") == "Running"
}

/// The merge patch that asks Argo CD to sync: the `operation` field, as
/// `argocd app sync` writes it.
#[must_use]
pub fn sync_operation(prune: bool, revision: Option<&str>) -> Value {
    let mut sync = json!({ "prune": prune, "syncStrategy": { "hook": {} } });
    if let Some(revision) = revision {
        sync["revision"] = json!(revision);
    }
    json!({ "operation": { "initiatedBy": { "username": "hubops" }, "sync": sync } })
}

/// The merge patch that sets Helm parameters (`name` -> value, as
/// strings, as Argo CD keeps them) on the Application's single source,
/// keeping the parameters it already has. Lists are replaced whole by a
/// merge patch, so the patch carries the full list.
pub fn helm_parameters(app: &Value, params: &Map<String, Value>) -> Result<Value, String> {
    let source = single_source(app)?;
    let mut list: Vec<Value> =
        source.pointer("/helm/parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    for (name, value) in params {
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match list.iter_mut().find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str())) {
            Some(existing) => existing["value"] = json!(value),
            None => list.push(json!({ "name": name, "value": value })),
        }
    }
    Ok(json!({ "spec": { "source": { "helm": { "parameters": list } } } }))
}

/// The merge patch that merges `values` into the source's Helm
/// `valuesObject` (`null` removes a key).
pub fn helm_values(app: &Value, values: &Value) -> Result<Value, String> {
    single_source(app)?;
    Ok(json!({ "spec": { "source": { "helm": { "valuesObject": values } } } }))
}

fn single_source(app: &Value) -> Result<&Value, String> {
    match (app.pointer("/spec/source"), app.pointer("/spec/sources")) {
        (Some(source), _) if source.is_object() => Ok(source),
        (_, Some(_)) => Err(format!(
            "application `{}` has several sources (`spec.sources`); hubops sets Helm parameters on `spec.source` only",
            text(app, "/metadata/name")
        )),
        _ => Err(format!("application `{}` has no `spec.source`", text(app, "/metadata/name"))),
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goal {
    /// `status.sync.status` is `Synced`.
    pub synced: bool,
    /// `status.health.status` is `Healthy`.
    pub healthy: bool,
}

impl Goal {
    /// `synced and healthy`, as the timeout message says it.
    #[must_use]
    pub fn describe(self) -> String {
        match (self.synced, self.healthy) {
            (true, true) => "synced and healthy".into(),
            (true, false) => "synced".into(),
            (false, true) => "healthy".into(),
            (false, false) => "done with its operation".into(),
        }
    }

    /// Whether the wait is over: no operation pending, and the goal met or
    /// the last operation failed (which the caller reports).
    #[must_use]
    pub fn over(self, app: Option<&Value>) -> bool {
        let Some(app) = app else { return false };
        !pending(app) && (self.met(app) || failed(app).is_some())
    }

    /// Whether the goal is met.
    #[must_use]
    pub fn met(self, app: &Value) -> bool {
        (!self.synced || text(app, "/status/sync/status") == "Synced")
            && (!self.healthy || text(app, "/status/health/status") == "Healthy")
    }
}

/// The message of a failed last operation (`Failed` or `Error`).
#[must_use]
pub fn failed(app: &Value) -> Option<String> {
    matches!(text(app, "/status/operationState/phase"), "Failed" | "Error")
        .then(|| text(app, "/status/operationState/message").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": { "name": "nublado", "namespace": "argocd" },
            "spec": { "project": "default", "source": { "repoURL": "https://github.com/lsst-sqre/phalanx", "path": "applications/nublado",
                      "helm": { "parameters": [{ "name": "global.host", "value": "rsp.example" }] } } },
            "status": { "sync": { "status": "OutOfSync", "revision": "abc" }, "health": { "status": "Healthy" } }
        })
    }

    #[test]
    fn summaries_and_goals() {
        let s = summary(&app());
        assert_eq!(
            (s["sync_status"].as_str(), s["health"].as_str(), s["pending"].as_bool()),
            (Some("OutOfSync"), Some("Healthy"), Some(false))
        );
        assert_eq!(summary(&json!({}))["sync_status"], json!("Unknown"));
        let goal = Goal { synced: true, healthy: true };
        assert!(!goal.over(Some(&app())));
        assert!(Goal { synced: false, healthy: true }.over(Some(&app())));
        let mut running = app();
        running["operation"] = json!({ "sync": {} });
        assert!(!Goal { synced: false, healthy: true }.over(Some(&running)));
        let mut failed_app = app();
        failed_app["status"]["operationState"] =
            json!({ "phase": "Failed", "message": "one or more objects failed to apply" });
        assert!(goal.over(Some(&failed_app)));
        assert_eq!(failed(&failed_app).as_deref(), Some("one or more objects failed to apply"));
        assert_eq!(goal.describe(), "synced and healthy");
    }

    #[test]
    fn suspending_and_resuming_automated_sync() {
        let mut app = app();
        assert_eq!(suspend_patch(&app, "run-1"), None, "not automated: nothing to suspend");
        app["spec"]["syncPolicy"] =
            json!({ "automated": { "prune": true, "selfHeal": true }, "syncOptions": ["CreateNamespace=true"] });
        let s = summary(&app);
        assert_eq!(
            (s["auto_sync"].as_bool(), s["self_heal"].as_bool(), s["suspended"].as_bool()),
            (Some(true), Some(true), Some(false))
        );
        let patch = suspend_patch(&app, "run-1").unwrap();
        crate::backends::k8s::patch::merge(&mut app, &patch);
        assert_eq!(app["spec"]["syncPolicy"], json!({ "syncOptions": ["CreateNamespace=true"] }));
        let s = summary(&app);
        assert_eq!((s["auto_sync"].as_bool(), s["suspended"].as_bool()), (Some(false), Some(true)));
        let back = resume_patch(&app).unwrap().unwrap();
        crate::backends::k8s::patch::merge(&mut app, &back);
        assert_eq!(app["spec"]["syncPolicy"]["automated"], json!({ "prune": true, "selfHeal": true }));
        assert_eq!(app["metadata"].get("annotations"), Some(&json!({})));
        assert_eq!(resume_patch(&app), Ok(None));
        app["metadata"]["annotations"] = json!({ SUSPENDED: "by hand" });
        assert!(resume_patch(&app).unwrap_err().contains("does not hold the policy"));
    }

    #[test]
    fn patches() {
        assert_eq!(
            sync_operation(true, Some("v2")),
            json!({ "operation": { "initiatedBy": { "username": "hubops" }, "sync": { "prune": true, "revision": "v2", "syncStrategy": { "hook": {} } } } })
        );
        let params: Map<String, Value> = serde_json::from_value(
            json!({ "global.host": "rsp2.example", "jupyterhub.hub.baseUrl": "/n3", "replicas": 2 }),
        )
        .unwrap();
        assert_eq!(
            helm_parameters(&app(), &params).unwrap()["spec"]["source"]["helm"]["parameters"],
            json!([{ "name": "global.host", "value": "rsp2.example" }, { "name": "jupyterhub.hub.baseUrl", "value": "/n3" }, { "name": "replicas", "value": "2" }])
        );
        let multi = json!({ "metadata": { "name": "x" }, "spec": { "sources": [] } });
        assert_eq!(
            helm_values(&multi, &json!({})).unwrap_err(),
            "application `x` has several sources (`spec.sources`); hubops sets Helm parameters on `spec.source` only"
        );
    }
}
