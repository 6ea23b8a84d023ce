//! The world's `clusters:` section: one entry per kube context, holding the
//! cluster's objects as ordinary manifests, plus what a manifest cannot say
//! (container logs, the files in pods, changes that happen by themselves
//! over virtual time). Object operations are in [`super::store`].
//!
//! ```yaml
//! clusters:
//!   blue:
//!     server: https://blue.example.org   # shown in messages (optional)
//!     current: true                      # the current context (optional)
//!     unreachable: false                 # true: the API server never answers
//!     objects:                           # manifests, status included
//!       - {apiVersion: v1, kind: Namespace, metadata: {name: daskhub}}
//!     logs:                              # "ns/pod" or "ns/pod/container"
//!       daskhub/hub-0: "started\n"
//!     files:                             # a pod's files: "ns/pod" -> path -> text
//!       daskhub/hub-0: {/srv/jupyterhub/jupyterhub.sqlite: "..."}
//!     events:                            # changes at a virtual time after start
//!       - {after: 2m, apply: {apiVersion: v1, kind: Pod, ...}}
//!       - {after: 5m, delete: {kind: pod, namespace: daskhub, name: hub-0}}
//!     finalizers:                        # how long each finalizer's controller takes
//!       nublado.lsst.io/cleanup: 3m      #   to clear it once its object is deleted
//! ```
//!
//! An object deleted while its `metadata.finalizers` is not empty stays, as
//! the API server keeps it: it gets a `deletionTimestamp` (a namespace also
//! `status.phase: Terminating`, loses its contents at once and refuses new
//! ones), and goes once the last finalizer is cleared. Each finalizer named
//! under `finalizers:` is cleared that long after the delete (an event
//! `finalize` in `events`, so a saved world keeps the countdown); one the
//! section does not name is never cleared, as when its controller is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::world::WorldPart;

/// The `clusters:` section.
#[derive(Debug, Clone, Default)]
pub struct K8sWorld {
    /// Clusters by context name.
    pub clusters: BTreeMap<String, ClusterWorld>,
    /// Virtual time (since the world's start) up to which events were applied.
    settled: Duration,
    /// The world's start, once a caller said it (events stamp times by it).
    pub(crate) start: Option<jiff::Timestamp>,
    /// Files copied out of pods during the run (`copy_from`): on a world
    /// they land here, never on disk. Not saved.
    pub local: BTreeMap<String, Vec<u8>>,
}

/// One simulated cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterWorld {
    /// The API server URL, for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Whether this is the current context.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
    /// Whether the API server is down.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
    /// Every object, as a manifest.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// Container logs: `ns/pod` or `ns/pod/container` -> text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub logs: BTreeMap<String, String>,
    /// Files in pods: `ns/pod` -> path -> text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, BTreeMap<String, String>>,
    /// Changes that happen by themselves, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ScheduledEvent>,
    /// Finalizer -> how long its controller takes to clear it from a
    /// deleted object (`3m`); finalizers not named are never cleared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub finalizers: BTreeMap<String, String>,
    /// Last resourceVersion handed out.
    #[serde(skip)]
    pub(crate) revision: u64,
    /// What the call being answered needs to know of the rest of the world
    /// (set for the call only).
    #[serde(skip)]
    pub(crate) moment: Moment,
    /// The virtual time of the change being made (since the world's start,
    /// and as a time), when the caller knows it: deletions with finalizers
    /// stamp and schedule by it.
    #[serde(skip)]
    pub(crate) now: Option<(Duration, jiff::Timestamp)>,
}

/// The run's clock and the world's faults, as one call on a cluster sees
/// them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Moment {
    /// Now, on the run's clock.
    pub(crate) now: Option<jiff::Timestamp>,
    /// Pods that a delete leaves `Terminating`: (namespace or any, name).
    pub(crate) stuck_pods: Vec<(Option<String>, String)>,
}

/// A change that happens by itself at a virtual time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledEvent {
    /// When, after the world's start: `90s`, `2m`.
    pub after: String,
    /// Creates or updates this object (a merge of the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<Value>,
    /// Deletes this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<ObjectKey>,
    /// Clears a finalizer from a deleted object (which then goes, once it
    /// has none left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize: Option<Finalize>,
}

/// A finalizer to clear from an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finalize {
    /// The object's kind, as kubectl accepts it.
    pub kind: String,
    /// Its namespace (absent for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The finalizer.
    pub finalizer: String,
}

/// An object named by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectKey {
    /// The kind, as kubectl accepts it.
    pub kind: String,
    /// The namespace (absent for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ScheduledEvent {
    pub(crate) fn at(&self) -> Duration {
        crate::duration::parse(&self.after).unwrap_or_default()
    }

    /// Creates or updates `obj` at `after`.
    #[must_use]
    pub fn apply(after: String, obj: Value) -> Self {
        Self { after, apply: Some(obj), delete: None, finalize: None }
    }

    /// Deletes `key` at `after`.
    #[must_use]
    pub fn delete(after: String, key: ObjectKey) -> Self {
        Self { after, apply: None, delete: Some(key), finalize: None }
    }
}

impl WorldPart for K8sWorld {
    fn snapshot(&self) -> Value {
        self.snapshot_after(Duration::ZERO)
    }
    fn settle(&mut self, elapsed: Duration, _now: jiff::Timestamp) {
        K8sWorld::settle(self, elapsed);
    }
    fn snapshot_after(&self, elapsed: Duration) -> Value {
        // The saved world starts where the run left it: changes still to
        // come move that much earlier, and those already due have happened.
        let mut world = self.clone();
        world.settle(elapsed);
        for cluster in world.clusters.values_mut() {
            for event in &mut cluster.events {
                event.after = crate::duration::format(event.at().saturating_sub(elapsed));
            }
        }
        serde_json::to_value(world.clusters).unwrap_or(Value::Null)
    }
}

/// Loads the `clusters:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let clusters: BTreeMap<String, ClusterWorld> =
        serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    let mut world = K8sWorld { clusters, settled: Duration::ZERO, start: None, local: BTreeMap::new() };
    for (context, cluster) in &mut world.clusters {
        for (i, obj) in cluster.objects.iter().enumerate() {
            let kind = obj.get("kind").and_then(Value::as_str);
            let api_version = obj.get("apiVersion").and_then(Value::as_str);
            let name = super::name_of(obj);
            if kind.is_none() || api_version.is_none() || name.is_none() {
                return Err(format!(
                    "cluster `{context}`, object {}: a manifest needs `apiVersion`, `kind` and `metadata.name`",
                    i + 1
                ));
            }
        }
        for event in &cluster.events {
            crate::duration::parse(&event.after).map_err(|e| format!("cluster `{context}`: event `after`: {e}"))?;
            let actions = [event.apply.is_some(), event.delete.is_some(), event.finalize.is_some()];
            if actions.iter().filter(|a| **a).count() != 1 {
                return Err(format!("cluster `{context}`: an event has one of `apply`, `delete` or `finalize`"));
            }
        }
        for (finalizer, after) in &cluster.finalizers {
            crate::duration::parse(after).map_err(|e| format!("cluster `{context}`: finalizer `{finalizer}`: {e}"))?;
        }
        cluster.events.sort_by_key(ScheduledEvent::at);
        cluster.normalize();
    }
    if world.clusters.values().filter(|c| c.current).count() > 1 {
        return Err("more than one cluster is marked `current`".into());
    }
    Ok(Box::new(world))
}

impl K8sWorld {
    /// Applies every event due by `elapsed` (virtual time since the start).
    pub fn settle(&mut self, elapsed: Duration) {
        if elapsed < self.settled {
            return;
        }
        let start = self.start;
        for cluster in self.clusters.values_mut() {
            while cluster.events.first().is_some_and(|e| e.at() <= elapsed) {
                let event = cluster.events.remove(0);
                let at = event.at();
                let when = start.and_then(|s| s.checked_add(at).ok()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                cluster.now = Some((at, when));
                cluster.happen(&event);
            }
            cluster.now = None;
        }
        self.settled = elapsed;
    }

    /// The current context: the one marked `current`, or the only one.
    #[must_use]
    pub fn current(&self) -> Option<&str> {
        self.clusters
            .iter()
            .find(|(_, c)| c.current)
            .map(|(n, _)| n.as_str())
            .or_else(|| (self.clusters.len() == 1).then(|| self.clusters.keys().next().map(String::as_str)).flatten())
    }
}

impl ClusterWorld {
    /// When the next scheduled change is due (since the world's start).
    #[must_use]
    pub fn next_event(&self) -> Option<Duration> {
        self.events.first().map(ScheduledEvent::at)
    }

    fn happen(&mut self, event: &ScheduledEvent) {
        // A scheduled change that no longer applies (its object is gone, its
        // kind unknown) is dropped, as a controller's would be.
        if let Some(obj) = &event.apply {
            if let Ok(kind) = self.kind_of_object(obj) {
                let ns = super::namespace_of(obj).unwrap_or("default").to_string();
                let _ = self.upsert(&kind, &ns, obj);
            }
        }
        if let Some(key) = &event.delete {
            if let Ok(kind) = self.resolve(&key.kind) {
                let _ = self.remove(
                    &kind,
                    key.namespace.as_deref().unwrap_or(""),
                    &key.name,
                    &super::DeleteOptions::default(),
                );
            }
        }
        if let Some(f) = &event.finalize {
            if let Ok(kind) = self.resolve(&f.kind) {
                self.clear_finalizer(&kind, f.namespace.as_deref().unwrap_or(""), &f.name, &f.finalizer);
            }
        }
    }

    /// Inserts an event after those due at the same time or earlier.
    pub fn schedule(&mut self, event: ScheduledEvent) {
        let when = event.at();
        let position = self.events.iter().position(|e| e.at() > when).unwrap_or(self.events.len());
        self.events.insert(position, event);
    }
}
