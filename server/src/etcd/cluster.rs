//! etcd's Cluster service over Cairn membership: MemberList from the Raft membership, and
//! MemberRemove/MemberPromote through the admin service's checks (a removal that would lose
//! quorum, or promoting a learner that has not caught up, is refused as etcd refuses it).
//! MemberAdd and MemberUpdate have no Cairn counterpart: a Cairn node joins by itself with its
//! own id and addresses, and addresses cannot change in place.

use std::sync::Arc;

use cairn_api::v1::admin_server::Admin;
use cairn_api::v1::{MembershipResponse, PromoteLearnerRequest, RemoveMemberRequest};
use cairn_raft::{NodeId, NodeInfo, Proposer};
use cairn_storage::StateMachineStore;
use etcd_client::proto::{
    PbClusterService, PbMember, PbMemberAddRequest, PbMemberAddResponse, PbMemberListRequest,
    PbMemberListResponse, PbMemberPromoteRequest, PbMemberPromoteResponse, PbMemberRemoveRequest,
    PbMemberRemoveResponse, PbMemberUpdateRequest, PbMemberUpdateResponse,
};
use openraft::rt::WatchReceiver;
use tonic::{Request, Response};

use super::admin_route::on_leader;
use super::header::Headers;
use super::reply::{Reply, unsupported};
use crate::error::EtcdError;
use crate::services::admin::AdminService;
use crate::status::{self, EtcdCall};

pub struct ClusterService {
    proposer: Proposer<StateMachineStore>,
    admin: Arc<AdminService>,
    headers: Headers,
    schemes: UrlSchemes,
}

/// The URL schemes of member addresses: etcd clients that sync endpoints from the member list
/// (etcdctl `--cluster`, clientv3 auto-sync) dial these, so they must say where TLS is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlSchemes {
    pub client_tls: bool,
    pub peer_tls: bool,
}

impl UrlSchemes {
    fn client(&self, addr: &str) -> String {
        url(self.client_tls, addr)
    }

    fn peer(&self, addr: &str) -> String {
        url(self.peer_tls, addr)
    }
}

impl ClusterService {
    pub fn new(
        proposer: Proposer<StateMachineStore>,
        admin: Arc<AdminService>,
        headers: Headers,
        schemes: UrlSchemes,
    ) -> Self {
        Self {
            proposer,
            admin,
            headers,
            schemes,
        }
    }

    /// Every member as etcd describes it, from this node's view of the membership.
    fn members(&self) -> Vec<PbMember> {
        let metrics = self.proposer.raft().metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| member(*id, node, !voters.contains(id), self.schemes))
            .collect()
    }

    /// Whether `id` is a voter (false: a learner) in this node's view; None if not a member.
    fn is_voter(&self, id: NodeId) -> Option<bool> {
        let metrics = self.proposer.raft().metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        membership.get_node(&id)?;
        Some(membership.voter_ids().any(|v| v == id))
    }
}

/// A member in etcd's shape. Cairn members have no names; etcdctl shows a member without a
/// name as "unstarted", so each gets `node-<id>`.
fn member(id: NodeId, node: &NodeInfo, is_learner: bool, schemes: UrlSchemes) -> PbMember {
    PbMember {
        id,
        name: format!("node-{id}"),
        peer_ur_ls: vec![schemes.peer(&node.peer_addr)],
        client_ur_ls: vec![schemes.client(&node.client_addr)],
        is_learner,
    }
}

/// The members a change answered with: the leader's membership right after the change (this
/// node, a follower maybe, may not have applied it yet).
fn members_after(resp: MembershipResponse, schemes: UrlSchemes) -> Vec<PbMember> {
    resp.members
        .into_iter()
        .map(|m| {
            let node = NodeInfo {
                peer_addr: m.peer_addr,
                client_addr: m.client_addr,
            };
            member(m.id, &node, m.role != "voter", schemes)
        })
        .collect()
}

/// Cairn addresses are `host:port`; the scheme says whether the port speaks TLS.
fn url(tls: bool, addr: &str) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

#[tonic::async_trait]
impl PbClusterService for ClusterService {
    async fn member_add(&self, _req: Request<PbMemberAddRequest>) -> Reply<PbMemberAddResponse> {
        unsupported(
            "MemberAdd",
            "a Cairn node joins by itself: start it with `cairn serve --id <id> --join \
             <member client address>` (it becomes a learner), then promote it with \
             MemberPromote (`etcdctl member promote <id>`)",
        )
    }

    async fn member_remove(
        &self,
        req: Request<PbMemberRemoveRequest>,
    ) -> Reply<PbMemberRemoveResponse> {
        let id = req.into_inner().id;
        let request = RemoveMemberRequest { id, force: false };
        let resp = on_leader(
            &self.admin,
            |a| async move { a.remove_member(Request::new(request)).await },
            |mut c| async move { c.remove_member(request).await },
        )
        .await
        .map_err(|s| status::etcd_status(s, EtcdCall::Membership))?;
        Ok(Response::new(PbMemberRemoveResponse {
            header: Some(self.headers.at(resp.revision)),
            members: members_after(resp, self.schemes),
        }))
    }

    async fn member_update(
        &self,
        _req: Request<PbMemberUpdateRequest>,
    ) -> Reply<PbMemberUpdateResponse> {
        unsupported(
            "MemberUpdate",
            "a member's addresses cannot change in place; start a node with the new \
             addresses and replace the old one (`cairn ctl member replace`)",
        )
    }

    async fn member_list(&self, req: Request<PbMemberListRequest>) -> Reply<PbMemberListResponse> {
        // A linearizable list first confirms this node's view is current (etcd 3.5's flag).
        if req.into_inner().linearizable {
            self.proposer
                .linearize()
                .await
                .map_err(|e| status::etcd(e.into(), EtcdCall::Membership))?;
        }
        Ok(Response::new(PbMemberListResponse {
            header: Some(self.headers.current()),
            members: self.members(),
        }))
    }

    async fn member_promote(
        &self,
        req: Request<PbMemberPromoteRequest>,
    ) -> Reply<PbMemberPromoteResponse> {
        let id = req.into_inner().id;
        // Cairn treats promoting a voter as done; etcd refuses it, and clients rely on that.
        match self.is_voter(id) {
            Some(true) => {
                return Err(status::etcd(
                    EtcdError::MemberNotLearner.into(),
                    EtcdCall::Membership,
                ));
            }
            Some(false) => {}
            None => {
                return Err(status::etcd(
                    EtcdError::MemberNotFound.into(),
                    EtcdCall::Membership,
                ));
            }
        }
        // max_lag 0: the admin service's default bound on how far behind a learner may be.
        let request = PromoteLearnerRequest { id, max_lag: 0 };
        let resp = on_leader(
            &self.admin,
            |a| async move { a.promote_learner(Request::new(request)).await },
            |mut c| async move { c.promote_learner(request).await },
        )
        .await
        .map_err(|s| status::etcd_status(s, EtcdCall::Membership))?;
        Ok(Response::new(PbMemberPromoteResponse {
            header: Some(self.headers.at(resp.revision)),
            members: members_after(resp, self.schemes),
        }))
    }
}
