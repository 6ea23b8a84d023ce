//! Helm release records, read without the helm binary. Helm 3 keeps each
//! revision of a release as a Secret of type `helm.sh/release.v1` named
//! `sh.helm.release.v1.NAME.vN` (or a `ConfigMap` with the `configmap`
//! storage driver), labelled `owner=helm`, `name`, `status`, `version`.
//! Its `data.release` is base64 of gzip of the release JSON; in a Secret the
//! API adds its own base64 on top.
//!
//! Pure functions over the objects as the Kubernetes API returns them (JSON
//! maps), so the Kubernetes family only has to list them.

use std::io::Read;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::effects::Failure;

/// The Secret type of Helm 3 release records.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";
/// The label selector of Helm 3 release records.
pub const LABEL_SELECTOR: &str = "owner=helm";
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// The record name of revision `revision` of release `name`.
#[must_use]
pub fn record_name(name: &str, revision: i64) -> String {
    format!("sh.helm.release.v1.{name}.v{revision}")
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object is not a Helm 3 release record.
    #[error("`{object}` is not a Helm release record ({why})")]
    NotARelease {
        /// The object's name.
        object: String,
        /// What gave it away.
        why: String,
    },
    /// A Helm 2 (Tiller) record: protobuf, not JSON.
    #[error("`{object}` is a Helm 2 (Tiller) release record, which hubops does not read; migrate it with helm-2to3")]
    Helm2 {
        /// The object's name.
        object: String,
    },
    /// The record is split over several keys.
    #[error("`{object}` stores its release in chunks ({keys}), which hubops does not read")]
    Chunked {
        /// The object's name.
        object: String,
        /// The data keys found.
        keys: String,
    },
    /// A layer of base64 did not decode.
    #[error("`{object}`: {layer} is not valid base64")]
    Base64 {
        /// The object's name.
        object: String,
        /// Which layer.
        layer: &'static str,
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// The gzip stream is damaged.
    #[error("`{object}`: the release is not valid gzip")]
    Gzip {
        /// The object's name.
        object: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is not a release.
    #[error("`{object}`: the release is not valid release JSON")]
    Json {
        /// The object's name.
        object: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// No revision of the release, or not that revision.
    #[error("release `{name}` {revision}not found")]
    NotFound {
        /// The release.
        name: String,
        /// ``"revision 3 "`` or empty.
        revision: String,
    },
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NotFound",
            _ => "Invalid",
        }
    }
}

/// One revision of a release, as Helm stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Release name.
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Revision.
    #[serde(rename = "version")]
    pub revision: i64,
    /// Status and times.
    #[serde(default)]
    pub info: Info,
    /// The chart: metadata and default values.
    #[serde(default)]
    pub chart: Chart,
    /// Values the user supplied (`--set`, `-f`).
    #[serde(default)]
    pub config: Option<Map<String, Value>>,
}

/// `info` of a release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// `deployed`, `superseded`, `failed`, `pending-upgrade`, ...
    #[serde(default)]
    pub status: String,
    /// When this revision was deployed.
    #[serde(default)]
    pub last_deployed: String,
    /// When the release was first deployed.
    #[serde(default)]
    pub first_deployed: String,
    /// `Upgrade complete`, or why it failed.
    #[serde(default)]
    pub description: String,
}

/// `chart` of a release (templates and files are not read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// `Chart.yaml`.
    #[serde(default)]
    pub metadata: Metadata,
    /// The chart's default values.
    #[serde(default)]
    pub values: Option<Map<String, Value>>,
}

/// `Chart.yaml` fields hubops reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Chart name.
    #[serde(default)]
    pub name: String,
    /// Chart version.
    #[serde(default)]
    pub version: String,
    /// App version.
    #[serde(default, rename = "appVersion")]
    pub app_version: String,
}

impl Release {
    /// `#{name, namespace, revision, status, chart, version, app_version,
    /// updated, description}`.
    #[must_use]
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "namespace": self.namespace,
            "revision": self.revision,
            "status": self.info.status,
            "chart": self.chart.metadata.name,
            "version": self.chart.metadata.version,
            "app_version": self.chart.metadata.app_version,
            "updated": self.info.last_deployed,
            "description": self.info.description,
        })
    }

    /// The values of this revision: what the user supplied, or with `all`
    /// the chart's defaults merged under them, as `helm get values --all`
    /// does (maps merge key by key; a user `null` removes the key).
    #[must_use]
    pub fn values(&self, all: bool) -> Value {
        let user = self.config.clone().unwrap_or_default();
        if !all {
            return Value::Object(user);
        }
        let mut merged = self.chart.values.clone().unwrap_or_default();
        coalesce(&mut merged, user);
        Value::Object(merged)
    }
}

fn coalesce(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (_, Value::Null) => {
                base.remove(&key);
            }
            (Some(Value::Object(inner)), Value::Object(value)) => coalesce(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn object_name(object: &Value) -> String {
    object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("(unnamed)").to_string()
}

/// Decodes one release record: a Secret (`data.release` is base64 of the
/// Helm payload) or a `ConfigMap` (`data.release` is the Helm payload). The
/// payload is base64 of gzip of JSON; older Helm 3 wrote it without gzip.
pub fn decode(object: &Value) -> Result<Release, Error> {
    let json = decode_json(object)?;
    serde_json::from_value(json).map_err(|source| Error::Json { object: object_name(object), source })
}

/// [`decode`], stopping at the release JSON: every field Helm wrote
/// (templates, manifest, hooks) kept, for writing a new revision from it.
pub fn decode_json(object: &Value) -> Result<Value, Error> {
    let name = object_name(object);
    let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    if label("OWNER") == Some("TILLER") {
        return Err(Error::Helm2 { object: name });
    }
    let kind = object.get("kind").and_then(Value::as_str);
    let secret_type = object.get("type").and_then(Value::as_str);
    let is_secret = match (kind, secret_type) {
        (Some("Secret") | None, Some(SECRET_TYPE)) => true,
        (Some("ConfigMap"), _) => false,
        (Some("Secret"), other) => {
            return Err(Error::NotARelease {
                object: name,
                why: format!("its type is `{}`, not `{SECRET_TYPE}`", other.unwrap_or_default()),
            })
        }
        (Some(other), _) => return Err(Error::NotARelease { object: name, why: format!("it is a {other}") }),
        (None, _) if label("owner") == Some("helm") => false,
        (None, _) => return Err(Error::NotARelease { object: name, why: "it has no `kind` or release type".into() }),
    };
    let data = object.get("data").and_then(Value::as_object);
    let Some(field) = data.and_then(|d| d.get("release")).and_then(Value::as_str) else {
        let keys: Vec<&str> = data.map(|d| d.keys().map(String::as_str).collect()).unwrap_or_default();
        if keys.iter().any(|k| k.starts_with("release")) {
            return Err(Error::Chunked { object: name, keys: keys.join(", ") });
        }
        return Err(Error::NotARelease { object: name, why: "it has no `data.release`".into() });
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = if is_secret {
        b64.decode(field.trim()).map_err(|source| Error::Base64 {
            object: name.clone(),
            layer: "the Secret's data",
            source,
        })?
    } else {
        field.as_bytes().to_vec()
    };
    let compressed = b64.decode(payload.trim_ascii()).map_err(|source| Error::Base64 {
        object: name.clone(),
        layer: "Helm's encoding",
        source,
    })?;
    let json = if compressed.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| Error::Gzip { object: name.clone(), source })?;
        out
    } else {
        compressed
    };
    serde_json::from_slice(&json).map_err(|source| Error::Json { object: name, source })
}

/// Every revision of `name` among `objects`, oldest first (`helm history`).
/// Records that are not Helm records, or belong to other releases, are
/// skipped; a damaged record of this release is an error.
pub fn history(objects: &[Value], name: &str) -> Result<Vec<Release>, Error> {
    let mut revisions = Vec::new();
    for object in objects {
        if label(object, "name").is_some_and(|n| n != name) {
            continue;
        }
        let release = decode(object)?;
        if release.name == name {
            revisions.push(release);
        }
    }
    if revisions.is_empty() {
        return Err(Error::NotFound { name: name.into(), revision: String::new() });
    }
    revisions.sort_by_key(|r| r.revision);
    Ok(revisions)
}

/// The newest revision of `name`, or revision `revision`.
pub fn release(objects: &[Value], name: &str, revision: Option<i64>) -> Result<Release, Error> {
    let mut revisions = history(objects, name)?;
    match revision {
        None => revisions.pop().ok_or_else(|| Error::NotFound { name: name.into(), revision: String::new() }),
        Some(n) => revisions
            .into_iter()
            .find(|r| r.revision == n)
            .ok_or_else(|| Error::NotFound { name: name.into(), revision: format!("revision {n} ") }),
    }
}

/// The newest revision of every release among `objects`, by name. Unlike
/// `helm list`, releases in every status are listed (a release stuck in
/// `pending-upgrade` is what an operator needs to see).
pub fn releases(objects: &[Value]) -> Result<Vec<Release>, Error> {
    let mut newest: std::collections::BTreeMap<String, Release> = std::collections::BTreeMap::new();
    for object in objects {
        if label(object, "owner").is_some_and(|o| o != "helm") {
            continue;
        }
        let release = decode(object)?;
        match newest.get(&release.name) {
            Some(known) if known.revision >= release.revision => {}
            _ => {
                newest.insert(release.name.clone(), release);
            }
        }
    }
    Ok(newest.into_values().collect())
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/labels").and_then(|l| l.get(key)).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;

    use super::*;

    fn release_json(name: &str, revision: i64, status: &str, config: Value) -> Value {
        json!({
            "name": name,
            "namespace": "jupyterhub",
            "version": revision,
            "info": {
                "first_deployed": "2026-11-01T10:00:00Z",
                "last_deployed": format!("2026-11-0{revision}T10:00:00Z"),
                "deleted": "",
                "description": if status == "deployed" { "Upgrade complete" } else { "Superseded" },
                "status": status,
                "notes": "JupyterHub is installed"
            },
            "chart": {
                "metadata": { "name": "jupyterhub", "version": "3.3.7", "appVersion": "4.1.5", "apiVersion": "v2" },
                "lock": null,
                "templates": [{ "name": "templates/hub.yaml", "data": "a2luZDogRGVwbG95bWVudA==" }],
                "values": { "hub": { "baseUrl": "/", "image": { "name": "jupyterhub/k8s-hub", "tag": "3.3.7" } }, "proxy": { "secretToken": null } },
                "schema": null,
                "files": []
            },
            "config": config,
            "manifest": "---\nkind: Deployment\n",
            "hooks": []
        })
    }

    /// What Helm's `encodeRelease` writes: base64(gzip(json)).
    fn helm_payload(release: &Value, gzip: bool) -> String {
        let json = serde_json::to_vec(release).unwrap();
        let bytes = if gzip {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&json).unwrap();
            encoder.finish().unwrap()
        } else {
            json
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The Secret as the API returns it: `data` values are base64 again.
    fn secret(release: &Value) -> Value {
        let name = release["name"].as_str().unwrap();
        let revision = release["version"].as_i64().unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(helm_payload(release, true));
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE,
            "metadata": {
                "name": record_name(name, revision),
                "namespace": "jupyterhub",
                "labels": { "name": name, "owner": "helm", "status": release["info"]["status"], "version": revision.to_string() }
            },
            "data": { "release": data }
        })
    }

    fn history_secrets() -> Vec<Value> {
        vec![
            secret(&release_json(
                "jupyterhub",
                2,
                "deployed",
                json!({ "hub": { "baseUrl": "/n2" }, "proxy": { "secretToken": "abc" } }),
            )),
            secret(&release_json("jupyterhub", 1, "superseded", json!({}))),
            secret(&release_json("dask-gateway", 1, "deployed", json!(null))),
        ]
    }

    #[test]
    fn decodes_a_secret_as_helm_writes_it() {
        let r = decode(&history_secrets()[0]).unwrap();
        assert_eq!(
            r.summary(),
            json!({
                "name": "jupyterhub", "namespace": "jupyterhub", "revision": 2, "status": "deployed",
                "chart": "jupyterhub", "version": "3.3.7", "app_version": "4.1.5",
                "updated": "2026-11-02T10:00:00Z", "description": "Upgrade complete"
            })
        );
    }

    #[test]
    fn values_are_user_supplied_or_merged_over_the_chart_defaults() {
        let r = decode(&history_secrets()[0]).unwrap();
        assert_eq!(r.values(false), json!({ "hub": { "baseUrl": "/n2" }, "proxy": { "secretToken": "abc" } }));
        assert_eq!(
            r.values(true),
            json!({ "hub": { "baseUrl": "/n2", "image": { "name": "jupyterhub/k8s-hub", "tag": "3.3.7" } }, "proxy": { "secretToken": "abc" } })
        );
        let mut rel = release_json("x", 1, "deployed", json!({ "hub": { "image": null } }));
        rel["chart"]["values"]["extra"] = json!(1);
        let r = decode(&secret(&rel)).unwrap();
        assert_eq!(r.values(true), json!({ "hub": { "baseUrl": "/" }, "proxy": { "secretToken": null }, "extra": 1 }));
        let none = decode(&history_secrets()[2]).unwrap();
        assert_eq!(none.values(false), json!({}));
    }

    #[test]
    fn history_and_latest_and_list() {
        let secrets = history_secrets();
        let h = history(&secrets, "jupyterhub").unwrap();
        assert_eq!(
            h.iter().map(|r| (r.revision, r.info.status.as_str())).collect::<Vec<_>>(),
            [(1, "superseded"), (2, "deployed")]
        );
        assert_eq!(release(&secrets, "jupyterhub", None).unwrap().revision, 2);
        assert_eq!(release(&secrets, "jupyterhub", Some(1)).unwrap().info.status, "superseded");
        assert_eq!(
            release(&secrets, "jupyterhub", Some(7)).unwrap_err().to_string(),
            "release `jupyterhub` revision 7 not found"
        );
        assert_eq!(history(&secrets, "nope").unwrap_err().to_string(), "release `nope` not found");
        let names: Vec<(String, i64)> = releases(&secrets).unwrap().into_iter().map(|r| (r.name, r.revision)).collect();
        assert_eq!(names, [("dask-gateway".to_string(), 1), ("jupyterhub".to_string(), 2)]);
    }

    #[test]
    fn reads_configmap_storage_and_payloads_without_gzip() {
        // The `configmap` driver: data is Helm's base64 text directly; an
        // older Helm 3 wrote the JSON without gzip.
        let rel = release_json("hub", 4, "deployed", json!({ "a": 1 }));
        let cm = json!({
            "kind": "ConfigMap",
            "metadata": { "name": "sh.helm.release.v1.hub.v4", "labels": { "owner": "helm", "name": "hub" } },
            "data": { "release": helm_payload(&rel, false) }
        });
        let r = decode(&cm).unwrap();
        assert_eq!((r.revision, r.values(false)), (4, json!({ "a": 1 })));
        let mut gz = cm.clone();
        gz["data"]["release"] = json!(helm_payload(&rel, true));
        assert_eq!(decode(&gz).unwrap(), r);
    }

    #[test]
    fn damaged_and_foreign_records_get_clear_errors() {
        let tiller = json!({ "kind": "ConfigMap", "metadata": { "name": "hub.v1", "labels": { "OWNER": "TILLER" } }, "data": { "release": "H4sI" } });
        assert_eq!(
            decode(&tiller).unwrap_err().to_string(),
            "`hub.v1` is a Helm 2 (Tiller) release record, which hubops does not read; migrate it with helm-2to3"
        );
        let chunked = json!({ "kind": "Secret", "type": SECRET_TYPE, "metadata": { "name": "big" }, "data": { "release.0": "", "release.1": "" } });
        assert_eq!(
            decode(&chunked).unwrap_err().to_string(),
            "`big` stores its release in chunks (release.0, release.1), which hubops does not read"
        );
        let opaque = json!({ "kind": "Secret", "type": "Opaque", "metadata": { "name": "s" }, "data": {} });
        assert_eq!(
            decode(&opaque).unwrap_err().to_string(),
            "`s` is not a Helm release record (its type is `Opaque`, not `helm.sh/release.v1`)"
        );
        let mut bad = history_secrets()[0].clone();
        bad["data"]["release"] = json!("not base64!");
        assert_eq!(
            decode(&bad).unwrap_err().to_string(),
            "`sh.helm.release.v1.jupyterhub.v2`: the Secret's data is not valid base64"
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        bad["data"]["release"] = json!(b64.encode(b64.encode([0x1f, 0x8b, 0x08, 0, 1, 2])));
        assert!(decode(&bad).unwrap_err().to_string().ends_with("the release is not valid gzip"));
        bad["data"]["release"] = json!(b64.encode(b64.encode(b"{\"name\": 1}")));
        assert!(decode(&bad).unwrap_err().to_string().ends_with("the release is not valid release JSON"));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in "\\PC{0,80}", kind in "(Secret|ConfigMap|Pod)") {
            let object = json!({ "kind": kind, "type": SECRET_TYPE, "metadata": { "name": "x" }, "data": { "release": data } });
            let _ = decode(&object);
        }
    }
}
