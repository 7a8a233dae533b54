//! Samples every member's status (learners included) a few times a second for the Raft
//! invariant checker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_api::v1::StatusRequest;
use cairn_api::v1::admin_client::AdminClient;

use super::check::raft::Sample;
use super::history::Recorder;
use super::roster::Roster;

async fn status(addr: &str) -> Option<cairn_api::v1::StatusResponse> {
    let connect = AdminClient::connect(format!("http://{addr}"));
    let mut c = tokio::time::timeout(Duration::from_millis(500), connect)
        .await
        .ok()?
        .ok()?;
    let mut req = tonic::Request::new(StatusRequest {});
    req.set_timeout(Duration::from_millis(500));
    Some(c.status(req).await.ok()?.into_inner())
}

/// Polls the roster's members every 250 ms until `stop`.
pub async fn run(
    roster: Arc<Roster>,
    rec: Arc<Recorder>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        for (id, addr, before) in roster.sampled() {
            let Some(s) = status(&addr).await else {
                continue;
            };
            // A restart during the call: the answer may come from either process.
            if roster.epoch(id) != Some(before) {
                continue;
            }
            samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Sample {
                    t: rec.now(),
                    node: id,
                    epoch: before,
                    term: s.term,
                    leader: s.state == "leader",
                    leader_id: s.leader_id.unwrap_or(0),
                    committed: s.committed,
                    applied: s.applied,
                });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
