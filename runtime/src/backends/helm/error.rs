//! Why a Helm call failed, as one error type for every Helm verb: the
//! argv, the helm process, the release records, a world's refusal, the
//! cluster's API. Its `kind` is what scripts see.

use serde_json::Value;

use super::{cli, release, world};
use crate::backends::k8s;
use crate::backends::shell::process;
use crate::effects::Failure;

/// Why a Helm call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value that cannot be passed to helm.
    #[error(transparent)]
    Argv(#[from] cli::Error),
    /// The helm process did not run, or failed.
    #[error(transparent)]
    Process(#[from] process::Error),
    /// A release record could not be read, or the release (or revision)
    /// is not there.
    #[error("{}", record_message(.source, .location.as_ref()))]
    Record {
        /// The record's problem.
        source: release::Error,
        /// `(namespace, context)` where it was looked for.
        location: Option<(String, String)>,
    },
    /// A world refused the upgrade or rollback (an operation is in progress,
    /// a record cannot be encoded).
    #[error(transparent)]
    World(world::Error),
    /// The cluster's API failed.
    #[error(transparent)]
    Cluster(#[from] k8s::Error),
    /// A values file cannot be read or is not a mapping.
    #[error("{message}")]
    Values {
        /// `NotFound` or `Invalid`.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Helm or the world answered with something that is not a release.
    #[error("the new revision of `{name}` is not a release: {why}")]
    NotARelease {
        /// The release.
        name: String,
        /// Why.
        why: String,
    },
}

/// A record error's words: where a missing release was looked for; a
/// damaged record's cause on the same line.
fn record_message(e: &release::Error, location: Option<&(String, String)>) -> String {
    match (e, location) {
        (release::Error::NotFound { name, revision }, Some((ns, context))) => {
            format!("release `{name}` {revision}not found in namespace `{ns}` of cluster `{context}`")
        }
        _ => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl Error {
    /// A record error, located in namespace `ns` of cluster `context`.
    #[must_use]
    pub fn record(source: release::Error, ns: &str, context: &str) -> Self {
        Self::Record { source, location: Some((ns.into(), context.into())) }
    }

    pub(super) fn from_world(e: world::Error, ns: &str, context: &str) -> Self {
        match e {
            world::Error::Record(source) => Self::record(source, ns, context),
            other => Self::World(other),
        }
    }
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::Argv(_) => "Invalid",
            Self::Process(e) => e.kind(),
            Self::Record { source, .. } => source.kind(),
            Self::World(e) => e.kind(),
            Self::Cluster(e) => e.kind(),
            Self::Values { kind, .. } => kind,
            Self::NotARelease { .. } => "Internal",
        }
    }

    /// A failed helm's exit status and the end of its stderr, for scripts
    /// that look at them.
    fn fields(&self) -> Vec<(&'static str, Value)> {
        match self {
            Self::Process(process::Error::Failed { status, stderr_tail, .. }) => {
                vec![("status", Value::from(*status)), ("stderr", Value::from(stderr_tail.clone()))]
            }
            Self::Cluster(e) => e.fields(),
            _ => Vec::new(),
        }
    }
}
