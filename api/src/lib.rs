//! cairn-api: Cairn's public protobuf API and the tonic client/server code generated from it.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("cairn.v1");
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

    /// Values of [`ERROR_KIND`].
    pub mod kind {
        pub const REVISION_MISMATCH: &str = "revision_mismatch";
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
    }
}
