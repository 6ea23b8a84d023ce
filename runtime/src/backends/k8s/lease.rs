//! The run's lock on a cluster: a `coordination.k8s.io/v1` Lease named
//! `hubops-lock` in the namespace the run works in, so that two operators
//! running against one cluster from two machines cannot collide (local
//! locks only see runs on one machine). Holder: the run id, with the
//! operator (`user@host`) and the run's start in annotations; renewed while
//! the run lives and released (deleted) at its end. A Lease whose renew
//! time is older than its duration belongs to a run that died: it is taken
//! over. Nothing here decides whether to break a live Lease; the run asks.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::cluster::Cluster;
use super::kinds::{builtin, parse};
use super::{Error, PatchType};
use crate::effects::Permit;

/// The Lease's name.
pub const NAME: &str = "hubops-lock";

/// Seconds a Lease lasts without a renewal.
pub const DURATION_SECONDS: i64 = 60;

/// Who holds a Lease, as read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The run id (`holderIdentity`).
    pub run: String,
    /// `user@host`.
    pub operator: String,
    /// When it was acquired.
    pub since: String,
    /// When it was last renewed.
    pub renewed: Option<Timestamp>,
    /// For how long a renewal holds.
    pub duration: i64,
}

impl Holder {
    /// `run X by user@host since T`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("run `{}` by {} since {}", self.run, self.operator, self.since)
    }

    /// Whether the holder stopped renewing it.
    #[must_use]
    pub fn expired(&self, now: Timestamp) -> bool {
        self.renewed.is_none_or(|at| now.as_second() > at.as_second() + self.duration)
    }
}

/// What an attempt to take the Lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// It is ours now.
    Acquired,
    /// It was another run's and expired: taken over.
    TakenOver(Holder),
    /// It was another run's, alive, and was broken on request.
    Broken(Holder),
    /// Another run holds it.
    HeldBy(Holder),
}

fn kind() -> super::ResourceKind {
    builtin(&parse("leases.coordination.k8s.io")).unwrap_or_else(|| super::ResourceKind {
        group: "coordination.k8s.io".into(),
        version: "v1".into(),
        kind: "Lease".into(),
        plural: "leases".into(),
        namespaced: true,
    })
}

fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn holder_of(obj: &Value) -> Holder {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    Holder {
        run: text("/spec/holderIdentity"),
        operator: text("/metadata/annotations/hubops.io~1operator"),
        since: text("/spec/acquireTime"),
        renewed: obj.pointer("/spec/renewTime").and_then(Value::as_str).and_then(|s| s.parse().ok()),
        duration: obj.pointer("/spec/leaseDurationSeconds").and_then(Value::as_i64).unwrap_or(DURATION_SECONDS),
    }
}

fn manifest(ns: &str, run: &str, operator: &str, now: Timestamp) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": NAME,
            "namespace": ns,
            "annotations": { "hubops.io/operator": operator },
            "labels": { "app.kubernetes.io/managed-by": "hubops" },
        },
        "spec": {
            "holderIdentity": run,
            "leaseDurationSeconds": DURATION_SECONDS,
            "acquireTime": micro(now),
            "renewTime": micro(now),
        },
    })
}

/// Takes the Lease in `ns` for `run`; `force` breaks a live one of another run.
pub async fn acquire(
    cluster: &Cluster,
    permit: &Permit,
    ns: &str,
    (run, operator): (&str, &str),
    force: bool,
) -> Result<Taken, Error> {
    let kind = kind();
    let now = Timestamp::now();
    match cluster.create(permit, &kind, ns, &manifest(ns, run, operator, now)).await {
        Ok(_) => return Ok(Taken::Acquired),
        Err(Error::Api { code: 409, .. }) => {}
        Err(e) => return Err(e),
    }
    let current = cluster.get(&kind, ns, NAME).await?;
    let holder = holder_of(&current);
    if holder.run == run {
        return Ok(Taken::Acquired);
    }
    let expired = holder.expired(now);
    if !expired && !force {
        return Ok(Taken::HeldBy(holder));
    }
    let version = current.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
    let mut doc = manifest(ns, run, operator, now);
    // Only if it is still the Lease we read: a third run racing us wins.
    doc["metadata"]["resourceVersion"] = version;
    cluster.patch(permit, &kind, (ns, NAME), &doc, PatchType::Merge).await?;
    Ok(if expired { Taken::TakenOver(holder) } else { Taken::Broken(holder) })
}

/// Renews the Lease in `ns` if `run` still holds it; `Ok(false)` if not.
pub async fn renew(cluster: &Cluster, permit: &Permit, ns: &str, run: &str) -> Result<bool, Error> {
    let kind = kind();
    let Some(current) = cluster.get_opt(&kind, ns, NAME).await? else { return Ok(false) };
    if holder_of(&current).run != run {
        return Ok(false);
    }
    let doc = json!({ "spec": { "renewTime": micro(Timestamp::now()) } });
    cluster.patch(permit, &kind, (ns, NAME), &doc, PatchType::Merge).await?;
    Ok(true)
}

/// Deletes the Lease in `ns` if `run` holds it.
pub async fn release(cluster: &Cluster, permit: &Permit, ns: &str, run: &str) -> Result<(), Error> {
    let kind = kind();
    let Some(current) = cluster.get_opt(&kind, ns, NAME).await? else { return Ok(()) };
    if holder_of(&current).run != run {
        return Ok(());
    }
    let uid = current.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string);
    let options = super::DeleteOptions { uid, ..Default::default() };
    match cluster.delete(permit, &kind, (ns, NAME), &options).await {
        Ok(()) | Err(Error::Api { code: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
