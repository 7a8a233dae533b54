//! Liveness and readiness, for load balancers and Kubernetes probes, over grpc.health.v1 and
//! plain HTTP (see [`crate::http`]).
//!
//! Live: the Raft core is running (a fatal storage error stops it; the process should then be
//! restarted). Ready: live, a leader is known, and this node has applied (nearly) everything
//! known committed, so its reads are current and its writes can be forwarded.

use cairn_raft::TypeConfig;
use openraft::RaftMetrics;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::raft_handle::CairnRaft;
use crate::raft_watch::RaftWatch;

/// A node this many entries behind in applying is still catching up (a snapshot install or a
/// restart replaying its log); under normal load the gap is a handful of entries.
pub const READY_APPLY_LAG: u64 = 1000;

/// The gRPC service names reported besides the overall "" status.
pub const SERVICES: [&str; 3] = ["cairn.v1.Kv", "cairn.v1.Workflows", "cairn.v1.Admin"];

pub fn liveness(m: &RaftMetrics<TypeConfig>) -> Result<(), String> {
    m.running_state
        .as_ref()
        .map(|_| ())
        .map_err(|e| format!("raft stopped: {e}"))
}

pub fn readiness(m: &RaftMetrics<TypeConfig>) -> Result<(), String> {
    liveness(m)?;
    if m.current_leader.is_none() {
        return Err("no leader known".into());
    }
    let committed = m.cluster_committed.map_or(0, |l| l.index);
    let applied = m.last_applied.map_or(0, |l| l.index);
    if committed > applied + READY_APPLY_LAG {
        return Err(format!(
            "catching up: applied {applied}, committed {committed}"
        ));
    }
    Ok(())
}

/// Keeps the grpc.health.v1 statuses in step with [`readiness`] until `stop` turns true.
pub fn spawn_grpc_health(
    raft: CairnRaft,
    reporter: HealthReporter,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut watch = RaftWatch::sampled(&raft);
        let mut last = None;
        loop {
            let ready = readiness(&watch.metrics()).is_ok();
            if last != Some(ready) {
                let status = if ready {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                reporter.set_service_status("", status).await;
                for name in SERVICES {
                    reporter.set_service_status(name, status).await;
                }
                last = Some(ready);
            }
            tokio::select! {
                running = watch.next() => if !running { break },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        // Stopping: tell load balancers before the listener goes away.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use openraft::testing::log_id;

    #[test]
    fn ready_needs_a_leader_and_applied_near_committed() {
        let mut m = RaftMetrics::<TypeConfig>::new_initial(1);
        assert!(liveness(&m).is_ok());
        assert!(readiness(&m).unwrap_err().contains("no leader"));
        m.current_leader = Some(2);
        m.cluster_committed = Some(log_id::<TypeConfig>(1, 2, 5000));
        m.last_applied = Some(log_id::<TypeConfig>(1, 2, 10));
        assert!(readiness(&m).unwrap_err().contains("catching up"));
        m.last_applied = Some(log_id::<TypeConfig>(1, 2, 4990));
        assert!(readiness(&m).is_ok());
    }
}
