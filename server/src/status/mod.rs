//! The one place where errors become gRPC statuses: [`Error`] to the Cairn API's statuses
//! here (`impl From<Error> for Status`), and to the etcd v3 API's in [`etcd`]. Every status
//! carries a machine-readable error kind; a "not leader"/"unavailable" answer also carries the
//! leader's client address so clients go straight to it; a rejected command carries its
//! current revision, version, status or legal targets so clients can build typed errors.

mod etcd;

pub use etcd::{EtcdCall, NO_LEADER, WATCH_COMPACTED, etcd, etcd_status};

use cairn_api::meta::{self, kind};
use cairn_model::auth::AuthError;
use cairn_model::checkpoint::CheckpointError;
use cairn_model::coord::CoordError;
use cairn_model::step::StepPart;
use cairn_model::txn::KvError;
use cairn_model::workflow::{TaskError, WorkflowError};
use cairn_model::{CommandError, InputError};
use cairn_raft::ForwardError;
use cairn_storage::CheckpointReadError;
use cairn_storage::seal::SealError;

use crate::error::{Error, EtcdError, Refusal};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

fn forward_error(e: ForwardError) -> Status {
    let leader = e.leader().map(|l| l.client_addr.clone());
    let (code, error_kind) = match &e {
        ForwardError::NotLeader { .. } => (Code::Unavailable, kind::NOT_LEADER),
        ForwardError::NoLeader => (Code::Unavailable, kind::NO_LEADER),
        ForwardError::Unavailable { .. } | ForwardError::Unimplemented => {
            (Code::Unavailable, kind::UNAVAILABLE)
        }
        ForwardError::Timeout(_) => (Code::DeadlineExceeded, kind::TIMEOUT),
        ForwardError::Refused(input) => return refused(input.clone()),
    };
    let message = match &e {
        ForwardError::Unavailable { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    let mut status = with_kind(code, error_kind, message);
    if let Some(addr) = leader.filter(|a| !a.is_empty())
        && let Ok(v) = MetadataValue::try_from(addr.as_str())
    {
        status.metadata_mut().insert(meta::LEADER, v);
    }
    status
}

/// The leader refused a forwarded write's input (its limits may be narrower than this node's):
/// the status this node's own check gives, so the answer does not depend on where the check
/// ran. An internal command is no client's request, only a misbehaving peer's: it is not
/// allowed from outside the leader, whatever its content.
fn refused(e: InputError) -> Status {
    match e {
        InputError::Internal { .. } => with_kind(
            Code::PermissionDenied,
            kind::INTERNAL_COMMAND,
            e.to_string(),
        ),
        other => Error::from(other).into(),
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        use Code::{Cancelled, DeadlineExceeded, FailedPrecondition, InvalidArgument, Unavailable};
        let message = e.to_string();
        match e {
            Error::Forward(e) => forward_error(e),
            Error::Rejected(e) => command_error(e),
            Error::Storage(e) => storage_error(e),
            Error::CheckpointRead(e) => checkpoint_read_error(e),
            Error::Membership(r) | Error::Transfer(r) => refusal(r),
            Error::InvalidId { .. } => with_kind(InvalidArgument, kind::INVALID_ID, message),
            Error::Invalid(_) | Error::TooLarge { .. } => {
                with_kind(InvalidArgument, kind::INVALID_ARGUMENT, message)
            }
            Error::Unavailable(_) => with_kind(Unavailable, kind::UNAVAILABLE, message),
            Error::Timeout(_) => with_kind(DeadlineExceeded, kind::TIMEOUT, message),
            Error::Precondition(_) => with_kind(FailedPrecondition, kind::PRECONDITION, message),
            Error::WaitTimeout => with_kind(DeadlineExceeded, kind::WAIT_TIMEOUT, message),
            Error::DeltaNotJson(_) => with_kind(InvalidArgument, kind::NOT_MATERIALIZABLE, message),
            Error::ParentNotMaterializable(_) => {
                with_kind(FailedPrecondition, kind::NOT_MATERIALIZABLE, message)
            }
            Error::Cancelled => Status::new(Cancelled, message),
            Error::Etcd(e) => etcd_input_error(&e),
            Error::Unsupported { .. } => Status::unimplemented(message),
            Error::Internal(_) => Status::internal(message),
            Error::Step { step, part, error } => in_step(
                Status::from(*error),
                step,
                part,
                &format!("steps[{step}].{part}"),
            ),
        }
    }
}

/// An etcd input error, in etcd's words and code (the same in both maps: only etcd requests
/// produce them).
fn etcd_input_error(e: &EtcdError) -> Status {
    use Code::{FailedPrecondition, InvalidArgument, NotFound, OutOfRange};
    let code = match e {
        EtcdError::KeyNotProvided
        | EtcdError::NegativeRevision
        | EtcdError::LeaderNotProvided
        | EtcdError::NegativeLeaderRev
        | EtcdError::WatchIdUnavailable(_)
        | EtcdError::Invalid(_) => InvalidArgument,
        EtcdError::TooManyWatchers(_) => Code::ResourceExhausted,
        EtcdError::PermissionDenied => Code::PermissionDenied,
        EtcdError::LeaseNotFound | EtcdError::MemberNotFound => NotFound,
        EtcdError::LeaseTtlTooLarge => OutOfRange,
        EtcdError::ElectionNoLeader
        | EtcdError::ElectionNotLeader
        | EtcdError::MemberNotLearner
        | EtcdError::BadLeaderTransferee => FailedPrecondition,
    };
    Status::new(code, e.to_string())
}

/// An admin refusal: the cluster is unchanged. An unknown member is NOT_FOUND, the rest a
/// failed precondition, each with its kind.
fn refusal(r: Refusal) -> Status {
    let message = r.to_string();
    let (code, error_kind) = match r {
        Refusal::NotFound(_) => (Code::NotFound, kind::NOT_FOUND),
        Refusal::LearnerBehind(_) => (Code::FailedPrecondition, kind::LEARNER_BEHIND),
        Refusal::LastVoter(_) => (Code::FailedPrecondition, kind::LAST_VOTER),
        Refusal::QuorumAtRisk(_) => (Code::FailedPrecondition, kind::QUORUM_AT_RISK),
        Refusal::ChangeInProgress => (Code::FailedPrecondition, kind::CHANGE_IN_PROGRESS),
        Refusal::Unreachable(_) => (Code::FailedPrecondition, kind::UNREACHABLE),
        Refusal::WrongRole(_) => (Code::FailedPrecondition, kind::WRONG_ROLE),
        Refusal::TooManyChanges(_) => (Code::FailedPrecondition, kind::TOO_MANY_CHANGES),
    };
    with_kind(code, error_kind, message)
}

fn command_error(e: CommandError) -> Status {
    match e {
        CommandError::RevisionMismatch { current, .. } => {
            let mut s = Status::new(Code::Aborted, e.to_string());
            s.metadata_mut().insert(
                meta::ERROR_KIND,
                MetadataValue::from_static(kind::REVISION_MISMATCH),
            );
            s.metadata_mut()
                .insert(meta::CURRENT_REVISION, MetadataValue::from(current));
            s
        }
        CommandError::StaleSequence { .. } => {
            let mut s = Status::new(Code::FailedPrecondition, e.to_string());
            s.metadata_mut().insert(
                meta::ERROR_KIND,
                MetadataValue::from_static(kind::STALE_SEQUENCE),
            );
            s
        }
        CommandError::Workflow(e) => workflow_error(e),
        CommandError::Checkpoint(e) => checkpoint_error(e),
        CommandError::Coord(e) => coord_error(e),
        CommandError::Kv(e) => kv_error(&e),
        CommandError::Auth(e) => auth_error(e),
        // etcd's code and words: clients recognise "database space exceeded".
        CommandError::NoSpace => with_kind(
            Code::ResourceExhausted,
            kind::NO_SPACE,
            format!("etcdserver: {e}"),
        ),
        // The part's own status (code, kind, details), naming the step and the part.
        CommandError::Step { step, part, error } => in_step(
            command_error(*error),
            step,
            part,
            &format!("step {step} ({part})"),
        ),
    }
}

/// `s` (a part's own refusal, code, details and metadata kept) as the refusal of `part` of
/// step `step` of a `Steps.Apply`: its message prefixed by `prefix`, and the step and part
/// in metadata so clients can tell which.
pub fn in_step(s: Status, step: u32, part: StepPart, prefix: &str) -> Status {
    let message = format!("{prefix}: {}", s.message());
    let mut metadata = s.metadata().clone();
    metadata.insert(meta::STEP, MetadataValue::from(step));
    metadata.insert(meta::STEP_PART, MetadataValue::from_static(part.as_str()));
    Status::with_details_and_metadata(s.code(), message, s.details().to_vec().into(), metadata)
}

/// An authentication or authorization refusal, with etcd's code and message (etcd clients
/// match on both: clientv3 logs in again on "invalid auth token").
pub fn auth_error(e: AuthError) -> Status {
    use Code::{FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted};
    let (code, kind) = match e {
        AuthError::PermissionDenied => (PermissionDenied, kind::PERMISSION_DENIED),
        AuthError::InvalidAuthToken => (Code::Unauthenticated, kind::UNAUTHENTICATED),
        AuthError::UserEmpty | AuthError::AuthFailed => (InvalidArgument, kind::UNAUTHENTICATED),
        AuthError::RoleEmpty | AuthError::InvalidAuthMgmt => (InvalidArgument, kind::AUTH),
        AuthError::TooManyGrants => (ResourceExhausted, kind::AUTH),
        AuthError::RootUserNotExist
        | AuthError::RootRoleNotExist
        | AuthError::UserAlreadyExist
        | AuthError::UserNotFound
        | AuthError::RoleAlreadyExist
        | AuthError::RoleNotFound
        | AuthError::RoleNotGranted
        | AuthError::PermissionNotGranted
        | AuthError::AuthNotEnabled => (FailedPrecondition, kind::AUTH),
    };
    let mut s = Status::new(code, format!("etcdserver: {e}"));
    s.metadata_mut()
        .insert(meta::ERROR_KIND, MetadataValue::from_static(kind));
    s
}

/// A transaction or compaction rejection, with the code and message etcd gives it: etcd
/// clients recognise errors by that message (e.g. clientv3's `rpctypes.ErrCompacted`).
pub fn kv_error(e: &KvError) -> Status {
    use Code::{InvalidArgument, NotFound, OutOfRange};
    let code = match e {
        KvError::LeaseNotFound(_) => NotFound,
        KvError::Compacted { .. } | KvError::FutureRevision { .. } => OutOfRange,
        KvError::KeyNotFound
        | KvError::DuplicateKey
        | KvError::TooDeep
        | KvError::ValueProvided
        | KvError::LeaseProvided
        | KvError::EmptyKey => InvalidArgument,
    };
    Status::new(code, format!("etcdserver: {e}"))
}

/// A lease/lock/election rejection. A stale fence carries the current token or term.
pub fn coord_error(e: CoordError) -> Status {
    use Code::{AlreadyExists, FailedPrecondition, InvalidArgument, NotFound};
    let (code, error_kind) = match &e {
        CoordError::UnknownLease(_) => (NotFound, kind::UNKNOWN_LEASE),
        CoordError::LeaseExists(_) => (AlreadyExists, kind::ALREADY_EXISTS),
        CoordError::InvalidTtl { .. } | CoordError::InvalidName(_) | CoordError::InvalidOwner => {
            (InvalidArgument, kind::INVALID_ARGUMENT)
        }
        CoordError::NotHolder { .. } => (FailedPrecondition, kind::NOT_HOLDER),
        CoordError::NotWaiting { .. } => (FailedPrecondition, kind::NOT_WAITING),
        CoordError::StaleFence { .. } => (FailedPrecondition, kind::STALE_FENCE),
    };
    let mut s = Status::new(code, e.to_string());
    s.metadata_mut()
        .insert(meta::ERROR_KIND, MetadataValue::from_static(error_kind));
    if let CoordError::StaleFence { current, .. } = e {
        s.metadata_mut()
            .insert(meta::CURRENT_REVISION, MetadataValue::from(current));
    }
    s
}

/// A workflow rejection (from the machine, or from the node's own checks before proposing)
/// as a status with its code and the metadata the client builds typed errors from.
pub fn workflow_error(e: WorkflowError) -> Status {
    use Code::{AlreadyExists, FailedPrecondition, InvalidArgument, NotFound};
    let mut typed = Typed::default();
    let (code, error_kind) = match &e {
        WorkflowError::InvalidDefinition(_) => (InvalidArgument, kind::INVALID_DEFINITION),
        WorkflowError::UnknownDefinition { .. } => (NotFound, kind::UNKNOWN_DEFINITION),
        WorkflowError::NotFound(_) => (NotFound, kind::NOT_FOUND),
        WorkflowError::AlreadyExists(_) => (AlreadyExists, kind::ALREADY_EXISTS),
        WorkflowError::InvalidId(_) => (InvalidArgument, kind::INVALID_ID),
        WorkflowError::IllegalTransition { error, .. } => {
            typed.status = Some(error.current.clone());
            typed.allowed = Some(error.allowed.join(","));
            (FailedPrecondition, kind::ILLEGAL_TRANSITION)
        }
        WorkflowError::VersionConflict { current, .. } => {
            typed.version = Some(*current);
            (Code::Aborted, kind::VERSION_CONFLICT)
        }
        WorkflowError::TaskVersionConflict { current, .. } => {
            typed.version = Some(*current);
            (Code::Aborted, kind::TASK_VERSION_CONFLICT)
        }
        WorkflowError::NotTerminal { status, .. } => {
            typed.status = Some(status.clone());
            (FailedPrecondition, kind::NOT_TERMINAL)
        }
        WorkflowError::Terminal { status, .. } => {
            typed.status = Some(status.clone());
            (FailedPrecondition, kind::TERMINAL)
        }
        WorkflowError::Task { error, .. } => match error {
            TaskError::IllegalTransition {
                current, allowed, ..
            } => {
                typed.status = Some(current.as_str().to_string());
                typed.allowed = Some(
                    allowed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                (FailedPrecondition, kind::TASK_ILLEGAL_TRANSITION)
            }
            TaskError::DependenciesPending { .. } => {
                (FailedPrecondition, kind::DEPENDENCIES_PENDING)
            }
            TaskError::UnknownDependency { .. } => (InvalidArgument, kind::UNKNOWN_DEPENDENCY),
            TaskError::SelfDependency(_) => (InvalidArgument, kind::SELF_DEPENDENCY),
            TaskError::Cycle(_) => (InvalidArgument, kind::DEPENDENCY_CYCLE),
        },
        WorkflowError::Limit(_) => (InvalidArgument, kind::LIMIT),
        WorkflowError::InvalidJson { .. } => (InvalidArgument, kind::INVALID_JSON),
        WorkflowError::DuplicateTask(_) => (InvalidArgument, kind::DUPLICATE_TASK),
        WorkflowError::NamespaceFull(_) => (Code::ResourceExhausted, kind::NAMESPACE_FULL),
        WorkflowError::StaleClaim { .. } => (FailedPrecondition, kind::STALE_CLAIM),
        WorkflowError::UnknownLease(_) => (NotFound, kind::UNKNOWN_LEASE),
        WorkflowError::Owned { .. } => (FailedPrecondition, kind::OWNED),
        WorkflowError::WrongNamespace { .. } => (InvalidArgument, kind::WRONG_NAMESPACE),
        WorkflowError::VarsVersionConflict { current, .. } => {
            typed.version = Some(*current);
            (Code::Aborted, kind::VERSION_CONFLICT)
        }
        WorkflowError::ImmutableVar { .. } => (FailedPrecondition, kind::IMMUTABLE),
        WorkflowError::VarsVersionGone { .. } => (FailedPrecondition, kind::VERSION_GONE),
        WorkflowError::VarsLimit { .. } => (InvalidArgument, kind::LIMIT),
    };
    let mut s = with_kind(code, error_kind, e.to_string());
    typed.attach(&mut s);
    s
}

/// A checkpoint rejection by the machine. Bad references in the request are the caller's
/// (InvalidArgument); an upload whose state does not admit the chunk or commit is a failed
/// precondition; a workflow error maps as everywhere else.
pub fn checkpoint_error(e: CheckpointError) -> Status {
    use Code::{FailedPrecondition, InvalidArgument, NotFound};
    let (code, error_kind) = match &e {
        CheckpointError::Workflow(w) => return workflow_error(w.clone()),
        CheckpointError::NotFound { .. } => (NotFound, kind::NOT_FOUND),
        CheckpointError::UnknownParent { .. } => (InvalidArgument, kind::UNKNOWN_PARENT),
        CheckpointError::DeltaWithoutParent => (InvalidArgument, kind::DELTA_WITHOUT_PARENT),
        CheckpointError::UnknownUpload(_) => (FailedPrecondition, kind::UNKNOWN_UPLOAD),
        CheckpointError::UploadOfOtherWorkflow { .. } => (InvalidArgument, kind::UPLOAD_REJECTED),
        CheckpointError::ChunkOutOfOrder { .. }
        | CheckpointError::ChunkMismatch { .. }
        | CheckpointError::MissingChunks { .. } => (FailedPrecondition, kind::UPLOAD_REJECTED),
    };
    with_kind(code, error_kind, e.to_string())
}

/// A checkpoint that could not be loaded. Stored data that fails verification is DATA_LOSS
/// and names the checkpoint in metadata, so a caller can fall back to another one.
pub fn checkpoint_read_error(e: CheckpointReadError) -> Status {
    match e {
        CheckpointReadError::NotFound { .. } => {
            with_kind(Code::NotFound, kind::NOT_FOUND, e.to_string())
        }
        CheckpointReadError::Integrity {
            ref workflow_id,
            ref id,
            ..
        } => {
            let name = format!("{workflow_id}/{id}");
            let mut s = with_kind(Code::DataLoss, kind::INTEGRITY, e.to_string());
            if let Ok(v) = MetadataValue::try_from(name) {
                s.metadata_mut().insert(meta::CHECKPOINT, v);
            }
            s
        }
        CheckpointReadError::NotMaterializable { .. } => with_kind(
            Code::FailedPrecondition,
            kind::NOT_MATERIALIZABLE,
            e.to_string(),
        ),
        // A key this node lacks is its configuration's problem (FAILED_PRECONDITION); a
        // seal that does not open with the key it names is wrong key or damage (DATA_LOSS,
        // named like an integrity failure so callers fall back alike).
        CheckpointReadError::Encryption {
            ref workflow_id,
            ref id,
            ref error,
        } => match error {
            SealError::NoKeyFile(_) | SealError::MissingKey(_) => with_kind(
                Code::FailedPrecondition,
                kind::ENCRYPTION_KEY,
                e.to_string(),
            ),
            SealError::Open(_) | SealError::Malformed(_) => {
                let name = format!("{workflow_id}/{id}");
                let mut s = with_kind(Code::DataLoss, kind::INTEGRITY, e.to_string());
                if let Ok(v) = MetadataValue::try_from(name) {
                    s.metadata_mut().insert(meta::CHECKPOINT, v);
                }
                s
            }
        },
        CheckpointReadError::Storage(e) => storage_error(e),
    }
}

/// The optional typed details of a workflow rejection.
#[derive(Default)]
struct Typed {
    status: Option<String>,
    version: Option<u64>,
    /// Comma-separated legal targets; present (possibly empty) on illegal transitions.
    allowed: Option<String>,
}

impl Typed {
    fn attach(self, s: &mut Status) {
        let md = s.metadata_mut();
        // Status names are ids ([A-Za-z0-9_.:/-]), always valid header values; anything else
        // is left out rather than failing the answer.
        if let Some(v) = self.status.and_then(|v| MetadataValue::try_from(v).ok()) {
            md.insert(meta::CURRENT_STATUS, v);
        }
        if let Some(v) = self.version {
            md.insert(meta::CURRENT_VERSION, MetadataValue::from(v));
        }
        if let Some(v) = self.allowed.and_then(|v| MetadataValue::try_from(v).ok()) {
            md.insert(meta::ALLOWED, v);
        }
    }
}

/// A status with a machine-readable error kind.
fn with_kind(code: Code, error_kind: &'static str, msg: impl Into<String>) -> Status {
    let mut s = Status::new(code, msg);
    s.metadata_mut()
        .insert(meta::ERROR_KIND, MetadataValue::from_static(error_kind));
    s
}

/// A read from the state machine failed. A snapshot install in progress is transient (retry,
/// possibly elsewhere); a cursor the reader cannot decode is the caller's; anything else is a
/// server fault.
pub fn storage_error(e: cairn_storage::StorageError) -> Status {
    match e {
        cairn_storage::StorageError::SnapshotInstalling => {
            Status::unavailable("installing a snapshot; retry")
        }
        e @ cairn_storage::StorageError::InvalidCursor => invalid(e.to_string()),
        other => internal(other),
    }
}

/// `what` exceeds its size limit: the message names both sizes.
pub fn too_large(what: &str, size: usize, limit: usize) -> Status {
    Error::too_large(what, size, limit).into()
}

pub fn internal(e: impl std::fmt::Display) -> Status {
    Error::internal(e).into()
}

pub fn invalid(msg: impl Into<String>) -> Status {
    Error::invalid(msg).into()
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod input_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_raft::NodeInfo;

    #[test]
    fn not_leader_carries_leader_address() {
        let s = forward_error(ForwardError::NotLeader {
            leader: Some(NodeInfo {
                peer_addr: "127.0.0.1:2".into(),
                client_addr: "127.0.0.1:1".into(),
            }),
        });
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.metadata().get(meta::LEADER).unwrap(), "127.0.0.1:1");
    }

    #[test]
    fn snapshot_install_is_retryable_and_limits_are_named() {
        let s = storage_error(cairn_storage::StorageError::SnapshotInstalling);
        assert_eq!(s.code(), Code::Unavailable);
        let s = too_large("value", 10, 4);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "value is 10 bytes; the limit is 4 bytes");
    }

    #[test]
    fn revision_mismatch_is_aborted_with_current() {
        let s = command_error(CommandError::RevisionMismatch {
            expected: 3,
            current: 7,
        });
        assert_eq!(s.code(), Code::Aborted);
        assert_eq!(s.metadata().get(meta::CURRENT_REVISION).unwrap(), "7");
        assert_eq!(
            s.metadata().get(meta::ERROR_KIND).unwrap(),
            "revision_mismatch"
        );
    }

    use cairn_model::workflow::definition::TransitionError;
    use cairn_model::workflow::limits::LimitError;
    use cairn_model::workflow::{DefinitionError, TaskStatus};

    fn md<'a>(s: &'a Status, key: &str) -> Option<&'a str> {
        s.metadata().get(key).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn workflow_errors_have_codes_and_kinds() {
        let task = |error| WorkflowError::Task {
            id: "w".into(),
            error,
        };
        let cases = [
            (
                WorkflowError::NotFound("w".into()),
                Code::NotFound,
                kind::NOT_FOUND,
            ),
            (
                WorkflowError::UnknownDefinition {
                    name: "d".into(),
                    version: Some(2),
                },
                Code::NotFound,
                kind::UNKNOWN_DEFINITION,
            ),
            (
                WorkflowError::AlreadyExists("w".into()),
                Code::AlreadyExists,
                kind::ALREADY_EXISTS,
            ),
            (
                WorkflowError::InvalidDefinition(DefinitionError::NoStates),
                Code::InvalidArgument,
                kind::INVALID_DEFINITION,
            ),
            (
                WorkflowError::InvalidId("a b".into()),
                Code::InvalidArgument,
                kind::INVALID_ID,
            ),
            (
                WorkflowError::Limit(LimitError::TooManyLabels { count: 9, limit: 8 }),
                Code::InvalidArgument,
                kind::LIMIT,
            ),
            (
                WorkflowError::InvalidJson {
                    field: "input".into(),
                    message: "eof".into(),
                },
                Code::InvalidArgument,
                kind::INVALID_JSON,
            ),
            (
                WorkflowError::DuplicateTask("t".into()),
                Code::InvalidArgument,
                kind::DUPLICATE_TASK,
            ),
            (
                task(TaskError::Cycle(vec!["a".into(), "b".into(), "a".into()])),
                Code::InvalidArgument,
                kind::DEPENDENCY_CYCLE,
            ),
            (
                task(TaskError::SelfDependency("a".into())),
                Code::InvalidArgument,
                kind::SELF_DEPENDENCY,
            ),
            (
                task(TaskError::UnknownDependency {
                    task: "a".into(),
                    dependency: "z".into(),
                }),
                Code::InvalidArgument,
                kind::UNKNOWN_DEPENDENCY,
            ),
            (
                task(TaskError::DependenciesPending {
                    task: "b".into(),
                    waiting: vec!["a".into()],
                }),
                Code::FailedPrecondition,
                kind::DEPENDENCIES_PENDING,
            ),
        ];
        for (e, code, k) in cases {
            let msg = e.to_string();
            let s = workflow_error(e);
            assert_eq!(s.code(), code, "{msg}");
            assert_eq!(md(&s, meta::ERROR_KIND), Some(k), "{msg}");
            assert_eq!(s.message(), msg);
        }
    }

    #[test]
    fn illegal_transition_names_current_status_and_legal_targets() {
        let s = command_error(CommandError::Workflow(WorkflowError::IllegalTransition {
            id: "w".into(),
            error: TransitionError {
                current: "PENDING".into(),
                requested: "PAUSED".into(),
                allowed: vec!["RUNNING".into(), "CANCELLED".into()],
            },
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(md(&s, meta::ERROR_KIND), Some(kind::ILLEGAL_TRANSITION));
        assert_eq!(md(&s, meta::CURRENT_STATUS), Some("PENDING"));
        assert_eq!(md(&s, meta::ALLOWED), Some("RUNNING,CANCELLED"));

        // From a terminal status nothing is legal: the key is present and empty.
        let s = workflow_error(WorkflowError::Task {
            id: "w".into(),
            error: TaskError::IllegalTransition {
                task: "t".into(),
                current: TaskStatus::Completed,
                requested: TaskStatus::Running,
                allowed: vec![],
            },
        });
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(
            md(&s, meta::ERROR_KIND),
            Some(kind::TASK_ILLEGAL_TRANSITION)
        );
        assert_eq!(md(&s, meta::CURRENT_STATUS), Some("COMPLETED"));
        assert_eq!(md(&s, meta::ALLOWED), Some(""));
    }

    #[test]
    fn version_conflicts_are_aborted_with_the_current_version() {
        let s = workflow_error(WorkflowError::VersionConflict {
            id: "w".into(),
            expected: 3,
            current: 5,
        });
        assert_eq!(s.code(), Code::Aborted);
        assert_eq!(md(&s, meta::ERROR_KIND), Some(kind::VERSION_CONFLICT));
        assert_eq!(md(&s, meta::CURRENT_VERSION), Some("5"));
        let s = workflow_error(WorkflowError::TaskVersionConflict {
            workflow_id: "w".into(),
            task_id: "t".into(),
            expected: 0,
            current: 2,
        });
        assert_eq!(s.code(), Code::Aborted);
        assert_eq!(md(&s, meta::ERROR_KIND), Some(kind::TASK_VERSION_CONFLICT));
        assert_eq!(md(&s, meta::CURRENT_VERSION), Some("2"));
    }

    #[test]
    fn state_preconditions_name_the_current_status() {
        for (e, k) in [
            (
                WorkflowError::NotTerminal {
                    id: "w".into(),
                    status: "RUNNING".into(),
                },
                kind::NOT_TERMINAL,
            ),
            (
                WorkflowError::Terminal {
                    id: "w".into(),
                    status: "RUNNING".into(),
                },
                kind::TERMINAL,
            ),
        ] {
            let s = workflow_error(e);
            assert_eq!(s.code(), Code::FailedPrecondition);
            assert_eq!(md(&s, meta::ERROR_KIND), Some(k));
            assert_eq!(md(&s, meta::CURRENT_STATUS), Some("RUNNING"));
            assert_eq!(md(&s, meta::ALLOWED), None);
        }
    }

    #[test]
    fn invalid_cursor_is_the_callers_fault() {
        let s = storage_error(cairn_storage::StorageError::InvalidCursor);
        assert_eq!(s.code(), Code::InvalidArgument);
    }
}
