//! What can go wrong talking to AWS, and the `kind` scripts see for it.
//! AWS error codes are kept, so a runbook (and a person) can see exactly what
//! AWS said.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("{operation}: AWS is unreachable")]
    Unreachable {
        /// The API operation.
        operation: &'static str,
        /// Why.
        #[source]
        source: BoxError,
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
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                Self::Unreachable { operation, source: Box::new(err) }
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

    /// The `kind` scripts see: `NotFound`, `Forbidden`, `Conflict`,
    /// `Throttled`, `Invalid`, `Unreachable`, `Timeout`, `Failed`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Api { code, .. } => kind_of_code(code),
            Self::Unreachable { .. } => "Unreachable",
            Self::Config { .. } | Self::Invalid(_) | Self::Ambiguous { .. } => "Invalid",
            Self::NotFound { .. } => "NotFound",
            Self::Conflict(_) => "Conflict",
            Self::Timeout { .. } => "Timeout",
            Self::Failed(_) => "Failed",
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

fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
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
        }
    }
}
