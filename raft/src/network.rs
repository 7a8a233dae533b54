//! Client side of the peer transport: openraft's `RaftNetworkV2` over cached tonic channels.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{RaftNetworkFactory, RaftNetworkV2};
use tokio::io::AsyncReadExt;
use tonic::transport::Channel;

use crate::channels::{ChannelPool, MAX_PEER_MESSAGE};
use crate::peer_proto::raft_peer_client::RaftPeerClient;
use crate::peer_proto::{Payload, SnapshotChunk};
use crate::types::{NodeId, NodeInfo, Snapshot, SnapshotFile, TypeConfig, Vote};
use cairn_model::codec::{decode, encode};

/// Snapshot files are streamed in chunks of this size: bounded memory on both ends.
pub const SNAPSHOT_CHUNK: usize = 1024 * 1024;

type RpcErr = RPCError<TypeConfig>;

/// Hands openraft a [`PeerClient`] per target; all clients share one [`ChannelPool`].
#[derive(Clone)]
pub struct PeerNetworkFactory {
    id: NodeId,
    pool: ChannelPool,
}

impl PeerNetworkFactory {
    pub fn new(id: NodeId, pool: ChannelPool) -> Self {
        Self { id, pool }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient {
            id: self.id,
            target,
            client: self.pool.get(target, &node.peer_addr).map(peer_client),
            pool: self.pool.clone(),
        }
    }
}

/// Builds a peer-protocol client with Cairn's message size limits.
pub fn peer_client(channel: Channel) -> RaftPeerClient<Channel> {
    RaftPeerClient::new(channel)
        .max_decoding_message_size(MAX_PEER_MESSAGE)
        .max_encoding_message_size(MAX_PEER_MESSAGE)
}

pub struct PeerClient {
    id: NodeId,
    target: NodeId,
    /// Err when the member's address is malformed: every RPC then reports it unreachable.
    client: Result<RaftPeerClient<Channel>, String>,
    /// Stamps requests with this node's cluster id.
    pool: ChannelPool,
}

impl PeerClient {
    fn client(&self) -> Result<RaftPeerClient<Channel>, RpcErr> {
        self.client
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))
    }

    fn status_err(&self, s: tonic::Status, action: RPCTypes, ttl: Duration) -> RpcErr {
        match s.code() {
            tonic::Code::DeadlineExceeded => RPCError::Timeout(Timeout {
                action,
                id: self.id,
                target: self.target,
                timeout: ttl,
            }),
            tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::from_string(s)),
            _ => RPCError::Network(NetworkError::from_string(s)),
        }
    }

    /// One unary call: encode `req`, apply the deadline, decode `Result<Resp, E>` where the
    /// remote error means the peer's Raft has stopped (reported as unreachable).
    async fn unary<Req, Resp, E, F, Fut>(
        &mut self,
        req: &Req,
        action: RPCTypes,
        ttl: Duration,
        call: F,
    ) -> Result<Resp, RpcErr>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
        E: serde::de::DeserializeOwned + std::fmt::Display,
        F: FnOnce(RaftPeerClient<Channel>, tonic::Request<Payload>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Payload>, tonic::Status>>,
    {
        let data = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = self.pool.request(Payload {
            data: Bytes::from(data),
        });
        request.set_timeout(ttl);
        let reply = call(self.client()?, request)
            .await
            .map_err(|s| self.status_err(s, action, ttl))?;
        let result: Result<Resp, E> = decode(&reply.into_inner().data)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RpcErr> {
        self.unary::<_, _, openraft::error::RaftError<TypeConfig>, _, _>(
            &rpc,
            RPCTypes::AppendEntries,
            option.hard_ttl(),
            |mut c, r| async move { c.append_entries(r).await },
        )
        .await
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        _option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RpcErr>>, RpcErr>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        Box::pin(async move {
            let mut client = self.client()?;
            // An unencodable request ends the stream (a gap would break the log order the
            // follower expects); openraft then restarts replication from the last ack.
            let outbound = input
                .map(|req| match encode(&req) {
                    Ok(data) => Some(Payload {
                        data: Bytes::from(data),
                    }),
                    Err(e) => {
                        tracing::error!("encode append request: {e}");
                        None
                    }
                })
                .take_while(|p| std::future::ready(p.is_some()))
                .filter_map(std::future::ready);
            let replies = client
                .stream_append(self.pool.request(outbound))
                .await
                .map_err(|s| self.status_err(s, RPCTypes::AppendEntries, Duration::ZERO))?
                .into_inner();
            // The stream ends after its first error, as openraft's contract requires.
            let results = replies.map(|item| {
                let payload =
                    item.map_err(|s| RPCError::Unreachable(Unreachable::from_string(s)))?;
                let result: Result<
                    StreamAppendResult<TypeConfig>,
                    openraft::error::Fatal<TypeConfig>,
                > = decode(&payload.data).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
                result.map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))
            });
            let results = results.scan(false, |failed, item| {
                if *failed {
                    return std::future::ready(None);
                }
                *failed = item.is_err();
                std::future::ready(Some(item))
            });
            let boxed: BoxStream<'s, _> = Box::pin(results);
            Ok(boxed)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcErr> {
        self.unary::<_, _, openraft::error::RaftError<TypeConfig>, _, _>(
            &rpc,
            RPCTypes::Vote,
            option.hard_ttl(),
            |mut c, r| async move { c.vote(r).await },
        )
        .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcErr> {
        self.unary::<_, _, openraft::error::RaftError<TypeConfig>, _, _>(
            &rpc,
            RPCTypes::Vote,
            option.hard_ttl(),
            |mut c, r| async move { c.pre_vote(r).await },
        )
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let unreachable = |e: &dyn std::fmt::Display| {
            StreamingError::Unreachable(Unreachable::from_string(e.to_string()))
        };
        let mut client = self.client.clone().map_err(|e| unreachable(&e))?;
        let header = encode(&(vote, snapshot.meta.clone())).map_err(|e| unreachable(&e))?;
        let file = tokio::fs::File::open(&snapshot.snapshot.path)
            .await
            .map_err(|e| unreachable(&e))?;
        let total_size = file.metadata().await.map_err(|e| unreachable(&e))?.len();
        let chunk = option
            .snapshot_chunk_size()
            .unwrap_or(SNAPSHOT_CHUNK)
            .clamp(4096, SNAPSHOT_CHUNK);

        // The file is read as the stream is polled, so at most a few chunks are in memory.
        let first = futures::stream::once(async move {
            SnapshotChunk {
                header: Bytes::from(header),
                data: Bytes::new(),
                total_size,
            }
        });
        let body = futures::stream::unfold(Some(file), move |state| async move {
            let mut file = state?;
            let mut buf = vec![0u8; chunk];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((
                        SnapshotChunk {
                            header: Bytes::new(),
                            data: Bytes::from(buf),
                            total_size: 0,
                        },
                        Some(file),
                    ))
                }
                Err(e) => {
                    // Ending early leaves the receiver short of `total_size`: it rejects the file.
                    tracing::error!("read snapshot file: {e}");
                    None
                }
            }
        });
        let mut request = self.pool.request(first.chain(body));
        // The deadline covers sending the file and the follower loading it: scale it with the
        // size (assume at least 4 MiB/s end to end) so a large snapshot can finish at all.
        let by_size = Duration::from_secs(total_size / (4 * 1024 * 1024));
        request.set_timeout(option.hard_ttl().max(Duration::from_secs(60)) + by_size);

        let send = client.install_snapshot(request);
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = send => reply.map_err(|s| unreachable(&s))?,
        };
        let result: Result<SnapshotResponse<TypeConfig>, openraft::error::Fatal<TypeConfig>> =
            decode(&reply.into_inner().data).map_err(|e| unreachable(&e))?;
        result.map_err(|e| unreachable(&e))
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RpcErr> {
        self.unary::<_, _, openraft::error::Fatal<TypeConfig>, _, _>(
            &req,
            RPCTypes::TransferLeader,
            option.hard_ttl(),
            |mut c, r| async move { c.transfer_leader(r).await },
        )
        .await
    }
}
