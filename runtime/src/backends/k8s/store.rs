//! Object operations of a simulated cluster, with the API server's answers:
//! the same `Status` reasons and messages (`pods "x" not found`, `already
//! exists`), namespaces that must exist, cascading deletes (a namespace takes
//! its objects, a `Deployment` its `ReplicaSets` and pods), deletes held by
//! finalizers (the object stays with a `deletionTimestamp`, a namespace
//! `Terminating`, until they are cleared), load balancer addresses for
//! `LoadBalancer` services.
//!
//! Every change hubops makes takes the gate's [`Permit`]; under
//! `Permit::Check` it is made on a copy of the cluster, so the answer (the
//! would-be object, or the refusal) is the one the change would get, and the
//! world stays as it was. `upsert` and `remove` without a permit are the
//! world's own changes (scheduled events, simulated controllers), which no
//! binding reaches.

use serde_json::{json, Value};

use super::kinds::{self, ResourceKind};
use super::patch;
use super::rules;
use super::select::Matcher;
use super::world::{ClusterWorld, Finalize, ScheduledEvent};
use super::{name_of, namespace_of, DeleteOptions, Error, PatchType, Selector};
use crate::effects::Permit;

impl ClusterWorld {
    /// Fills in what the API server would have: namespaces on namespaced
    /// objects, uids and resourceVersions. A saved world keeps the
    /// resourceVersions it had (a resumed rehearsal must see the objects as
    /// they were), and new ones continue after the highest.
    pub(crate) fn normalize(&mut self) {
        let mut objects = std::mem::take(&mut self.objects);
        self.revision = objects
            .iter()
            .filter_map(|o| o.pointer("/metadata/resourceVersion").and_then(Value::as_str)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            .max(self.revision);
        for obj in &mut objects {
            let namespaced = self.kind_of_object(obj).map_or(true, |k| k.namespaced);
            if namespaced && namespace_of(obj).is_none() {
                set(obj, "/metadata/namespace", json!("default"));
            }
            if obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<u64>().ok())
                .is_none()
            {
                self.stamp(obj);
            }
        }
        self.objects = objects;
    }

    fn stamp(&mut self, obj: &mut Value) {
        self.revision += 1;
        if obj.pointer("/metadata/uid").is_none() {
            let uid = format!("{:08x}-world-{:04}", self.revision, self.revision);
            set(obj, "/metadata/uid", json!(uid));
        }
        set(obj, "/metadata/resourceVersion", json!(self.revision.to_string()));
        let now = self.moment.now.map(|t| t.to_string());
        rules::derive_deployment_status(obj, now.as_deref());
    }

    /// Resolves a kind name: built-in kinds, CRDs in the world, then kinds
    /// of the objects it holds.
    pub fn resolve(&self, text: &str) -> Result<ResourceKind, Error> {
        let query = kinds::parse(text);
        if let Some(kind) = kinds::builtin(&query) {
            return Ok(kind);
        }
        let crd = self
            .objects
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .find_map(|crd| {
                let spec = crd.get("spec")?;
                let names = spec.get("names")?;
                let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let shorts: Vec<String> = names
                    .get("shortNames")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let (plural, kind, group) = (field(names, "plural"), field(names, "kind"), field(spec, "group"));
                let singular = field(names, "singular");
                let matches = kinds::discovered_matches(&query, &plural, &singular, &kind, &shorts)
                    && query.group.as_deref().is_none_or(|g| g == group);
                let version = spec.pointer("/versions/0/name").and_then(Value::as_str).unwrap_or("v1").to_string();
                matches.then(|| ResourceKind {
                    group,
                    version,
                    kind,
                    plural,
                    namespaced: field(spec, "scope") != "Cluster",
                })
            });
        if let Some(kind) = crd {
            return Ok(kind);
        }
        self.objects
            .iter()
            .filter_map(|o| self.kind_of_object(o).ok())
            .find(|k| {
                let lower = k.kind.to_ascii_lowercase();
                (query.name == lower || query.name == k.plural) && query.group.as_deref().is_none_or(|g| g == k.group)
            })
            .ok_or_else(|| Error::UnknownKind { kind: text.into() })
    }

    /// The kind of a manifest.
    pub fn kind_of_object(&self, obj: &Value) -> Result<ResourceKind, Error> {
        if let Some(kind) = kinds::builtin_of_object(obj) {
            return Ok(kind);
        }
        let kind =
            obj.get("kind").and_then(Value::as_str).ok_or_else(|| Error::Usage("the manifest has no `kind`".into()))?;
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Usage("the manifest has no `apiVersion`".into()))?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Ok(ResourceKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: kinds::guess_plural(&kind.to_ascii_lowercase()),
            namespaced: namespace_of(obj).is_some(),
        })
    }

    fn position(&self, kind: &ResourceKind, ns: &str, name: &str) -> Option<usize> {
        self.objects.iter().position(|o| {
            kind.matches_object(o) && name_of(o) == Some(name) && (!kind.namespaced || namespace_of(o) == Some(ns))
        })
    }

    /// One object.
    pub fn get(&self, kind: &ResourceKind, ns: &str, name: &str) -> Result<Value, Error> {
        self.position(kind, ns, name).map(|i| self.objects[i].clone()).ok_or_else(|| Error::not_found(kind, name))
    }

    /// Selected objects of a kind in a namespace (`""`: all namespaces).
    pub fn list(&self, kind: &ResourceKind, ns: &str, selector: &Selector) -> Result<Vec<Value>, Error> {
        let matcher = Matcher::new(selector)?;
        Ok(self
            .objects
            .iter()
            .filter(|o| kind.matches_object(o) && (ns.is_empty() || !kind.namespaced || namespace_of(o) == Some(ns)))
            .filter(|o| matcher.matches(o))
            .cloned()
            .collect())
    }

    fn require_namespace(&self, kind: &ResourceKind, ns: &str) -> Result<(), Error> {
        let namespace = kinds::builtin(&kinds::parse("ns")).unwrap_or_else(|| kind.clone());
        let has_namespaces = self.objects.iter().any(|o| namespace.matches_object(o));
        // A world that lists no namespaces at all has every namespace.
        if kind.namespaced && has_namespaces {
            let Some(i) = self.position(&namespace, "", ns) else {
                return Err(Error::not_found(&namespace, ns));
            };
            if self.objects[i].pointer("/metadata/deletionTimestamp").is_some() {
                return Err(Error::api(
                    403,
                    "Forbidden",
                    format!("unable to create new content in namespace {ns} because it is being terminated"),
                ));
            }
        }
        Ok(())
    }

    fn prepare(&self, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<(Value, String), Error> {
        let mut obj = obj.clone();
        let name = name_of(&obj)
            .ok_or_else(|| {
                Error::api(422, "Invalid", format!("{} \"\" is invalid: metadata.name: Required value", kind.kind))
            })?
            .to_string();
        if kind.namespaced {
            match namespace_of(&obj) {
                Some(given) if given != ns => {
                    return Err(Error::api(
                        400,
                        "BadRequest",
                        format!(
                            "the namespace of the object ({given}) does not match the namespace on the request ({ns})"
                        ),
                    ));
                }
                _ => set(&mut obj, "/metadata/namespace", json!(ns)),
            }
        }
        self.require_namespace(kind, ns)?;
        if kind.group.is_empty()
            && kind.kind == "Service"
            && obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
            && obj.pointer("/status/loadBalancer/ingress/0").is_none()
        {
            set(
                &mut obj,
                "/status/loadBalancer",
                json!({"ingress": [{"hostname": format!("{name}-{ns}.lb.world.example")}]}),
            );
        }
        Ok((obj, name))
    }

    /// Runs a change on the cluster, or under `Permit::Check` on a copy of
    /// it: the same answer, nothing changed.
    fn checked<T>(&mut self, permit: &Permit, change: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if permit.is_check() {
            change(&mut self.clone())
        } else {
            change(self)
        }
    }

    /// Creates an object; 409 if it exists.
    pub fn create(&mut self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        self.checked(permit, |w| w.insert_new(kind, ns, obj))
    }

    fn insert_new(&mut self, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        let (mut obj, name) = self.prepare(kind, ns, obj)?;
        if self.position(kind, ns, &name).is_some() {
            return Err(Error::api(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", kind.qualified_plural()),
            ));
        }
        self.stamp(&mut obj);
        self.objects.push(obj.clone());
        self.bind_claims();
        Ok(self.current_of(kind, ns, &name).unwrap_or(obj))
    }

    /// The object as it is now (after the simulated controllers ran).
    fn current_of(&self, kind: &ResourceKind, ns: &str, name: &str) -> Option<Value> {
        self.position(kind, ns, name).map(|i| self.objects[i].clone())
    }

    /// The persistent-volume binder, as the controller manager runs it: a
    /// claim that names a volume (`spec.volumeName`) whose `claimRef` is that
    /// claim, or empty, is bound to it; both get `status.phase: Bound`.
    fn bind_claims(&mut self) {
        let kind_of = |o: &Value| o.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let claims: Vec<(usize, String, String, String)> = self
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| kind_of(o) == "PersistentVolumeClaim")
            .filter(|(_, o)| o.pointer("/status/phase").and_then(Value::as_str) != Some("Bound"))
            .filter_map(|(i, o)| {
                let volume = o.pointer("/spec/volumeName")?.as_str()?.to_string();
                Some((i, namespace_of(o)?.to_string(), name_of(o)?.to_string(), volume))
            })
            .collect();
        for (claim, ns, name, volume) in claims {
            let Some(pv) = self
                .objects
                .iter()
                .position(|o| kind_of(o) == "PersistentVolume" && name_of(o) == Some(volume.as_str()))
            else {
                continue;
            };
            if let Some((reason, message)) = rules::binding_refusal(&self.objects[claim], &self.objects[pv]) {
                self.warn_about(claim, reason, &message);
                continue;
            }
            set(
                &mut self.objects[pv],
                "/spec/claimRef",
                json!({ "kind": "PersistentVolumeClaim", "namespace": ns, "name": name }),
            );
            set(&mut self.objects[pv], "/status/phase", json!("Bound"));
            set(&mut self.objects[claim], "/status/phase", json!("Bound"));
            let mut pv_obj = self.objects[pv].clone();
            self.stamp(&mut pv_obj);
            self.objects[pv] = pv_obj;
            let mut claim_obj = self.objects[claim].clone();
            self.stamp(&mut claim_obj);
            self.objects[claim] = claim_obj;
        }
    }

    /// A `Warning` event about object `i`, as a controller records one (an
    /// event with the same reason and message counts up instead).
    fn warn_about(&mut self, i: usize, reason: &str, message: &str) {
        let involved = self.objects[i].clone();
        let (ns, name) = (
            namespace_of(&involved).unwrap_or("default").to_string(),
            name_of(&involved).unwrap_or_default().to_string(),
        );
        let kind = involved.get("kind").cloned().unwrap_or(Value::Null);
        let same = |o: &Value| {
            o.get("kind").and_then(Value::as_str) == Some("Event")
                && o.pointer("/involvedObject/name").and_then(Value::as_str) == Some(name.as_str())
                && o.get("message").and_then(Value::as_str) == Some(message)
        };
        let at = self.moment.now.map(|t| t.to_string());
        if let Some(e) = self.objects.iter_mut().find(|o| same(o)) {
            let count = e.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
            e["count"] = json!(count);
            if let Some(at) = at {
                e["lastTimestamp"] = json!(at);
            }
            return;
        }
        self.revision += 1;
        let mut event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": format!("{name}.{:016x}", self.revision), "namespace": ns },
            "involvedObject": { "kind": kind, "namespace": ns, "name": name, "uid": involved.pointer("/metadata/uid").cloned().unwrap_or(Value::Null) },
            "reason": reason, "message": message, "type": "Warning", "count": 1,
            "source": { "component": "persistentvolume-controller" },
        });
        if let Some(at) = at {
            event["firstTimestamp"] = json!(at);
            event["lastTimestamp"] = json!(at);
        }
        self.stamp(&mut event);
        self.objects.push(event);
    }

    /// Creates or updates an object (the manifest is merged into what is
    /// there, as server-side apply does for the fields it names), refused
    /// as the API server refuses a change of an immutable field.
    pub fn apply(&mut self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        self.checked(permit, |w| {
            let (new, name) = w.prepare(kind, ns, obj)?;
            if let Some(i) = w.position(kind, ns, &name) {
                let mut merged = w.objects[i].clone();
                patch::merge(&mut merged, &new);
                rules::validate_update(kind, &name, &w.objects[i], &merged)?;
            }
            w.upsert(kind, ns, obj)
        })
    }

    /// Creates or updates an object as the world's own controllers do
    /// (scheduled events, the simulated Argo CD controller): not a change
    /// hubops asks for, so no permit. Changes a binding asks for go through
    /// [`Self::apply`].
    pub(crate) fn upsert(&mut self, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        let (obj, name) = self.prepare(kind, ns, obj)?;
        let Some(i) = self.position(kind, ns, &name) else {
            return self.insert_new(kind, ns, &obj);
        };
        let mut merged = self.objects[i].clone();
        patch::merge(&mut merged, &obj);
        self.stamp(&mut merged);
        self.objects[i] = merged.clone();
        self.bind_claims();
        Ok(self.current_of(kind, ns, &name).unwrap_or(merged))
    }

    /// Patches an object.
    pub fn patch(
        &mut self,
        permit: &Permit,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        doc: &Value,
        how: PatchType,
    ) -> Result<Value, Error> {
        self.checked(permit, |w| w.patch_now(kind, (ns, name), doc, how))
    }

    fn patch_now(
        &mut self,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        doc: &Value,
        how: PatchType,
    ) -> Result<Value, Error> {
        let i = self.position(kind, ns, name).ok_or_else(|| Error::not_found(kind, name))?;
        let mut obj = self.objects[i].clone();
        match how {
            PatchType::Merge | PatchType::Strategic => patch::merge(&mut obj, doc),
            PatchType::Json => patch::json(&mut obj, doc)?,
        }
        if name_of(&obj) != Some(name) {
            return Err(Error::api(
                422,
                "Invalid",
                format!("{} \"{name}\" is invalid: metadata.name: field is immutable", kind.kind),
            ));
        }
        rules::validate_update(kind, name, &self.objects[i], &obj)?;
        self.stamp(&mut obj);
        self.objects[i] = obj.clone();
        // Clearing the last finalizer of a deleted object lets it go, as
        // `kubectl patch ns x -p '{"metadata":{"finalizers":null}}'` does.
        if obj.pointer("/metadata/deletionTimestamp").is_some() && finalizers_of(&obj).is_empty() {
            self.objects.remove(i);
            self.cascade(kind, &obj);
        }
        Ok(obj)
    }

    /// Sets `spec.replicas` (and the replica counts in status, as if the
    /// controller caught up). Scaling to 0 removes the pods it selects.
    pub fn scale(
        &mut self,
        permit: &Permit,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        replicas: i64,
    ) -> Result<Value, Error> {
        self.checked(permit, |w| w.scale_now(kind, (ns, name), replicas))
    }

    fn scale_now(&mut self, kind: &ResourceKind, (ns, name): (&str, &str), replicas: i64) -> Result<Value, Error> {
        let i = self.position(kind, ns, name).ok_or_else(|| Error::not_found(kind, name))?;
        if self.objects[i].pointer("/spec/replicas").is_none()
            && !matches!(kind.kind.as_str(), "Deployment" | "StatefulSet" | "ReplicaSet")
        {
            return Err(Error::api(
                404,
                "NotFound",
                format!("{} \"{name}\" has no scale subresource", kind.qualified_plural()),
            ));
        }
        let counts = json!({"spec": {"replicas": replicas}, "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas}});
        let mut obj = self.objects[i].clone();
        patch::merge(&mut obj, &counts);
        self.stamp(&mut obj);
        self.objects[i] = obj.clone();
        if replicas == 0 {
            self.remove_pods_of(&obj);
        }
        // What the `scale` subresource answers, as live.
        Ok(json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas},
        }))
    }

    /// Deletes an object and what it owns. Returns the deleted object.
    pub fn delete(
        &mut self,
        permit: &Permit,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        options: &DeleteOptions,
    ) -> Result<Value, Error> {
        self.checked(permit, |w| w.remove(kind, ns, name, options))
    }

    pub(super) fn remove(
        &mut self,
        kind: &ResourceKind,
        ns: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, Error> {
        let i = self.position(kind, ns, name).ok_or_else(|| Error::not_found(kind, name))?;
        let obj = self.objects[i].clone();
        let meta = |p: &str| obj.pointer(p).and_then(Value::as_str).map(String::from);
        for (want, field, have) in [
            (&options.uid, "UID", meta("/metadata/uid")),
            (&options.resource_version, "ResourceVersion", meta("/metadata/resourceVersion")),
        ] {
            if let Some(want) = want {
                if have.as_deref() != Some(want.as_str()) {
                    return Err(Error::api(
                        409,
                        "Conflict",
                        format!(
                            "Precondition failed: {field} in precondition: {want}, {field} in object meta: {}",
                            have.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if kind.group.is_empty() && kind.kind == "Pod" && self.never_terminates(ns, name) {
            // A fault: the pod stays `Terminating`, as one whose finalizer
            // or kubelet never lets go does.
            let at = self.moment.now.map(|t| t.to_string()).unwrap_or_default();
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                set(&mut self.objects[i], "/metadata/deletionTimestamp", json!(at));
                set(&mut self.objects[i], "/metadata/deletionGracePeriodSeconds", json!(30));
                let mut stamped = self.objects[i].clone();
                self.stamp(&mut stamped);
                self.objects[i] = stamped;
            }
            return Ok(self.objects[i].clone());
        }
        let finalizers = finalizers_of(&obj);
        if !finalizers.is_empty() {
            return Ok(self.mark_deleted(kind, i, &finalizers));
        }
        self.objects.remove(i);
        self.cascade(kind, &obj);
        Ok(obj)
    }

    fn never_terminates(&self, ns: &str, name: &str) -> bool {
        self.moment.stuck_pods.iter().any(|(n, pod)| pod == name && n.as_deref().is_none_or(|n| n == ns))
    }

    /// A delete of an object that has finalizers: the API server keeps it
    /// with a `deletionTimestamp` until they are cleared (a namespace is
    /// `Terminating` and loses its contents now); the controllers the
    /// world names clear theirs in time (see `world.rs`).
    fn mark_deleted(&mut self, kind: &ResourceKind, i: usize, finalizers: &[String]) -> Value {
        let mut obj = self.objects[i].clone();
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return obj;
        }
        let (elapsed, now) = self.now.unwrap_or((std::time::Duration::ZERO, jiff::Timestamp::UNIX_EPOCH));
        set(&mut obj, "/metadata/deletionTimestamp", json!(now.to_string()));
        let namespace = kind.group.is_empty() && kind.kind == "Namespace";
        if namespace {
            set(&mut obj, "/status/phase", json!("Terminating"));
        }
        self.stamp(&mut obj);
        self.objects[i] = obj.clone();
        if namespace {
            self.cascade(kind, &obj);
        }
        for finalizer in finalizers {
            let Some(after) = self.finalizers.get(finalizer).and_then(|d| crate::duration::parse(d).ok()) else {
                continue;
            };
            self.schedule(ScheduledEvent {
                after: crate::duration::format(elapsed + after),
                apply: None,
                delete: None,
                finalize: Some(Finalize {
                    kind: kind.plural_query(),
                    namespace: namespace_of(&obj).map(String::from),
                    name: name_of(&obj).unwrap_or_default().to_string(),
                    finalizer: finalizer.clone(),
                }),
            });
        }
        obj
    }

    /// A finalizer's controller is done: it clears its finalizer, and a
    /// deleted object with none left goes. The world's own change.
    pub(crate) fn clear_finalizer(&mut self, kind: &ResourceKind, ns: &str, name: &str, finalizer: &str) {
        let Some(i) = self.position(kind, ns, name) else { return };
        let mut obj = self.objects[i].clone();
        let left: Vec<String> = finalizers_of(&obj).into_iter().filter(|f| f != finalizer).collect();
        set_finalizers(&mut obj, &left);
        if left.is_empty() && obj.pointer("/metadata/deletionTimestamp").is_some() {
            self.objects.remove(i);
            self.cascade(kind, &obj);
            return;
        }
        self.stamp(&mut obj);
        self.objects[i] = obj;
    }

    fn cascade(&mut self, kind: &ResourceKind, obj: &Value) {
        let name = name_of(obj).unwrap_or_default().to_string();
        if kind.group.is_empty() && kind.kind == "Namespace" {
            self.objects.retain(|o| namespace_of(o) != Some(name.as_str()));
            self.logs.retain(|k, _| !k.starts_with(&format!("{name}/")));
            self.files.retain(|k, _| !k.starts_with(&format!("{name}/")));
            return;
        }
        if kind.group.is_empty() && kind.kind == "Pod" {
            let key = format!("{}/{name}", namespace_of(obj).unwrap_or_default());
            self.files.remove(&key);
            self.logs.retain(|k, _| k != &key && !k.starts_with(&format!("{key}/")));
            return;
        }
        let ns = namespace_of(obj).map(String::from);
        let owned: Vec<Value> = self
            .objects
            .iter()
            .filter(|o| namespace_of(o).map(String::from) == ns)
            .filter(|o| {
                o.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r.get("kind").and_then(Value::as_str) == Some(kind.kind.as_str())
                            && r.get("name").and_then(Value::as_str) == Some(name.as_str())
                    })
                })
            })
            .cloned()
            .collect();
        for child in owned {
            if let Ok(child_kind) = self.kind_of_object(&child) {
                let _ = self.remove(
                    &child_kind,
                    ns.as_deref().unwrap_or_default(),
                    name_of(&child).unwrap_or_default(),
                    &DeleteOptions::default(),
                );
            }
        }
        if matches!(kind.kind.as_str(), "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet" | "Job") {
            self.remove_pods_of(obj);
        }
    }

    fn remove_pods_of(&mut self, workload: &Value) {
        let Some(labels) = workload.pointer("/spec/selector/matchLabels").and_then(Value::as_object) else { return };
        let selector =
            labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",");
        let (Some(pod), Some(ns)) = (kinds::builtin(&kinds::parse("pod")), namespace_of(workload)) else { return };
        let pods = self.list(&pod, ns, &Selector { labels: Some(selector), fields: None }).unwrap_or_default();
        for p in pods {
            let _ = self.remove(&pod, ns, name_of(&p).unwrap_or_default(), &DeleteOptions::default());
        }
    }

    /// Deletes every selected object; returns their names.
    pub fn delete_all(
        &mut self,
        permit: &Permit,
        kind: &ResourceKind,
        ns: &str,
        selector: &Selector,
    ) -> Result<Vec<String>, Error> {
        self.checked(permit, |w| w.remove_all(kind, ns, selector))
    }

    fn remove_all(&mut self, kind: &ResourceKind, ns: &str, selector: &Selector) -> Result<Vec<String>, Error> {
        let names: Vec<(String, String)> = self
            .list(kind, ns, selector)?
            .iter()
            .map(|o| (namespace_of(o).unwrap_or_default().to_string(), name_of(o).unwrap_or_default().to_string()))
            .collect();
        for (obj_ns, name) in &names {
            // An earlier delete may have cascaded to this one.
            if self.position(kind, obj_ns, name).is_some() {
                self.remove(kind, obj_ns, name, &DeleteOptions::default())?;
            }
        }
        Ok(names.into_iter().map(|(_, n)| n).collect())
    }
}

/// An object's `metadata.finalizers`.
pub(crate) fn finalizers_of(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("finalizers".into(), json!(finalizers));
    }
}

fn set(obj: &mut Value, pointer: &str, value: Value) {
    let mut doc = json!({});
    let mut cursor = &mut doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            cursor[*part] = value.clone();
        } else {
            cursor = &mut cursor[*part];
        }
    }
    patch::merge(obj, &doc);
}
