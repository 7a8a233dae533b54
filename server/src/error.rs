//! The server layer's one error type: every way a request to this node can fail, typed. It
//! wraps the errors of the layers below (Raft forwarding, the state machine's rejections,
//! storage reads) and adds the node's own refusals (bad input, admin checks, etcd-only input
//! errors). `status/` maps it to gRPC: once for the Cairn API, once for the etcd v3 API.

use cairn_model::checkpoint::CheckpointError;
use cairn_model::coord::CoordError;
use cairn_model::txn::KvError;
use cairn_model::workflow::WorkflowError;
use cairn_model::{CommandError, InputError};
use cairn_raft::ForwardError;
use cairn_storage::{CheckpointReadError, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Raft could not take or answer the request here (not the leader, no leader, timeout).
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// The state machine refused the command, deterministically; nothing was written.
    #[error(transparent)]
    Rejected(#[from] CommandError),
    /// A read from the state machine failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    CheckpointRead(#[from] CheckpointReadError),
    /// The leader refused a membership change; the cluster is unchanged.
    #[error("{0}")]
    Membership(Refusal),
    /// The leader refused a leadership transfer; nothing changed.
    #[error("{0}")]
    Transfer(Refusal),
    /// Bad input, found by the node before proposing anything.
    #[error("{0}")]
    Invalid(String),
    /// A name that is not an id (1-256 of [A-Za-z0-9_.:/-]).
    #[error("{field}: invalid id {value:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidId { field: String, value: String },
    #[error("{what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// The node cannot serve this now (stopping, Raft stopped, a peer unreachable); retry,
    /// possibly elsewhere.
    #[error("{0}")]
    Unavailable(String),
    /// Waited for something that did not happen in time; the outcome may be unknown.
    #[error("{0}")]
    Timeout(String),
    /// The request is valid but the node's state does not allow it now.
    #[error("{0}")]
    Precondition(String),
    /// A lock or election wait ended without a grant; the caller left the line.
    #[error("not granted within the wait timeout; left the line")]
    WaitTimeout,
    /// A delta checkpoint's payload is not a JSON merge patch.
    #[error("a delta checkpoint must be a JSON merge patch: {0}")]
    DeltaNotJson(String),
    /// A delta's parent chain does not materialize, so neither would the delta.
    #[error("{0}")]
    ParentNotMaterializable(String),
    /// The caller went away mid-stream.
    #[error("client went away")]
    Cancelled,
    /// An etcd v3 request error etcd itself answers with these words.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// An etcd RPC Cairn does not serve, with what to use instead.
    #[error("cairn does not support {rpc}: {instead}")]
    Unsupported {
        rpc: &'static str,
        instead: &'static str,
    },
    /// A server fault, never the caller's.
    #[error("{0}")]
    Internal(String),
    /// A part of an atomic step failed its input check: the part's own error, named.
    #[error("steps[{step}].{part}: {error}")]
    Step {
        step: u32,
        part: cairn_model::step::StepPart,
        error: Box<Error>,
    },
}

/// etcd v3 request errors, in etcd's words: Go's clientv3 (and etcdctl) recognise a server
/// error by its exact message (rpctypes' `errStringToError`), so these are etcd's strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    #[error("etcdserver: key is not provided")]
    KeyNotProvided,
    #[error("etcdserver: revision must not be negative")]
    NegativeRevision,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: election: no leader")]
    ElectionNoLeader,
    #[error("etcdserver: election: not leader")]
    ElectionNotLeader,
    #[error("etcdserver: leader is not provided")]
    LeaderNotProvided,
    #[error("etcdserver: leader rev must not be negative")]
    NegativeLeaderRev,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    /// A watch create naming an id that is taken or negative (a cancel reason, not a status).
    #[error("etcdserver: watch id {0} already in use or invalid")]
    WatchIdUnavailable(i64),
    /// A watch create on a stream that already carries the most watchers a stream may (a
    /// cancel reason): each costs the node memory and a scan per event.
    #[error("etcdserver: too many watchers on one stream (limit {0}); open another stream")]
    TooManyWatchers(usize),
    /// A watch create on keys the caller may not read (a cancel reason, as etcd gives it).
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    /// Any other malformed request (too many operations, oversized keys, ...).
    #[error("etcdserver: {0}")]
    Invalid(String),
}

impl From<WorkflowError> for Error {
    fn from(e: WorkflowError) -> Self {
        Self::Rejected(e.into())
    }
}

impl From<CheckpointError> for Error {
    fn from(e: CheckpointError) -> Self {
        Self::Rejected(e.into())
    }
}

impl From<CoordError> for Error {
    fn from(e: CoordError) -> Self {
        Self::Rejected(e.into())
    }
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        Self::Rejected(e.into())
    }
}

/// A request's input refused before proposing (`Request::check_input`), as the error the
/// services' own checks give for the same field, so the status (code and kind) is the same
/// wherever the check ran: in a service, in the gateway, or on the leader after forwarding.
impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        match e {
            // The services never build internal commands: one that got here is a bug.
            InputError::Internal { .. } => Self::Internal(e.to_string()),
            InputError::TooLarge { field, size, limit } => Self::TooLarge {
                what: field,
                size,
                limit,
            },
            InputError::InvalidId { field, value } => Self::InvalidId { field, value },
            InputError::Empty { .. } | InputError::TooMany { .. } | InputError::Invalid { .. } => {
                Self::Invalid(e.to_string())
            }
            InputError::Workflow(e) => e.into(),
            InputError::Checkpoint(e) => e.into(),
            InputError::Coord(e) => e.into(),
            InputError::Kv(e) => e.into(),
            InputError::Auth(e) => Self::Rejected(e.into()),
            InputError::Step { step, part, error } => Self::Step {
                step,
                part,
                error: Box::new((*error).into()),
            },
        }
    }
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// `what` exceeds its size limit: the message names both sizes.
    pub fn too_large(what: impl Into<String>, size: usize, limit: usize) -> Self {
        Self::TooLarge {
            what: what.into(),
            size,
            limit,
        }
    }
}

/// Why the leader refused a membership change or a leadership transfer. The cluster is
/// unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    LearnerBehind(String),
    #[error("{0}")]
    LastVoter(String),
    #[error("{0}")]
    QuorumAtRisk(String),
    #[error("another membership change is still in progress; retry when it completes")]
    ChangeInProgress,
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    WrongRole(String),
    /// A voter-set change that moves more than one voter at once.
    #[error("{0}")]
    TooManyChanges(String),
}
