//! cairn-raft: the openraft type configuration, the replicated command set, and the peer
//! transport (tonic service + cached client channels) that carries Raft RPCs between nodes.

pub mod codec;
pub mod command;
pub mod types;

pub use command::{Command, CommandError, KvRecord, Request, Response, Session};
pub use types::{NodeId, NodeInfo, SnapshotFile, TypeConfig};
