//! What the world's Argo CD controller does between syncs: self-heal (an
//! object an application tracks, deleted while the application syncs
//! automatically with `selfHeal`, is put back), and seeing a new revision
//! of the repository an application follows. Both are the world acting by
//! itself, as scheduled events of the cluster; hubops' own changes that
//! set them off passed the gate.

use std::time::Duration;

use serde_json::{json, Value};

use super::INSTANCE_LABEL;
use crate::backends::git::world::same_url;
use crate::backends::k8s::world::{K8sWorld, ScheduledEvent};
use crate::backends::k8s::world_cluster::{WorldCluster, SECTION as CLUSTERS};
use crate::backends::k8s::{name_of, namespace_of};
use crate::world::World;

/// How soon Argo CD's self-heal puts a deleted object back (its default
/// `--self-heal-timeout-seconds` is 5).
pub const SELF_HEAL_AFTER: Duration = Duration::from_secs(5);

/// Whether an Application syncs by itself, and with `selfHeal`.
fn self_heals(app: &Value) -> bool {
    let Some(automated) = app.pointer("/spec/syncPolicy/automated").filter(|a| a.is_object()) else { return false };
    automated.get("enabled").and_then(Value::as_bool) != Some(false)
        && automated.get("selfHeal").and_then(Value::as_bool) == Some(true)
}

/// The object as Argo CD would create it again: what git declares, which on
/// a world is what was deleted, without what the API server stamped.
fn again(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["uid", "resourceVersion", "deletionTimestamp", "creationTimestamp", "finalizers"] {
            meta.remove(field);
        }
    }
    obj
}

/// Objects hubops deleted from `cluster`: any tracked by an application
/// that self-heals comes back [`SELF_HEAL_AFTER`] later.
pub(crate) fn self_heal(cluster: &WorldCluster, deleted: &[Value]) {
    let elapsed = cluster.shared().elapsed();
    let _ = cluster.with(|c, _| {
        let apps: Vec<Value> = c
            .objects
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Application"))
            .cloned()
            .collect();
        for obj in deleted {
            let Some(owner) =
                obj.pointer("/metadata/labels").and_then(|l| l.get(INSTANCE_LABEL)).and_then(Value::as_str)
            else {
                continue;
            };
            if apps.iter().any(|a| name_of(a) == Some(owner) && self_heals(a)) {
                c.schedule(ScheduledEvent::apply(crate::duration::format(elapsed + SELF_HEAL_AFTER), again(obj)));
            }
        }
        Ok(())
    });
}

/// Origin's branch `branch` of the repository at `url` moved to
/// `revision`: every application that follows it sees the new revision at
/// `at` (virtual time since the world's start). It is `OutOfSync` when
/// `changed(its revision, its path)` says files under its path changed;
/// otherwise only its revision moves.
pub(crate) fn refresh(
    world: &mut World,
    url: &str,
    branch: &str,
    revision: &str,
    at: Duration,
    changed: &dyn Fn(&str, &str) -> bool,
) {
    let Some(clusters) = world.part_mut::<K8sWorld>(CLUSTERS) else { return };
    for cluster in clusters.clusters.values_mut() {
        let text = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let follows: Vec<Value> = cluster
            .objects
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Application"))
            .filter(|o| same_url(&text(o, "/spec/source/repoURL"), url))
            .filter(|o| {
                matches!(text(o, "/spec/source/targetRevision").as_str(), "" | "HEAD")
                    || text(o, "/spec/source/targetRevision") == branch
            })
            .cloned()
            .collect();
        for app in follows {
            let current = text(&app, "/status/sync/revision");
            let out_of_sync = current.is_empty() || changed(&current, &text(&app, "/spec/source/path"));
            let mut sync = json!({ "revision": revision });
            if out_of_sync {
                sync["status"] = json!("OutOfSync");
            }
            let seen = json!({
                "apiVersion": app.get("apiVersion").cloned().unwrap_or(Value::Null),
                "kind": "Application",
                "metadata": { "name": name_of(&app), "namespace": namespace_of(&app) },
                "status": { "sync": sync },
            });
            cluster.schedule(ScheduledEvent::apply(crate::duration::format(at), seen));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_heal_needs_automated_sync_with_self_heal() {
        let app = |policy: Value| json!({ "spec": { "syncPolicy": policy } });
        assert!(self_heals(&app(json!({ "automated": { "prune": true, "selfHeal": true } }))));
        assert!(!self_heals(&app(json!({ "automated": { "prune": true } }))));
        assert!(!self_heals(&app(json!({ "automated": { "selfHeal": true, "enabled": false } }))));
        assert!(!self_heals(&app(json!({ "automated": null }))));
        assert!(!self_heals(&json!({})));
        let gone = json!({ "metadata": { "name": "hub", "uid": "u", "resourceVersion": "3", "labels": { INSTANCE_LABEL: "nublado2" } } });
        assert_eq!(again(&gone)["metadata"], json!({ "name": "hub", "labels": { INSTANCE_LABEL: "nublado2" } }));
    }
}
