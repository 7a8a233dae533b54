//! cairn-api: Cairn's public protobuf API and the tonic client/server code generated from it.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("cairn.v1");
}

/// etcd's v3lock and v3election services, which etcd-client does not export. Their headers
/// and key-values are etcd-client's own types (re-exported here as `etcd_client`).
#[cfg(feature = "etcd")]
pub mod etcd {
    pub use etcd_client;

    pub mod v3lockpb {
        tonic::include_proto!("v3lockpb");
    }

    pub mod v3electionpb {
        tonic::include_proto!("v3electionpb");
    }
}

/// etcd's Auth service (users, roles, `Authenticate`), with its own `ResponseHeader`: the
/// server serves it and the Cairn client logs in through it. etcd-client generates it too but
/// does not export every message a server must name.
pub mod etcd_auth {
    pub mod etcdserverpb {
        include!(concat!(env!("OUT_DIR"), "/etcd-auth/etcdserverpb.rs"));
    }

    pub mod authpb {
        include!(concat!(env!("OUT_DIR"), "/etcd-auth/authpb.rs"));
    }
}

/// Response metadata keys shared by the server and the client crate.
pub mod meta {
    /// On a "not leader"/"unavailable" answer: the client address of the current leader.
    pub const LEADER: &str = "cairn-leader";
    /// A machine-readable error kind, e.g. `revision_mismatch`, `illegal_transition`,
    /// `version_conflict`, `not_found` (the full list is in [`kind`]).
    pub const ERROR_KIND: &str = "cairn-error";
    /// On a revision mismatch: the key's current revision.
    pub const CURRENT_REVISION: &str = "cairn-current-revision";
    /// On a version conflict: the workflow's (or task's) current version.
    pub const CURRENT_VERSION: &str = "cairn-current-version";
    /// On an illegal transition or a state precondition: the current status.
    pub const CURRENT_STATUS: &str = "cairn-current-status";
    /// On an illegal transition: the legal targets from the current status, comma-separated
    /// (empty when none, e.g. in a terminal status).
    pub const ALLOWED: &str = "cairn-allowed";
    /// On a checkpoint integrity failure: the checkpoint, as `<workflow>/<id>`.
    pub const CHECKPOINT: &str = "cairn-checkpoint";
    /// On a refused `Steps.Apply`: the index of the step whose part was refused.
    pub const STEP: &str = "cairn-step";
    /// On a refused `Steps.Apply`: which part of that step (`change`, `tasks`, `vars`,
    /// `checkpoint` or `fence`).
    pub const STEP_PART: &str = "cairn-step-part";

    /// Values of [`ERROR_KIND`].
    pub mod kind {
        pub const REVISION_MISMATCH: &str = "revision_mismatch";
        /// The caller may not do this (auth on; PERMISSION_DENIED).
        pub const PERMISSION_DENIED: &str = "permission_denied";
        /// No user, a bad password or a token that is not valid (any more): log in again.
        pub const UNAUTHENTICATED: &str = "unauthenticated";
        /// Another refusal of user and role management (user exists, role not found, ...).
        pub const AUTH: &str = "auth";
        /// A NOSPACE alarm stands: writes that can grow the state are refused until an
        /// operator frees space (or raises the quota) and disarms it (RESOURCE_EXHAUSTED).
        pub const NO_SPACE: &str = "no_space";
        /// A namespace reached one of its limits (workflows, checkpoint bytes): nothing was
        /// written (RESOURCE_EXHAUSTED). See Admin `SetNamespaceLimits`.
        pub const NAMESPACE_FULL: &str = "namespace_full";
        pub const NOT_FOUND: &str = "not_found";
        pub const UNKNOWN_DEFINITION: &str = "unknown_definition";
        pub const ALREADY_EXISTS: &str = "already_exists";
        pub const INVALID_ID: &str = "invalid_id";
        pub const INVALID_DEFINITION: &str = "invalid_definition";
        pub const INVALID_JSON: &str = "invalid_json";
        pub const LIMIT: &str = "limit";
        pub const DUPLICATE_TASK: &str = "duplicate_task";
        pub const ILLEGAL_TRANSITION: &str = "illegal_transition";
        pub const TASK_ILLEGAL_TRANSITION: &str = "task_illegal_transition";
        pub const DEPENDENCIES_PENDING: &str = "dependencies_pending";
        pub const UNKNOWN_DEPENDENCY: &str = "unknown_dependency";
        pub const SELF_DEPENDENCY: &str = "self_dependency";
        pub const DEPENDENCY_CYCLE: &str = "dependency_cycle";
        pub const VERSION_CONFLICT: &str = "version_conflict";
        pub const TASK_VERSION_CONFLICT: &str = "task_version_conflict";
        pub const NOT_TERMINAL: &str = "not_terminal";
        pub const TERMINAL: &str = "terminal";
        pub const STALE_SEQUENCE: &str = "stale_sequence";
        pub const UNKNOWN_LEASE: &str = "unknown_lease";
        pub const INVALID_ARGUMENT: &str = "invalid_argument";
        pub const NOT_HOLDER: &str = "not_holder";
        pub const NOT_WAITING: &str = "not_waiting";
        pub const STALE_FENCE: &str = "stale_fence";
        /// FinishTask with a claim that no longer runs the task (lease ended, task changed or
        /// re-claimed): the run's result is refused (FAILED_PRECONDITION).
        pub const STALE_CLAIM: &str = "stale_claim";
        /// AdoptWorkflow of a workflow another owner holds under a live lease
        /// (FAILED_PRECONDITION).
        pub const OWNED: &str = "owned";
        /// A workflow named with a namespace it is not in (INVALID_ARGUMENT).
        pub const WRONG_NAMESPACE: &str = "wrong_namespace";
        /// A change of an immutable variable (FAILED_PRECONDITION).
        pub const IMMUTABLE: &str = "immutable";
        /// A variables version that is not kept any more, or never was (FAILED_PRECONDITION).
        pub const VERSION_GONE: &str = "version_gone";
        /// A blocking lock acquire or campaign was not granted within its wait timeout (with
        /// DEADLINE_EXCEEDED); the caller is no longer in line.
        pub const WAIT_TIMEOUT: &str = "wait_timeout";
        // Checkpoint rejections.
        /// A parent checkpoint that does not exist in the workflow.
        pub const UNKNOWN_PARENT: &str = "unknown_parent";
        /// A delta checkpoint without a parent.
        pub const DELTA_WITHOUT_PARENT: &str = "delta_without_parent";
        /// A delta chain that cannot be applied (a link is not JSON, ...).
        pub const NOT_MATERIALIZABLE: &str = "not_materializable";
        /// Stored checkpoint data failed verification (see [`super::CHECKPOINT`]).
        pub const INTEGRITY: &str = "integrity";
        /// Encrypted data whose key this node's `--encryption-key-file` lacks
        /// (FAILED_PRECONDITION).
        pub const ENCRYPTION_KEY: &str = "encryption_key";
        /// A chunked upload that does not exist (never started, committed, or collected).
        pub const UNKNOWN_UPLOAD: &str = "unknown_upload";
        /// A chunked upload refused a chunk or a commit (order, gap, mismatch, owner).
        pub const UPLOAD_REJECTED: &str = "upload_rejected";
        // Admin refusals (membership, leadership, snapshots).
        /// A learner is too far behind (or unreachable) to become a voter.
        pub const LEARNER_BEHIND: &str = "learner_behind";
        /// The change would leave no voter.
        pub const LAST_VOTER: &str = "last_voter";
        /// Too few reachable voters would remain for a quorum (use force to override).
        pub const QUORUM_AT_RISK: &str = "quorum_at_risk";
        /// Another membership change has not completed yet.
        pub const CHANGE_IN_PROGRESS: &str = "change_in_progress";
        /// The member named is not reachable from the leader.
        pub const UNREACHABLE: &str = "unreachable";
        /// The member has the wrong role for the request (e.g. promoting a voter).
        pub const WRONG_ROLE: &str = "wrong_role";
        /// A voter-set change that moves more than one voter out or in at once.
        pub const TOO_MANY_CHANGES: &str = "too_many_changes";
        // The node could not take or answer the request (always retryable, possibly at the
        // leader named in `LEADER`).
        /// This node is not the leader; `LEADER` names the leader when one is known.
        pub const NOT_LEADER: &str = "not_leader";
        /// No leader is elected right now.
        pub const NO_LEADER: &str = "no_leader";
        /// The node cannot serve the request now (stopping, installing a snapshot, ...).
        pub const UNAVAILABLE: &str = "unavailable";
        /// The request's proposal or wait did not finish in time; its outcome is unknown.
        pub const TIMEOUT: &str = "timeout";
        /// The node's current state does not allow the request.
        pub const PRECONDITION: &str = "precondition";
        /// A command only the leader's own duties propose, sent on the peer port (with
        /// PERMISSION_DENIED); no client request can carry one.
        pub const INTERNAL_COMMAND: &str = "internal_command";
    }
}
