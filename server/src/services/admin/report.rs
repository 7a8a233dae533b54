//! This node's status report: its Raft metrics, the leader's view of replication, the
//! membership, and the disk its data directory uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cairn_api::v1::{Member, Replication, StatusResponse};
use cairn_raft::{NodeId, NodeInfo, TypeConfig};
use openraft::{Membership, RaftMetrics, ServerState};

use super::membership::ClusterView;

pub fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// Every member with its addresses and role ("voter" or "learner").
pub fn members(membership: &Membership<NodeId, NodeInfo>) -> Vec<Member> {
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    membership
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
        .collect()
}

/// The status report from a metrics snapshot; `disk_bytes` and `http_addr` come from the
/// caller (they are not Raft state).
pub fn status(m: &RaftMetrics<TypeConfig>, disk_bytes: u64, http_addr: &str) -> StatusResponse {
    let membership = m.membership_config.membership();
    let leader_client_addr = m
        .current_leader
        .and_then(|l| membership.get_node(&l))
        .map(|n| n.client_addr.clone())
        .unwrap_or_default();
    let view = ClusterView::from_metrics(m);
    let replication = if m.state == ServerState::Leader {
        membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| *id != m.id)
            .map(|id| Replication {
                id,
                matched: view.matched.get(&id).copied().unwrap_or(0),
                lag: view.lag(id).unwrap_or(view.last_log_index),
                last_ack_ms: view
                    .ack_age
                    .get(&id)
                    .copied()
                    .flatten()
                    .map(|d| d.as_millis() as u64),
            })
            .collect()
    } else {
        Vec::new()
    };
    StatusResponse {
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
        members: members(membership),
        version: env!("CARGO_PKG_VERSION").into(),
        replication,
        disk_bytes,
        http_addr: http_addr.to_string(),
        membership_changing: view.changing,
        // Filled in by the service, which reads the replicated id.
        cluster_id: 0,
    }
}

/// Bytes of all regular files under `dir` (a missing or unreadable entry counts as 0: the
/// report is informational and must not fail because a snapshot was replaced mid-walk).
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn disk_usage_sums_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("x"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("a/b/y"), [0u8; 32]).unwrap();
        assert_eq!(disk_usage(dir.path()), 42);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }
}
