//! The workflow record limits apply enforces (merged metadata size, labels) are replicated
//! state, never a node's flags: two nodes started with different `--max-metadata-bytes`
//! would otherwise apply the same entry differently. The leader proposes its own configured
//! limits (`Command::SetRecordLimits`) whenever the replicated ones differ, so every replica
//! applies whatever the leader at that point in the log had; until the first proposal
//! applies, the defaults hold. Set the same flags on every node; a node whose flags differ
//! changes the cluster's limits when it leads (and says so in its log).

use std::time::Duration;

use cairn_model::workflow::limits::RecordLimits;
use cairn_model::{Command, Request};
use cairn_raft::Proposer;
use cairn_storage::{KvReader, StateMachineStore};
use tokio::sync::watch;

use crate::leader_tick::{Ticker, leads};

/// How often the leader compares: short, so a new cluster (or a new leader with other flags)
/// converges right after an election.
const PERIOD: Duration = Duration::from_millis(200);

pub fn spawn(
    configured: RecordLimits,
    reader: KvReader,
    proposer: Proposer<StateMachineStore>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut ticker = Ticker::new(PERIOD, stop);
    tokio::spawn(async move {
        while ticker.next().await {
            if !leads(&proposer) {
                continue;
            }
            let replicated = match reader.record_limits() {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the replicated record limits");
                    continue;
                }
            };
            if replicated == Some(configured) {
                continue;
            }
            if replicated.is_some() {
                tracing::warn!(
                    ?replicated,
                    ?configured,
                    "this leader's record limits differ from the cluster's; setting its own \
                     (give every node the same --max-metadata-bytes and --max-labels)"
                );
            }
            let req = Request {
                session: None,
                time_ms: 0,
                fence: None,
                auth: None,
                command: Command::SetRecordLimits(configured),
            };
            if let Err(e) = proposer.write_local(req).await {
                tracing::debug!(error = %e, "record limits proposal failed; will retry");
            }
        }
    })
}
