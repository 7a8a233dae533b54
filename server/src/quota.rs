//! Every member watches its own data directory: once it is larger than the cluster's quota
//! (`Command::SetQuota`, replicated) and this member has no NOSPACE alarm standing, it raises
//! one through the log (`Command::Alarm`), as an etcd member does. From then on the machine
//! refuses writes that can grow the state on every replica, so the cluster stops growing
//! before disks fill, while reads, deletes and compaction go on. The alarm stays until an
//! operator disarms it (`etcdctl alarm disarm`, `cairn ctl alarm disarm`); a member still over
//! the quota then raises it again.

use std::path::PathBuf;
use std::time::Duration;

use cairn_model::alarm::{Alarm, AlarmCommand, AlarmKind};
use cairn_model::{Command, Request};
use cairn_raft::Proposer;
use cairn_storage::{KvReader, StateMachineStore};
use tokio::sync::watch;

use crate::leader_tick::Ticker;
use crate::services::admin::report::disk_usage;

/// How often a member measures its data directory.
const PERIOD: Duration = Duration::from_secs(1);

pub fn spawn(
    data_dir: PathBuf,
    reader: KvReader,
    proposer: Proposer<StateMachineStore>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut ticker = Ticker::new(PERIOD, stop);
    let alarm = Alarm {
        member: proposer.id(),
        kind: AlarmKind::NoSpace,
    };
    tokio::spawn(async move {
        while ticker.next().await {
            let Ok(quota) = reader.quota() else { continue };
            if quota == 0 {
                continue;
            }
            let dir = data_dir.clone();
            let Ok(used) = tokio::task::spawn_blocking(move || disk_usage(&dir)).await else {
                continue;
            };
            if used <= quota || reader.alarms().is_ok_and(|a| a.contains(&alarm)) {
                continue;
            }
            tracing::warn!(
                used,
                quota,
                "data directory over the space quota: raising NOSPACE (writes that grow the \
                 state are refused until it is disarmed)"
            );
            let req = Request::from_node(Command::Alarm(AlarmCommand::Activate(alarm)));
            if let Err(e) = proposer.write(req).await {
                tracing::debug!(error = %e, "NOSPACE alarm proposal failed; will retry");
            }
        }
    })
}
