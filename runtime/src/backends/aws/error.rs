//! What can go wrong talking to AWS, and the `kind` scripts see for it
//! ([`Failure`]). AWS error codes are kept (the `code` field of the script's
//! error), so a runbook (and a person) can see exactly what AWS said.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;

use crate::effects::Failure;

/// An AWS call that did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AWS answered with an error code.
    #[error("{operation}: {code}: {message}")]
    Api {
        /// The API operation: `CreateSnapshot`.
        operation: &'static str,
        /// AWS's error code: `InvalidVolume.NotFound`.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// No answer: connection refused, DNS, TLS, timeout. The SDK's error
    /// is kept as text, not as a source: its layers repeat their causes'
    /// text, so it is flattened once, without the repeats, into one line.
    #[error("{operation}: AWS is unreachable: {detail}")]
    Unreachable {
        /// The API operation.
        operation: &'static str,
        /// Why, from the SDK's error and its causes.
        detail: String,
    },
    /// The request could not be signed: the profile's credentials did not
    /// load (no SSO login, a `credential_process` that failed, a role that
    /// could not be assumed).
    #[error("{operation}: no AWS credentials: {detail}")]
    Credentials {
        /// The API operation.
        operation: &'static str,
        /// Why, from the credential provider's error and its causes.
        detail: String,
    },
    /// Credentials or region could not be set up.
    #[error("AWS account `{account}`: {message}")]
    Config {
        /// The account's name.
        account: String,
        /// What is missing.
        message: String,
    },
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What: ``volume `vol-1` ``.
        what: String,
    },
    /// The state is not what the change expects (compare-and-swap failed).
    #[error("{0}")]
    Conflict(String),
    /// A record set that is not there.
    #[error("record `{name}` {record_type} not found in zone `{zone}`")]
    NoRecord {
        /// The record's name (FQDN).
        name: String,
        /// Its type.
        record_type: String,
        /// The zone's name.
        zone: String,
    },
    /// A world without an `aws:` section.
    #[error("AWS account `{account}`: the world has no `aws:` section")]
    NoWorldSection {
        /// The account asked for.
        account: String,
    },
    /// A world account asked for in another region than its own.
    #[error("AWS account `{account}` is in region `{region}` on this world, not `{asked}`")]
    WrongRegion {
        /// The account.
        account: String,
        /// Its region on the world.
        region: String,
        /// The region asked for.
        asked: String,
    },
    /// A name matches more than one thing.
    #[error("{what} is ambiguous: {}", candidates.join(", "))]
    Ambiguous {
        /// What was looked up.
        what: String,
        /// What it matched.
        candidates: Vec<String>,
    },
    /// The arguments do not make a valid request.
    #[error("{0}")]
    Invalid(String),
    /// A wait ran out of time.
    #[error("{what} after {after}")]
    Timeout {
        /// What did not happen: ``snapshot `snap-1` not completed (42%)``.
        what: String,
        /// The timeout, as written.
        after: String,
    },
    /// The thing failed on AWS's side (a snapshot in state `error`).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// From an SDK error of `operation`.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if let Some(code) = err.code() {
            return Self::Api {
                operation,
                code: code.to_string(),
                message: err.message().unwrap_or_default().to_string(),
            };
        }
        match err {
            // The SDK loads credentials when it first signs a request, so a
            // profile that yields none fails as a dispatch failure.
            SdkError::DispatchFailure(_) if describe(&err).contains("while loading credentials") => {
                let detail = describe(&err);
                let detail = detail.split_once("while loading credentials: ").map_or(detail.as_str(), |(_, d)| d);
                Self::Credentials { operation, detail: detail.to_string() }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                Self::Unreachable { operation, detail: describe(&err) }
            }
            other => Self::Api { operation, code: "Unknown".into(), message: describe(&other) },
        }
    }

    /// The AWS error code, where AWS gave one.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether this is EC2's answer to a `DryRun=true` call that would succeed.
    #[must_use]
    pub fn is_dry_run_ok(&self) -> bool {
        self.code() == Some("DryRunOperation")
    }
}

impl Failure for Error {
    /// `NotFound`, `Forbidden`, `Conflict`, `Throttled`, `Invalid`,
    /// `Unreachable`, `Timeout`, `Failed`.
    fn kind(&self) -> &'static str {
        match self {
            Self::Api { code, .. } => kind_of_code(code),
            Self::Unreachable { .. } => "Unreachable",
            Self::Credentials { .. } => "Forbidden",
            Self::Config { .. } | Self::Invalid(_) | Self::Ambiguous { .. } | Self::WrongRegion { .. } => "Invalid",
            Self::NotFound { .. } | Self::NoRecord { .. } | Self::NoWorldSection { .. } => "NotFound",
            Self::Conflict(_) => "Conflict",
            Self::Timeout { .. } => "Timeout",
            Self::Failed(_) => "Failed",
        }
    }

    /// `code`: AWS's error code; `candidates`: what an ambiguous name matched.
    fn fields(&self) -> Vec<(&'static str, Value)> {
        match self {
            Self::Api { code, .. } => vec![("code", Value::from(code.clone()))],
            Self::Ambiguous { candidates, .. } => vec![("candidates", Value::from(candidates.clone()))],
            _ => Vec::new(),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            // Only hosted zones are looked up by a name that can be shared.
            Self::Ambiguous { .. } => {
                Some("pick one: `zone(name, #{ visibility: \"private\" })` or `#{ visibility: \"public\" }`".into())
            }
            Self::Credentials { detail, .. } if detail.contains("SSO") => {
                Some("log in to IAM Identity Center first: `aws sso login --profile NAME`".into())
            }
            Self::Credentials { .. } => Some(
                "check the profile's credentials: `aws sts get-caller-identity --profile NAME` (static keys, `sso_session`, `credential_process`, `role_arn` with `source_profile`, or `web_identity_token_file`)".into(),
            ),
            _ => None,
        }
    }
}

/// Maps an AWS error code to a script `kind`.
fn kind_of_code(code: &str) -> &'static str {
    match code {
        c if c.ends_with(".NotFound") || c.starts_with("NoSuch") || c.ends_with("NotFound") => "NotFound",
        "UnauthorizedOperation"
        | "AuthFailure"
        | "AccessDenied"
        | "AccessDeniedException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "OptInRequired"
        | "ExpiredToken" => "Forbidden",
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "PriorRequestNotComplete"
        | "TooManyRequestsException" => "Throttled",
        // AWS's own failures: transient, like no answer at all.
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" => "Unreachable",
        "IncorrectState"
        | "VolumeInUse"
        | "IncorrectModificationState"
        | "ConcurrentModification"
        | "IdempotentParameterMismatch"
        | "InvalidChangeBatch"
        | "HostedZoneNotEmpty"
        | "InvalidSnapshot.InUse" => "Conflict",
        _ => "Invalid",
    }
}

/// An error and its causes on one line, without the repeats of layers
/// that end their text with their cause's.
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(&format!(": {more}"));
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        for (code, kind) in [
            ("InvalidVolume.NotFound", "NotFound"),
            ("NoSuchHostedZone", "NotFound"),
            ("UnauthorizedOperation", "Forbidden"),
            ("RequestLimitExceeded", "Throttled"),
            ("Throttling", "Throttled"),
            ("IncorrectState", "Conflict"),
            ("InvalidChangeBatch", "Conflict"),
            ("InvalidParameterValue", "Invalid"),
            ("InternalError", "Unreachable"),
        ] {
            let e = Error::Api { operation: "X", code: code.into(), message: String::new() };
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.fields(), [("code", Value::from(code))]);
        }
    }

    #[test]
    fn ambiguous_names_carry_their_candidates_and_a_hint() {
        let e = Error::Ambiguous { what: "hosted zone `x.`".into(), candidates: vec!["Z1 (public)".into()] };
        assert_eq!(e.kind(), "Invalid");
        assert_eq!(e.fields(), [("candidates", serde_json::json!(["Z1 (public)"]))]);
        assert!(e.hint().is_some_and(|h| h.contains("visibility")));
    }
}
