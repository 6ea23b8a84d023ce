//! Kubernetes: one family value, [`Cluster`], that is either a live API
//! server (kube-rs, see [`live`]) or one of the world's `clusters:` (see
//! [`world`] for the section and [`world_cluster`] for the handle), chosen
//! once from the run's target. Both speak the API's own JSON: objects are
//! `serde_json` values with the API's field names, so bindings hand them to
//! scripts as they are. Kind names are resolved like kubectl does
//! ([`kinds`]); label and field selectors and wait conditions are shared
//! ([`select`], [`condition`]).
//!
//! Every mutating verb takes the gate's [`Permit`](crate::effects::Permit)
//! and reads the mode from it: under `Permit::Check` the live API server
//! validates the request (`dryRun=All`: admission runs, nothing is stored)
//! and a world validates it on a copy of the cluster. Nothing here knows
//! Rhai, the run or the bindings.

mod cluster;
pub mod condition;
pub mod config;
pub mod copy;
pub mod database;
mod discovery;
pub mod exec;
pub mod kinds;
pub mod lease;
pub mod live;
pub mod patch;
mod pods;
mod rules;
pub mod select;
mod store;
pub mod watch;
pub mod world;
pub mod world_cluster;

pub use cluster::Cluster;
pub use kinds::ResourceKind;

use crate::effects::Failure;

/// Why a Kubernetes call failed. `kind()` is what scripts see as `e.kind`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig has no such context.
    #[error("no kube context `{context}` (contexts: {})", list(.known))]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts that exist.
        known: Vec<String>,
    },
    /// No kubeconfig could be read, or it is not usable.
    #[error("kubeconfig: {message}")]
    Kubeconfig {
        /// What is wrong.
        message: String,
    },
    /// The API server did not answer.
    #[error("the API server of context `{context}` at `{server}` is unreachable")]
    Unreachable {
        /// The context.
        context: String,
        /// The server URL.
        server: String,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The kind is neither built in nor served by the cluster.
    #[error("the server doesn't have a resource type `{kind}`")]
    UnknownKind {
        /// The kind as written.
        kind: String,
    },
    /// A usage error found before asking the server (a cluster-scoped kind
    /// given a namespace, a manifest without a name, a bad selector).
    #[error("{0}")]
    Usage(String),
    /// The API server answered with a `Status` failure.
    #[error("{}", api_message(*code, reason, message))]
    Api {
        /// HTTP status code.
        code: u16,
        /// The Status `reason` (`NotFound`, `AlreadyExists`, `Invalid`, ...).
        reason: String,
        /// The Status `message`.
        message: String,
    },
    /// A wait ran out of time.
    #[error("{what} not {condition} after {after}")]
    Timeout {
        /// The object: `pod daskhub/hub-0`.
        what: String,
        /// The condition waited for.
        condition: String,
        /// The timeout, as written.
        after: String,
    },
    /// A wait for an object to be deleted ran out of time while the object
    /// was still there, held by its finalizers (a namespace `Terminating`).
    #[error("{what} not deleted after {after}: it is still {phase}, held by finalizers {}", list(.finalizers))]
    StillTerminating {
        /// The object: `namespace nublado2-dave`.
        what: String,
        /// `Terminating` (a namespace's phase), or `being deleted`.
        phase: String,
        /// Its `metadata.finalizers` (and a namespace's `spec.finalizers`).
        finalizers: Vec<String>,
        /// The timeout, as written.
        after: String,
    },
    /// Anything else the client reported (bad answer, TLS, ...).
    #[error("{message}")]
    Client {
        /// What happened.
        message: String,
        /// The client's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// The Status message, or, when the server sent none (a 404 with an empty
/// body), what answered and how.
fn api_message(code: u16, reason: &str, message: &str) -> String {
    if !message.trim().is_empty() {
        return message.to_string();
    }
    let reason = if reason.is_empty() { "no reason" } else { reason };
    format!("the API server answered {code} ({reason}) with an empty body")
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    }
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::UnknownContext { .. } | Self::Kubeconfig { .. } | Self::Usage(_) => "Usage",
            Self::Unreachable { .. } => "Unreachable",
            Self::UnknownKind { .. } => "NotFound",
            Self::Timeout { .. } | Self::StillTerminating { .. } => "Timeout",
            Self::Client { .. } => "Internal",
            Self::Api { code, reason, .. } => match (code, reason.as_str()) {
                (_, "AlreadyExists" | "Conflict") | (409, _) => "Conflict",
                (404, _) | (_, "NotFound") => "NotFound",
                (401 | 403, _) => "Forbidden",
                (400 | 422, _) => "Invalid",
                (429, _) => "Throttled",
                (504, _) | (_, "Timeout") => "Timeout",
                _ => "Unavailable",
            },
        }
    }

    /// The contexts that exist, for a script that asked for one that does
    /// not.
    fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::UnknownContext { known, .. } => vec![("contexts", serde_json::json!(known))],
            Self::StillTerminating { finalizers, .. } => vec![("finalizers", serde_json::json!(finalizers))],
            _ => Vec::new(),
        }
    }
}

impl Error {
    /// A `Status` failure, as the API server would send it.
    #[must_use]
    pub fn api(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self::Api { code, reason: reason.into(), message: message.into() }
    }

    /// `pods "x" not found`.
    #[must_use]
    pub fn not_found(kind: &ResourceKind, name: &str) -> Self {
        Self::api(404, "NotFound", format!("{} \"{name}\" not found", kind.qualified_plural()))
    }
}

/// Label and field selectors of a list, `delete_all` or watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// `component=singleuser-server,app in (jupyterhub)`.
    pub labels: Option<String>,
    /// `status.phase=Running,metadata.name!=hub`.
    pub fields: Option<String>,
}

/// How a patch document is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// RFC 6902 JSON patch (a list of operations).
    Json,
}

impl PatchType {
    /// Parses `merge`, `strategic` or `json`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "merge" => Ok(Self::Merge),
            "strategic" => Ok(Self::Strategic),
            "json" => Ok(Self::Json),
            other => Err(Error::Usage(format!("patch type `{other}` is not one of merge, strategic, json"))),
        }
    }
}

/// Options of a delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Grace period in seconds.
    pub grace: Option<u32>,
    /// Only delete if the object still has this `metadata.uid`.
    pub uid: Option<String>,
    /// Only delete if the object still has this `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

/// Where a pod's container is: for logs, exec and copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// The container (default: the pod's only or first container).
    pub container: Option<String>,
    /// Only the last lines.
    pub tail: Option<i64>,
}

/// The object's `metadata.name`, when it has one.
#[must_use]
pub fn name_of(obj: &serde_json::Value) -> Option<&str> {
    obj.pointer("/metadata/name").and_then(serde_json::Value::as_str)
}

/// The object's `metadata.namespace`, when it has one.
#[must_use]
pub fn namespace_of(obj: &serde_json::Value) -> Option<&str> {
    obj.pointer("/metadata/namespace").and_then(serde_json::Value::as_str)
}

/// Splits a YAML text with one or many documents into objects; empty
/// documents are skipped, a `List` is flattened into its items.
pub fn parse_manifests(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let yaml = serde_norway::Value::deserialize(doc)
            .map_err(|e| Error::Usage(format!("manifest document {}: {e}", i + 1)))?;
        let value =
            serde_json::to_value(yaml).map_err(|e| Error::Usage(format!("manifest document {}: {e}", i + 1)))?;
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::Object(ref map) if map.get("kind").and_then(|k| k.as_str()) == Some("List") => {
                if let Some(items) = map.get("items").and_then(|i| i.as_array()) {
                    out.extend(items.iter().cloned());
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_status_still_says_what_answered() {
        let e = super::Error::Api { code: 404, reason: "NotFound".into(), message: String::new() };
        assert_eq!(e.to_string(), "the API server answered 404 (NotFound) with an empty body");
    }
}
