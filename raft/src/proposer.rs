//! Where a client request enters Raft: propose locally when this node leads, otherwise hand
//! the request to the leader over the peer channel. Linearizable reads get their read index the
//! same way. Both paths return typed [`ForwardError`]s that the node maps to gRPC statuses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use openraft::ReadPolicy;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::rt::WatchReceiver;
use openraft::storage::RaftStateMachine;
use serde::Serialize;

use crate::channels::ChannelPool;
use crate::error::ForwardError;
use crate::forward_batch::{BATCHED_MAX_BYTES, ForwardQueue};
use crate::network::peer_client;
use crate::peer_proto::Payload;
use crate::read_rounds::ReadRounds;
use crate::types::{NodeId, NodeInfo, Raft, TypeConfig};
use cairn_model::codec::{decode, encode, encoded_len};
use cairn_model::command::{Request, Response};

pub struct Proposer<SM: RaftStateMachine<TypeConfig>> {
    raft: Raft<SM>,
    id: NodeId,
    pool: ChannelPool,
    timeout: Duration,
    /// Read-index rounds on this node as leader, and as a follower asking the leader.
    local_reads: ReadRounds,
    remote_reads: ReadRounds,
    /// Writes waiting to be forwarded to the leader (see `forward_batch`).
    forwards: ForwardQueue,
}

impl<SM: RaftStateMachine<TypeConfig>> Clone for Proposer<SM> {
    fn clone(&self) -> Self {
        Self {
            raft: self.raft.clone(),
            id: self.id,
            pool: self.pool.clone(),
            timeout: self.timeout,
            local_reads: self.local_reads.clone(),
            remote_reads: self.remote_reads.clone(),
            forwards: self.forwards.clone(),
        }
    }
}

/// Milliseconds since the Unix epoch on this node's clock (the leader's, when proposing).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<SM: RaftStateMachine<TypeConfig>> Proposer<SM> {
    pub fn new(raft: Raft<SM>, id: NodeId, pool: ChannelPool, timeout: Duration) -> Self {
        Self {
            raft,
            id,
            pool,
            timeout,
            local_reads: ReadRounds::default(),
            remote_reads: ReadRounds::default(),
            forwards: ForwardQueue::default(),
        }
    }

    pub fn raft(&self) -> &Raft<SM> {
        &self.raft
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Asks node `target` about itself and this node (see [`crate::probe`]).
    pub async fn probe(
        &self,
        target: NodeId,
        peer_addr: &str,
    ) -> Result<crate::probe::ProbeReply, String> {
        crate::probe::probe(&self.pool, self.id, target, peer_addr, self.timeout).await
    }

    /// Where requests go now: `None` when this node leads, else the leader's addresses. Only
    /// the forwarding case clones anything, so the leader's hot path stays allocation-free.
    pub fn route(&self) -> Result<Option<NodeInfo>, ForwardError> {
        Ok(self.leader()?.map(|l| l.node))
    }

    /// [`Proposer::route`] with the leader's id (which its peer certificate names).
    fn leader(&self) -> Result<Option<Leader>, ForwardError> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        match m.current_leader {
            None => Err(ForwardError::NoLeader),
            Some(id) if id == self.id => Ok(None),
            Some(id) => match m.membership_config.get_node(&id) {
                Some(node) if !node.peer_addr.is_empty() => Ok(Some(Leader {
                    id,
                    node: node.clone(),
                })),
                // Known by id (from a vote or heartbeat) before its address is: transient.
                _ => Err(ForwardError::unavailable(format!(
                    "leader {id} is not in this node's membership yet"
                ))),
            },
        }
    }

    /// Applies `req` through Raft, proposing here or on the leader.
    pub async fn write(&self, req: Request) -> Result<Response, ForwardError> {
        match self.leader()? {
            None => self.write_local(req).await,
            Some(leader) if encoded_len(&req).unwrap_or(usize::MAX) > BATCHED_MAX_BYTES => {
                self.forward_one(&leader, &req).await
            }
            Some(_) => {
                let (outcome, start) = self.forwards.push(req);
                if start {
                    let this = self.clone();
                    tokio::spawn(async move { this.send_forwards().await });
                }
                outcome.await.unwrap_or_else(|_| {
                    Err(ForwardError::unavailable(
                        "forwarding stopped; outcome unknown",
                    ))
                })
            }
        }
    }

    async fn forward_one(&self, leader: &Leader, req: &Request) -> Result<Response, ForwardError> {
        let reply = self.call_leader(leader, req, Rpc::Forward).await?;
        decode::<Result<Response, ForwardError>>(&reply).map_err(ForwardError::unavailable)?
    }

    /// One sender of queued forwards: sends batches until the queue is empty.
    async fn send_forwards(&self) {
        while let Some(mut batch) = self.forwards.next_batch() {
            let requests = std::mem::take(&mut batch.requests);
            let outcomes = match self.leader() {
                Err(e) => Err(e),
                // Leading now: propose here.
                Ok(None) => Ok(futures::future::join_all(
                    requests.into_iter().map(|r| self.write_local(r)),
                )
                .await),
                Ok(Some(leader)) => self.forward_batch(&leader, &requests).await,
            };
            batch.answer(outcomes);
        }
    }

    async fn forward_batch(
        &self,
        leader: &Leader,
        requests: &[Request],
    ) -> Result<Vec<Result<Response, ForwardError>>, ForwardError> {
        match self.call_leader(leader, requests, Rpc::ForwardBatch).await {
            Ok(reply) => decode(&reply).map_err(ForwardError::unavailable),
            // A leader from before ForwardBatch (a rolling upgrade): one call per write.
            Err(ForwardError::Unimplemented) => Ok(futures::future::join_all(
                requests.iter().map(|r| self.forward_one(leader, r)),
            )
            .await),
            Err(e) => Err(e),
        }
    }

    /// Proposes on this node, which must be the leader. The leader stamps its clock here: the
    /// state machine takes time only from the command.
    pub async fn write_local(&self, mut req: Request) -> Result<Response, ForwardError> {
        req.time_ms = now_ms();
        let res = tokio::time::timeout(self.timeout, self.raft.client_write(req))
            .await
            .map_err(|_| ForwardError::Timeout(self.timeout))?;
        match res {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ForwardError::NotLeader {
                    leader: f.leader_node,
                })
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f))) => {
                Err(ForwardError::Unavailable {
                    reason: "leader changed while the write was in flight".into(),
                    leader: f.leader_node,
                })
            }
            Err(e) => Err(ForwardError::unavailable(e)),
        }
    }

    /// Makes this node's state machine reflect every write committed before the call
    /// (read index, Raft thesis §6.4). Returns the applied index it waited for.
    pub async fn linearize(&self) -> Result<u64, ForwardError> {
        let index = match self.route()? {
            None => self.read_index_local().await?,
            Some(_) => {
                let this = self.clone();
                self.remote_reads
                    .index(move || {
                        let this = this.clone();
                        async move { this.leader_read_index().await }
                    })
                    .await?
            }
        };
        self.raft
            .wait(Some(self.timeout))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map_err(|_| ForwardError::Timeout(self.timeout))?;
        Ok(index)
    }

    /// One read-index round on the leader, asked from here (a follower).
    async fn leader_read_index(&self) -> Result<u64, ForwardError> {
        let Some(leader) = self.leader()? else {
            return self.read_index_local().await;
        };
        let reply = self.call_leader(&leader, &(), Rpc::ReadIndex).await?;
        decode::<Result<u64, ForwardError>>(&reply).map_err(ForwardError::unavailable)?
    }

    /// On the leader: confirms leadership with a quorum and returns the index a linearizable
    /// read must wait for. Concurrent callers share rounds (see `read_rounds`).
    pub async fn read_index_local(&self) -> Result<u64, ForwardError> {
        let this = self.clone();
        self.local_reads
            .index(move || {
                let this = this.clone();
                async move { this.read_index_round().await }
            })
            .await
    }

    async fn read_index_round(&self) -> Result<u64, ForwardError> {
        let res = tokio::time::timeout(
            self.timeout,
            self.raft.get_read_log_id(ReadPolicy::ReadIndex),
        )
        .await
        .map_err(|_| ForwardError::Timeout(self.timeout))?;
        match res {
            Ok((read_log_id, _applied)) => Ok(read_log_id.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                Err(ForwardError::NotLeader {
                    leader: f.leader_node,
                })
            }
            Err(e) => Err(ForwardError::unavailable(e)),
        }
    }

    async fn call_leader<T: Serialize + ?Sized>(
        &self,
        leader: &Leader,
        msg: &T,
        rpc: Rpc,
    ) -> Result<Bytes, ForwardError> {
        let unavailable = |e: &dyn std::fmt::Display| ForwardError::Unavailable {
            reason: format!("leader unreachable: {e}"),
            leader: Some(leader.node.clone()),
        };
        let channel = self
            .pool
            .get(leader.id, &leader.node.peer_addr)
            .map_err(|e| unavailable(&e))?;
        let mut client = peer_client(channel);
        let data = encode(msg).map_err(ForwardError::unavailable)?;
        let mut request = self.pool.request(Payload {
            data: Bytes::from(data),
        });
        request.set_timeout(self.timeout);
        let reply = match rpc {
            Rpc::Forward => client.forward(request).await,
            Rpc::ForwardBatch => client.forward_batch(request).await,
            Rpc::ReadIndex => client.read_index(request).await,
        };
        match reply {
            Ok(r) => Ok(r.into_inner().data),
            Err(s) if s.code() == tonic::Code::DeadlineExceeded => {
                Err(ForwardError::Timeout(self.timeout))
            }
            Err(s) if s.code() == tonic::Code::Unimplemented => Err(ForwardError::Unimplemented),
            Err(s) => Err(unavailable(&s.message())),
        }
    }
}

/// The leader as this node knows it.
struct Leader {
    id: NodeId,
    node: NodeInfo,
}

enum Rpc {
    Forward,
    ForwardBatch,
    ReadIndex,
}
