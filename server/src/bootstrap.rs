//! A node's first start as an initial member, and the record of members' data directories.
//!
//! An initial member with no Raft state used to initialise the cluster at once. A member whose
//! data directory was lost (a wiped volume) then came back as a fresh voter: it had forgotten
//! its log and the votes it gave, so with a committed entry on {A, B}, B wiped and A down, the
//! lagging C could be elected with B's vote and the entry lost. Now every data directory has
//! an incarnation (`cairn_storage::incarnation`), the leader records each member's
//! ([`spawn_recorder`], `Command::RecordIncarnation`), and a node with no Raft state first
//! asks the other listed members ([`bootstrap`]):
//! - one records this node under another incarnation: it was a member and lost its data, so
//!   it refuses to start, saying how to replace it;
//! - one belongs to a cluster that has not recorded this node: a first start that is late,
//!   so it waits for the leader to replicate to it (no initialisation of its own);
//! - a quorum of the list (itself included) is new too: a new cluster, initialised as before;
//! - otherwise it keeps asking (members down or still starting).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use cairn_model::{Command, Request};
use cairn_raft::probe::ProbeReply;
use cairn_raft::{NodeInfo, Proposer};
use cairn_storage::{KvReader, StateMachineStore};
use openraft::error::{InitializeError, RaftError};
use openraft::rt::WatchReceiver;
use tokio::sync::watch;

use crate::config::NodeConfig;
use crate::leader_tick::{Ticker, leads};
use crate::raft_handle::CairnRaft;

/// Between rounds of asking the other members.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How often a node still waiting says so.
const WAITING_LOG_EVERY: Duration = Duration::from_secs(5);

/// What the answers of one round decide.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A member records this node under another incarnation.
    LostData {
        member: u64,
        recorded: u64,
    },
    /// A member of an existing cluster does not know this node yet.
    JoinExisting,
    /// A quorum is new: initialise.
    Initialize,
    Wait,
}

/// Decides from the answers of the other members (`None`: no answer) and the size of the list.
pub(crate) fn decide(mine: u64, answers: &[(u64, Option<ProbeReply>)], members: usize) -> Decision {
    for (member, reply) in answers {
        if let Some(r) = reply
            && let Some(recorded) = r.recorded_for_caller
            && recorded != mine
        {
            return Decision::LostData {
                member: *member,
                recorded,
            };
        }
    }
    if answers
        .iter()
        .any(|(_, r)| r.as_ref().is_some_and(|r| r.initialized))
    {
        return Decision::JoinExisting;
    }
    let fresh = 1 + answers.iter().filter(|(_, r)| r.is_some()).count();
    if fresh > members / 2 {
        Decision::Initialize
    } else {
        Decision::Wait
    }
}

/// First start of an initial member (see the module doc). A node that already has Raft
/// state, or is not in the list, does nothing here.
pub(crate) async fn bootstrap(
    raft: &CairnRaft,
    proposer: &Proposer<StateMachineStore>,
    cfg: &NodeConfig,
    incarnation: u64,
) -> anyhow::Result<()> {
    if !cfg.members.iter().any(|(id, _)| *id == cfg.id) || raft.is_initialized().await? {
        return Ok(());
    }
    let others: Vec<(u64, NodeInfo)> = cfg
        .members
        .iter()
        .filter(|(id, _)| *id != cfg.id)
        .cloned()
        .collect();
    let mut said = Instant::now();
    loop {
        let answers = futures::future::join_all(others.iter().map(|(id, info)| async move {
            (*id, proposer.probe(*id, &info.peer_addr).await.ok())
        }))
        .await;
        match decide(incarnation, &answers, cfg.members.len()) {
            Decision::LostData { member, recorded } => anyhow::bail!(
                "node {id} was a member of this cluster with another data directory (node \
                 {member} records incarnation {recorded:016x}; {dir} is {incarnation:016x}): it \
                 lost its log and the votes it gave, and must not vote under the same id again. \
                 Replace it: `cairn ctl member remove {id}`, then start it with a new --id and \
                 --join (or restore its old directory)",
                id = cfg.id,
                dir = cfg.data_dir.display(),
            ),
            Decision::JoinExisting => {
                tracing::info!(id = cfg.id, "the cluster exists; waiting for its leader");
                return Ok(());
            }
            Decision::Initialize => return initialize(raft, cfg).await,
            Decision::Wait => {
                if said.elapsed() >= WAITING_LOG_EVERY {
                    said = Instant::now();
                    let heard = answers.iter().filter(|(_, r)| r.is_some()).count();
                    tracing::warn!(
                        id = cfg.id,
                        heard,
                        members = cfg.members.len(),
                        "waiting for a quorum of the initial members before starting a new cluster"
                    );
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
        }
    }
}

async fn initialize(raft: &CairnRaft, cfg: &NodeConfig) -> anyhow::Result<()> {
    let members: BTreeMap<u64, NodeInfo> = cfg.members.iter().cloned().collect();
    match raft.initialize(members).await {
        Ok(()) => tracing::info!(id = cfg.id, "bootstrapped a new cluster"),
        // Another initial member got there first; its log wins.
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
        Err(e) => return Err(e).context("initialize cluster"),
    }
    Ok(())
}

/// While this node leads: record the incarnation of every member that has none recorded
/// (its own directly, the others' by asking them).
pub(crate) fn spawn_recorder(
    incarnation: u64,
    reader: KvReader,
    proposer: Proposer<StateMachineStore>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut ticker = Ticker::new(Duration::from_secs(1), stop);
    tokio::spawn(async move {
        while ticker.next().await {
            if !leads(&proposer) {
                continue;
            }
            let members: Vec<(u64, NodeInfo)> = {
                let metrics = proposer.raft().metrics();
                let m = metrics.borrow_watched();
                m.membership_config
                    .nodes()
                    .map(|(id, n)| (*id, n.clone()))
                    .collect()
            };
            for (id, node) in members {
                if reader.incarnation_of(id).ok().flatten().is_some() {
                    continue;
                }
                let found = if id == proposer.id() {
                    Some(incarnation)
                } else {
                    proposer
                        .probe(id, &node.peer_addr)
                        .await
                        .ok()
                        .map(|r| r.incarnation)
                        .filter(|i| *i != 0)
                };
                let Some(found) = found else { continue };
                let command = Command::RecordIncarnation {
                    node: id,
                    incarnation: found,
                };
                if let Err(e) = proposer.write_local(Request::from_node(command)).await {
                    tracing::debug!(node = id, error = %e, "incarnation record failed; will retry");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(initialized: bool, recorded: Option<u64>) -> Option<ProbeReply> {
        Some(ProbeReply {
            incarnation: 99,
            initialized,
            recorded_for_caller: recorded,
        })
    }

    #[test]
    fn a_wiped_member_refuses_and_new_or_late_members_start() {
        use Decision::*;
        // Wiped: a member records this id under another incarnation.
        assert_eq!(
            decide(5, &[(1, reply(true, Some(4))), (2, None)], 3),
            LostData {
                member: 1,
                recorded: 4
            }
        );
        // A restart before its first Raft write: its own incarnation is fine.
        assert_eq!(decide(5, &[(1, reply(true, Some(5)))], 3), JoinExisting);
        // Late first start: the cluster exists and does not know it.
        assert_eq!(
            decide(5, &[(1, reply(true, None)), (2, None)], 3),
            JoinExisting
        );
        // A new cluster: a quorum (itself included) is new.
        assert_eq!(
            decide(5, &[(1, reply(false, None)), (2, None)], 3),
            Initialize
        );
        assert_eq!(decide(5, &[], 1), Initialize);
        // Nobody answers: wait (it may be the wiped one, with the others down).
        assert_eq!(decide(5, &[(1, None), (2, None)], 3), Wait);
        assert_eq!(
            decide(
                5,
                &[(1, reply(false, None)), (2, None), (3, None), (4, None)],
                5
            ),
            Wait
        );
    }
}
