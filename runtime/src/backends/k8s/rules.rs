//! The rules a real API server and its controllers hold a cluster to, as a
//! world's cluster holds runbooks to them, with the API's own words:
//!
//! - immutable fields on update: a claim's spec (but `resources.requests`,
//!   `volumeAttributesClassName`, and a `volumeName` set once), a volume's
//!   source, the selector of a Deployment, `ReplicaSet` or `DaemonSet`;
//! - the conditions the deployment controller derives from replica counts
//!   (`Available`, `Progressing`), so a Deployment whose replicas are ready
//!   is `Available` although its manifest lists no conditions;
//! - what the persistent-volume controller checks before it binds a claim
//!   to the volume it names (size, class, access modes, volume mode, a
//!   volume bound to another claim), reported as a `VolumeMismatch` or
//!   `FailedBinding` event on a claim that stays `Pending`.
//!
//! Namespaces that stay `Terminating` until their finalizers clear belong
//! to the namespace lifecycle, not here.

use serde_json::{json, Map, Value};

use super::kinds::ResourceKind;
use super::Error;

/// The PVC spec fields an update may change.
const CLAIM_MUTABLE: [&str; 2] = ["resources", "volumeAttributesClassName"];

/// The PV spec fields that are not its source.
const VOLUME_NOT_SOURCE: [&str; 10] = [
    "accessModes",
    "capacity",
    "claimRef",
    "mountOptions",
    "nodeAffinity",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "volumeMode",
    "volumeAttributesClassName",
    "pvcName",
];

/// Checks an update of `old` to `new` as the API server's validation does.
pub(crate) fn validate_update(kind: &ResourceKind, name: &str, old: &Value, new: &Value) -> Result<(), Error> {
    let invalid = |field: &str, detail: String| {
        Error::api(422, "Invalid", format!("{} \"{name}\" is invalid: {field}: {detail}", qualified(kind)))
    };
    let spec = |o: &Value| o.get("spec").and_then(Value::as_object).cloned().unwrap_or_default();
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "PersistentVolumeClaim") => {
            let (mut before, mut after) = (spec(old), spec(new));
            for field in CLAIM_MUTABLE {
                before.remove(field);
                after.remove(field);
            }
            // The binder sets `volumeName` on a claim that had none, once.
            if before.get("volumeName").and_then(Value::as_str).is_none_or(str::is_empty) {
                before.remove("volumeName");
                after.remove("volumeName");
            }
            if differs(&before, &after) {
                return Err(invalid(
                    "spec",
                    "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
                ));
            }
        }
        ("", "PersistentVolume") => {
            let source = |o: &Value| {
                let mut s = spec(o);
                s.retain(|k, _| !VOLUME_NOT_SOURCE.contains(&k.as_str()));
                s
            };
            if differs(&source(old), &source(new)) {
                return Err(invalid(
                    "spec.persistentvolumesource",
                    "Forbidden: spec.persistentvolumesource is immutable after creation".into(),
                ));
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            let selector = |o: &Value| o.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
            let (before, after) = (selector(old), selector(new));
            if before != after && !before.is_null() {
                return Err(invalid(
                    "spec.selector",
                    format!("Invalid value: {}: field is immutable", go_selector(&after)),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn qualified(kind: &ResourceKind) -> String {
    if kind.group.is_empty() {
        kind.kind.clone()
    } else {
        format!("{}.{}", kind.kind, kind.group)
    }
}

/// Two specs differ, fields absent and `null` alike.
fn differs(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let present = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    present(a) != present(b)
}

/// A label selector as the API server prints it in this error (Go's `%#v`).
fn go_selector(selector: &Value) -> String {
    let labels = selector.get("matchLabels").and_then(Value::as_object).map(|m| {
        let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default())).collect();
        format!("map[string]string{{{}}}", pairs.join(", "))
    });
    let expressions = selector.get("matchExpressions").and_then(Value::as_array).map(|list| {
        let items: Vec<String> = list
            .iter()
            .map(|e| {
                let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().map(|x| format!("{:?}", x.as_str().unwrap_or_default())).collect())
                    .unwrap_or_default();
                format!(
                    "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:[]string{{{}}}}}",
                    s("key"),
                    s("operator"),
                    values.join(", ")
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    });
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        labels.unwrap_or_else(|| "map[string]string(nil)".into()),
        expressions.unwrap_or_else(|| "[]v1.LabelSelectorRequirement(nil)".into())
    )
}

/// The `Available` and `Progressing` conditions of a Deployment, from its
/// replica counts, as the deployment controller sets them; conditions of
/// other types, and a `Progressing` the world file set for another reason
/// (`ProgressDeadlineExceeded`), are kept. `now`: their transition time.
pub(crate) fn derive_deployment_status(obj: &mut Value, now: Option<&str>) {
    if obj.get("kind").and_then(Value::as_str) != Some("Deployment") {
        return;
    }
    let int = |p: &str| obj.pointer(p).and_then(Value::as_i64);
    // A world that states the conditions and no replica counts is taken at
    // its word: there is nothing to derive them from.
    let counted = ["replicas", "availableReplicas", "readyReplicas", "updatedReplicas"]
        .iter()
        .any(|k| obj.pointer(&format!("/status/{k}")).is_some());
    let stated = obj.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
    if stated && !counted {
        return;
    }
    let replicas = int("/spec/replicas").unwrap_or(1);
    let available = int("/status/availableReplicas").unwrap_or(0);
    let updated = int("/status/updatedReplicas").unwrap_or_else(|| int("/status/replicas").unwrap_or(0));
    let max_unavailable = max_unavailable(obj, replicas);
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let replica_set = format!("{name}-{}", template_hash(obj.pointer("/spec/template").unwrap_or(&Value::Null)));
    let is_available = available >= replicas - max_unavailable;
    let complete = updated >= replicas && available >= replicas;
    let mut conditions: Vec<Value> =
        obj.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let stamp = |mut c: Value, old: Option<&Value>| {
        let same = old.is_some_and(|o| o.get("status") == c.get("status") && o.get("reason") == c.get("reason"));
        let at = match (same, old) {
            (true, Some(o)) => o.get("lastTransitionTime").cloned(),
            _ => now.map(|t| json!(t)),
        };
        if let Some(at) = at {
            c["lastTransitionTime"] = at.clone();
            c["lastUpdateTime"] = at;
        }
        c
    };
    let find = |cs: &[Value], t: &str| cs.iter().position(|c| c.get("type").and_then(Value::as_str) == Some(t));
    let availability = if is_available {
        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
    } else {
        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
    };
    let progress = if complete {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{replica_set}\" has successfully progressed.")})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{replica_set}\" is progressing.")})
    };
    for (kind, derived) in [("Available", availability), ("Progressing", progress)] {
        match find(&conditions, kind) {
            Some(i) => {
                let reason = conditions[i].get("reason").and_then(Value::as_str).unwrap_or_default();
                let ours = matches!(
                    reason,
                    "MinimumReplicasAvailable"
                        | "MinimumReplicasUnavailable"
                        | "NewReplicaSetAvailable"
                        | "ReplicaSetUpdated"
                );
                if ours || kind == "Available" {
                    conditions[i] = stamp(derived, Some(&conditions[i]));
                }
            }
            None => conditions.push(stamp(derived, None)),
        }
    }
    if !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = json!({});
    }
    obj["status"]["conditions"] = Value::Array(conditions);
}

/// `spec.strategy.rollingUpdate.maxUnavailable` as a count: an integer, or a
/// percentage of `replicas` rounded down (default 25%); 0 for `Recreate`.
fn max_unavailable(obj: &Value, replicas: i64) -> i64 {
    if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return 0;
    }
    match obj.pointer("/spec/strategy/rollingUpdate/maxUnavailable") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(p)) => {
            let pct = p.trim_end_matches('%').parse::<i64>().unwrap_or(25);
            replicas * pct / 100
        }
        _ => replicas * 25 / 100,
    }
}

/// A stable stand-in for the pod-template hash of a Deployment's current
/// `ReplicaSet` (ten characters of the alphabet Kubernetes uses).
fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Why the persistent-volume controller will not bind `claim` to the
/// volume it names (`None`: it binds), in the controller's words.
pub(crate) fn binding_refusal(claim: &Value, volume: &Value) -> Option<(&'static str, String)> {
    let volume_name = volume.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if let Some(r) = volume.pointer("/spec/claimRef").filter(|r| !r.is_null()) {
        let (ns, name) = (
            claim.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default"),
            claim.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
        );
        let same = r.get("name").and_then(Value::as_str) == Some(name)
            && r.get("namespace").and_then(Value::as_str).unwrap_or("default") == ns;
        if !same {
            return Some(("FailedBinding", format!("volume \"{volume_name}\" already bound to a different claim.")));
        }
    }
    let mismatch =
        |why: &str| Some(("VolumeMismatch", format!("Cannot bind to requested volume \"{volume_name}\": {why}")));
    let text = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_str).map(String::from);
    let wanted = text(claim, "/spec/resources/requests/storage").and_then(|q| bytes(&q));
    let has = text(volume, "/spec/capacity/storage").and_then(|q| bytes(&q));
    if let (Some(wanted), Some(has)) = (wanted, has) {
        if has < wanted {
            return mismatch("requested PV is too small");
        }
    }
    let class = |o: &Value| text(o, "/spec/storageClassName").unwrap_or_default();
    if class(claim) != class(volume) {
        return mismatch("storageClassName does not match");
    }
    let mode = |o: &Value| text(o, "/spec/volumeMode").unwrap_or_else(|| "Filesystem".into());
    if mode(claim) != mode(volume) {
        return mismatch("incompatible volumeMode");
    }
    let modes = |o: &Value| -> Vec<String> {
        o.pointer("/spec/accessModes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|m| m.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let offered = modes(volume);
    if !modes(claim).iter().all(|m| offered.contains(m)) {
        return mismatch("incompatible accessMode");
    }
    None
}

/// A resource quantity (`10Gi`, `500M`, `1.5Ti`, `1024`) in bytes.
pub(crate) fn bytes(quantity: &str) -> Option<f64> {
    let q = quantity.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(q.len());
    let (number, unit) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "m" => 1e-3,
        _ => return None,
    };
    Some(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::k8s::kinds;

    fn kind(text: &str) -> ResourceKind {
        kinds::builtin(&kinds::parse(text)).unwrap()
    }

    #[test]
    fn a_bound_claims_volume_name_is_immutable() {
        let old = json!({"spec": {"volumeName": "pvc-1111", "storageClassName": "gp2", "resources": {"requests": {"storage": "10Gi"}}}});
        let moved = json!({"spec": {"volumeName": "claim-alice-gp3", "storageClassName": "gp2", "resources": {"requests": {"storage": "10Gi"}}}});
        let err = validate_update(&kind("pvc"), "claim-alice", &old, &moved).unwrap_err();
        assert_eq!(err.to_string(), "PersistentVolumeClaim \"claim-alice\" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims");
        let grown = json!({"spec": {"volumeName": "pvc-1111", "storageClassName": "gp2", "resources": {"requests": {"storage": "20Gi"}}}});
        assert!(validate_update(&kind("pvc"), "claim-alice", &old, &grown).is_ok(), "a resize is allowed");
        let unbound = json!({"spec": {"storageClassName": "gp2"}});
        let named = json!({"spec": {"storageClassName": "gp2", "volumeName": "pv-1"}});
        assert!(validate_update(&kind("pvc"), "c", &unbound, &named).is_ok(), "a volumeName set once");
    }

    #[test]
    fn a_volumes_source_is_immutable() {
        let old = json!({"spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}, "persistentVolumeReclaimPolicy": "Delete"}});
        let other = json!({"spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-2"}, "persistentVolumeReclaimPolicy": "Delete"}});
        let err = validate_update(&kind("pv"), "pvc-1", &old, &other).unwrap_err();
        assert_eq!(err.to_string(), "PersistentVolume \"pvc-1\" is invalid: spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation");
        let retained = json!({"spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}, "persistentVolumeReclaimPolicy": "Retain"}});
        assert!(validate_update(&kind("pv"), "pvc-1", &old, &retained).is_ok(), "the reclaim policy may change");
    }

    #[test]
    fn a_deployments_selector_is_immutable() {
        let old = json!({"spec": {"selector": {"matchLabels": {"component": "hub"}}}});
        let new = json!({"spec": {"selector": {"matchLabels": {"app": "jupyterhub", "component": "hub"}}}});
        let err = validate_update(&kind("deploy"), "hub", &old, &new).unwrap_err();
        assert_eq!(err.to_string(), "Deployment.apps \"hub\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"jupyterhub\", \"component\":\"hub\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable");
    }

    #[test]
    fn deployment_conditions_follow_the_replica_counts() {
        let mut d = json!({"kind": "Deployment", "metadata": {"name": "hub"}, "spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}});
        derive_deployment_status(&mut d, Some("2026-11-21T06:00:00Z"));
        let conditions = d["status"]["conditions"].as_array().unwrap().clone();
        assert_eq!(conditions[0]["type"], "Available");
        assert_eq!(conditions[0]["status"], "True");
        assert_eq!(conditions[0]["message"], "Deployment has minimum availability.");
        assert_eq!(conditions[1]["reason"], "NewReplicaSetAvailable");
        d["status"]["availableReplicas"] = json!(0);
        derive_deployment_status(&mut d, Some("2026-11-21T06:05:00Z"));
        assert_eq!(d["status"]["conditions"][0]["status"], "False");
        assert_eq!(d["status"]["conditions"][0]["reason"], "MinimumReplicasUnavailable");
        assert_eq!(d["status"]["conditions"][0]["lastTransitionTime"], "2026-11-21T06:05:00Z");
    }

    #[test]
    fn the_binder_refuses_what_the_controller_refuses() {
        let claim = json!({"metadata": {"name": "claim-bob", "namespace": "jupyterhub"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "resources": {"requests": {"storage": "20Gi"}}}});
        let pv = |storage: &str, class: &str, modes: Value| json!({"metadata": {"name": "claim-bob-gp3"}, "spec": {"capacity": {"storage": storage}, "storageClassName": class, "accessModes": modes}});
        let refusal = |v: &Value| binding_refusal(&claim, v).map(|(_, m)| m);
        assert_eq!(
            refusal(&pv("10Gi", "gp3", json!(["ReadWriteOnce"]))).as_deref(),
            Some("Cannot bind to requested volume \"claim-bob-gp3\": requested PV is too small")
        );
        assert_eq!(
            refusal(&pv("20Gi", "gp2", json!(["ReadWriteOnce"]))).as_deref(),
            Some("Cannot bind to requested volume \"claim-bob-gp3\": storageClassName does not match")
        );
        assert_eq!(
            refusal(&pv("20Gi", "gp3", json!(["ReadOnlyMany"]))).as_deref(),
            Some("Cannot bind to requested volume \"claim-bob-gp3\": incompatible accessMode")
        );
        assert_eq!(refusal(&pv("21474836480", "gp3", json!(["ReadWriteOnce"]))), None);
        let mut taken = pv("20Gi", "gp3", json!(["ReadWriteOnce"]));
        taken["spec"]["claimRef"] = json!({"namespace": "jupyterhub", "name": "claim-alice"});
        assert_eq!(refusal(&taken).as_deref(), Some("volume \"claim-bob-gp3\" already bound to a different claim."));
    }
}
