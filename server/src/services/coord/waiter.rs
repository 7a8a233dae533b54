//! The wait behind a blocking lock Acquire or a Campaign. The first proposal puts the caller in
//! line; this node then re-reads the lock (or election) on every batch its state machine
//! applies until the caller holds it, so a grant is answered as soon as it is applied here.
//!
//! - A lease this call created (a TTL instead of a lease id) is known to nobody else yet, so
//!   the node keeps it alive while the caller waits. A caller's own lease is never renewed
//!   here: a stalled client must lose what its lease holds, even mid-call.
//! - At the wait timeout the caller leaves the line (CancelWait, or Resign with term 0), and
//!   the answer is DEADLINE_EXCEEDED / `wait_timeout`, unless the grant won the race.
//! - If the call goes away (client gone or cancelled), the node leaves the line for it in the
//!   background, so nobody is granted a lock its caller no longer waits for. A grant that was
//!   applied just before that is kept until its lease ends.

use std::time::Duration;

use cairn_api::meta::{self, kind};
use cairn_model::coord::{CoordCommand, CoordError, CoordReply, Holder, LeaseChoice, LockRecord};
use tokio::time::Instant;
use tonic::Status;

use super::Coord;
use crate::error::Error;
use crate::status;

/// How often a caller that fell out of line (its lease ended, or a cancel from an earlier
/// attempt of the same call overtook it) is put back in before the call fails.
const MAX_REJOINS: u32 = 3;
/// Background attempts to leave the line for a call that went away.
const CANCEL_ATTEMPTS: u32 = 10;
const CANCEL_RETRY: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Lock,
    Election,
}

/// One caller asking for a lock or a leadership.
#[derive(Debug, Clone)]
pub(super) struct Ask {
    pub kind: Kind,
    pub name: String,
    pub owner: String,
    /// The candidate's value (elections).
    pub value: Vec<u8>,
    pub choice: LeaseChoice,
}

/// The caller holds it: token (or term) and the lease it is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grant {
    pub token: u64,
    pub lease: u64,
}

/// The first answer to an ask.
pub(super) enum Asked {
    Granted(Grant),
    /// In line, bound to `lease`, as of `revision`.
    Queued {
        lease: u64,
        revision: u64,
    },
    /// Held by someone else (try-once acquire).
    Busy {
        holder: Holder,
        revision: u64,
    },
}

impl Ask {
    fn command(&self, wait: bool) -> CoordCommand {
        match self.kind {
            Kind::Lock => CoordCommand::Acquire {
                name: self.name.clone(),
                owner: self.owner.clone(),
                lease: self.choice,
                wait,
            },
            Kind::Election => CoordCommand::Campaign {
                election: self.name.clone(),
                candidate: self.owner.clone(),
                value: self.value.clone(),
                lease: self.choice,
            },
        }
    }

    fn leave_command(&self) -> CoordCommand {
        match self.kind {
            Kind::Lock => CoordCommand::CancelWait {
                name: self.name.clone(),
                owner: self.owner.clone(),
            },
            // Term 0 withdraws a candidacy still in line.
            Kind::Election => CoordCommand::Resign {
                election: self.name.clone(),
                candidate: self.owner.clone(),
                term: 0,
            },
        }
    }
}

/// Where the caller stands in a lock or election record.
enum Standing {
    Holds(Grant),
    Waits { lease: u64 },
    Gone,
}

fn standing(rec: Option<LockRecord>, owner: &str) -> Standing {
    let Some(rec) = rec else {
        return Standing::Gone;
    };
    if let Some(h) = rec.holder.filter(|h| h.owner == owner) {
        return Standing::Holds(Grant {
            token: h.token,
            lease: h.lease,
        });
    }
    match rec.waiters.iter().find(|w| w.owner == owner) {
        Some(w) => Standing::Waits { lease: w.lease },
        None => Standing::Gone,
    }
}

pub(super) fn wait_timeout() -> Status {
    Error::WaitTimeout.into()
}

fn is_not_waiting(s: &Status) -> bool {
    s.metadata()
        .get(meta::ERROR_KIND)
        .is_some_and(|k| k == kind::NOT_WAITING)
}

/// Leaves the line for a call that went away, in the background, unless disarmed.
struct LeaveOnDrop {
    armed: Option<(Coord, Ask)>,
}

impl LeaveOnDrop {
    fn disarm(&mut self) {
        self.armed = None;
    }
}

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        let Some((coord, ask)) = self.armed.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            for _ in 0..CANCEL_ATTEMPTS {
                match coord.propose(None, None, ask.leave_command()).await {
                    Ok(_) => return,
                    // A definite answer from the machine (not waiting any more): done.
                    Err(s) if s.metadata().get(meta::ERROR_KIND).is_some() => return,
                    Err(s) => {
                        tracing::debug!(name = %ask.name, owner = %ask.owner, "leaving the line: {}", s.message());
                        tokio::time::sleep(CANCEL_RETRY).await;
                    }
                }
            }
            tracing::warn!(name = %ask.name, owner = %ask.owner, "could not leave the line; the lease will end it");
        });
    }
}

impl Coord {
    fn record(&self, ask: &Ask) -> Result<Option<LockRecord>, Status> {
        match ask.kind {
            Kind::Lock => self.read(|r| r.lock(&ask.name)),
            Kind::Election => self.read(|r| r.election(&ask.name)),
        }
    }

    /// Proposes the ask (with the caller's idempotency header on the first attempt).
    pub(super) async fn ask(
        &self,
        header: Option<cairn_api::v1::RequestHeader>,
        ask: &Ask,
        wait: bool,
    ) -> Result<Asked, Status> {
        let (revision, reply) = self.propose(header, None, ask.command(wait)).await?;
        Ok(match reply {
            CoordReply::Acquired { token, lease } | CoordReply::Elected { term: token, lease } => {
                Asked::Granted(Grant { token, lease })
            }
            CoordReply::Queued { lease, .. } => Asked::Queued { lease, revision },
            CoordReply::Busy { holder } => Asked::Busy { holder, revision },
            other => {
                return Err(status::internal(format!(
                    "unexpected reply to {}: {other:?}",
                    ask.command(wait).name()
                )));
            }
        })
    }

    /// Waits until `ask.owner` holds it, after the ask was queued at `revision` bound to
    /// `lease`; gives up (leaving the line) at `deadline`.
    pub(super) async fn wait_for_grant(
        &self,
        ask: &Ask,
        mut lease: u64,
        mut revision: u64,
        deadline: Instant,
    ) -> Result<Grant, Status> {
        let mut guard = LeaveOnDrop {
            armed: Some((self.clone(), ask.clone())),
        };
        let renew_every = match ask.choice {
            LeaseChoice::New { ttl_ms } => Some(Duration::from_millis((ttl_ms / 3).max(50))),
            LeaseChoice::Existing(_) => None,
        };
        let mut next_renewal = renew_every.map(|d| Instant::now() + d);
        let mut applied = self.hub.subscribe();
        let mut rejoins = 0;
        loop {
            // Judge only a state that includes the ask itself.
            if *applied.borrow_and_update() >= revision {
                match standing(self.record(ask)?, &ask.owner) {
                    Standing::Holds(grant) => {
                        guard.disarm();
                        return Ok(grant);
                    }
                    Standing::Waits { lease: l } => lease = l,
                    Standing::Gone if rejoins < MAX_REJOINS => {
                        rejoins += 1;
                        match self.ask(None, ask, true).await? {
                            Asked::Granted(grant) => {
                                guard.disarm();
                                return Ok(grant);
                            }
                            Asked::Queued {
                                lease: l,
                                revision: r,
                            } => (lease, revision) = (l, r),
                            Asked::Busy { .. } => {
                                return Err(status::internal("busy while waiting"));
                            }
                        }
                        continue;
                    }
                    Standing::Gone => {
                        guard.disarm();
                        return Err(status::coord_error(CoordError::NotWaiting {
                            name: ask.name.clone(),
                            owner: ask.owner.clone(),
                        }));
                    }
                }
            }
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return Err(Error::Unavailable("node is stopping".into()).into());
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return self.give_up(ask, guard).await;
                }
                _ = tokio::time::sleep_until(next_renewal.unwrap_or(deadline)), if next_renewal.is_some() => {
                    let renew = CoordCommand::KeepAlive { id: lease };
                    if let Err(s) = self.propose(None, None, renew).await {
                        tracing::debug!(lease, "renewing a waiter's lease: {}", s.message());
                    }
                    next_renewal = renew_every.map(|d| Instant::now() + d);
                }
            }
        }
    }

    /// The wait timed out: leave the line, unless the grant came first.
    async fn give_up(&self, ask: &Ask, mut guard: LeaveOnDrop) -> Result<Grant, Status> {
        match self.propose(None, None, ask.leave_command()).await {
            Ok(_) => {
                guard.disarm();
                Err(wait_timeout())
            }
            Err(s) if is_not_waiting(&s) => {
                guard.disarm();
                // Granted meanwhile (or out of line for another reason): look at the latest.
                self.gateway.before_read(false).await?;
                match standing(self.record(ask)?, &ask.owner) {
                    Standing::Holds(grant) => Ok(grant),
                    _ => Err(wait_timeout()),
                }
            }
            // Still in line as far as we know: the guard leaves it in the background, and the
            // caller gets a final answer instead of retrying into another full wait.
            Err(s) => {
                tracing::debug!(name = %ask.name, "leaving the line at timeout: {}", s.message());
                Err(wait_timeout())
            }
        }
    }
}
