//! What `hubops capture` reads, through the same backends a live run reads
//! through, and how it becomes a world's sections. Only read verbs are
//! called: nothing here has (or can make) a `Permit`, so nothing it does can
//! change a system.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::Error;
use crate::backends::aws::{Account, AccountSpec, Query};
use crate::backends::dns::Dns;
use crate::backends::http::{Http, Read, Request};
use crate::backends::k8s::kinds::{self, ResourceKind};
use crate::backends::k8s::{Cluster, Selector};
use crate::backends::Target;

/// Kinds read in each namespace named, as kubectl names them.
const NAMESPACED: [&str; 6] = ["deploy", "svc", "pods", "pvc", "secrets", "leases"];

/// Metadata a world does not need, or that names this one cluster's copy
/// of an object rather than the object.
const NOISE: [&str; 5] = ["managedFields", "uid", "resourceVersion", "generation", "selfLink"];

/// One cluster as a world's `clusters.CONTEXT`: its server and the objects
/// of the kinds runbooks use in `namespaces`, with the namespaces
/// themselves, the volumes their claims are bound to and the storage
/// classes. Secrets keep their names and keys; every value is emptied.
pub(super) async fn cluster(target: &Target, context: &str, namespaces: &[String]) -> Result<Value, Error> {
    let fail = |source| Error::Kube { context: context.to_string(), source };
    let cluster = Cluster::open(target, Some(context)).await.map_err(fail)?;
    let builtin = |name: &str| kinds::builtin(&kinds::parse(name));
    let mut objects = Vec::new();
    let namespace_kind = builtin("ns").ok_or_else(|| Error::Internal("no Namespace kind".into()))?;
    for ns in namespaces {
        match cluster.get_opt(&namespace_kind, "", ns).await.map_err(fail)? {
            Some(obj) => objects.push(clean(&namespace_kind, obj)),
            None => return Err(Error::NoNamespace { context: context.into(), namespace: ns.clone() }),
        }
    }
    let mut in_namespace: Vec<ResourceKind> = NAMESPACED.iter().filter_map(|k| builtin(k)).collect();
    // Argo CD's Applications, where the cluster serves them.
    if let Ok(apps) = cluster.resolve("applications.argoproj.io").await {
        in_namespace.push(apps);
    }
    for ns in namespaces {
        for kind in &in_namespace {
            let listed = cluster.list(kind, ns, &Selector::default()).await.map_err(fail)?;
            objects.extend(listed.into_iter().map(|o| clean(kind, o)));
        }
    }
    let wanted: BTreeSet<&str> = namespaces.iter().map(String::as_str).collect();
    if let Some(pv) = builtin("pv") {
        for obj in cluster.list(&pv, "", &Selector::default()).await.map_err(fail)? {
            let claimed_here =
                obj.pointer("/spec/claimRef/namespace").and_then(Value::as_str).is_some_and(|ns| wanted.contains(ns));
            if claimed_here {
                objects.push(clean(&pv, obj));
            }
        }
    }
    if let Some(sc) = builtin("storageclass") {
        let classes = cluster.list(&sc, "", &Selector::default()).await.map_err(fail)?;
        objects.extend(classes.into_iter().map(|o| clean(&sc, o)));
    }
    Ok(json!({ "server": cluster.server(), "objects": objects }))
}

/// An object as a world file holds it: `apiVersion` and `kind` (a list's
/// items lack them), no metadata that only this copy has, and for a Secret
/// its keys with empty values.
fn clean(kind: &ResourceKind, mut obj: Value) -> Value {
    let api_version =
        if kind.group.is_empty() { kind.version.clone() } else { format!("{}/{}", kind.group, kind.version) };
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind.kind);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in NOISE {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            // kubectl's copy of the last manifest applied (a Secret's
            // values among them).
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if kind.group.is_empty() && kind.kind == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(values) = obj.get_mut(field).and_then(Value::as_object_mut) {
                for value in values.values_mut() {
                    *value = json!("");
                }
            }
        }
    }
    obj
}

/// The EBS volume ids the captured PVs name (in-tree or CSI).
pub(super) fn volume_ids(clusters: &Map<String, Value>) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for cluster in clusters.values() {
        for obj in cluster["objects"].as_array().into_iter().flatten() {
            if obj["kind"] != "PersistentVolume" {
                continue;
            }
            let in_tree = obj.pointer("/spec/awsElasticBlockStore/volumeID").and_then(Value::as_str);
            let csi = obj
                .pointer("/spec/csi")
                .filter(|c| c["driver"] == "ebs.csi.aws.com")
                .and_then(|c| c["volumeHandle"].as_str());
            if let Some(id) = in_tree.and_then(|v| v.rsplit('/').next()).or(csi) {
                ids.insert(id.to_string());
            }
        }
    }
    ids.into_iter().collect()
}

/// One AWS account as a world's `aws.accounts.PROFILE`: its region, the
/// EBS volumes `volumes` names, and the hosted `zones` with their records.
pub(super) async fn account(
    target: &Target,
    profile: &str,
    region: Option<&str>,
    volumes: &[String],
    zones: &[String],
) -> Result<Value, Error> {
    let fail = |source| Error::Aws { account: profile.to_string(), source };
    // The same emulator override a run's `aws::account` honours.
    let endpoint = std::env::var("HUBOPS_AWS_ENDPOINT").ok().filter(|e| !e.is_empty());
    let spec = AccountSpec { profile: Some(profile.to_string()), region: region.map(String::from), endpoint };
    let account = Account::open(target, &spec).await.map_err(fail)?;
    let found = if volumes.is_empty() {
        Vec::new()
    } else {
        account.volumes(&Query { ids: volumes.to_vec(), ..Query::default() }).await.map_err(fail)?
    };
    let mut hosted = Vec::new();
    for name in zones {
        let zone = account.zone(name, Some(false)).await.map_err(fail)?;
        let records = account.records(&zone.id, None, None).await.map_err(fail)?;
        hosted.push(json!({ "id": zone.id, "name": zone.name, "records": records }));
    }
    Ok(json!({ "region": account.region(), "volumes": found, "zones": hosted }))
}

/// The authoritative servers of `zone`, as a world's `dns.zones.ZONE`.
/// A change reaches each within Route53's documented "generally within 60
/// seconds", the worst case the world assumes (no change is made to
/// measure it).
pub(super) async fn nameservers(target: &Target, zone: &str) -> Result<Value, Error> {
    let servers =
        Dns::new(target).nameservers(zone).await.map_err(|source| Error::Dns { zone: zone.to_string(), source })?;
    let list: Vec<Value> = servers.iter().map(|s| json!({ "host": s.host, "delay": "60s" })).collect();
    Ok(json!({ "nameservers": list }))
}

/// The hub's health and its users (every page of `/hub/api/users`), as a
/// world's `http.endpoints`; the token is sent, never written down.
pub(super) async fn hub(target: &Target, base: &str, token: Option<&str>) -> Result<(Vec<Value>, usize), Error> {
    let http = Http::new(target);
    let base = base.trim_end_matches('/');
    let get = |url: &str, bearer: Option<&str>| {
        let parsed = url::Url::parse(url).map_err(|e| Error::Hub { url: url.to_string(), why: e.to_string() })?;
        Ok::<_, Error>(Request {
            method: Read::Get,
            url: parsed,
            body: None,
            insecure: false,
            headers: vec![("Accept".into(), "application/jupyterhub-pagination+json".into())],
            bearer: bearer.map(String::from),
            timeout: Duration::from_secs(30),
            connect_to: None,
        })
    };
    let mut endpoints = Vec::new();
    let health_url = format!("{base}/hub/health");
    let health = http
        .read(&get(&health_url, None)?)
        .await
        .map_err(|e| Error::Hub { url: health_url.clone(), why: e.to_string() })?;
    endpoints.push(json!({ "url": health_url, "answers": [{ "status": health.status, "body": health.body }] }));
    let Some(token) = token else { return Ok((endpoints, 0)) };
    // The pages the stdlib's `hub::users` asks for: from offset 0 with
    // limit 200, then as each page's `next` says (a hub may lower the limit).
    let (mut offset, mut limit, mut users) = (0_u64, 200_u64, 0_usize);
    loop {
        let url = format!("{base}/hub/api/users?offset={offset}&limit={limit}");
        let answer = http
            .read(&get(&url, Some(token))?)
            .await
            .map_err(|e| Error::Hub { url: url.clone(), why: e.to_string() })?;
        if answer.status != 200 {
            return Err(Error::Hub { url, why: format!("the hub answered {}", answer.status) });
        }
        let mut page: Value = serde_json::from_str(&answer.body)
            .map_err(|e| Error::Hub { url: url.clone(), why: format!("not JSON: {e}") })?;
        // A token with `admin:auth_state` gets each user's auth state (their
        // upstream tokens): never written down.
        for user in page.get_mut("items").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(user) = user.as_object_mut() {
                user.remove("auth_state");
            }
        }
        for user in page.as_array_mut().into_iter().flatten() {
            if let Some(user) = user.as_object_mut() {
                user.remove("auth_state");
            }
        }
        let next = page.pointer("/_pagination/next/offset").and_then(Value::as_u64);
        if let Some(l) = page.pointer("/_pagination/next/limit").and_then(Value::as_u64) {
            limit = l;
        }
        users +=
            page.get("items").and_then(Value::as_array).map_or_else(|| page.as_array().map_or(0, Vec::len), Vec::len);
        endpoints.push(json!({ "url": url, "answers": [{ "status": 200, "json": page }] }));
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    Ok((endpoints, users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_keeps_what_a_world_needs_and_empties_secrets() {
        let secret = kinds::builtin(&kinds::parse("secret")).unwrap();
        let obj = json!({
            "metadata": {"name": "hub", "namespace": "daskhub", "uid": "u-1", "resourceVersion": "42", "managedFields": [{}],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"token\":\"c2VjcmV0\"}}"}},
            "data": {"hub.config.CryptKeeper.keys": "c2VjcmV0", "token": "dG9rZW4="},
            "type": "Opaque",
        });
        assert_eq!(
            clean(&secret, obj),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "hub", "namespace": "daskhub"},
                "data": {"hub.config.CryptKeeper.keys": "", "token": ""},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn volume_ids_come_from_in_tree_and_csi_volumes() {
        let clusters = json!({"blue": {"objects": [
            {"kind": "PersistentVolume", "spec": {"awsElasticBlockStore": {"volumeID": "aws://us-west-2a/vol-1"}}},
            {"kind": "PersistentVolume", "spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-2"}}},
            {"kind": "PersistentVolume", "spec": {"nfs": {"server": "nfs", "path": "/"}}},
        ]}});
        assert_eq!(volume_ids(clusters.as_object().unwrap()), ["vol-1", "vol-2"]);
    }
}
