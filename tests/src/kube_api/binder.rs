//! The test API server's stand-in for the persistent volume controller:
//! after each write, a claim that names a volume (`spec.volumeName`) whose
//! `claimRef` is empty or names that claim gets bound, both objects to
//! `status.phase: Bound`, as a real cluster does within a moment. It binds
//! only pre-bound pairs: no provisioning, no matching by size or class.
//! Binding happens in the same request as the write that made the pair, so
//! reads and watches opened afterwards see it; the server has no event
//! stream for watches opened before (see `streams.rs`).

use serde_json::{json, Value};

use super::FakeApi;

fn text<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// Sets `obj.<field>.<key>` (creating `<field>` when absent); objects whose
/// `<field>` is not a map are left alone.
fn set(obj: &mut Value, field: &str, key: &str, value: Value) {
    let Some(map) = obj.as_object_mut() else { return };
    let entry = map.entry(field).or_insert_with(|| json!({}));
    if let Some(inner) = entry.as_object_mut() {
        inner.insert(key.to_string(), value);
    }
}

impl FakeApi {
    pub(super) fn bind_claims(&self) {
        let mut state = self.lock();
        let claims: Vec<(usize, String, String, String, Value)> = state
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o["kind"] == "PersistentVolumeClaim" && text(o, "/status/phase") != Some("Bound"))
            .filter_map(|(i, o)| {
                Some((
                    i,
                    text(o, "/metadata/namespace")?.to_string(),
                    text(o, "/metadata/name")?.to_string(),
                    text(o, "/spec/volumeName")?.to_string(),
                    o["metadata"]["uid"].clone(),
                ))
            })
            .collect();
        for (claim, ns, name, volume, uid) in claims {
            let Some(pv) = state
                .objects
                .iter()
                .position(|o| o["kind"] == "PersistentVolume" && text(o, "/metadata/name") == Some(volume.as_str()))
            else {
                continue;
            };
            let claim_ref = state.objects[pv].pointer("/spec/claimRef").filter(|r| !r.is_null());
            let ours = claim_ref.is_none_or(|r| {
                text(r, "/name") == Some(name.as_str()) && text(r, "/namespace").unwrap_or("default") == ns
            });
            if !ours {
                continue;
            }
            let claim_ref =
                json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": name, "uid": uid});
            set(&mut state.objects[pv], "spec", "claimRef", claim_ref);
            for i in [pv, claim] {
                state.revision += 1;
                let revision = json!(state.revision.to_string());
                set(&mut state.objects[i], "status", "phase", json!("Bound"));
                set(&mut state.objects[i], "metadata", "resourceVersion", revision);
            }
        }
    }
}
