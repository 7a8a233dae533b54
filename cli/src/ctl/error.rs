//! `cairn ctl` errors and the exit codes scripts can rely on. Every failure maps to one
//! [`CtlError`] with a machine-readable kind (printed in `-o json` mode) and an exit code.

use cairn_api::meta;
use tonic::{Code, Status};

/// Exit codes: 0 success; these otherwise.
pub mod exit {
    /// Anything not covered below.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap also uses 2).
    pub const USAGE: u8 = 2;
    /// No leader, members unreachable, timeouts: retrying later may help.
    pub const UNAVAILABLE: u8 = 3;
    /// A named member or workflow does not exist.
    pub const NOT_FOUND: u8 = 4;
    /// The cluster refused the change (learner behind, quorum at risk, change in progress,
    /// illegal transition, ...). Nothing changed.
    pub const REFUSED: u8 = 5;
    /// The cluster rejected the input as malformed.
    pub const INVALID: u8 = 6;
    /// A backup file is corrupt, truncated or failed its checksum.
    pub const CORRUPT: u8 = 7;
    /// The cluster has auth on and refused the caller: permission denied, no user, a wrong
    /// password. Nothing changed.
    pub const DENIED: u8 = 8;
}

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// `kind` is the server's error kind (e.g. `learner_behind`, `quorum_at_risk`).
    #[error("refused ({kind}): {message}")]
    Refused { kind: String, message: String },
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Other(String),
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => exit::USAGE,
            CtlError::Unavailable(_) => exit::UNAVAILABLE,
            CtlError::NotFound(_) => exit::NOT_FOUND,
            CtlError::Refused { .. } => exit::REFUSED,
            CtlError::Invalid(_) => exit::INVALID,
            CtlError::Corrupt(_) => exit::CORRUPT,
            CtlError::Denied(_) => exit::DENIED,
            CtlError::Other(_) => exit::FAILURE,
        }
    }

    /// The machine-readable kind shown in JSON output.
    pub fn kind(&self) -> &str {
        match self {
            CtlError::Usage(_) => "usage",
            CtlError::Unavailable(_) => "unavailable",
            CtlError::NotFound(_) => "not_found",
            CtlError::Refused { kind, .. } => kind,
            CtlError::Invalid(_) => "invalid_argument",
            CtlError::Corrupt(_) => "corrupt",
            CtlError::Denied(_) => "denied",
            CtlError::Other(_) => "error",
        }
    }

    /// A gRPC answer from `addr`, mapped by code and the server's error-kind metadata.
    pub fn from_status(addr: &str, s: &Status) -> Self {
        let kind = s
            .metadata()
            .get(meta::ERROR_KIND)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let message = s.message().to_string();
        if matches!(s.code(), Code::PermissionDenied | Code::Unauthenticated)
            || kind.as_deref() == Some(meta::kind::UNAUTHENTICATED)
        {
            return CtlError::Denied(message);
        }
        match s.code() {
            Code::NotFound => CtlError::NotFound(message),
            Code::FailedPrecondition | Code::Aborted | Code::ResourceExhausted => {
                CtlError::Refused {
                    kind: kind.unwrap_or_else(|| "failed_precondition".into()),
                    message,
                }
            }
            Code::InvalidArgument => CtlError::Invalid(message),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                CtlError::Unavailable(format!("{addr}: {message}"))
            }
            _ => CtlError::Other(format!("{addr}: {}: {message}", s.code())),
        }
    }
}

impl From<cairn_client::Error> for CtlError {
    fn from(e: cairn_client::Error) -> Self {
        use cairn_client::Error as E;
        match e {
            E::NotFound(m) => CtlError::NotFound(m),
            E::InvalidArgument(m) => CtlError::Invalid(m),
            E::InvalidEndpoint(m) => CtlError::Usage(format!("invalid endpoint: {m}")),
            E::Unavailable(m) => CtlError::Unavailable(m),
            E::Timeout => CtlError::Unavailable("request timed out".into()),
            e @ E::IllegalTransition { .. } => CtlError::Refused {
                kind: meta::kind::ILLEGAL_TRANSITION.into(),
                message: e.to_string(),
            },
            e @ E::VersionConflict { .. } => CtlError::Refused {
                kind: meta::kind::VERSION_CONFLICT.into(),
                message: e.to_string(),
            },
            E::PermissionDenied(m) | E::Unauthenticated(m) => CtlError::Denied(m),
            E::ResourceExhausted(m) => CtlError::Refused {
                kind: "resource_exhausted".into(),
                message: m,
            },
            E::FailedPrecondition(m) => CtlError::Refused {
                kind: "failed_precondition".into(),
                message: m,
            },
            E::StaleClaim(m) => CtlError::Refused {
                kind: meta::kind::STALE_CLAIM.into(),
                message: m,
            },
            E::Owned(m) => CtlError::Refused {
                kind: meta::kind::OWNED.into(),
                message: m,
            },
            E::LeaseNotFound(m) => CtlError::NotFound(m),
            E::Immutable(m) => CtlError::Refused {
                kind: meta::kind::IMMUTABLE.into(),
                message: m,
            },
            // The part's own refusal; its message names the step and the part.
            E::Step { error, .. } => CtlError::from(*error),
            other => CtlError::Other(other.to_string()),
        }
    }
}

pub type CtlResult<T> = Result<T, CtlError>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tonic::metadata::MetadataValue;

    #[test]
    fn statuses_map_to_kinds_and_exit_codes() {
        let mut s = Status::failed_precondition("learner 4 is 9000 entries behind");
        s.metadata_mut().insert(
            meta::ERROR_KIND,
            MetadataValue::from_static(meta::kind::LEARNER_BEHIND),
        );
        let e = CtlError::from_status("a:1", &s);
        assert_eq!((e.kind(), e.exit_code()), ("learner_behind", exit::REFUSED));
        let e = CtlError::from_status("a:1", &Status::permission_denied("etcdserver: no"));
        assert_eq!((e.kind(), e.exit_code()), ("denied", exit::DENIED));
        let e = CtlError::from_status("a:1", &Status::not_found("node 9"));
        assert_eq!((e.kind(), e.exit_code()), ("not_found", exit::NOT_FOUND));
        let e = CtlError::from_status("a:1", &Status::unavailable("not the leader"));
        assert_eq!(e.exit_code(), exit::UNAVAILABLE);
        assert_eq!(e.to_string(), "a:1: not the leader");
    }
}
