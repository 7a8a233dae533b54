//! The admin service: node status and membership changes (learner join, voter set change).
//! Membership changes run on the leader; elsewhere the answer names the leader.

use std::collections::BTreeSet;

use cairn_api::v1::admin_server::Admin;
use cairn_api::v1::{
    AddLearnerRequest, AddLearnerResponse, ChangeMembershipRequest, ChangeMembershipResponse,
    Member, StatusRequest, StatusResponse, TransferLeaderRequest, TransferLeaderResponse,
};
use cairn_raft::{ForwardError, NodeInfo, Proposer};
use cairn_storage::StateMachineStore;
use openraft::error::{ClientWriteError, RaftError};
use openraft::rt::WatchReceiver;
use openraft::{Membership, ServerState};
use tonic::{Request, Response, Status};

use crate::config::check_addr;
use crate::status;

pub struct AdminService {
    proposer: Proposer<StateMachineStore>,
}

impl AdminService {
    pub fn new(proposer: Proposer<StateMachineStore>) -> Self {
        Self { proposer }
    }

    /// Reads the effective membership without holding the metrics lock across an await.
    fn membership<T>(&self, read: impl FnOnce(&Membership<u64, NodeInfo>) -> T) -> T {
        let metrics = self.proposer.raft().metrics();
        let m = metrics.borrow_watched();
        read(m.membership_config.membership())
    }

    /// Membership changes must run on the leader: answer "not leader" with its address.
    fn require_leader(&self) -> Result<(), Status> {
        match self.proposer.route() {
            Ok(None) => Ok(()),
            Ok(leader) => Err(status::forward_error(ForwardError::NotLeader { leader })),
            Err(_) => Err(status::forward_error(ForwardError::NotLeader {
                leader: None,
            })),
        }
    }
}

fn write_error(
    e: RaftError<cairn_raft::TypeConfig, ClientWriteError<cairn_raft::TypeConfig>>,
) -> Status {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            status::forward_error(ForwardError::NotLeader {
                leader: f.leader_node,
            })
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            Status::failed_precondition(e.to_string())
        }
        other => Status::unavailable(other.to_string()),
    }
}

fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let metrics = self.proposer.raft().metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| Member {
                id: *id,
                peer_addr: n.peer_addr.clone(),
                client_addr: n.client_addr.clone(),
                role: if voters.contains(id) {
                    "voter"
                } else {
                    "learner"
                }
                .into(),
            })
            .collect();
        let leader_client_addr = m
            .current_leader
            .and_then(|l| membership.get_node(&l))
            .map(|n| n.client_addr.clone())
            .unwrap_or_default();
        Ok(Response::new(StatusResponse {
            id: m.id,
            state: role_name(m.state).into(),
            term: m.current_term,
            leader_id: m.current_leader,
            leader_client_addr,
            last_log_index: m.last_log_index.unwrap_or(0),
            committed: m.cluster_committed.map(|l| l.index).unwrap_or(0),
            applied: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            purged_index: m.purged.map(|l| l.index).unwrap_or(0),
            members,
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn add_learner(
        &self,
        req: Request<AddLearnerRequest>,
    ) -> Result<Response<AddLearnerResponse>, Status> {
        let r = req.into_inner();
        if r.id == 0 {
            return Err(status::invalid("id must be a positive integer"));
        }
        check_addr(&r.peer_addr).map_err(|e| status::invalid(format!("peer_addr: {e}")))?;
        check_addr(&r.client_addr).map_err(|e| status::invalid(format!("client_addr: {e}")))?;
        self.require_leader()?;
        let node = NodeInfo {
            peer_addr: r.peer_addr,
            client_addr: r.client_addr,
        };
        // Non-blocking: the learner catches up in the background; status shows its progress.
        let resp = self
            .proposer
            .raft()
            .add_learner(r.id, node, false)
            .await
            .map_err(write_error)?;
        Ok(Response::new(AddLearnerResponse {
            revision: resp.log_id.index,
        }))
    }

    async fn change_membership(
        &self,
        req: Request<ChangeMembershipRequest>,
    ) -> Result<Response<ChangeMembershipResponse>, Status> {
        let voters: BTreeSet<u64> = req.into_inner().voters.into_iter().collect();
        if voters.is_empty() {
            return Err(status::invalid("the voter set must not be empty"));
        }
        self.require_leader()?;
        let known: BTreeSet<u64> = self.membership(|m| m.nodes().map(|(id, _)| *id).collect());
        if let Some(unknown) = voters.iter().find(|id| !known.contains(id)) {
            return Err(Status::not_found(format!(
                "node {unknown} is not a member; add it as a learner first"
            )));
        }
        let resp = self
            .proposer
            .raft()
            .change_membership(voters, false)
            .await
            .map_err(write_error)?;
        Ok(Response::new(ChangeMembershipResponse {
            revision: resp.log_id.index,
        }))
    }

    async fn transfer_leader(
        &self,
        req: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        let to = req.into_inner().to;
        self.require_leader()?;
        let is_voter = self.membership(|m| m.voter_ids().any(|v| v == to));
        if !is_voter {
            return Err(Status::not_found(format!("node {to} is not a voter")));
        }
        if to == self.proposer.id() {
            return Ok(Response::new(TransferLeaderResponse {}));
        }
        self.proposer
            .raft()
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(TransferLeaderResponse {}))
    }
}
