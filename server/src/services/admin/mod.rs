//! The admin service: node status, membership changes (learner join, promote, remove,
//! replace, full voter set), leadership transfer, snapshots and backups. Changes run on the
//! leader, through openraft's joint consensus, one at a time; elsewhere the answer names the
//! leader. Unsafe changes are refused by the checks in [`membership`].

mod backup;
pub mod membership;
pub(crate) mod report;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use cairn_api::v1::admin_server::Admin;
use cairn_api::v1::{
    AddLearnerRequest, AddLearnerResponse, BackupRequest, ChangeMembershipRequest,
    ChangeMembershipResponse, MembershipResponse, PromoteLearnerRequest, RemoveMemberRequest,
    ReplaceMemberRequest, StatusRequest, StatusResponse, TransferLeaderRequest,
    TransferLeaderResponse, TriggerSnapshotRequest, TriggerSnapshotResponse,
};
use cairn_raft::{ForwardError, NodeId, NodeInfo, Proposer};
use cairn_storage::StateMachineStore;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::rt::WatchReceiver;
use openraft::{ChangeMembers, RaftMetrics};
use tonic::{Request, Response, Status};

use self::membership::{ClusterView, DEFAULT_MAX_LAG, Removal};
use crate::cluster_id::ClusterId;
use crate::config::check_addr;
use crate::error::{Error, Refusal};
use crate::status;
use crate::tls::ClientDialer;

/// How long a transfer may take to show the new leader before the call reports a timeout
/// (the transfer may still complete; status shows it).
const TRANSFER_CONFIRM: Duration = Duration::from_secs(5);

/// Node facts the admin service reports besides Raft state.
#[derive(Debug, Clone, Default)]
pub struct AdminOptions {
    pub data_dir: PathBuf,
    /// The node's HTTP address ("" when it serves none).
    pub http_addr: String,
    /// A member that has not answered the leader for this long counts as unreachable.
    pub reachable_within: Duration,
    /// None in tests that build the service without a store.
    pub cluster_id: Option<ClusterId>,
    /// Connections to other members' client ports (an etcd admin call forwarded to the leader).
    pub dialer: ClientDialer,
}

pub struct AdminService {
    proposer: Proposer<StateMachineStore>,
    opts: AdminOptions,
}

impl AdminService {
    pub fn new(proposer: Proposer<StateMachineStore>, opts: AdminOptions) -> Self {
        Self { proposer, opts }
    }

    /// How this node reaches other members' client ports.
    pub fn dialer(&self) -> &ClientDialer {
        &self.opts.dialer
    }

    fn metrics(&self) -> RaftMetrics<cairn_raft::TypeConfig> {
        self.proposer.raft().metrics().borrow_watched().clone()
    }

    /// Membership changes must run on the leader: answer "not leader" with its address.
    fn require_leader(&self) -> Result<ClusterView, Error> {
        match self.proposer.route() {
            Ok(None) => Ok(ClusterView::from_metrics(&self.metrics())),
            Ok(leader) => Err(ForwardError::NotLeader { leader }.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Proposes `change` (joint consensus when voters change) and reports the result.
    async fn change(
        &self,
        change: ChangeMembers<NodeId, NodeInfo>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let resp = self
            .proposer
            .raft()
            .change_membership(change, false)
            .await
            .map_err(write_error)?;
        let members = self.metrics();
        Ok(Response::new(MembershipResponse {
            revision: resp.log_id.index,
            members: report::members(members.membership_config.membership()),
        }))
    }

    fn max_lag(requested: u64) -> u64 {
        if requested == 0 {
            DEFAULT_MAX_LAG
        } else {
            requested
        }
    }
}

/// openraft's refusal of a membership change, as the same typed refusals the admin checks
/// give (openraft's own checks run after ours and rarely fire).
fn write_error(
    e: RaftError<cairn_raft::TypeConfig, ClientWriteError<cairn_raft::TypeConfig>>,
) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ForwardError::NotLeader {
            leader: f.leader_node,
        }
        .into(),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            Error::Membership(match &e {
                ChangeMembershipError::InProgress(_) => Refusal::ChangeInProgress,
                ChangeMembershipError::LearnerNotFound(_) => Refusal::NotFound(e.to_string()),
                ChangeMembershipError::EmptyMembership(_) => Refusal::LastVoter(e.to_string()),
                _ => Refusal::WrongRole(e.to_string()),
            })
        }
        other => Error::Unavailable(other.to_string()),
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let dir = self.opts.data_dir.clone();
        let disk = tokio::task::spawn_blocking(move || report::disk_usage(&dir))
            .await
            .unwrap_or(0);
        let mut status = report::status(&self.metrics(), disk, &self.opts.http_addr);
        status.cluster_id = self.opts.cluster_id.as_ref().map_or(0, ClusterId::get);
        Ok(Response::new(status))
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
        let view = self.require_leader()?;
        if view.voters.contains(&r.id) {
            return Err(Error::Membership(Refusal::WrongRole(format!(
                "node {} is a voter already",
                r.id
            )))
            .into());
        }
        let node = NodeInfo {
            peer_addr: r.peer_addr,
            client_addr: r.client_addr,
        };
        // Non-blocking: the learner catches up in the background; status shows its progress.
        // Adding a known learner again is a no-op (a joining node retries its request).
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
        let view = self.require_leader()?;
        if !membership::check_set_voters(&view, &voters, self.opts.reachable_within)
            .map_err(Error::Membership)?
        {
            let m = self.metrics();
            return Ok(Response::new(ChangeMembershipResponse {
                revision: m.membership_config.log_id().map_or(0, |l| l.index),
            }));
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
        let view = self.require_leader()?;
        let to = membership::pick_transfer_target(
            &view,
            req.into_inner().to,
            self.opts.reachable_within,
        )
        .map_err(Error::Transfer)?;
        if to == view.me {
            return Ok(Response::new(TransferLeaderResponse { leader_id: to }));
        }
        let raft = self.proposer.raft();
        raft.trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let confirmed = raft
            .wait(Some(TRANSFER_CONFIRM))
            .metrics(|m| m.current_leader == Some(to), "new leader")
            .await;
        match confirmed {
            Ok(_) => Ok(Response::new(TransferLeaderResponse { leader_id: to })),
            Err(_) => Err(Error::Timeout(format!(
                "node {to} did not take over within {TRANSFER_CONFIRM:?}; check status"
            ))
            .into()),
        }
    }

    async fn promote_learner(
        &self,
        req: Request<PromoteLearnerRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let r = req.into_inner();
        let view = self.require_leader()?;
        let needed = membership::check_promote(
            &view,
            r.id,
            Self::max_lag(r.max_lag),
            self.opts.reachable_within,
        )
        .map_err(Error::Membership)?;
        if !needed {
            let m = self.metrics();
            return Ok(Response::new(MembershipResponse {
                revision: m.membership_config.log_id().map_or(0, |l| l.index),
                members: report::members(m.membership_config.membership()),
            }));
        }
        self.change(ChangeMembers::AddVoterIds(BTreeSet::from([r.id])))
            .await
    }

    async fn remove_member(
        &self,
        req: Request<RemoveMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let r = req.into_inner();
        let view = self.require_leader()?;
        let removal = membership::check_remove(&view, r.id, r.force, self.opts.reachable_within)
            .map_err(Error::Membership)?;
        let ids = BTreeSet::from([r.id]);
        // retain=false: a removed voter leaves the cluster instead of staying as a learner.
        let change = match removal {
            Removal::Voter => ChangeMembers::RemoveVoters(ids),
            Removal::Learner => ChangeMembers::RemoveNodes(ids),
        };
        self.change(change).await
    }

    async fn replace_member(
        &self,
        req: Request<ReplaceMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let r = req.into_inner();
        let view = self.require_leader()?;
        let voters = membership::check_replace(
            &view,
            r.old_id,
            r.new_id,
            r.force,
            Self::max_lag(r.max_lag),
            self.opts.reachable_within,
        )
        .map_err(Error::Membership)?;
        // One joint change swaps the voters; retain=false drops the old node entirely.
        self.change(ChangeMembers::ReplaceAllVoters(voters)).await
    }

    async fn trigger_snapshot(
        &self,
        _req: Request<TriggerSnapshotRequest>,
    ) -> Result<Response<TriggerSnapshotResponse>, Status> {
        let snapshot =
            backup::fresh_snapshot(self.proposer.raft(), backup::SNAPSHOT_TIMEOUT).await?;
        let last = snapshot.meta.last_log_id;
        Ok(Response::new(TriggerSnapshotResponse {
            snapshot_index: last.map_or(0, |l| l.index),
            snapshot_term: last.map_or(0, |l| l.leader_id.term),
        }))
    }

    type BackupStream = backup::BackupStream;

    async fn backup(
        &self,
        _req: Request<BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let (snapshot, file) = backup::open_fresh(self.proposer.raft()).await?;
        Ok(Response::new(backup::stream(
            &snapshot,
            file,
            self.proposer.id(),
        )?))
    }
}
