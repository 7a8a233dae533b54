//! cairn-raft: the Raft plumbing. The openraft type configuration, where a request enters Raft
//! (the [`Proposer`]: propose as leader, forward to the leader otherwise, read-index rounds for
//! linearizable reads) and the peer transport between nodes (tonic service, cached channels,
//! batched forwarding, chunked snapshot streaming). What is replicated is defined in
//! cairn-model; how it is stored and applied in cairn-storage.
//!
//! - [`types`]: openraft's type configuration ([`TypeConfig`], [`NodeInfo`]).
//! - [`proposer`]: the entry point of writes and linearizable reads; [`error`]: its errors.
//! - [`forward_batch`]: a follower's queue of writes forwarded to the leader in batches.
//! - [`network`] (client side) and [`peer_server`] (server side) of the peer protocol, over
//!   [`channels`]; [`snapshot_receive`] writes an incoming snapshot stream to disk;
//!   [`peer_identity`] maps a caller's TLS certificate to the node it names.

pub mod channels;
pub mod error;
pub mod forward_batch;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod network;
pub mod peer_identity;
pub mod peer_proto;
pub mod peer_server;
pub mod probe;
pub mod proposer;
mod read_rounds;
pub mod snapshot_receive;
pub mod types;

pub use channels::{ChannelPool, PeerTlsSource};
pub use error::ForwardError;
pub use network::PeerNetworkFactory;
pub use peer_identity::{PeerAuth, node_name};
pub use peer_server::PeerService;
pub use proposer::{Proposer, now_ms};
pub use snapshot_receive::SnapshotVerifier;
pub use types::{NodeId, NodeInfo, SnapshotFile, TypeConfig};
