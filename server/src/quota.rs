//! Every member watches its own data directory: once it is larger than the cluster's quota
//! (`Command::SetQuota`, replicated) and this member has no NOSPACE alarm standing, it raises
//! one through the log (`Command::Alarm`), as an etcd member does. From then on the machine
//! refuses writes that can grow the state on every replica, so the cluster stops growing
//! before disks fill, while reads, deletes and compaction go on. The alarm stays until an
//! operator disarms it (`etcdctl alarm disarm`, `cairn ctl alarm disarm`); a member still over
//! the quota then raises it again.
//!
//! The same alarm rises when the file system holding the data directory has less free space
//! than `--min-free-disk-bytes`: a quota sized for the disk cannot see other files filling
//! it, and a disk that fills under a write makes the Raft log fail its append, which stops
//! the node (all replicas of a cluster at about the same time, since they take the same
//! writes) and again at every restart.

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

/// Why this member should raise NOSPACE, if it should: its data directory over `quota`
/// (0: none), or less than `min_free` bytes (0: never) left on its file system.
fn over(used: u64, quota: u64, free: Option<u64>, min_free: u64) -> Option<String> {
    if quota > 0 && used > quota {
        return Some(format!(
            "data directory {used} bytes, over the {quota} byte quota"
        ));
    }
    match free {
        Some(free) if min_free > 0 && free < min_free => Some(format!(
            "{free} bytes free on the data directory's file system, under the \
             {min_free} byte minimum"
        )),
        _ => None,
    }
}

pub fn spawn(
    data_dir: PathBuf,
    min_free: u64,
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
            if (quota == 0 && min_free == 0) || reader.alarms().is_ok_and(|a| a.contains(&alarm)) {
                continue;
            }
            let dir = data_dir.clone();
            let Ok((used, free)) = tokio::task::spawn_blocking(move || {
                (disk_usage(&dir), fs2::available_space(&dir).ok())
            })
            .await
            else {
                continue;
            };
            let Some(why) = over(used, quota, free, min_free) else {
                continue;
            };
            tracing::warn!(
                "{why}: raising NOSPACE (writes that grow the state are refused until it is \
                 disarmed)"
            );
            let req = Request::from_node(Command::Alarm(AlarmCommand::Activate(alarm)));
            if let Err(e) = proposer.write(req).await {
                tracing::debug!(error = %e, "NOSPACE alarm proposal failed; will retry");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::over;

    #[test]
    fn raises_over_the_quota_or_under_the_free_space_minimum() {
        assert_eq!(over(10, 0, Some(100), 0), None, "both off");
        assert!(over(11, 10, Some(100), 0).is_some(), "over the quota");
        assert_eq!(
            over(10, 10, Some(100), 50),
            None,
            "at the quota, room to spare"
        );
        assert!(over(1, 0, Some(49), 50).is_some(), "under the free minimum");
        assert_eq!(over(1, 0, None, 50), None, "free space unknown");
    }
}
