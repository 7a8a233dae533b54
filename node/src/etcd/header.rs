//! The ResponseHeader every etcd reply carries: cluster id, this member's id, the revision the
//! answer reflects and the current Raft term.

use std::sync::Arc;

use cairn_raft::Proposer;
use cairn_storage::StateMachineStore;
use cairn_storage::watch::EventHub;
use etcd_client::proto::PbResponseHeader;
use openraft::rt::WatchReceiver;

/// Builds response headers. Cheap to clone.
#[derive(Clone)]
pub struct Headers {
    cluster_id: u64,
    proposer: Proposer<StateMachineStore>,
    hub: Arc<EventHub>,
}

impl Headers {
    pub fn new(proposer: Proposer<StateMachineStore>, hub: Arc<EventHub>) -> Self {
        let cluster_id = cluster_id(&proposer.raft().config().cluster_name);
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
            cluster_id: self.cluster_id,
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

/// etcd's cluster id, from the Raft cluster name every node is configured with (the same
/// value on every node, stable across restarts and membership changes). Cairn keeps no
/// replicated per-cluster identity, so two Cairn clusters with the same name share the id;
/// etcd clients only display it. FNV-1a 64: stable across Rust releases, unlike std's hasher.
pub fn cluster_id(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// etcd's wire type for revisions, versions and lease ids is int64; Cairn's are u64 that
/// never reach 2^63 in practice (a log index), so saturating is only a guard.
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_fixed_for_a_name() {
        // Pinned: a change would make etcd clients see a different cluster after an upgrade.
        assert_eq!(cluster_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(cluster_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(cluster_id("cairn"), cluster_id("cairn2"));
    }
}
