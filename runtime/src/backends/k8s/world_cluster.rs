//! One of the world's `clusters:` as a handle, the simulated half of
//! [`Cluster`](super::Cluster): the shared world, the context and the server
//! it answers as. Every call settles the changes scheduled up to now on the
//! run's clock, then reads or changes the cluster's part of the world
//! ([`super::store`], [`super::pods`]). An `unreachable: true` cluster
//! answers every call with `Unreachable`, as a dead API server would.
//!
//! Changes take the gate's [`Permit`]; under `Permit::Check` the cluster
//! validates them on a copy (see `store.rs`), so a dry run leaves the world
//! as it was.

use std::time::Duration;

use serde_json::Value;

use super::exec::{ExecTarget, Output};
use super::world::{ClusterWorld, K8sWorld};
use super::{DeleteOptions, Error, LogOptions, PatchType, ResourceKind, Selector};
use crate::effects::Permit;
use crate::world::Shared;

/// The world section the Kubernetes family owns.
pub const SECTION: &str = "clusters";

/// A simulated cluster: one context of the world's `clusters:`.
#[derive(Debug, Clone)]
pub struct WorldCluster {
    world: Shared,
    context: String,
    server: String,
}

impl WorldCluster {
    /// Opens a context (`None`: the one marked `current: true`, or the only
    /// one).
    pub fn open(world: &Shared, context: Option<&str>) -> Result<Self, Error> {
        let guard = world.lock();
        let part = guard.part::<K8sWorld>(SECTION);
        let known: Vec<String> = part.map(|p| p.clusters.keys().cloned().collect()).unwrap_or_default();
        let name = match context {
            Some(c) => c.to_string(),
            None => part
                .and_then(K8sWorld::current)
                .map(String::from)
                .ok_or_else(|| Error::Kubeconfig { message: "the world marks no cluster `current: true`".into() })?,
        };
        let Some(cluster) = part.and_then(|p| p.clusters.get(&name)) else {
            return Err(Error::UnknownContext { context: name, known });
        };
        let server = cluster.server.clone().unwrap_or_else(|| format!("https://{name}.world.example"));
        let down = crate::world::faults::of(&guard).is_some_and(|f| f.unreachable(&name, world.elapsed_of(&guard)));
        if cluster.unreachable || down {
            return Err(Error::Unreachable { context: name, server, source: None });
        }
        drop(guard);
        Ok(Self { world: world.clone(), context: name, server })
    }

    /// The context name.
    #[must_use]
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The API server URL it answers as.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The world it is part of (for families built on it: Argo CD, Helm).
    #[must_use]
    pub fn shared(&self) -> &Shared {
        &self.world
    }

    /// Runs `f` on this cluster's part of the world (and the section, for
    /// what is kept across clusters), after the scheduled changes due by
    /// now have happened.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut ClusterWorld, &mut K8sWorld) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let elapsed = self.world.elapsed();
        let now = self.world.now();
        let mut world = self.world.lock();
        let start = world.start();
        let missing = || Error::UnknownContext { context: self.context.clone(), known: Vec::new() };
        // The world's faults: an API server down for a while, pods that
        // never finish terminating (whoever deletes them: a binding, or a
        // change the world schedules).
        let faults = crate::world::faults::of(&world).cloned().unwrap_or_default();
        let down = faults.unreachable(&self.context, elapsed);
        let part = world.part_mut::<K8sWorld>(SECTION).ok_or_else(missing)?;
        for (context, cluster) in &mut part.clusters {
            cluster.moment = super::world::Moment { now: Some(now), stuck_pods: faults.stuck_pods(context) };
        }
        part.start = Some(start);
        part.settle(elapsed);
        // Taken out so that `f` can see both the cluster and the section.
        let mut cluster = part.clusters.remove(&self.context).ok_or_else(missing)?;
        cluster.now = Some((elapsed, now));
        let out = if cluster.unreachable || down {
            Err(Error::Unreachable { context: self.context.clone(), server: self.server.clone(), source: None })
        } else {
            f(&mut cluster, part)
        };
        cluster.now = None;
        part.clusters.insert(self.context.clone(), cluster);
        for cluster in part.clusters.values_mut() {
            cluster.moment = super::world::Moment::default();
        }
        out
    }

    /// Resolves a kind name: built-in kinds, CRDs in the world, kinds of the
    /// objects it holds.
    pub fn resolve(&self, text: &str) -> Result<ResourceKind, Error> {
        self.with(|c, _| c.resolve(text))
    }

    /// The kind of a manifest.
    pub fn kind_of_object(&self, obj: &Value) -> Result<ResourceKind, Error> {
        self.with(|c, _| c.kind_of_object(obj))
    }

    /// One object, or `None` when it does not exist.
    pub fn get_opt(&self, kind: &ResourceKind, ns: &str, name: &str) -> Result<Option<Value>, Error> {
        self.with(|c, _| match c.get(kind, ns, name) {
            Ok(obj) => Ok(Some(obj)),
            Err(Error::Api { code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// Selected objects of a kind in a namespace (`""`: all namespaces).
    pub fn list(&self, kind: &ResourceKind, ns: &str, selector: &Selector) -> Result<Vec<Value>, Error> {
        self.with(|c, _| c.list(kind, ns, selector))
    }

    /// A container's log.
    pub fn logs(&self, ns: &str, pod: &str, options: &LogOptions) -> Result<String, Error> {
        self.with(|c, _| c.logs(ns, pod, options))
    }

    /// Server-side apply, as the world does it (a merge).
    pub fn apply(&self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        self.with(|c, _| c.apply(permit, kind, ns, obj))
    }

    /// Creates an object.
    pub fn create(&self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        self.with(|c, _| c.create(permit, kind, ns, obj))
    }

    /// Patches an object.
    pub fn patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        at: (&str, &str),
        doc: &Value,
        how: PatchType,
    ) -> Result<Value, Error> {
        self.with(|c, _| c.patch(permit, kind, at, doc, how))
    }

    /// Sets the replicas of a scalable object.
    pub fn scale(&self, permit: &Permit, kind: &ResourceKind, at: (&str, &str), replicas: i64) -> Result<Value, Error> {
        self.with(|c, _| c.scale(permit, kind, at, replicas))
    }

    /// Deletes an object and what it owns; returns it. An object an Argo CD
    /// application tracks with automated sync and `selfHeal` comes back
    /// (the world's Argo CD controller, `argocd::world::self_heal`).
    pub fn delete(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        at: (&str, &str),
        options: &DeleteOptions,
    ) -> Result<Value, Error> {
        let deleted = self.with(|c, _| c.delete(permit, kind, at, options))?;
        if !permit.is_check() && deleted.pointer("/metadata/deletionTimestamp").is_none() {
            crate::backends::argocd::world::self_heal(self, std::slice::from_ref(&deleted));
        }
        Ok(deleted)
    }

    /// Deletes every selected object; returns their names.
    pub fn delete_all(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        ns: &str,
        selector: &Selector,
    ) -> Result<Vec<String>, Error> {
        let (names, deleted) = self.with(|c, _| {
            let before = c.list(kind, ns, selector)?;
            let names = c.delete_all(permit, kind, ns, selector)?;
            Ok((names, before))
        })?;
        if !permit.is_check() {
            let held =
                |o: &Value| o.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            let gone: Vec<Value> = deleted.into_iter().filter(|o| !held(o)).collect();
            crate::backends::argocd::world::self_heal(self, &gone);
        }
        Ok(names)
    }

    /// Runs a command against a pod's files (`None` under `Permit::Check`:
    /// the pod was checked, nothing ran).
    pub fn exec(
        &self,
        permit: &Permit,
        target: &ExecTarget,
        cmd: &[String],
        stdin: &[u8],
    ) -> Result<Option<Output>, Error> {
        self.with(|c, _| c.exec(permit, target, cmd, stdin))
    }

    /// Whether a pod holds a file: what a copy's check can know.
    pub(crate) fn has_file(&self, target: &ExecTarget, path: &str) -> Result<bool, Error> {
        self.with(|c, _| {
            c.exec_check(target)?;
            let key = format!("{}/{}", target.ns, target.pod);
            Ok(c.files.get(&key).is_some_and(|f| f.contains_key(path)))
        })
    }

    /// A file copied out of a pod earlier in the run (`copy_from` on a world
    /// writes to the run's scratch space, never to disk).
    pub(crate) fn scratch(&self, local: &str) -> Result<Option<Vec<u8>>, Error> {
        self.with(|_, part| Ok(part.local.get(local).cloned()))
    }

    /// Keeps a file copied out of a pod in the run's scratch space.
    pub(crate) fn keep(&self, permit: &Permit, local: &str, bytes: &[u8]) -> Result<(), Error> {
        if permit.is_check() {
            return Ok(());
        }
        self.with(|_, part| {
            part.local.insert(local.to_string(), bytes.to_vec());
            Ok(())
        })
    }

    /// How long until this cluster's next scheduled change, on the run's
    /// clock; `None` when nothing more is scheduled.
    pub fn next_change(&self) -> Result<Option<Duration>, Error> {
        let elapsed = self.world.elapsed();
        self.with(|c, _| Ok(c.next_event().map(|at| at.saturating_sub(elapsed))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::backends::k8s::kinds;
    use crate::clock::Clock;
    use crate::world::World;

    const WORLD: &str = r"
name: check
start: 2026-11-21T06:00:00Z
clusters:
  blue:
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: daskhub}}
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: hub, namespace: daskhub}
        spec: {replicas: 1, selector: {matchLabels: {component: hub}}}
      - apiVersion: v1
        kind: Pod
        metadata: {name: hub-0, namespace: daskhub, labels: {component: hub}}
        status: {phase: Running}
      - apiVersion: v1
        kind: Pod
        metadata: {name: jupyter-alice, namespace: daskhub, labels: {component: singleuser-server}}
        status: {phase: Running}
    files:
      daskhub/hub-0: {/srv/db: data}
";

    fn cluster() -> WorldCluster {
        let world = World::load(WORLD, "check.yaml", &[(SECTION, super::super::world::load_world)]).unwrap();
        let clock = Arc::new(Clock::starting_at(world.start()));
        WorldCluster::open(&Shared::new(world, clock), Some("blue")).unwrap()
    }

    fn kind(text: &str) -> ResourceKind {
        kinds::builtin(&kinds::parse(text)).unwrap()
    }

    fn saved(c: &WorldCluster) -> String {
        let world = c.shared().lock();
        world.to_yaml(world.start())
    }

    /// Every verb under `Permit::Check`: the answer the change would get,
    /// and the world exactly as it was.
    #[test]
    fn every_write_under_a_check_permit_answers_and_changes_nothing() {
        let c = cluster();
        let before = saved(&c);
        let check = Permit::for_tests_check();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cutover", "namespace": "daskhub"}, "data": {"state": "started"}});
        assert_eq!(c.apply(&check, &kind("cm"), "daskhub", &cm).unwrap()["data"]["state"], "started");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "restore"}});
        assert_eq!(c.create(&check, &kind("ns"), "", &ns).unwrap()["metadata"]["name"], "restore");
        let patched = c
            .patch(
                &check,
                &kind("deploy"),
                ("daskhub", "hub"),
                &json!({"metadata": {"labels": {"x": "y"}}}),
                PatchType::Merge,
            )
            .unwrap();
        assert_eq!(patched["metadata"]["labels"]["x"], "y");
        assert_eq!(c.scale(&check, &kind("deploy"), ("daskhub", "hub"), 0).unwrap()["spec"]["replicas"], 0);
        let gone = c.delete(&check, &kind("ns"), ("", "daskhub"), &DeleteOptions::default()).unwrap();
        assert_eq!(gone["metadata"]["name"], "daskhub");
        let labels = Selector { labels: Some("component=singleuser-server".into()), fields: None };
        assert_eq!(c.delete_all(&check, &kind("pods"), "daskhub", &labels).unwrap(), ["jupyter-alice"]);
        let hub = ExecTarget { ns: "daskhub".into(), pod: "hub-0".into(), container: None };
        assert_eq!(c.exec(&check, &hub, &["rm".into(), "/srv/db".into()], &[]).unwrap(), None);
        c.keep(&check, "local.db", b"x").unwrap();
        assert_eq!(c.scratch("local.db").unwrap(), None);
        // Refusals are the ones the change would get.
        let err = c.create(
            &check,
            &kind("ns"),
            "",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}}),
        );
        assert_eq!(err.unwrap_err().to_string(), "namespaces \"daskhub\" already exists");
        assert_eq!(saved(&c), before);
        assert!(c.has_file(&hub, "/srv/db").unwrap());
    }

    #[test]
    fn the_same_writes_under_an_apply_permit_change_the_world() {
        let c = cluster();
        let before = saved(&c);
        let apply = Permit::for_tests();
        c.scale(&apply, &kind("deploy"), ("daskhub", "hub"), 0).unwrap();
        assert_ne!(saved(&c), before);
        assert_eq!(c.get_opt(&kind("pod"), "daskhub", "hub-0").unwrap(), None, "scaling to 0 removes the pods");
        let hub = ExecTarget { ns: "daskhub".into(), pod: "jupyter-alice".into(), container: None };
        let out = c.exec(&apply, &hub, &["echo".into(), "hi".into()], &[]).unwrap().unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }

    const TERMINATING: &str = r"
name: finalizers
start: 2026-11-21T06:00:00Z
clusters:
  rsp:
    finalizers: {nublado.lsst.io/cleanup: 3m}
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado2-dave, finalizers: [nublado.lsst.io/cleanup]}}
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado2-erin, finalizers: [example.com/gone]}}
      - {apiVersion: v1, kind: Pod, metadata: {name: nb-dave, namespace: nublado2-dave}, status: {phase: Running}}
";

    fn rsp() -> WorldCluster {
        let world = World::load(TERMINATING, "f.yaml", &[(SECTION, super::super::world::load_world)]).unwrap();
        let clock = Arc::new(Clock::starting_at(world.start()));
        WorldCluster::open(&Shared::new(world, clock), Some("rsp")).unwrap()
    }

    #[test]
    fn a_namespace_with_finalizers_stays_terminating_until_they_clear() {
        let c = rsp();
        let ns = kind("ns");
        let apply = Permit::for_tests();
        let deleted = c.delete(&apply, &ns, ("", "nublado2-dave"), &DeleteOptions::default()).unwrap();
        assert_eq!(deleted["metadata"]["deletionTimestamp"], "2026-11-21T06:00:00Z");
        let now = c.get_opt(&ns, "", "nublado2-dave").unwrap().unwrap();
        assert_eq!(now["status"]["phase"], "Terminating");
        assert_eq!(c.get_opt(&kind("pod"), "nublado2-dave", "nb-dave").unwrap(), None, "its contents go at once");
        let cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "nublado2-dave"}});
        let err = c.create(&apply, &kind("cm"), "nublado2-dave", &cm).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to create new content in namespace nublado2-dave because it is being terminated"
        );
        assert_eq!(c.next_change().unwrap(), Some(Duration::from_mins(3)));
        // Deleting again changes nothing.
        c.delete(&apply, &ns, ("", "nublado2-dave"), &DeleteOptions::default()).unwrap();
        assert_eq!(c.next_change().unwrap(), Some(Duration::from_mins(3)));
        c.shared().clock().sleep(Duration::from_mins(3), &crate::cancel::Cancel::default(), |_| {}).unwrap();
        assert_eq!(c.get_opt(&ns, "", "nublado2-dave").unwrap(), None, "gone once its finalizer cleared");
    }

    #[test]
    fn a_finalizer_the_world_does_not_clear_holds_until_it_is_patched_away() {
        let c = rsp();
        let ns = kind("ns");
        let before = saved(&c);
        c.delete(&Permit::for_tests_check(), &ns, ("", "nublado2-erin"), &DeleteOptions::default()).unwrap();
        assert_eq!(saved(&c), before, "a checked delete marks nothing");
        c.delete(&Permit::for_tests(), &ns, ("", "nublado2-erin"), &DeleteOptions::default()).unwrap();
        assert_eq!(c.next_change().unwrap(), None, "nothing will clear it");
        c.shared().clock().sleep(Duration::from_hours(1), &crate::cancel::Cancel::default(), |_| {}).unwrap();
        assert!(c.get_opt(&ns, "", "nublado2-erin").unwrap().is_some());
        let saved_world = saved(&c);
        assert!(saved_world.contains("deletionTimestamp"), "{saved_world}");
        let unstick = json!({"metadata": {"finalizers": null}});
        c.patch(&Permit::for_tests(), &ns, ("", "nublado2-erin"), &unstick, PatchType::Merge).unwrap();
        assert_eq!(c.get_opt(&ns, "", "nublado2-erin").unwrap(), None);
    }
}
