//! The simulated Argo CD controller of worlds, and the world's `argocd:`
//! section, which says what a sync of an Application does. Applications
//! themselves are ordinary objects in the cluster's `objects` (under
//! `clusters:`); this section only adds what a manifest cannot say.
//!
//! ```yaml
//! argocd:
//!   green:                      # kube context: a cluster of `clusters:`
//!     argocd/nublado:           # NAMESPACE/NAME of the Application
//!       desired:                # manifests a sync applies, labelled
//!         - apiVersion: apps/v1 #   app.kubernetes.io/instance: NAME
//!           kind: Deployment
//!           metadata: {name: hub, namespace: nublado}
//!         - when: {file: environments/values-idfdev.yaml, key: applications.nublado2, equals: true}
//!           manifest: {...}     # only while the synced revision says so
//!       sync_time: 30s          # virtual time a sync takes (default 10s)
//!       health: Healthy         # health after the sync (default Healthy)
//!       fails: "..."            # the sync fails with this message
//!       fails_times: 1          #   ... only the next N syncs (default: every one)
//!       revision: 4f2c1a9       # revision reported when the sync names none
//!       then:                   # changes after a successful sync (users come back)
//!         - {after: 5m, apply: {apiVersion: v1, kind: Namespace, ...}}
//! ```
//!
//! A sync (an `operation` set on the Application by `argocd::sync_app`;
//! one set by other means, such as `k8s::patch` or the world file, is
//! picked up when `argocd::wait` first looks) starts at once
//! (`status.operationState.phase: Running`); after `sync_time` of virtual
//! time the desired manifests are applied (with `prune`, objects carrying
//! the instance label that are no longer desired are deleted, and a pruned
//! Application takes the objects it tracks with it), and the Application
//! gets `status.sync.status: Synced`, `status.health.status`,
//! `status.operationState.phase: Succeeded` and no `operation`. A failing
//! sync applies nothing and ends `OutOfSync` with phase `Failed`. An
//! Application the section does not name syncs to no objects and ends
//! `Synced` and `Healthy`. Desired manifests of built-in namespaced kinds
//! without a namespace go to `spec.destination.namespace`; custom kinds
//! need theirs written out; a manifest whose namespace does not exist is
//! dropped, as the cluster would refuse it (list the `Namespace` first).
//!
//! The revision a sync deploys is the one its operation names, else the
//! section's `revision`, else (for an Application whose `repoURL` is one
//! of the world's `git:` repositories) the tip of its `targetRevision`
//! there, else what `status.sync.revision` says; `when` conditions read
//! the values files of that revision ([`plan`]). The world's controller
//! also reacts between syncs ([`react`]): with automated sync and
//! `selfHeal`, an object the application tracks that is deleted is put
//! back 5 seconds later; a new revision of its repository is seen as the
//! `git:` section's `refresh` says.
//!
//! The completion is scheduled as ordinary events of the cluster
//! (`clusters.CONTEXT.events`), so `--save-world` in the middle of a sync
//! writes a world in which it is still under way.

mod plan;
mod react;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::INSTANCE_LABEL;
use crate::backends::k8s::kinds::{self, ResourceKind};
use crate::backends::k8s::world::{ClusterWorld, ObjectKey, ScheduledEvent};
use crate::backends::k8s::world_cluster::WorldCluster;
use crate::backends::k8s::{name_of, namespace_of, Error, PatchType};
use crate::effects::Permit;
use crate::world::faults::{self, Call, Struck};
use crate::world::WorldPart;

pub(crate) use plan::Plan;
pub(crate) use react::{refresh, self_heal};

/// The section this module owns.
pub const SECTION: &str = "argocd";
/// How long a sync takes when the world does not say.
pub const DEFAULT_SYNC_TIME: Duration = Duration::from_secs(10);

/// What a sync of one Application does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppWorld {
    /// Manifests the sync applies, or `{when, manifest}` for one it applies
    /// only while the synced revision's values say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub desired: Vec<Value>,
    /// Virtual time a sync takes: `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_time: Option<String>,
    /// Health after the sync (default `Healthy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The sync fails with this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails: Option<String>,
    /// How many more syncs fail (`fails`); unset: every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails_times: Option<u32>,
    /// The revision reported when the sync names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Changes that follow a successful sync, `after` counted from its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<ScheduledEvent>,
}

/// The `argocd:` section: context -> `NAMESPACE/NAME` -> what a sync does.
#[derive(Debug, Clone, Default)]
pub struct ArgoWorld {
    /// By kube context, then by `namespace/name`.
    pub apps: BTreeMap<String, BTreeMap<String, AppWorld>>,
}

impl WorldPart for ArgoWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(&self.apps).unwrap_or(Value::Null)
    }
}

/// Loads the `argocd:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let apps: BTreeMap<String, BTreeMap<String, AppWorld>> =
        serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (context, by_name) in &apps {
        for (key, app) in by_name {
            let at = format!("`{context}` application `{key}`");
            if key.split('/').count() != 2 || key.split('/').any(str::is_empty) {
                return Err(format!("{at}: applications are keyed NAMESPACE/NAME"));
            }
            if let Some(t) = &app.sync_time {
                crate::duration::parse(t).map_err(|e| format!("{at}: `sync_time`: {e}"))?;
            }
            for (i, item) in app.desired.iter().enumerate() {
                plan::check_desired(item).map_err(|why| format!("{at}, desired object {}: {why}", i + 1))?;
            }
            for event in &app.then {
                crate::duration::parse(&event.after).map_err(|e| format!("{at}: `then` event `after`: {e}"))?;
                if event.apply.is_some() == event.delete.is_some() || event.finalize.is_some() {
                    return Err(format!("{at}: a `then` event has either `apply` or `delete`"));
                }
            }
        }
    }
    Ok(Box::new(ArgoWorld { apps }))
}

impl ArgoWorld {
    /// What the world says a sync of this Application does.
    #[must_use]
    pub fn app(&self, context: &str, ns: &str, name: &str) -> Option<&AppWorld> {
        self.apps.get(context).and_then(|apps| apps.get(&format!("{ns}/{name}")))
    }
}

/// When a sync starts, in virtual time.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Since the world's start.
    pub elapsed: Duration,
    /// Now.
    pub now: jiff::Timestamp,
}

/// A fault of the world's (`argocd-sync-fails`) that makes the sync of
/// Application `(ns, name)` fail; `starting`: a sync is about to start, so
/// the fault may strike (and is spent).
fn struck(cluster: &WorldCluster, (ns, name): (&str, &str), starting: bool) -> Option<String> {
    let mut world = cluster.shared().lock();
    let app = format!("{ns}/{name}");
    match faults::strike(&mut world, Call::ArgoSync { app: &app }, starting) {
        Some(Struck::SyncFails(why)) => Some(why),
        _ => None,
    }
}

/// Whether the Application has a sync to start: an `operation` (or one
/// about to be set) and no sync running.
fn sync_starts(cluster: &WorldCluster, app_kind: &ResourceKind, (ns, name): (&str, &str), setting: bool) -> bool {
    cluster.get_opt(app_kind, ns, name).ok().flatten().is_some_and(|app| {
        let running = app.pointer("/status/operationState/phase").and_then(Value::as_str) == Some("Running");
        !running && (setting || app.get("operation").is_some_and(|o| !o.is_null()))
    })
}

/// `argocd::sync_app` on a world: sets the `operation` (`doc`, a merge
/// patch) and the simulated controller starts the sync. Under
/// `Permit::Check` the patch is validated on a copy of the cluster and no
/// sync starts. Returns the Application as it is (would be) right after.
pub fn sync(
    cluster: &WorldCluster,
    permit: &Permit,
    app_kind: &ResourceKind,
    at: (&str, &str),
    doc: &Value,
) -> Result<Value, Error> {
    if permit.is_check() {
        return cluster.with(|c, _| c.patch(permit, app_kind, at, doc, PatchType::Merge));
    }
    let starting = sync_starts(cluster, app_kind, at, true);
    let mut plan = Plan::make(cluster, app_kind, at, doc.pointer("/operation"))?;
    if let Some(why) = struck(cluster, at, starting) {
        plan.fails = Some(why);
    }
    let (app, started) = cluster.with(|c, _| {
        c.patch(permit, app_kind, at, doc, PatchType::Merge)?;
        start_sync(c, app_kind, at, &plan)
    })?;
    if started {
        plan.spend_failure(cluster, at);
    }
    Ok(app)
}

/// The simulated controller noticing an `operation` set by other means
/// (`k8s::patch`, the world file) when a wait first looks, as Argo CD's
/// would: the world acting by itself, so no permit.
pub fn notice(cluster: &WorldCluster, app_kind: &ResourceKind, at: (&str, &str)) -> Result<(), Error> {
    let starting = sync_starts(cluster, app_kind, at, false);
    let mut plan = Plan::make(cluster, app_kind, at, None)?;
    if let Some(why) = struck(cluster, at, starting) {
        plan.fails = Some(why);
    }
    let (_, started) = cluster.with(|c, _| start_sync(c, app_kind, at, &plan))?;
    if started {
        plan.spend_failure(cluster, at);
    }
    Ok(())
}

/// Starts the sync that the `operation` set on Application `name` asks
/// for: marks it running and schedules its completion. Whoever set the
/// operation did so through the gate; this is the controller's part, which
/// the world does by itself (like its scheduled events), so it needs no
/// permit. An Application with no operation, or one already running, is
/// left alone (`false`: no sync started).
fn start_sync(
    cluster: &mut ClusterWorld,
    app_kind: &ResourceKind,
    (ns, name): (&str, &str),
    plan: &Plan,
) -> Result<(Value, bool), Error> {
    let app = cluster.get(app_kind, ns, name)?;
    let operation = app.get("operation").cloned().unwrap_or(Value::Null);
    if operation.is_null() || app.pointer("/status/operationState/phase").and_then(Value::as_str) == Some("Running") {
        return Ok((app, false));
    }
    let clock = &plan.clock;
    let started = clock.now.to_string();
    let running = json!({
        "apiVersion": app.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": app.get("kind").cloned().unwrap_or(Value::Null),
        "metadata": { "name": name, "namespace": ns },
        "status": { "operationState": { "phase": "Running", "message": "", "operation": operation, "startedAt": started } }
    });
    let app = cluster.upsert(app_kind, ns, &running)?;
    let done_after = clock.elapsed + plan.sync_time;
    let at = crate::duration::format(done_after);
    let finished = clock.now.checked_add(plan.sync_time).unwrap_or(clock.now).to_string();
    let revision = plan.revision.clone();
    let mut events = Vec::new();
    let status = if let Some(why) = &plan.fails {
        json!({
            "sync": { "status": "OutOfSync", "revision": app.pointer("/status/sync/revision").cloned().unwrap_or(Value::Null) },
            "health": { "status": app.pointer("/status/health/status").cloned().unwrap_or(json!("Missing")) },
            "operationState": { "phase": "Failed", "message": why, "operation": operation,
                                "startedAt": started, "finishedAt": finished }
        })
    } else {
        let destination = app.pointer("/spec/destination/namespace").and_then(Value::as_str);
        let desired: Vec<Value> = plan.desired.iter().map(|obj| tracked(obj, name, destination)).collect();
        let prune = operation.pointer("/sync/prune").and_then(Value::as_bool).unwrap_or(false);
        if prune && plan.declared {
            events
                .extend(pruned(cluster, name, &desired).into_iter().map(|key| ScheduledEvent::delete(at.clone(), key)));
        }
        events.extend(desired.into_iter().map(|obj| ScheduledEvent::apply(at.clone(), obj)));
        for then in &plan.then {
            let after = crate::duration::parse(&then.after).unwrap_or_default();
            events.push(ScheduledEvent { after: crate::duration::format(done_after + after), ..then.clone() });
        }
        json!({
            "sync": { "status": "Synced", "revision": revision },
            "health": { "status": plan.health.clone() },
            "operationState": { "phase": "Succeeded", "message": "successfully synced (all tasks run)",
                                "operation": operation, "startedAt": started, "finishedAt": finished,
                                "syncResult": { "revision": revision } },
            "reconciledAt": finished
        })
    };
    let done = json!({
        "apiVersion": app.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": app.get("kind").cloned().unwrap_or(Value::Null),
        "metadata": { "name": name, "namespace": ns },
        "operation": null,
        "status": status,
    });
    events.push(ScheduledEvent::apply(at, done));
    for event in events {
        cluster.schedule(event);
    }
    Ok((app, true))
}

/// A desired manifest as the sync applies it: labelled for tracking, and
/// in the destination namespace when it names none.
fn tracked(obj: &Value, app: &str, destination: Option<&str>) -> Value {
    let mut obj = obj.clone();
    obj["metadata"]["labels"][INSTANCE_LABEL] = json!(app);
    let namespaced = kinds::builtin_of_object(&obj).is_some_and(|k| k.namespaced);
    if namespaced && namespace_of(&obj).is_none() {
        if let Some(ns) = destination {
            obj["metadata"]["namespace"] = json!(ns);
        }
    }
    obj
}

fn identity(o: &Value) -> (Option<Value>, Option<Value>, Option<String>, Option<String>) {
    (
        o.get("apiVersion").cloned(),
        o.get("kind").cloned(),
        namespace_of(o).map(String::from),
        name_of(o).map(String::from),
    )
}

fn tracked_by<'a>(cluster: &'a ClusterWorld, app: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    cluster.objects.iter().filter(move |o| {
        o.pointer("/metadata/labels").and_then(|l| l.get(INSTANCE_LABEL)).and_then(Value::as_str) == Some(app)
    })
}

fn key_of(cluster: &ClusterWorld, o: &Value) -> Option<ObjectKey> {
    let kind = cluster.kind_of_object(o).ok()?;
    Some(ObjectKey {
        kind: kind.plural_query(),
        namespace: namespace_of(o).map(String::from),
        name: name_of(o).unwrap_or_default().to_string(),
    })
}

/// Objects the application tracks that are no longer desired; a pruned
/// Application's own objects go with it (Argo CD's resources finalizer).
fn pruned(cluster: &ClusterWorld, app: &str, desired: &[Value]) -> Vec<ObjectKey> {
    let wanted: Vec<_> = desired.iter().map(identity).collect();
    let mut out = Vec::new();
    for o in tracked_by(cluster, app).filter(|o| !wanted.contains(&identity(o))) {
        if o.get("kind").and_then(Value::as_str) == Some("Application") {
            let child = name_of(o).unwrap_or_default();
            out.extend(tracked_by(cluster, child).filter_map(|c| key_of(cluster, c)));
        }
        out.extend(key_of(cluster, o));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backends::k8s::world_cluster;
    use crate::clock::Clock;
    use crate::world::{Shared, World};

    const WORLD: &str = r"
name: argo
start: 2026-11-21T06:00:00Z
clusters:
  green:
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: argocd}}
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado}}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: nublado, namespace: argocd}
        spec: {project: default, destination: {namespace: nublado}}
argocd:
  green:
    argocd/nublado:
      desired:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
";

    fn green() -> WorldCluster {
        let sections: &[(&str, crate::world::SectionLoader)] =
            &[(world_cluster::SECTION, crate::backends::k8s::world::load_world), (SECTION, load_world)];
        let world = World::load(WORLD, "argo.yaml", sections).unwrap();
        let clock = Arc::new(Clock::starting_at(world.start()));
        WorldCluster::open(&Shared::new(world, clock), Some("green")).unwrap()
    }

    fn saved(c: &WorldCluster) -> String {
        let world = c.shared().lock();
        world.to_yaml(world.start())
    }

    #[test]
    fn a_checked_sync_answers_with_the_operation_and_starts_nothing() {
        let c = green();
        let kind = c.resolve(super::super::KIND).unwrap();
        let before = saved(&c);
        let doc = super::super::sync_operation(true, None);
        let app = sync(&c, &Permit::for_tests_check(), &kind, ("argocd", "nublado"), &doc).unwrap();
        assert_eq!(app["operation"]["sync"]["prune"], json!(true));
        assert_eq!(saved(&c), before);
        let app = sync(&c, &Permit::for_tests(), &kind, ("argocd", "nublado"), &doc).unwrap();
        assert_eq!(app.pointer("/status/operationState/phase"), Some(&json!("Running")));
        assert_ne!(saved(&c), before);
    }

    #[test]
    fn the_section_loads_and_round_trips() {
        let section = json!({ "green": { "argocd/nublado": {
            "desired": [{ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c", "namespace": "nublado" } }],
            "sync_time": "30s", "health": "Degraded"
        } } });
        let part = load_world(&section).unwrap();
        assert_eq!(part.snapshot(), section);
        let bad = json!({ "green": { "nublado": {} } });
        assert_eq!(
            load_world(&bad).unwrap_err(),
            "`green` application `nublado`: applications are keyed NAMESPACE/NAME"
        );
        let bad = json!({ "green": { "argocd/x": { "sync_time": "soon" } } });
        assert!(load_world(&bad).unwrap_err().starts_with("`green` application `argocd/x`: `sync_time`: "));
    }

    #[test]
    fn desired_objects_are_tracked_and_placed() {
        let obj = tracked(
            &json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" } }),
            "nublado",
            Some("nublado"),
        );
        assert_eq!(
            obj["metadata"],
            json!({ "name": "c", "namespace": "nublado", "labels": { INSTANCE_LABEL: "nublado" } })
        );
        let ns =
            tracked(&json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "n" } }), "a", Some("x"));
        assert!(ns["metadata"].get("namespace").is_none());
    }
}
