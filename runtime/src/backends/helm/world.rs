//! Helm writes on worlds: what `helm upgrade` and `helm rollback` leave in
//! the release records, computed from the records a world's cluster holds.
//! A new revision is the previous release JSON with a new number, status,
//! time, chart version and values; the revisions it replaces are marked
//! `superseded`; each record is encoded exactly as Helm's Secret driver
//! writes it (JSON, gzip, base64 - and the Secret's own base64 in `data`).
//!
//! What a world cannot know is not simulated: charts are not fetched or
//! rendered, so the chart's defaults, templates and manifest stay those of
//! the previous revision and no object but the records changes. Records
//! are written as Secrets (Helm's default driver); a release a world keeps
//! in `ConfigMap`s can be read but not upgraded.
//!
//! Pure functions over JSON; `simulated.rs` stores the records in the
//! world's cluster.

use std::io::Write;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::release::{self, record_name, SECRET_TYPE};
use crate::effects::Failure;

/// Why a world upgrade or rollback cannot happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record could not be read, or the release or revision is missing.
    #[error(transparent)]
    Record(#[from] release::Error),
    /// The newest revision is still pending (as Helm refuses).
    #[error("release `{name}`: another operation (install/upgrade/rollback) is in progress (revision {revision} is {status})")]
    Busy {
        /// The release.
        name: String,
        /// Its newest revision.
        revision: i64,
        /// `pending-upgrade`, ...
        status: String,
    },
    /// The release JSON could not be encoded.
    #[error("release `{name}` cannot be encoded: {why}")]
    Encode {
        /// The release.
        name: String,
        /// Why.
        why: String,
    },
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::Record(e) => e.kind(),
            Self::Busy { .. } => "Conflict",
            Self::Encode { .. } => "Invalid",
        }
    }
}

/// An upgrade as a world applies it.
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    /// Chart reference; its last path segment names the chart of a new
    /// release (`jupyterhub/jupyterhub`, `./charts/hub`).
    pub chart: String,
    /// Chart version; `None` keeps the previous revision's.
    pub version: Option<String>,
    /// The values given (files, then `set`, merged in that order).
    pub values: Map<String, Value>,
    /// `--reuse-values`: the given values are merged over the previous ones.
    pub reuse_values: bool,
    /// `--install`: a release that does not exist is installed.
    pub install: bool,
}

/// Every revision of `name` among `objects` as release JSON, oldest first.
pub fn history(objects: &[Value], name: &str) -> Result<Vec<Value>, release::Error> {
    let mut revisions: Vec<Value> = Vec::new();
    for object in objects {
        let raw = release::decode_json(object)?;
        if raw.get("name").and_then(Value::as_str) == Some(name) {
            revisions.push(raw);
        }
    }
    revisions.sort_by_key(revision_of);
    Ok(revisions)
}

fn revision_of(raw: &Value) -> i64 {
    raw.get("version").and_then(Value::as_i64).unwrap_or_default()
}

fn status_of(raw: &Value) -> &str {
    raw.pointer("/info/status").and_then(Value::as_str).unwrap_or_default()
}

/// Deep merge, `over` winning; maps merge key by key.
pub fn merge(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets a dotted key (`hub.baseUrl`) in a values map, as `--set` does.
pub fn set_dotted(values: &mut Map<String, Value>, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut cursor = values;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cursor.insert(part.to_string(), value);
            return;
        }
        let entry = cursor.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        cursor = next;
    }
}

/// The records an upgrade writes, newest last: the revisions it supersedes
/// and the new one. `history` is [`history`]'s answer; `now` is RFC 3339.
pub fn upgrade(history: &[Value], namespace: &str, name: &str, up: &Upgrade, now: &str) -> Result<Vec<Value>, Error> {
    let Some(latest) = history.last() else {
        if !up.install {
            return Err(release::Error::NotFound { name: name.into(), revision: String::new() }.into());
        }
        let chart = up.chart.trim_end_matches('/').rsplit('/').next().unwrap_or(&up.chart);
        return Ok(vec![json!({
            "name": name,
            "namespace": namespace,
            "version": 1,
            "info": {
                "first_deployed": now, "last_deployed": now, "deleted": "",
                "description": "Install complete", "status": "deployed"
            },
            "chart": {
                "metadata": { "name": chart, "version": up.version.clone().unwrap_or_default(), "apiVersion": "v2" },
                "values": {}, "templates": [], "files": []
            },
            "config": up.values,
            "manifest": "",
            "hooks": []
        })]);
    };
    refuse_if_busy(latest, name)?;
    let previous = latest.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
    // Helm 3: `--reuse-values` merges the given values over the previous
    // ones; with neither those nor any values given, the previous values
    // are kept; otherwise only the given values count.
    let config = if up.reuse_values {
        let mut merged = previous;
        merge(&mut merged, up.values.clone());
        merged
    } else if up.values.is_empty() {
        previous
    } else {
        up.values.clone()
    };
    let mut next = latest.clone();
    next["version"] = json!(revision_of(latest) + 1);
    next["config"] = Value::Object(config);
    next["info"]["status"] = json!("deployed");
    next["info"]["last_deployed"] = json!(now);
    next["info"]["description"] = json!("Upgrade complete");
    if let Some(version) = &up.version {
        next["chart"]["metadata"]["version"] = json!(version);
    }
    Ok(superseded(history, next))
}

/// The records a rollback to `revision` (0: the one before the newest)
/// writes, newest last.
pub fn rollback(history: &[Value], name: &str, revision: i64, now: &str) -> Result<Vec<Value>, Error> {
    let latest =
        history.last().ok_or_else(|| release::Error::NotFound { name: name.into(), revision: String::new() })?;
    refuse_if_busy(latest, name)?;
    let wanted = if revision == 0 { revision_of(latest) - 1 } else { revision };
    let target = history
        .iter()
        .find(|r| revision_of(r) == wanted)
        .ok_or_else(|| release::Error::NotFound { name: name.into(), revision: format!("revision {wanted} ") })?;
    let mut next = target.clone();
    next["version"] = json!(revision_of(latest) + 1);
    next["info"]["status"] = json!("deployed");
    next["info"]["last_deployed"] = json!(now);
    next["info"]["description"] = json!(format!("Rollback to {wanted}"));
    Ok(superseded(history, next))
}

fn refuse_if_busy(latest: &Value, name: &str) -> Result<(), Error> {
    let status = status_of(latest);
    if status.starts_with("pending-") {
        return Err(Error::Busy { name: name.into(), revision: revision_of(latest), status: status.into() });
    }
    Ok(())
}

fn superseded(history: &[Value], next: Value) -> Vec<Value> {
    let mut out: Vec<Value> = history
        .iter()
        .filter(|r| status_of(r) == "deployed")
        .map(|r| {
            let mut r = r.clone();
            r["info"]["status"] = json!("superseded");
            r
        })
        .collect();
    out.push(next);
    out
}

/// A release as Helm's Secret driver stores it: `data.release` is base64
/// (the Secret's) of base64 (Helm's) of gzip of the JSON.
pub fn encode(raw: &Value) -> Result<Value, Error> {
    let name = raw.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let fail = |why: String| Error::Encode { name: name.clone(), why };
    let json = serde_json::to_vec(raw).map_err(|e| fail(e.to_string()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).map_err(|e| fail(e.to_string()))?;
    let compressed = gz.finish().map_err(|e| fail(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let revision = revision_of(raw);
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {
            "name": record_name(&name, revision),
            "namespace": raw.get("namespace").cloned().unwrap_or(Value::Null),
            "labels": { "name": name, "owner": "helm", "status": status_of(raw), "version": revision.to_string() }
        },
        "data": { "release": b64.encode(b64.encode(compressed)) }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first() -> Value {
        json!({
            "name": "hub", "namespace": "jh", "version": 1,
            "info": { "status": "deployed", "last_deployed": "2026-01-01T00:00:00Z" },
            "chart": { "metadata": { "name": "jupyterhub", "version": "3.3.7" }, "values": { "hub": { "baseUrl": "/" } } },
            "config": { "hub": { "baseUrl": "/nb" }, "proxy": { "https": true } },
            "manifest": "kind: Deployment\n"
        })
    }

    fn revisions(records: &[Value]) -> Vec<(i64, String)> {
        records.iter().map(|r| (revision_of(r), status_of(r).to_string())).collect()
    }

    #[test]
    fn an_upgrade_supersedes_the_deployed_revision_and_records_the_values() {
        let mut up = Upgrade { chart: "jupyterhub/jupyterhub".into(), ..Upgrade::default() };
        set_dotted(&mut up.values, "hub.baseUrl", json!("/n2"));
        let out = upgrade(&[first()], "jh", "hub", &up, "2026-01-02T00:00:00Z").unwrap();
        assert_eq!(revisions(&out), [(1, "superseded".into()), (2, "deployed".into())]);
        assert_eq!(out[1]["config"], json!({ "hub": { "baseUrl": "/n2" } }));
        assert_eq!(out[1]["manifest"], json!("kind: Deployment\n"));
        up.reuse_values = true;
        up.version = Some("4.0.0".into());
        let out = upgrade(&[first()], "jh", "hub", &up, "now").unwrap();
        assert_eq!(out[1]["config"], json!({ "hub": { "baseUrl": "/n2" }, "proxy": { "https": true } }));
        assert_eq!(out[1]["chart"]["metadata"]["version"], json!("4.0.0"));
        let keep = upgrade(&[first()], "jh", "hub", &Upgrade::default(), "now").unwrap();
        assert_eq!(keep[1]["config"], first()["config"]);
    }

    #[test]
    fn install_rollback_and_refusals() {
        let up = Upgrade { chart: "./charts/hub".into(), install: true, ..Upgrade::default() };
        let out = upgrade(&[], "jh", "hub", &up, "now").unwrap();
        assert_eq!(
            (revisions(&out), out[0]["chart"]["metadata"]["name"].clone()),
            (vec![(1, "deployed".into())], json!("hub"))
        );
        let err = upgrade(&[], "jh", "hub", &Upgrade::default(), "now").unwrap_err();
        assert_eq!(err.to_string(), "release `hub` not found");
        let two = upgrade(&[first()], "jh", "hub", &Upgrade::default(), "now").unwrap();
        let back = rollback(&two, "hub", 0, "later").unwrap();
        assert_eq!(revisions(&back), [(2, "superseded".into()), (3, "deployed".into())]);
        assert_eq!(back[1]["info"]["description"], json!("Rollback to 1"));
        assert_eq!(rollback(&two, "hub", 9, "x").unwrap_err().to_string(), "release `hub` revision 9 not found");
        let mut pending = first();
        pending["info"]["status"] = json!("pending-upgrade");
        assert_eq!(
            upgrade(&[pending], "jh", "hub", &Upgrade::default(), "x").unwrap_err().to_string(),
            "release `hub`: another operation (install/upgrade/rollback) is in progress (revision 1 is pending-upgrade)"
        );
    }

    #[test]
    fn records_are_encoded_as_helm_writes_them_and_decode_back() {
        let secret = encode(&first()).unwrap();
        assert_eq!(secret["metadata"]["name"], json!("sh.helm.release.v1.hub.v1"));
        assert_eq!(secret["metadata"]["labels"]["status"], json!("deployed"));
        let b64 = base64::engine::general_purpose::STANDARD;
        let helm = b64.decode(secret["data"]["release"].as_str().unwrap()).unwrap();
        assert!(b64.decode(helm).unwrap().starts_with(&[0x1f, 0x8b, 0x08]));
        assert_eq!(release::decode_json(&secret).unwrap(), first());
        assert_eq!(history(&[secret], "hub").unwrap(), [first()]);
    }
}
