//! The ResponseHeader every etcd reply carries: cluster id, this member's id, the revision the
//! answer reflects and the current Raft term.

use std::sync::Arc;

use cairn_raft::Proposer;
use cairn_storage::StateMachineStore;
use cairn_storage::watch::EventHub;
use etcd_client::proto::PbResponseHeader;
use openraft::rt::WatchReceiver;

use crate::cluster_id::ClusterId;

/// Builds response headers. Cheap to clone.
#[derive(Clone)]
pub struct Headers {
    cluster_id: ClusterId,
    proposer: Proposer<StateMachineStore>,
    hub: Arc<EventHub>,
}

impl Headers {
    pub fn new(
        proposer: Proposer<StateMachineStore>,
        hub: Arc<EventHub>,
        cluster_id: ClusterId,
    ) -> Self {
        Self {
            cluster_id,
            proposer,
            hub,
        }
    }

    /// A header for an answer that reflects the state at `revision` (a write's own entry).
    pub fn at(&self, revision: u64) -> PbResponseHeader {
        // Read the term without cloning the whole metrics (membership, replication maps).
        let raft_term = self.proposer.raft().metrics().borrow_watched().current_term;
        PbResponseHeader {
            cluster_id: self.cluster_id.get(),
            member_id: self.proposer.id(),
            // Revisions are Raft log indexes: far below i64::MAX in any real log.
            revision: to_i64(revision),
            raft_term,
        }
    }

    /// A header for a read: the last applied revision.
    pub fn current(&self) -> PbResponseHeader {
        self.at(self.hub.current())
    }
}

/// etcd's wire type for revisions, versions and lease ids is int64; Cairn's are u64 that
/// never reach 2^63 in practice (a log index), so saturating is only a guard.
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
