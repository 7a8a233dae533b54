//! The openraft type configuration shared by every Cairn crate.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use cairn_model::command::{Request, Response};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Cairn's Raft types: node ids are u64, log payloads are [`Request`]s.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = NodeInfo,
);

/// What the cluster knows about a member: where peers and clients reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Address of the peer (Raft) gRPC listener, `host:port`.
    pub peer_addr: String,
    /// Address of the client-facing gRPC listener, `host:port`.
    pub client_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer={} client={}", self.peer_addr, self.client_addr)
    }
}

/// A snapshot lives in a file (zstd stream + checksum trailer, see cairn-storage); openraft
/// passes this handle around instead of the bytes, so snapshots are never held in memory whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    pub path: PathBuf,
}

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type Membership = openraft::Membership<NodeId, NodeInfo>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>;
pub type Raft<SM> = openraft::Raft<TypeConfig, SM>;
