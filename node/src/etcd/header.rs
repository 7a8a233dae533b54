//! The etcd response header every etcd reply carries: cluster id, this member's id, the
//! revision the reply reflects, and the current Raft term.

use cairn_raft::Proposer;
use cairn_storage::StateMachineStore;
use etcd_client::proto::PbResponseHeader;
use openraft::rt::WatchReceiver;

#[derive(Clone)]
pub struct Headers {
    proposer: Proposer<StateMachineStore>,
    cluster_id: u64,
}

impl Headers {
    pub fn new(proposer: Proposer<StateMachineStore>, cluster_id: u64) -> Self {
        Self {
            proposer,
            cluster_id,
        }
    }

    pub fn at(&self, revision: u64) -> PbResponseHeader {
        PbResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.proposer.id(),
            revision: to_i64(revision),
            raft_term: self.proposer.raft().metrics().borrow_watched().current_term,
        }
    }
}

/// A stable 64-bit id from a cluster name (FNV-1a): equal on every node configured alike.
pub fn cluster_id_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// etcd's wire type for revisions, versions and lease ids is int64; Cairn's are u64 that
/// never reach 2^63 in practice (a log index), so saturating is only a guard.
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
