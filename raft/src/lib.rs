//! cairn-raft: the openraft type configuration, the replicated command set, and the peer
//! transport (tonic service + cached client channels) that carries Raft RPCs between nodes.

pub mod channels;
pub mod checkpoint;
pub mod codec;
pub mod command;
pub mod coord;
pub mod forward_batch;
pub mod network;
pub mod peer_proto;
pub mod peer_server;
pub mod proposer;
mod read_rounds;
pub mod snapshot_receive;
pub mod txn;
pub mod types;
pub mod workflow;

pub use channels::ChannelPool;
pub use command::{Command, CommandError, KvRecord, Request, Response, Session};
pub use network::PeerNetworkFactory;
pub use peer_server::PeerService;
pub use proposer::{ForwardError, Proposer, now_ms};
pub use snapshot_receive::SnapshotVerifier;
pub use types::{NodeId, NodeInfo, SnapshotFile, TypeConfig};
