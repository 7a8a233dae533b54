//! Raft metrics: a task that follows openraft's metrics watch, and openraft's
//! [`MetricsRecorder`] hooks for the counters the watch cannot show (proposals, batch sizes).

use std::collections::BTreeSet;
use std::sync::Arc;

use cairn_raft::{NodeId, TypeConfig};
use metrics::{counter, gauge, histogram};
use openraft::metrics::MetricsRecorder;
use openraft::{RaftMetrics, ServerState};
use tokio::sync::watch;

use crate::raft_handle::CairnRaft;
use crate::raft_watch::RaftWatch;

/// What the previous metrics update showed, to count changes.
#[derive(Default)]
struct Seen {
    leader: Option<NodeId>,
    snapshot: Option<u64>,
    peers: BTreeSet<NodeId>,
}

fn update(m: &RaftMetrics<TypeConfig>, seen: &mut Seen) {
    gauge!("cairn_raft_term").set(m.current_term as f64);
    let leading = m.state == ServerState::Leader;
    gauge!("cairn_raft_is_leader").set(if leading { 1.0 } else { 0.0 });
    let state = match m.state {
        ServerState::Learner => 0.0,
        ServerState::Follower => 1.0,
        ServerState::Candidate => 2.0,
        ServerState::Leader => 3.0,
        ServerState::Shutdown => 4.0,
    };
    gauge!("cairn_raft_state").set(state);
    if m.current_leader != seen.leader {
        if m.current_leader.is_some() {
            counter!("cairn_raft_leader_changes_total").increment(1);
        }
        seen.leader = m.current_leader;
    }
    let last = m.last_log_index.unwrap_or(0);
    gauge!("cairn_raft_last_log_index").set(last as f64);
    let committed = m.cluster_committed.map_or(0, |l| l.index);
    gauge!("cairn_raft_commit_index").set(committed as f64);
    let applied = m.last_applied.map(|l| l.index);
    gauge!("cairn_raft_applied_index").set(applied.unwrap_or(0) as f64);
    let snapshot = m.snapshot.map(|l| l.index);
    gauge!("cairn_raft_snapshot_index").set(snapshot.unwrap_or(0) as f64);
    if snapshot > seen.snapshot && seen.snapshot.is_some() {
        // An install moves applied and the snapshot together past what was applied before;
        // a local build covers entries applied already.
        if applied == snapshot && m.state != ServerState::Leader && m.replication.is_none() {
            counter!("cairn_raft_snapshot_installs_total").increment(1);
        } else {
            counter!("cairn_raft_snapshot_builds_total").increment(1);
        }
    }
    if seen.snapshot.is_none() || snapshot > seen.snapshot {
        seen.snapshot = snapshot.or(Some(0));
    }

    let mut peers = BTreeSet::new();
    if let Some(replication) = &m.replication {
        for (id, matched) in replication {
            if *id == m.id {
                continue;
            }
            let matched = matched.map_or(0, |l| l.index);
            gauge!("cairn_raft_replication_lag_entries", "peer" => id.to_string())
                .set(last.saturating_sub(matched) as f64);
            peers.insert(*id);
        }
    }
    // A peer we no longer replicate to (stepped down, or removed) reads 0, not a stale lag.
    for gone in seen.peers.difference(&peers) {
        gauge!("cairn_raft_replication_lag_entries", "peer" => gone.to_string()).set(0.0);
    }
    seen.peers = peers;
}

/// Follows the metrics watch until `stop`; also installs the [`Recorder`].
pub fn spawn(raft: CairnRaft, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = raft.set_metrics_recorder(Some(Arc::new(Recorder))).await {
            tracing::warn!(error = %e, "could not install the raft metrics recorder");
        }
        let mut watch = RaftWatch::sampled(&raft);
        let mut seen = Seen::default();
        loop {
            update(&watch.metrics(), &mut seen);
            tokio::select! {
                running = watch.next() => if !running { break },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    })
}

/// openraft's recorder hooks; gauges come from the watch above, so those are no-ops here.
#[derive(Debug)]
struct Recorder;

impl MetricsRecorder for Recorder {
    fn record_apply_batch(&self, entry_count: u64) {
        histogram!("cairn_raft_apply_batch_entries").record(entry_count as f64);
    }

    fn record_append_batch(&self, entry_count: u64) {
        histogram!("cairn_raft_append_batch_entries").record(entry_count as f64);
    }

    fn record_write_batch(&self, entry_count: u64) {
        counter!("cairn_raft_proposals_total").increment(entry_count);
    }

    fn set_current_term(&self, _term: u64) {}
    fn set_last_log_index(&self, _index: u64) {}
    fn set_committed_index(&self, _index: u64) {}
    fn set_applied_index(&self, _index: u64) {}
    fn set_snapshot_index(&self, _index: u64) {}
    fn set_purged_index(&self, _index: u64) {}
    fn set_server_state(&self, _state: u8) {}
    fn increment_vote(&self) {}
    fn increment_heartbeat(&self) {}
    fn increment_append(&self) {}
}
