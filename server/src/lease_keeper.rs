//! The leader's lease keeper. Leases end only through commands the leader proposes, stamped
//! with its clock: when this node becomes leader it first catches up with everything
//! committed before its term and gives every live lease a full TTL from now (RenewLeases), and
//! only once that has committed does it start proposing ExpireLeases for the leases due by its
//! clock. A failover therefore never ends a lease early: the time without a leader, and any
//! difference between the old and new leader's clocks, is forgiven. The machine re-checks
//! every expiry against the command's time, so a stale scan never ends a renewed lease.

use std::sync::Arc;
use std::time::Duration;

use cairn_model::coord::{CoordCommand, CoordReply};
use cairn_model::{Command, Request, Response};
use cairn_raft::{Proposer, now_ms};
use cairn_storage::watch::EventHub;
use cairn_storage::{CoordReader, StateMachineStore};
use openraft::rt::WatchReceiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::leader_tick::Ticker;

/// How often the keeper looks at leadership and at due leases: the delay between a lease
/// falling due and its end, at most (plus one commit).
const TICK: Duration = Duration::from_millis(100);
/// Lease ids per renew/expire command: bounds one log entry and one apply transaction.
const BATCH: usize = 1000;

/// Starts the keeper; it ends when `stop` turns true.
pub fn spawn(
    proposer: Proposer<StateMachineStore>,
    reader: CoordReader,
    hub: Arc<EventHub>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut ticker = Ticker::new(TICK, stop);
    tokio::spawn(async move {
        let mut keeper = Keeper {
            proposer,
            reader,
            hub,
            renewed_in: None,
            scan: None,
        };
        while ticker.next().await {
            keeper.tick().await;
        }
    })
}

struct Keeper {
    proposer: Proposer<StateMachineStore>,
    reader: CoordReader,
    hub: Arc<EventHub>,
    /// The term in which this node, as leader, renewed every lease.
    renewed_in: Option<u64>,
    /// (applied revision, earliest expiry) of the last scan that found nothing due: until
    /// either moves, there is nothing to scan for.
    scan: Option<(u64, u64)>,
}

impl Keeper {
    /// The current term if this node leads.
    fn leading_term(&self) -> Option<u64> {
        let metrics = self.proposer.raft().metrics();
        let m = metrics.borrow_watched();
        (m.current_leader == Some(self.proposer.id())).then_some(m.current_term)
    }

    async fn tick(&mut self) {
        let Some(term) = self.leading_term() else {
            self.renewed_in = None;
            return;
        };
        if self.renewed_in != Some(term) {
            match self.take_over().await {
                Ok(renewed) => {
                    tracing::info!(
                        term,
                        renewed,
                        "lease keeper: renewed every lease as new leader"
                    );
                    self.renewed_in = Some(term);
                    self.scan = None;
                }
                // Lost leadership or no quorum yet: the next tick tries again (or stands down).
                Err(e) => tracing::debug!(term, "lease keeper: renewal not applied: {e}"),
            }
            return;
        }
        if let Err(e) = self.expire_due().await {
            tracing::debug!("lease keeper: expiry not applied: {e}");
        }
    }

    async fn propose(&self, command: CoordCommand) -> Result<CoordReply, String> {
        let req = Request::from_node(Command::Coord(command));
        match self.proposer.write_local(req).await {
            Ok(Response::Coord { reply, .. }) => Ok(reply),
            Ok(other) => Err(format!("unexpected reply {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Catches up with everything committed before this term (the read index covers the
    /// term's first entry), then renews every lease it now sees. A lease granted after the
    /// scan was granted by this leader, so it is fresh anyway.
    async fn take_over(&self) -> Result<u64, String> {
        self.proposer.linearize().await.map_err(|e| e.to_string())?;
        let ids: Vec<u64> = self
            .reader
            .leases()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|l| l.id)
            .collect();
        let mut renewed = 0;
        for chunk in ids.chunks(BATCH) {
            match self
                .propose(CoordCommand::RenewLeases {
                    ids: chunk.to_vec(),
                })
                .await?
            {
                CoordReply::LeasesRenewed { count } => renewed += count,
                other => return Err(format!("unexpected reply {other:?}")),
            }
        }
        Ok(renewed)
    }

    async fn expire_due(&mut self) -> Result<(), String> {
        let now = now_ms();
        let applied = self.hub.current();
        if let Some((rev, earliest)) = self.scan
            && rev == applied
            && now < earliest
        {
            return Ok(());
        }
        let leases = self.reader.leases().map_err(|e| e.to_string())?;
        let due: Vec<u64> = leases
            .iter()
            .filter(|l| l.expires_ms <= now)
            .map(|l| l.id)
            .collect();
        if due.is_empty() {
            let earliest = leases
                .iter()
                .map(|l| l.expires_ms)
                .min()
                .unwrap_or(u64::MAX);
            self.scan = Some((applied, earliest));
            return Ok(());
        }
        self.scan = None;
        for chunk in due.chunks(BATCH) {
            match self
                .propose(CoordCommand::ExpireLeases {
                    ids: chunk.to_vec(),
                })
                .await?
            {
                CoordReply::LeasesEnded { ids } if !ids.is_empty() => {
                    metrics::counter!("cairn_leases_expired_total").increment(ids.len() as u64);
                    tracing::debug!(expired = ids.len(), "lease keeper: expired leases");
                }
                CoordReply::LeasesEnded { .. } => {}
                other => return Err(format!("unexpected reply {other:?}")),
            }
        }
        Ok(())
    }
}
