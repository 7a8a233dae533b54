//! Replacing a dead voter the way an operator does with Cairn: a new node id joins as a
//! learner (`cairn serve --join`), catches up, and takes the dead voter's place through the
//! admin ReplaceMember call (`cairn ctl member replace OLD NEW`), which the leader refuses
//! while the learner lags or another change is in flight; so it is retried until the
//! membership says it is done. The voter replaced may be dead (a replacement) or running (a
//! rotation, which stops it once it is out).

use std::time::Duration;

use cairn_api::v1::admin_client::AdminClient;
use cairn_api::v1::{Member, ReplaceMemberRequest};

use crate::{Cluster, Deadline};

/// How long a learner may take to catch up (a snapshot install, or a long log, on 2 cores).
const CATCH_UP: Duration = Duration::from_secs(60);
/// How long the swap may take once the learner has caught up.
const SWAP: Duration = Duration::from_secs(30);

/// Waits until learner `id` has applied what the leader had applied when this began.
pub async fn catch_up(cluster: &Cluster, id: u64) -> anyhow::Result<()> {
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let applied = cluster.status(leader).await?.applied;
    cluster.wait_applied(id, applied, CATCH_UP).await
}

/// Swaps voter `old` for learner `new` on whoever leads, until the leader's committed
/// membership has `new` as a voter and no `old`.
pub async fn swap(cluster: &Cluster, old: u64, new: u64) -> anyhow::Result<()> {
    let deadline = Deadline::after(SWAP);
    let mut last = String::new();
    loop {
        match attempt(cluster, old, new).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e,
        }
        anyhow::ensure!(
            !deadline.passed(),
            "voter {old} not replaced by {new} within {SWAP:?}; last answer: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One try: Ok(true) when the swap is done (by this call or an earlier one whose answer was
/// lost), Ok(false) when it is still in flight.
async fn attempt(cluster: &Cluster, old: u64, new: u64) -> Result<bool, String> {
    // A voter rotated out while it runs never hears of the leader after it (it is no longer
    // sent anything), so once the swap commits, only the others agree on one.
    let others: Vec<u64> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != old && n.is_running())
        .map(|n| n.id)
        .collect();
    let leader = match cluster.leader(Duration::from_secs(5)).await {
        Ok(l) => l,
        Err(_) => cluster
            .leader_among(&others, Duration::from_secs(5))
            .await
            .map_err(|e| format!("{e:#}"))?,
    };
    let status = cluster.status(leader).await.map_err(|e| format!("{e:#}"))?;
    if swapped(&status.members, old, new) {
        return Ok(!status.membership_changing);
    }
    let addr = format!("http://{}", cluster.node(leader).client_addr);
    let mut admin = AdminClient::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut req = tonic::Request::new(ReplaceMemberRequest {
        old_id: old,
        new_id: new,
        force: false,
        max_lag: 0,
    });
    req.set_timeout(Duration::from_secs(10));
    admin
        .replace_member(req)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    // Accepted: the next try confirms from the leader's status that it committed.
    Ok(false)
}

fn swapped(members: &[Member], old: u64, new: u64) -> bool {
    members.iter().all(|m| m.id != old) && members.iter().any(|m| m.id == new && m.role == "voter")
}
