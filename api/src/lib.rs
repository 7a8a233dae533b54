//! cairn-api: Cairn's public protobuf API and the tonic client/server code generated from it.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("cairn.v1");
}

/// Response metadata keys shared by the server and the client crate.
pub mod meta {
    /// On a "not leader"/"unavailable" answer: the client address of the current leader.
    pub const LEADER: &str = "cairn-leader";
    /// A machine-readable error kind, e.g. `revision_mismatch`.
    pub const ERROR_KIND: &str = "cairn-error";
    /// On a revision mismatch: the key's current revision.
    pub const CURRENT_REVISION: &str = "cairn-current-revision";
}
