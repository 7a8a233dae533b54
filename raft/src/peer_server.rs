//! Server side of the peer transport: decodes peer RPCs and hands them to the local Raft.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::storage::RaftStateMachine;
use serde::Serialize;
use tonic::{Request, Response, Status, Streaming};

use crate::channels::MAX_PEER_MESSAGE;
use crate::peer_proto::raft_peer_server::{RaftPeer, RaftPeerServer};
use crate::peer_proto::{Payload, SnapshotChunk};
use crate::proposer::Proposer;
use crate::snapshot_receive::{self, SnapshotVerifier};
use crate::types::{Snapshot, SnapshotFile, TypeConfig};
use cairn_model::codec::{decode, encode};
use cairn_model::command;

pub struct PeerService<SM: RaftStateMachine<TypeConfig>> {
    proposer: Proposer<SM>,
    /// Incoming snapshots are written here (same file system as the store, so the state
    /// machine can rename them into place).
    snapshot_dir: PathBuf,
    verify: SnapshotVerifier,
    incoming_seq: AtomicU64,
}

impl<SM> PeerService<SM>
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotFile>,
{
    pub fn new(proposer: Proposer<SM>, snapshot_dir: PathBuf, verify: SnapshotVerifier) -> Self {
        Self {
            proposer,
            snapshot_dir,
            verify,
            incoming_seq: AtomicU64::new(0),
        }
    }

    /// The tonic service with Cairn's peer message size limits.
    pub fn into_server(self) -> RaftPeerServer<Self> {
        RaftPeerServer::new(self)
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE)
    }
}

fn reply<T: Serialize>(value: &T) -> Result<Response<Payload>, Status> {
    let data = encode(value).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(Payload {
        data: Bytes::from(data),
    }))
}

fn arg<T: serde::de::DeserializeOwned>(req: Request<Payload>) -> Result<T, Status> {
    decode(&req.into_inner().data).map_err(|e| Status::invalid_argument(e.to_string()))
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<Payload, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl<SM> RaftPeer for PeerService<SM>
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotFile>,
{
    async fn vote(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let rpc: VoteRequest<TypeConfig> = arg(req)?;
        reply(&self.proposer.raft().vote(rpc).await)
    }

    async fn pre_vote(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let rpc: VoteRequest<TypeConfig> = arg(req)?;
        reply(&self.proposer.raft().pre_vote(rpc).await)
    }

    async fn append_entries(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = arg(req)?;
        reply(&self.proposer.raft().append_entries(rpc).await)
    }

    type StreamAppendStream = ReplyStream;

    async fn stream_append(
        &self,
        req: Request<Streaming<Payload>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        // A frame that fails to decode ends the input; openraft on the leader then restarts
        // replication from the last acknowledged entry.
        let input = req
            .into_inner()
            .map(|r| {
                let payload = r.ok()?;
                decode::<AppendEntriesRequest<TypeConfig>>(&payload.data)
                    .inspect_err(|e| tracing::warn!("bad append frame: {e}"))
                    .ok()
            })
            .take_while(|r| std::future::ready(r.is_some()))
            .filter_map(std::future::ready);
        let out = self
            .proposer
            .raft()
            .stream_append(Box::pin(input))
            .map(|item| {
                let data = encode(&item).map_err(|e| Status::internal(e.to_string()))?;
                Ok(Payload {
                    data: Bytes::from(data),
                })
            });
        Ok(Response::new(Box::pin(out)))
    }

    async fn install_snapshot(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<Payload>, Status> {
        let seq = self.incoming_seq.fetch_add(1, Ordering::Relaxed);
        let (vote, meta, incoming) =
            snapshot_receive::receive(&self.snapshot_dir, seq, &self.verify, req.into_inner())
                .await?;
        let snapshot = Snapshot {
            meta,
            snapshot: SnapshotFile {
                path: incoming.0.clone(),
            },
        };
        // openraft answers only after the install finished (or was skipped as stale); then
        // `incoming` drops and removes whatever the store did not take, even if this call
        // was cancelled meanwhile.
        let raft = self.proposer.raft().clone();
        let installed = snapshot_receive::install_detached(incoming, async move {
            raft.install_full_snapshot(vote, snapshot).await
        })
        .await?;
        reply(&installed)
    }

    async fn transfer_leader(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let rpc: TransferLeaderRequest<TypeConfig> = arg(req)?;
        reply(&self.proposer.raft().handle_transfer_leader(rpc).await)
    }

    async fn forward(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let request: command::Request = arg(req)?;
        reply(&self.proposer.write_local(request).await)
    }

    async fn forward_batch(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let requests: Vec<command::Request> = arg(req)?;
        if requests.len() > crate::forward_batch::MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} forwarded writes in one call; at most {}",
                requests.len(),
                crate::forward_batch::MAX_BATCH
            )));
        }
        // Proposed concurrently, so Raft batches them into as few appends as it can.
        let outcomes =
            futures::future::join_all(requests.into_iter().map(|r| self.proposer.write_local(r)))
                .await;
        reply(&outcomes)
    }

    async fn read_index(&self, _req: Request<Payload>) -> Result<Response<Payload>, Status> {
        reply(&self.proposer.read_index_local().await)
    }
}
