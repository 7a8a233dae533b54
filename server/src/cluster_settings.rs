//! Settings apply depends on are replicated state, never a node's flags: the workflow record
//! limits (`--max-metadata-bytes`, `--max-labels`; merged metadata and labels are checked at
//! apply) and the space quota (`--quota-backend-bytes`, at which members raise NOSPACE). Two
//! nodes started with different flags would otherwise apply the same entry differently. The
//! leader proposes its own configured values (`Command::SetRecordLimits`,
//! `Command::SetQuota`) whenever the replicated ones differ, so every replica applies whatever
//! the leader at that point in the log had; until the first proposal applies, the defaults
//! (no quota) hold. Give every node the same flags; a node whose flags differ changes the
//! cluster's settings when it leads (and says so in its log).

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

/// This node's configured values of the replicated settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub record_limits: RecordLimits,
    /// 0: no quota.
    pub quota_backend_bytes: u64,
}

pub fn spawn(
    configured: Settings,
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
            for command in differing(&configured, &reader) {
                let req = Request::from_node(command);
                if let Err(e) = proposer.write_local(req).await {
                    tracing::debug!(error = %e, "settings proposal failed; will retry");
                }
            }
        }
    })
}

/// The commands that would bring the replicated settings to `configured`.
fn differing(configured: &Settings, reader: &KvReader) -> Vec<Command> {
    let mut out = Vec::new();
    match reader.record_limits() {
        Ok(r) if r == Some(configured.record_limits) => {}
        Ok(r) => {
            if r.is_some() {
                tracing::warn!(
                    replicated = ?r,
                    configured = ?configured.record_limits,
                    "this leader's record limits differ from the cluster's; setting its own \
                     (give every node the same --max-metadata-bytes and --max-labels)"
                );
            }
            out.push(Command::SetRecordLimits(configured.record_limits));
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the replicated record limits"),
    }
    match reader.quota() {
        Ok(q) if q == configured.quota_backend_bytes => {}
        Ok(q) => {
            tracing::info!(
                replicated = q,
                configured = configured.quota_backend_bytes,
                "setting the cluster's space quota to this leader's --quota-backend-bytes"
            );
            out.push(Command::SetQuota {
                backend_bytes: configured.quota_backend_bytes,
            });
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the replicated quota"),
    }
    out
}
