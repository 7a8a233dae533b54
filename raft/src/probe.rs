//! `Probe`: what a node tells another about itself and about the caller, so a node starting
//! with an empty data directory can tell "a new cluster is forming" from "I was a member and
//! lost my data" (then it must not start: it forgot its log and the votes it gave, and
//! voting again could elect a leader without a committed entry), and so the leader learns
//! each member's incarnation to record.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::channels::ChannelPool;
use crate::network::peer_client;
use crate::peer_proto::Payload;
use crate::types::NodeId;
use cairn_model::codec::{decode, encode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// The caller's id (with peer TLS, its certificate must name it).
    pub from: NodeId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReply {
    /// The answering node's data-directory incarnation.
    pub incarnation: u64,
    /// Whether it has Raft state (a log or a vote): it belongs to a cluster.
    pub initialized: bool,
    /// The incarnation its applied state records for the caller, if any.
    pub recorded_for_caller: Option<u64>,
}

/// What the answering node knows of a caller's recorded incarnation (from its applied state).
pub type IncarnationLookup = Arc<dyn Fn(NodeId) -> Option<u64> + Send + Sync>;

/// Asks node `target` at `peer_addr`.
pub async fn probe(
    pool: &ChannelPool,
    from: NodeId,
    target: NodeId,
    peer_addr: &str,
    timeout: Duration,
) -> Result<ProbeReply, String> {
    let channel = pool.get(target, peer_addr)?;
    let data = encode(&ProbeRequest { from }).map_err(|e| e.to_string())?;
    let mut request = pool.request(Payload {
        data: Bytes::from(data),
    });
    request.set_timeout(timeout);
    let reply = peer_client(channel)
        .probe(request)
        .await
        .map_err(|s| s.message().to_string())?;
    decode(&reply.into_inner().data).map_err(|e| e.to_string())
}
