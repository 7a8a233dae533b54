//! The client's typed errors, and the one place where a `tonic::Status` (plus the metadata
//! the server attaches) is turned into either a final [`Error`] or a "try again" verdict.

use cairn_api::meta;
use tonic::{Code, Status};

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a Cairn client call can fail with.
///
/// Transient conditions (no leader yet, node restarting, transport errors, timeouts) are
/// retried inside the client until the retry deadline; only when that budget is spent do
/// they surface, as [`Error::Unavailable`] or [`Error::Timeout`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server rejected the input (empty key, key or value over its limit, ...). The
    /// message comes from the server and names the limit. Never retried.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A compare-and-set (`put_if` / `delete_if`) found a different revision. `current` is the
    /// key's current `mod_revision` (0 when the key does not exist).
    #[error("revision mismatch: the key's current revision is {current}")]
    RevisionMismatch {
        /// The key's current revision on the leader.
        current: u64,
    },
    /// The server reported that a named entity does not exist (a workflow, a definition, a
    /// node in admin calls). A missing key on `get` or a missing workflow on `workflow` is not
    /// an error: it is `Ok(None)`.
    #[error("not found: {0}")]
    NotFound(String),
    /// The entity to create exists already (e.g. a workflow id, without `upsert`).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A workflow (or task) status change its state machine does not allow. Nothing changed.
    #[error("illegal transition: {message}")]
    IllegalTransition {
        /// The current status.
        current: String,
        /// The statuses the current one may move to (empty in a terminal status).
        allowed: Vec<String>,
        /// The server's message, naming the entity and the requested target.
        message: String,
    },
    /// An expected version did not match (optimistic concurrency). `current` is the
    /// workflow's (or task's) current version: re-read, then retry with it.
    #[error("version conflict: the current version is {current}")]
    VersionConflict {
        /// The current version on the leader.
        current: u64,
    },
    /// Any other state precondition failed: e.g. deleting a running workflow without force,
    /// changing tasks of a finished workflow, starting a task before its dependencies
    /// completed. The message says which.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Stored data failed verification (a checkpoint whose bytes no longer match the
    /// checksum saved with them). The message names the checkpoint; nothing was returned.
    /// [`crate::Client::latest_valid_checkpoint`] finds the newest one that verifies.
    #[error("data loss: {0}")]
    DataLoss(String),
    /// A fenced write was refused because its lock token (or election term) is no longer
    /// current: the lock moved on (or another leader was elected). `current` is the current
    /// token or term, 0 when nobody holds it. Nothing was written.
    #[error("stale fence: the current token or term is {current}")]
    StaleFence {
        /// The lock's current token or the election's current term (0 if none).
        current: u64,
    },
    /// A release, refresh, resign or proclaim by someone who does not hold that lock (or lead
    /// that election) with that token (or term), e.g. after its lease ended.
    #[error("not the holder: {0}")]
    NotHolder(String),
    /// A finish of a claimed run that no longer runs under that claim: its lease ended, or
    /// the task was changed or claimed again. The run's result was not stored.
    #[error("stale claim: {0}")]
    StaleClaim(String),
    /// Adopting a workflow that another owner holds under a live lease.
    #[error("owned: {0}")]
    Owned(String),
    /// A change of an immutable variable. Nothing was written.
    #[error("immutable: {0}")]
    Immutable(String),
    /// Leaving a lock's or election's line one is not in.
    #[error("not waiting: {0}")]
    NotWaiting(String),
    /// The lease does not exist: it expired, was revoked, or was never granted. A lease
    /// cannot be revived; grant a new one.
    #[error("lease not found: {0}")]
    LeaseNotFound(String),
    /// A blocking lock acquire or campaign was not granted within its wait timeout; the
    /// caller is no longer in line.
    #[error("not granted within the wait timeout")]
    WaitTimeout,
    /// Retries were exhausted; the string is the last cause seen.
    #[error("cluster unavailable (retries exhausted): {0}")]
    Unavailable(String),
    /// Retries were exhausted and the last attempt timed out.
    #[error("request timed out")]
    Timeout,
    /// An endpoint string could not be parsed, or an endpoint index is out of range.
    #[error("invalid endpoint: {0}")]
    InvalidEndpoint(String),
    /// Any other gRPC failure, passed through unchanged.
    #[error("rpc failed: {0}")]
    Rpc(Status),
    /// A write's retries ran out without a definite answer: it may or may not have been
    /// applied. [`crate::Client::resume`] retries it safely with the same idempotency key.
    #[error("write outcome unknown ({}); resume it with Client::resume", .0.cause)]
    OutcomeUnknown(Box<crate::PendingWrite>),
    /// The cluster has auth on and the user may not do this (etcd's "permission denied").
    /// Nothing was changed.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The cluster is out of an allowance: a standing NOSPACE alarm (the cluster's space
    /// quota was reached; etcd's "database space exceeded"), or another limit the message
    /// names. Nothing was written; reads and deletes still work.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The cluster has auth on and did not accept who the client is: no user given, a wrong
    /// user or password, or a token it no longer accepts even after logging in again.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// A part of a batch of steps ([`crate::Client::apply_steps`]) was refused, so the whole
    /// batch was: nothing was written. `error` is the part's own typed refusal (its message
    /// names the step and part too).
    #[error("{error}")]
    Step {
        /// The refused step's index in the batch.
        step: u32,
        /// `change`, `tasks`, `vars`, `checkpoint` or `fence`.
        part: String,
        error: Box<Error>,
    },
}

/// What the retry loop should do with a failed attempt.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Transient: try again, on `leader` if the server named one.
    Retry {
        /// The leader's client address from `cairn-leader` metadata, when present.
        leader: Option<String>,
        /// The attempt ran out of time (so exhausting retries reports [`Error::Timeout`]).
        timed_out: bool,
        /// Human-readable cause, kept for [`Error::Unavailable`].
        cause: String,
    },
    /// A final answer for the caller.
    Fail(Error),
}

/// Decides, from the status code and the server's metadata, whether a failure is final. A
/// refused step's part is classified as its own RPC's refusal, inside [`Error::Step`].
pub(crate) fn classify(status: Status) -> Disposition {
    let step = meta_str(&status, meta::STEP).and_then(|s| s.parse().ok());
    let part = meta_str(&status, meta::STEP_PART)
        .unwrap_or_default()
        .to_owned();
    match (step, classify_part(status)) {
        (Some(step), Disposition::Fail(e)) => Disposition::Fail(Error::Step {
            step,
            part,
            error: Box::new(e),
        }),
        (_, d) => d,
    }
}

fn classify_part(status: Status) -> Disposition {
    match status.code() {
        Code::InvalidArgument
            if meta_str(&status, meta::ERROR_KIND) == Some(meta::kind::UNAUTHENTICATED) =>
        {
            Disposition::Fail(Error::Unauthenticated(status.message().to_owned()))
        }
        Code::Unauthenticated => {
            Disposition::Fail(Error::Unauthenticated(status.message().to_owned()))
        }
        Code::PermissionDenied => {
            Disposition::Fail(Error::PermissionDenied(status.message().to_owned()))
        }
        Code::ResourceExhausted => {
            Disposition::Fail(Error::ResourceExhausted(status.message().to_owned()))
        }
        Code::InvalidArgument => {
            Disposition::Fail(Error::InvalidArgument(status.message().to_owned()))
        }
        Code::Aborted => Disposition::Fail(aborted(status)),
        Code::NotFound => Disposition::Fail(not_found(status)),
        Code::AlreadyExists => Disposition::Fail(Error::AlreadyExists(status.message().to_owned())),
        Code::FailedPrecondition => Disposition::Fail(failed_precondition(status)),
        Code::DataLoss => Disposition::Fail(Error::DataLoss(status.message().to_owned())),
        // A blocking call that waited its full time is an answer, not a transport timeout.
        Code::DeadlineExceeded
            if meta_str(&status, meta::ERROR_KIND) == Some(meta::kind::WAIT_TIMEOUT) =>
        {
            Disposition::Fail(Error::WaitTimeout)
        }
        Code::Unavailable | Code::DeadlineExceeded => retry(&status),
        // The server never answers Unknown/Cancelled on purpose; tonic produces them locally
        // when a connection drops mid-call (they then carry the transport error as source, or
        // come from hyper's "canceled"). Writes are idempotent, so retrying is safe.
        Code::Unknown if std::error::Error::source(&status).is_some() => retry(&status),
        Code::Cancelled => retry(&status),
        _ => Disposition::Fail(Error::Rpc(status)),
    }
}

fn retry(status: &Status) -> Disposition {
    let leader = status
        .metadata()
        .get(meta::LEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let cause = if status.message().is_empty() {
        status.code().description().to_owned()
    } else {
        status.message().to_owned()
    };
    Disposition::Retry {
        leader,
        timed_out: status.code() == Code::DeadlineExceeded,
        cause,
    }
}

/// A metadata value as text, if present and printable.
fn meta_str<'a>(status: &'a Status, key: &str) -> Option<&'a str> {
    status
        .metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn meta_u64(status: &Status, key: &str) -> Option<u64> {
    meta_str(status, key)?.parse().ok()
}

/// Aborted is a failed compare: a KV revision mismatch or a workflow/task version conflict.
/// Without a parseable current value the answer is passed through as [`Error::Rpc`] rather
/// than inventing one (0 would wrongly mean "key absent").
fn aborted(status: Status) -> Error {
    let typed = match meta_str(&status, meta::ERROR_KIND) {
        Some(meta::kind::REVISION_MISMATCH) => meta_u64(&status, meta::CURRENT_REVISION)
            .map(|current| Error::RevisionMismatch { current }),
        Some(meta::kind::VERSION_CONFLICT | meta::kind::TASK_VERSION_CONFLICT) => {
            meta_u64(&status, meta::CURRENT_VERSION)
                .map(|current| Error::VersionConflict { current })
        }
        _ => None,
    };
    typed.unwrap_or(Error::Rpc(status))
}

/// An unknown lease is its own error; anything else that does not exist keeps the message.
fn not_found(status: Status) -> Error {
    let message = status.message().to_owned();
    match meta_str(&status, meta::ERROR_KIND) {
        Some(meta::kind::UNKNOWN_LEASE) => Error::LeaseNotFound(message),
        _ => Error::NotFound(message),
    }
}

/// An illegal workflow or task transition names the current status and the legal targets;
/// coordination refusals are typed (a stale fence with the current token); every other
/// precondition keeps the server's message.
fn failed_precondition(status: Status) -> Error {
    let kind = meta_str(&status, meta::ERROR_KIND);
    match kind {
        Some(meta::kind::STALE_FENCE) => {
            if let Some(current) = meta_u64(&status, meta::CURRENT_REVISION) {
                return Error::StaleFence { current };
            }
        }
        Some(meta::kind::NOT_HOLDER) => return Error::NotHolder(status.message().to_owned()),
        Some(meta::kind::NOT_WAITING) => return Error::NotWaiting(status.message().to_owned()),
        Some(meta::kind::STALE_CLAIM) => return Error::StaleClaim(status.message().to_owned()),
        Some(meta::kind::OWNED) => return Error::Owned(status.message().to_owned()),
        Some(meta::kind::IMMUTABLE) => return Error::Immutable(status.message().to_owned()),
        _ => {}
    }
    if matches!(
        kind,
        Some(meta::kind::ILLEGAL_TRANSITION | meta::kind::TASK_ILLEGAL_TRANSITION)
    ) && let Some(current) = meta_str(&status, meta::CURRENT_STATUS)
    {
        let allowed = meta_str(&status, meta::ALLOWED)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        return Error::IllegalTransition {
            current: current.to_owned(),
            allowed,
            message: status.message().to_owned(),
        };
    }
    Error::FailedPrecondition(status.message().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tonic::metadata::MetadataValue;

    fn with_meta(mut s: Status, pairs: &[(&'static str, &'static str)]) -> Status {
        for (k, v) in pairs {
            s.metadata_mut().insert(*k, MetadataValue::from_static(v));
        }
        s
    }

    #[test]
    fn invalid_argument_is_final_and_keeps_message() {
        match classify(Status::invalid_argument("key exceeds the 4096-byte limit")) {
            Disposition::Fail(Error::InvalidArgument(m)) => assert!(m.contains("limit")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn revision_mismatch_is_typed() {
        let s = with_meta(
            Status::aborted("revision mismatch"),
            &[
                (meta::ERROR_KIND, "revision_mismatch"),
                (meta::CURRENT_REVISION, "42"),
            ],
        );
        match classify(s) {
            Disposition::Fail(Error::RevisionMismatch { current }) => assert_eq!(current, 42),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aborted_without_kind_or_revision_passes_through() {
        assert!(matches!(
            classify(Status::aborted("x")),
            Disposition::Fail(Error::Rpc(_))
        ));
        let s = with_meta(
            Status::aborted("x"),
            &[(meta::ERROR_KIND, "revision_mismatch")],
        );
        assert!(matches!(classify(s), Disposition::Fail(Error::Rpc(_))));
        let s = with_meta(
            Status::aborted("x"),
            &[
                (meta::ERROR_KIND, "revision_mismatch"),
                (meta::CURRENT_REVISION, "nope"),
            ],
        );
        assert!(matches!(classify(s), Disposition::Fail(Error::Rpc(_))));
    }

    #[test]
    fn unavailable_retries_with_leader_hint() {
        let s = with_meta(
            Status::unavailable("not the leader"),
            &[(meta::LEADER, "10.0.0.2:7001")],
        );
        match classify(s) {
            Disposition::Retry {
                leader,
                timed_out,
                cause,
            } => {
                assert_eq!(leader.as_deref(), Some("10.0.0.2:7001"));
                assert!(!timed_out);
                assert_eq!(cause, "not the leader");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unavailable_without_hint_and_empty_hint() {
        for s in [
            Status::unavailable("no leader"),
            with_meta(Status::unavailable("no leader"), &[(meta::LEADER, "")]),
        ] {
            match classify(s) {
                Disposition::Retry { leader, .. } => assert_eq!(leader, None),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn deadline_exceeded_retries_and_marks_timeout() {
        match classify(Status::deadline_exceeded("forward timed out")) {
            Disposition::Retry { timed_out, .. } => assert!(timed_out),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_is_retried_only_when_transport_generated() {
        // Sent by a server: no source, final.
        assert!(matches!(
            classify(Status::unknown("boom")),
            Disposition::Fail(Error::Rpc(_))
        ));
        // Built locally from an I/O-level error: has a source, retried.
        let local = Status::from_error(Box::new(std::io::Error::other("connection closed")));
        assert_eq!(local.code(), Code::Unknown);
        assert!(matches!(classify(local), Disposition::Retry { .. }));
        assert!(matches!(
            classify(Status::cancelled("")),
            Disposition::Retry { .. }
        ));
    }

    #[test]
    fn other_codes_pass_through() {
        assert!(matches!(
            classify(Status::internal("bug")),
            Disposition::Fail(Error::Rpc(_))
        ));
        assert!(matches!(
            classify(Status::failed_precondition("no")),
            Disposition::Fail(Error::FailedPrecondition(m)) if m == "no"
        ));
        match classify(Status::not_found("node 42")) {
            Disposition::Fail(Error::NotFound(m)) => assert!(m.contains("42")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn illegal_transition_names_current_and_allowed() {
        let s = with_meta(
            Status::failed_precondition("workflow w: cannot go from PENDING via PAUSED"),
            &[
                (meta::ERROR_KIND, meta::kind::ILLEGAL_TRANSITION),
                (meta::CURRENT_STATUS, "PENDING"),
                (meta::ALLOWED, "RUNNING,CANCELLED"),
            ],
        );
        match classify(s) {
            Disposition::Fail(Error::IllegalTransition {
                current,
                allowed,
                message,
            }) => {
                assert_eq!(current, "PENDING");
                assert_eq!(allowed, ["RUNNING", "CANCELLED"]);
                assert!(message.contains("PAUSED"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Terminal: no legal targets at all.
        let s = with_meta(
            Status::failed_precondition("x"),
            &[
                (meta::ERROR_KIND, meta::kind::TASK_ILLEGAL_TRANSITION),
                (meta::CURRENT_STATUS, "COMPLETED"),
                (meta::ALLOWED, ""),
            ],
        );
        assert!(matches!(
            classify(s),
            Disposition::Fail(Error::IllegalTransition { allowed, .. }) if allowed.is_empty()
        ));
        // Other preconditions keep their message.
        let s = with_meta(
            Status::failed_precondition("workflow w is RUNNING, not terminal"),
            &[
                (meta::ERROR_KIND, meta::kind::NOT_TERMINAL),
                (meta::CURRENT_STATUS, "RUNNING"),
            ],
        );
        assert!(matches!(
            classify(s),
            Disposition::Fail(Error::FailedPrecondition(m)) if m.contains("not terminal")
        ));
    }

    #[test]
    fn data_loss_is_final_and_names_the_checkpoint() {
        let s = with_meta(
            Status::data_loss("checkpoint w/ckpt-7 failed verification: checksum"),
            &[(meta::ERROR_KIND, meta::kind::INTEGRITY)],
        );
        assert!(matches!(
            classify(s),
            Disposition::Fail(Error::DataLoss(m)) if m.contains("w/ckpt-7")
        ));
    }

    #[test]
    fn coordination_refusals_are_typed() {
        let s = with_meta(
            Status::failed_precondition("stale fence on res: token 3, current 9"),
            &[
                (meta::ERROR_KIND, meta::kind::STALE_FENCE),
                (meta::CURRENT_REVISION, "9"),
            ],
        );
        assert!(matches!(
            classify(s),
            Disposition::Fail(Error::StaleFence { current: 9 })
        ));
        let s = with_meta(
            Status::failed_precondition("a does not hold res with token 3"),
            &[(meta::ERROR_KIND, meta::kind::NOT_HOLDER)],
        );
        assert!(matches!(classify(s), Disposition::Fail(Error::NotHolder(m)) if m.contains("res")));
        let s = with_meta(
            Status::failed_precondition("a is not waiting for res"),
            &[(meta::ERROR_KIND, meta::kind::NOT_WAITING)],
        );
        assert!(matches!(
            classify(s),
            Disposition::Fail(Error::NotWaiting(_))
        ));
        let s = with_meta(
            Status::not_found("lease 7 not found"),
            &[(meta::ERROR_KIND, meta::kind::UNKNOWN_LEASE)],
        );
        assert!(
            matches!(classify(s), Disposition::Fail(Error::LeaseNotFound(m)) if m.contains('7'))
        );
        // A wait that ran out is final; a transport deadline is still retried.
        let s = with_meta(
            Status::deadline_exceeded("not granted"),
            &[(meta::ERROR_KIND, meta::kind::WAIT_TIMEOUT)],
        );
        assert!(matches!(classify(s), Disposition::Fail(Error::WaitTimeout)));
        assert!(matches!(
            classify(Status::deadline_exceeded("slow")),
            Disposition::Retry { .. }
        ));
    }

    #[test]
    fn version_conflicts_and_already_exists_are_typed() {
        for kind in [
            meta::kind::VERSION_CONFLICT,
            meta::kind::TASK_VERSION_CONFLICT,
        ] {
            let s = with_meta(
                Status::aborted("expected version 3, current 5"),
                &[(meta::ERROR_KIND, kind), (meta::CURRENT_VERSION, "5")],
            );
            assert!(matches!(
                classify(s),
                Disposition::Fail(Error::VersionConflict { current: 5 })
            ));
        }
        // A conflict without its current version is not invented.
        let s = with_meta(
            Status::aborted("x"),
            &[(meta::ERROR_KIND, meta::kind::VERSION_CONFLICT)],
        );
        assert!(matches!(classify(s), Disposition::Fail(Error::Rpc(_))));
        assert!(matches!(
            classify(Status::already_exists("workflow w already exists")),
            Disposition::Fail(Error::AlreadyExists(m)) if m.contains("w already")
        ));
    }
}
