//! The `coord` domain: leases, locks and elections. A lock and an election share one shape
//! (a holder and a FIFO line of waiters); the holder's token or term is the revision that
//! granted it. Everything bound to a lease is released with it, atomically, and a waiter
//! whose turn comes is granted in the same entry. Expiry only happens through a leader's
//! command, checked against command time.

use cairn_model::command::Response;
use cairn_model::coord::command::{MAX_TTL_MS, MIN_TTL_MS};
use cairn_model::coord::{
    Attachment, CoordCommand, CoordError, CoordReply, Fence, Holder, LeaseChoice, LeaseRecord,
    LockRecord,
};
use cairn_model::workflow::names::is_valid_id;

use super::batch::{BatchCtx, TxResult, decode, encode};
use super::lease_store::{detach, lease, lease_key, put_lease};
use super::{claim, kv, ownership};
use crate::keyspace::Space;
use crate::watch::Change;

type Outcome = Result<CoordReply, CoordError>;

/// Locks and elections live in separate spaces but follow the same rules.
#[derive(Clone, Copy)]
enum Kind {
    Lock,
    Election,
}

impl Kind {
    fn space(self) -> Space {
        match self {
            Kind::Lock => Space::Locks,
            Kind::Election => Space::Elections,
        }
    }

    fn attachment(self, name: &str, owner: &str) -> Attachment {
        match self {
            Kind::Lock => Attachment::Lock {
                name: name.to_string(),
                owner: owner.to_string(),
            },
            Kind::Election => Attachment::Election {
                name: name.to_string(),
                candidate: owner.to_string(),
            },
        }
    }
}

fn record(ctx: &BatchCtx<'_>, kind: Kind, name: &str) -> TxResult<LockRecord> {
    match ctx.tx.tree(kind.space()).get(name.as_bytes())? {
        Some(b) => decode(&b),
        None => Ok(LockRecord {
            name: name.to_string(),
            ..LockRecord::default()
        }),
    }
}

fn put_record(ctx: &BatchCtx<'_>, kind: Kind, rec: &LockRecord) -> TxResult<()> {
    let tree = ctx.tx.tree(kind.space());
    let change = if rec.holder.is_none() && rec.waiters.is_empty() {
        tree.remove(rec.name.as_bytes())?;
        let name = rec.name.clone();
        match kind {
            Kind::Lock => Change::LockDelete { name },
            Kind::Election => Change::ElectionDelete { name },
        }
    } else {
        tree.insert(rec.name.as_bytes(), encode(rec)?)?;
        let record = Box::new(rec.clone());
        match kind {
            Kind::Lock => Change::LockPut { record },
            Kind::Election => Change::ElectionPut { record },
        }
    };
    ctx.events.push(change);
    Ok(())
}

fn check_ttl(ttl_ms: u64) -> Result<(), CoordError> {
    if (MIN_TTL_MS..=MAX_TTL_MS).contains(&ttl_ms) {
        Ok(())
    } else {
        Err(CoordError::InvalidTtl {
            ttl_ms,
            min_ms: MIN_TTL_MS,
            max_ms: MAX_TTL_MS,
        })
    }
}

fn new_lease(id: u64, ttl_ms: u64, revision: u64, now_ms: u64) -> LeaseRecord {
    LeaseRecord {
        id,
        ttl_ms,
        expires_ms: now_ms.saturating_add(ttl_ms),
        granted_revision: revision,
        attached: Default::default(),
    }
}

/// The lease a lock or candidacy binds to (not written yet).
fn choose_lease(
    ctx: &BatchCtx<'_>,
    choice: LeaseChoice,
    revision: u64,
    now_ms: u64,
) -> TxResult<Result<LeaseRecord, CoordError>> {
    Ok(match choice {
        LeaseChoice::Existing(id) => lease(ctx, id)?.ok_or(CoordError::UnknownLease(id)),
        LeaseChoice::New { ttl_ms } => {
            check_ttl(ttl_ms).map(|()| new_lease(revision, ttl_ms, revision, now_ms))
        }
    })
}

/// Fence check for a write: the named lock/election must still be held with that token/term.
pub(super) fn check_fence(ctx: &BatchCtx<'_>, fence: &Fence) -> TxResult<Option<CoordError>> {
    let (kind, name, presented) = match fence {
        Fence::Lock { name, token } => (Kind::Lock, name, *token),
        Fence::Election { name, term } => (Kind::Election, name, *term),
        Fence::Owner { workflow_id, epoch } => {
            let current = ownership::current_epoch(ctx, workflow_id)?;
            return Ok((current != *epoch).then(|| CoordError::StaleFence {
                name: workflow_id.clone(),
                presented: *epoch,
                current,
            }));
        }
    };
    let current = record(ctx, kind, name)?.holder.map_or(0, |h| h.token);
    Ok((current != presented).then(|| CoordError::StaleFence {
        name: name.clone(),
        presented,
        current,
    }))
}

pub(super) fn apply(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    cmd: &CoordCommand,
) -> TxResult<Response> {
    let outcome = match cmd {
        CoordCommand::GrantLease { id, ttl_ms } => {
            grant(ctx, id.unwrap_or(revision), *ttl_ms, revision, now_ms)?
        }
        CoordCommand::KeepAlive { id } => keep_alive(ctx, *id, now_ms)?,
        CoordCommand::RevokeLease { id } => match lease(ctx, *id)? {
            Some(l) => {
                end_lease(ctx, &l, revision, now_ms)?;
                Ok(CoordReply::LeasesEnded { ids: vec![*id] })
            }
            None => Err(CoordError::UnknownLease(*id)),
        },
        CoordCommand::ExpireLeases { ids } => {
            let mut ended = Vec::new();
            for id in ids {
                if let Some(l) = lease(ctx, *id)?
                    && l.expires_ms <= now_ms
                {
                    end_lease(ctx, &l, revision, now_ms)?;
                    ended.push(*id);
                }
            }
            Ok(CoordReply::LeasesEnded { ids: ended })
        }
        CoordCommand::RenewLeases { ids } => {
            let mut count = 0;
            for id in ids {
                if let Some(mut l) = lease(ctx, *id)? {
                    l.expires_ms = l.expires_ms.max(now_ms.saturating_add(l.ttl_ms));
                    put_lease(ctx, &l)?;
                    count += 1;
                }
            }
            Ok(CoordReply::LeasesRenewed { count })
        }
        CoordCommand::Acquire {
            name,
            owner,
            lease,
            wait,
        } => take(
            ctx,
            Kind::Lock,
            name,
            owner,
            Vec::new(),
            *lease,
            *wait,
            revision,
            now_ms,
        )?,
        CoordCommand::Release { name, owner, token } => {
            release(ctx, Kind::Lock, name, owner, *token, revision, now_ms)?
        }
        CoordCommand::CancelWait { name, owner } => cancel_wait(ctx, Kind::Lock, name, owner)?,
        CoordCommand::Campaign {
            election,
            candidate,
            value,
            lease,
        } => take(
            ctx,
            Kind::Election,
            election,
            candidate,
            value.clone(),
            *lease,
            true,
            revision,
            now_ms,
        )?,
        // Term 0 is never a leader's (terms are revisions): it withdraws a candidacy still in
        // line, as CancelWait does for a lock.
        CoordCommand::Resign {
            election,
            candidate,
            term: 0,
        } => cancel_wait(ctx, Kind::Election, election, candidate)?,
        CoordCommand::Resign {
            election,
            candidate,
            term,
        } => release(
            ctx,
            Kind::Election,
            election,
            candidate,
            *term,
            revision,
            now_ms,
        )?,
        CoordCommand::Proclaim {
            election,
            candidate,
            term,
            value,
        } => proclaim(ctx, election, candidate, *term, value)?,
    };
    Ok(match outcome {
        Ok(reply) => Response::Coord { revision, reply },
        Err(e) => Response::Rejected(e.into()),
    })
}

fn grant(
    ctx: &BatchCtx<'_>,
    id: u64,
    ttl_ms: u64,
    revision: u64,
    now_ms: u64,
) -> TxResult<Outcome> {
    if let Err(e) = check_ttl(ttl_ms) {
        return Ok(Err(e));
    }
    if lease(ctx, id)?.is_some() {
        return Ok(Err(CoordError::LeaseExists(id)));
    }
    let l = new_lease(id, ttl_ms, revision, now_ms);
    put_lease(ctx, &l)?;
    Ok(Ok(CoordReply::Lease {
        id,
        ttl_ms,
        expires_ms: l.expires_ms,
    }))
}

fn keep_alive(ctx: &BatchCtx<'_>, id: u64, now_ms: u64) -> TxResult<Outcome> {
    let Some(mut l) = lease(ctx, id)? else {
        return Ok(Err(CoordError::UnknownLease(id)));
    };
    l.expires_ms = l.expires_ms.max(now_ms.saturating_add(l.ttl_ms));
    put_lease(ctx, &l)?;
    Ok(Ok(CoordReply::Lease {
        id,
        ttl_ms: l.ttl_ms,
        expires_ms: l.expires_ms,
    }))
}

fn check_names(name: &str, owner: &str) -> Result<(), CoordError> {
    if !is_valid_id(name) {
        return Err(CoordError::InvalidName(name.to_string()));
    }
    if owner.is_empty() || owner.len() > 256 {
        return Err(CoordError::InvalidOwner);
    }
    Ok(())
}

/// Acquire a lock or campaign in an election.
#[allow(clippy::too_many_arguments)]
fn take(
    ctx: &BatchCtx<'_>,
    kind: Kind,
    name: &str,
    owner: &str,
    value: Vec<u8>,
    choice: LeaseChoice,
    wait: bool,
    revision: u64,
    now_ms: u64,
) -> TxResult<Outcome> {
    if let Err(e) = check_names(name, owner) {
        return Ok(Err(e));
    }
    let mut rec = record(ctx, kind, name)?;
    let granted = |h: &Holder| match kind {
        Kind::Lock => CoordReply::Acquired {
            token: h.token,
            lease: h.lease,
        },
        Kind::Election => CoordReply::Elected {
            term: h.token,
            lease: h.lease,
        },
    };
    // Not re-entrant: asking again for what one holds (or waits for) changes nothing and
    // returns the current grant or place in line; one release frees it.
    if let Some(h) = rec.holder.as_ref().filter(|h| h.owner == owner) {
        return Ok(Ok(granted(h)));
    }
    if let Some(i) = rec.waiters.iter().position(|w| w.owner == owner) {
        return Ok(Ok(CoordReply::Queued {
            position: u32::try_from(i + 1).unwrap_or(u32::MAX),
            lease: rec.waiters[i].lease,
        }));
    }
    if let Some(h) = &rec.holder
        && !wait
    {
        return Ok(Ok(CoordReply::Busy { holder: h.clone() }));
    }
    let mut l = match choose_lease(ctx, choice, revision, now_ms)? {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    l.attached.insert(kind.attachment(name, owner));
    put_lease(ctx, &l)?;
    let entry = Holder {
        owner: owner.to_string(),
        lease: l.id,
        token: 0,
        value,
        since_ms: now_ms,
    };
    let reply = if rec.holder.is_none() {
        let holder = Holder {
            token: revision,
            ..entry
        };
        let reply = granted(&holder);
        rec.holder = Some(holder);
        reply
    } else {
        rec.waiters.push(entry);
        CoordReply::Queued {
            position: u32::try_from(rec.waiters.len()).unwrap_or(u32::MAX),
            lease: l.id,
        }
    };
    put_record(ctx, kind, &rec)?;
    Ok(Ok(reply))
}

/// Hands `rec` to its first waiter (granted at `revision`), if any.
fn promote(rec: &mut LockRecord, revision: u64, now_ms: u64) {
    rec.holder = if rec.waiters.is_empty() {
        None
    } else {
        let next = rec.waiters.remove(0);
        Some(Holder {
            token: revision,
            since_ms: now_ms,
            ..next
        })
    };
}

fn release(
    ctx: &BatchCtx<'_>,
    kind: Kind,
    name: &str,
    owner: &str,
    token: u64,
    revision: u64,
    now_ms: u64,
) -> TxResult<Outcome> {
    let mut rec = record(ctx, kind, name)?;
    let holds = rec
        .holder
        .as_ref()
        .is_some_and(|h| h.owner == owner && h.token == token);
    if !holds {
        return Ok(Err(CoordError::NotHolder {
            name: name.to_string(),
            owner: owner.to_string(),
            token,
        }));
    }
    if let Some(h) = &rec.holder {
        detach(ctx, h.lease, &kind.attachment(name, owner))?;
    }
    promote(&mut rec, revision, now_ms);
    put_record(ctx, kind, &rec)?;
    Ok(Ok(CoordReply::Released {
        next: rec.holder.clone(),
    }))
}

fn cancel_wait(ctx: &BatchCtx<'_>, kind: Kind, name: &str, owner: &str) -> TxResult<Outcome> {
    let mut rec = record(ctx, kind, name)?;
    let Some(i) = rec.waiters.iter().position(|w| w.owner == owner) else {
        return Ok(Err(CoordError::NotWaiting {
            name: name.to_string(),
            owner: owner.to_string(),
        }));
    };
    let w = rec.waiters.remove(i);
    detach(ctx, w.lease, &kind.attachment(name, owner))?;
    put_record(ctx, kind, &rec)?;
    Ok(Ok(CoordReply::WaitCancelled))
}

fn proclaim(
    ctx: &BatchCtx<'_>,
    election: &str,
    candidate: &str,
    term: u64,
    value: &[u8],
) -> TxResult<Outcome> {
    let mut rec = record(ctx, Kind::Election, election)?;
    match rec.holder.as_mut() {
        Some(h) if h.owner == candidate && h.token == term => h.value = value.to_vec(),
        _ => {
            return Ok(Err(CoordError::NotHolder {
                name: election.to_string(),
                owner: candidate.to_string(),
                token: term,
            }));
        }
    }
    put_record(ctx, Kind::Election, &rec)?;
    Ok(Ok(CoordReply::Proclaimed { term }))
}

/// Revokes a lease: its waiters leave their lines, what it holds passes to the next in line
/// (granted at this revision), then the lease is gone.
fn end_lease(ctx: &mut BatchCtx<'_>, l: &LeaseRecord, revision: u64, now_ms: u64) -> TxResult<()> {
    for a in &l.attached {
        let (kind, name, owner) = match a {
            Attachment::Lock { name, owner } => (Kind::Lock, name, owner),
            Attachment::Election { name, candidate } => (Kind::Election, name, candidate),
            Attachment::Key { key } => {
                // Only while the key is still this lease's (a later put moved it otherwise,
                // and detached it then).
                if let Some(rec) = kv::load(ctx, key)?
                    && rec.lease == l.id
                {
                    kv::remove(ctx, key, rec, false)?;
                }
                continue;
            }
            Attachment::Task {
                workflow_id,
                task_id,
            } => {
                claim::lose(ctx, workflow_id, task_id, l.id, revision, now_ms)?;
                continue;
            }
            Attachment::Workflow { id } => {
                ownership::orphan(ctx, id, l.id, revision, now_ms)?;
                continue;
            }
        };
        let mut rec = record(ctx, kind, name)?;
        rec.waiters
            .retain(|w| !(w.owner == *owner && w.lease == l.id));
        if rec
            .holder
            .as_ref()
            .is_some_and(|h| h.owner == *owner && h.lease == l.id)
        {
            promote(&mut rec, revision, now_ms);
        }
        put_record(ctx, kind, &rec)?;
    }
    ctx.tx.tree(Space::Leases).remove(&lease_key(l.id)[..])?;
    Ok(())
}
