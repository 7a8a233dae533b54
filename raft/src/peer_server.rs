//! Server side of the peer transport: decodes peer RPCs and hands them to the local Raft.
//!
//! Every message is input from the network. With peer TLS, the caller is the node its
//! certificate names ([`PeerAuth`]): a vote, append, snapshot or leader transfer claiming
//! another node is refused, and only current members may forward writes or ask for a read
//! index. A snapshot is admitted before any byte is written only from the leader of a term at
//! least ours, and only up to a size bound.
//!
//! A forwarded write is proposed only if it is not an internal command (those only the
//! leader's own duties propose) and it passes the node's [`RequestCheck`]: the same input
//! checks a client's request passes before it is proposed, with this node's limits.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::rt::WatchReceiver;
use openraft::storage::RaftStateMachine;
use openraft::vote::RaftLeaderId;
use serde::Serialize;
use tonic::{Request, Response, Status, Streaming};

use crate::channels::{CLUSTER_ID_HEADER, ClusterIdSource, INCARNATION_HEADER, MAX_PEER_MESSAGE};
use crate::error::ForwardError;
use crate::peer_identity::{Caller, PeerAuth};
use crate::peer_proto::raft_peer_server::{RaftPeer, RaftPeerServer};
use crate::peer_proto::{Payload, SnapshotChunk};
use crate::probe::{IncarnationLookup, ProbeReply, ProbeRequest};
use crate::proposer::Proposer;
use crate::snapshot_receive::{self, SnapshotVerifier};
use crate::types::{NodeId, Snapshot, SnapshotFile, SnapshotMeta, TypeConfig, Vote};
use cairn_model::codec::{decode, encode};
use cairn_model::command;
use cairn_model::input::InputError;

/// The leader's check of a forwarded write before proposing it: the node's
/// `Request::check_input` with its own limits, supplied by the node (which owns its
/// configuration; this crate does not know it).
pub type RequestCheck = Arc<dyn Fn(&command::Request) -> Result<(), InputError> + Send + Sync>;

pub struct PeerService<SM: RaftStateMachine<TypeConfig>> {
    proposer: Proposer<SM>,
    /// Incoming snapshots are written here (same file system as the store, so the state
    /// machine can rename them into place).
    snapshot_dir: PathBuf,
    verify: SnapshotVerifier,
    incoming_seq: AtomicU64,
    auth: PeerAuth,
    max_snapshot_bytes: u64,
    check: RequestCheck,
    /// This node's data-directory incarnation, and what its state records of callers'.
    incarnation: u64,
    recorded: IncarnationLookup,
    cluster_id: ClusterIdSource,
}

/// Largest snapshot a node accepts by default: far above any state Cairn is meant to hold, far
/// below filling a disk by mistake.
pub const MAX_SNAPSHOT_BYTES: u64 = 64 << 30;

/// The node a vote is for (the candidate, or the leader that holds it).
fn voter(vote: &Vote) -> NodeId {
    *vote.leader_id().node_id()
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
            auth: PeerAuth::Open,
            max_snapshot_bytes: MAX_SNAPSHOT_BYTES,
            // Internal commands are refused whatever the check (see `admit_write`).
            check: Arc::new(|_| Ok(())),
            incarnation: 0,
            recorded: Arc::new(|_| None),
            cluster_id: Arc::new(|| 0),
        }
    }

    /// Refuse callers that name another cluster (see [`CLUSTER_ID_HEADER`]).
    pub fn with_cluster_id(mut self, source: ClusterIdSource) -> Self {
        self.cluster_id = source;
        self
    }

    /// What `Probe` answers: this node's incarnation and the incarnations its state records.
    pub fn with_incarnation(mut self, incarnation: u64, recorded: IncarnationLookup) -> Self {
        self.incarnation = incarnation;
        self.recorded = recorded;
        self
    }

    /// The input check of forwarded writes (default: none beyond refusing internal commands).
    pub fn with_check(mut self, check: RequestCheck) -> Self {
        self.check = check;
        self
    }

    /// Whether a forwarded write may be proposed. A refusal is final: the follower answers its
    /// client with it and does not retry (the leader would refuse it again).
    fn admit_write(&self, req: &command::Request) -> Result<(), ForwardError> {
        if let Err(e) = req.command.check_not_internal() {
            // No member forwards these: its services never build them.
            tracing::warn!("refused a forwarded write: {e}");
            return Err(ForwardError::Refused(e));
        }
        (self.check)(req).map_err(|e| {
            tracing::debug!("refused a forwarded write: {e}");
            ForwardError::Refused(e)
        })
    }

    /// Who may call (default: anyone, for a node without peer TLS).
    pub fn with_auth(mut self, auth: PeerAuth) -> Self {
        self.auth = auth;
        self
    }

    pub fn with_max_snapshot_bytes(mut self, max: u64) -> Self {
        self.max_snapshot_bytes = max;
        self
    }

    /// Who calls: refused if it belongs to another cluster, else the node its certificate
    /// names (with peer TLS). Every RPC starts here.
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        same_cluster((self.cluster_id)(), req.metadata().get(CLUSTER_ID_HEADER))?;
        self.auth.caller(req.peer_certs())
    }

    /// Forwarded writes and read-index requests: from current members only.
    fn member<T>(&self, req: &Request<T>) -> Result<(), Status> {
        if let Caller::Node(id) = self.caller(req)? {
            let metrics = self.proposer.raft().metrics();
            if metrics
                .borrow_watched()
                .membership_config
                .get_node(&id)
                .is_none()
            {
                return Err(Status::permission_denied(format!(
                    "node {id} is not a member of this cluster"
                )));
            }
        }
        Ok(())
    }

    /// [`admit_snapshot`] against this node's current term and leader.
    fn admit_snapshot(
        &self,
        caller: Caller,
        vote: &Vote,
        meta: &SnapshotMeta,
        size: u64,
    ) -> Result<(), Status> {
        let metrics = self.proposer.raft().metrics();
        let m = metrics.borrow_watched();
        let ours = Ours {
            term: m.current_term,
            leader: m.current_leader,
            max_bytes: self.max_snapshot_bytes,
        };
        admit_snapshot(caller, vote, meta, size, ours)
    }

    /// The tonic service with Cairn's peer message size limits.
    pub fn into_server(self) -> RaftPeerServer<Self> {
        RaftPeerServer::new(self)
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE)
    }
}

/// A caller that names a cluster other than ours is refused; one that names none (not named
/// yet, or an older build), or calls a node not named yet, is let through.
fn same_cluster(
    ours: u64,
    theirs: Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
) -> Result<(), Status> {
    let Some(theirs) = theirs else {
        return Ok(());
    };
    let theirs = theirs
        .to_str()
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| Status::invalid_argument(format!("malformed {CLUSTER_ID_HEADER}")))?;
    if ours != 0 && theirs != 0 && ours != theirs {
        return Err(Status::permission_denied(format!(
            "a peer of cluster {theirs:016x}; this node belongs to cluster {ours:016x}"
        )));
    }
    Ok(())
}

/// A caller that names an incarnation of node `from` other than the recorded one has lost the
/// state that incarnation had (its log, its votes): refused. One that names none (an older
/// build), or a node with nothing recorded yet (new, or not yet recorded), is let through.
fn current_incarnation(
    from: NodeId,
    theirs: Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    recorded: Option<u64>,
) -> Result<(), Status> {
    let (Some(theirs), Some(recorded)) = (theirs, recorded) else {
        return Ok(());
    };
    let theirs = theirs
        .to_str()
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| Status::invalid_argument(format!("malformed {INCARNATION_HEADER}")))?;
    if theirs != recorded {
        return Err(Status::permission_denied(format!(
            "node {from} runs on data directory {theirs:016x}; this cluster recorded \
             {recorded:016x} for it, so it lost its log and the votes it gave: replace it \
             under a new id"
        )));
    }
    Ok(())
}

/// What a node knows that decides whether it takes a snapshot.
#[derive(Debug, Clone, Copy)]
struct Ours {
    term: u64,
    leader: Option<NodeId>,
    max_bytes: u64,
}

/// A snapshot is taken only from the leader of a committed vote at least as new as ours, and
/// not the leader of our term if we know another; and only up to the size bound. Checked on
/// the stream's header, before a file is created.
fn admit_snapshot(
    caller: Caller,
    vote: &Vote,
    meta: &SnapshotMeta,
    size: u64,
    ours: Ours,
) -> Result<(), Status> {
    let from = voter(vote);
    caller.check_claim(from, "snapshot")?;
    if !vote.is_committed() {
        return Err(Status::permission_denied(format!(
            "snapshot from node {from}, which is not an elected leader"
        )));
    }
    let term = vote.leader_id().term();
    if term < ours.term {
        return Err(Status::failed_precondition(format!(
            "snapshot from the leader of term {term}; this node is at term {}",
            ours.term
        )));
    }
    if term == ours.term
        && let Some(leader) = ours.leader
        && leader != from
    {
        return Err(Status::permission_denied(format!(
            "snapshot from node {from}; the leader of term {term} is node {leader}"
        )));
    }
    if size > ours.max_bytes {
        return Err(Status::resource_exhausted(format!(
            "snapshot up to {} of {size} bytes is over this node's limit of {} bytes",
            meta.last_log_id.map(|l| l.index).unwrap_or(0),
            ours.max_bytes
        )));
    }
    Ok(())
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
        let caller = self.caller(&req)?;
        let incarnation = req.metadata().get(INCARNATION_HEADER).cloned();
        let rpc: VoteRequest<TypeConfig> = arg(req)?;
        let from = voter(&rpc.vote);
        current_incarnation(from, incarnation.as_ref(), (self.recorded)(from))?;
        caller.check_claim(voter(&rpc.vote), "vote request")?;
        reply(&self.proposer.raft().vote(rpc).await)
    }

    async fn pre_vote(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let caller = self.caller(&req)?;
        let incarnation = req.metadata().get(INCARNATION_HEADER).cloned();
        let rpc: VoteRequest<TypeConfig> = arg(req)?;
        let from = voter(&rpc.vote);
        current_incarnation(from, incarnation.as_ref(), (self.recorded)(from))?;
        caller.check_claim(voter(&rpc.vote), "pre-vote request")?;
        reply(&self.proposer.raft().pre_vote(rpc).await)
    }

    async fn append_entries(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let caller = self.caller(&req)?;
        let incarnation = req.metadata().get(INCARNATION_HEADER).cloned();
        let rpc: AppendEntriesRequest<TypeConfig> = arg(req)?;
        let from = voter(&rpc.vote);
        current_incarnation(from, incarnation.as_ref(), (self.recorded)(from))?;
        caller.check_claim(voter(&rpc.vote), "append")?;
        reply(&self.proposer.raft().append_entries(rpc).await)
    }

    type StreamAppendStream = ReplyStream;

    async fn stream_append(
        &self,
        req: Request<Streaming<Payload>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        // A frame that fails to decode, or claims another sender, ends the input; openraft on
        // the leader then restarts replication from the last acknowledged entry.
        let caller = self.caller(&req)?;
        let incarnation = req.metadata().get(INCARNATION_HEADER).cloned();
        let recorded = self.recorded.clone();
        let input = req
            .into_inner()
            .map(move |r| {
                let payload = r.ok()?;
                let rpc = decode::<AppendEntriesRequest<TypeConfig>>(&payload.data)
                    .inspect_err(|e| tracing::warn!("bad append frame: {e}"))
                    .ok()?;
                let from = voter(&rpc.vote);
                caller
                    .check_claim(from, "append")
                    .and_then(|()| current_incarnation(from, incarnation.as_ref(), recorded(from)))
                    .inspect_err(|e| tracing::warn!("{}", e.message()))
                    .ok()?;
                Some(rpc)
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
        let caller = self.caller(&req)?;
        let seq = self.incoming_seq.fetch_add(1, Ordering::Relaxed);
        let admit = |vote: &Vote, meta: &SnapshotMeta, size: u64| {
            self.admit_snapshot(caller, vote, meta, size)
        };
        let (vote, meta, incoming) = snapshot_receive::receive(
            &self.snapshot_dir,
            seq,
            &self.verify,
            admit,
            req.into_inner(),
        )
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
        let caller = self.caller(&req)?;
        let rpc: TransferLeaderRequest<TypeConfig> = arg(req)?;
        caller.check_claim(voter(rpc.from_leader()), "leader transfer")?;
        reply(&self.proposer.raft().handle_transfer_leader(rpc).await)
    }

    async fn forward(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.member(&req)?;
        let request: command::Request = arg(req)?;
        if let Err(e) = self.admit_write(&request) {
            return reply(&Err::<command::Response, _>(e));
        }
        reply(&self.proposer.write_local(request).await)
    }

    async fn forward_batch(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.member(&req)?;
        let requests: Vec<command::Request> = arg(req)?;
        if requests.len() > crate::forward_batch::MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} forwarded writes in one call; at most {}",
                requests.len(),
                crate::forward_batch::MAX_BATCH
            )));
        }
        // Proposed concurrently, so Raft batches them into as few appends as it can. Each
        // write is admitted on its own: one client's bad write fails only that write.
        let outcomes = futures::future::join_all(requests.into_iter().map(|r| async move {
            self.admit_write(&r)?;
            self.proposer.write_local(r).await
        }))
        .await;
        reply(&outcomes)
    }

    async fn read_index(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.member(&req)?;
        reply(&self.proposer.read_index_local().await)
    }

    async fn probe(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let caller = self.caller(&req)?;
        let probe: ProbeRequest = arg(req)?;
        caller.check_claim(probe.from, "probe")?;
        let initialized = {
            let metrics = self.proposer.raft().metrics();
            let m = metrics.borrow_watched();
            m.last_log_index.is_some() || m.current_term > 0
        };
        reply(&ProbeReply {
            incarnation: self.incarnation,
            initialized,
            recorded_for_caller: (self.recorded)(probe.from),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tonic::Code;

    use super::*;

    const OURS: Ours = Ours {
        term: 5,
        leader: Some(1),
        max_bytes: 1000,
    };

    #[test]
    fn votes_and_appends_of_a_node_that_lost_its_directory_are_refused() {
        let v = |s: &str| tonic::metadata::MetadataValue::try_from(s).unwrap();
        let recorded = Some(0xa1);
        assert!(current_incarnation(2, Some(&v("00000000000000a1")), recorded).is_ok());
        assert_eq!(
            current_incarnation(2, Some(&v("00000000000000b2")), recorded).map_err(|s| s.code()),
            Err(Code::PermissionDenied),
            "a wiped node, started again under its id"
        );
        assert!(
            current_incarnation(2, None, recorded).is_ok(),
            "an older build names none"
        );
        assert!(
            current_incarnation(2, Some(&v("00000000000000b2")), None).is_ok(),
            "nothing recorded yet: a new member"
        );
        assert_eq!(
            current_incarnation(2, Some(&v("zz")), recorded).map_err(|s| s.code()),
            Err(Code::InvalidArgument)
        );
    }

    #[test]
    fn callers_of_another_cluster_are_refused() {
        let v = |s: &str| tonic::metadata::MetadataValue::try_from(s).unwrap();
        let ours = 0xabcu64;
        assert!(
            same_cluster(ours, None).is_ok(),
            "an older build names none"
        );
        assert!(same_cluster(ours, Some(&v("0000000000000abc"))).is_ok());
        assert!(
            same_cluster(0, Some(&v("0000000000000def"))).is_ok(),
            "not named yet"
        );
        assert_eq!(
            same_cluster(ours, Some(&v("0000000000000def"))).map_err(|s| s.code()),
            Err(Code::PermissionDenied)
        );
        assert_eq!(
            same_cluster(ours, Some(&v("zz"))).map_err(|s| s.code()),
            Err(Code::InvalidArgument)
        );
    }

    fn admit(caller: Caller, vote: Vote, size: u64, ours: Ours) -> Result<(), Code> {
        admit_snapshot(caller, &vote, &SnapshotMeta::default(), size, ours).map_err(|s| s.code())
    }

    #[test]
    fn only_the_current_leader_within_the_bound_may_send_a_snapshot() {
        let leader = Vote::new_committed(5, 1);
        assert_eq!(admit(Caller::Node(1), leader, 1000, OURS), Ok(()));
        assert_eq!(admit(Caller::Anyone, leader, 10, OURS), Ok(()));
        // A newer leader we have not heard of yet is fine.
        assert_eq!(
            admit(Caller::Node(2), Vote::new_committed(6, 2), 10, OURS),
            Ok(())
        );
        let no_leader = Ours {
            leader: None,
            ..OURS
        };
        assert_eq!(
            admit(Caller::Node(2), Vote::new_committed(5, 2), 10, no_leader),
            Ok(())
        );
    }

    #[test]
    fn impostors_candidates_stale_leaders_and_oversized_snapshots_are_refused() {
        let leader = Vote::new_committed(5, 1);
        let cases = [
            // Node 2's certificate claiming node 1's leadership.
            (Caller::Node(2), leader, 10, Code::PermissionDenied),
            // A candidate, not an elected leader.
            (Caller::Node(1), Vote::new(5, 1), 10, Code::PermissionDenied),
            // The leader of an older term.
            (
                Caller::Node(2),
                Vote::new_committed(4, 2),
                10,
                Code::FailedPrecondition,
            ),
            // A second leader of our term.
            (
                Caller::Node(3),
                Vote::new_committed(5, 3),
                10,
                Code::PermissionDenied,
            ),
            // Over the size bound.
            (Caller::Node(1), leader, 1001, Code::ResourceExhausted),
        ];
        for (caller, vote, size, code) in cases {
            assert_eq!(
                admit(caller, vote, size, OURS),
                Err(code),
                "{caller:?} {vote} {size}"
            );
        }
    }
}
