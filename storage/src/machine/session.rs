//! Client sessions (Raft thesis §6.3): one record per client id holding the replies of its
//! requests that may still be retried, so a retry gets its first answer instead of applying
//! twice.
//!
//! A reply is forgotten once the client reports (in `first_incomplete`) that it has it, or
//! when more than [`MAX_REPLIES`] are outstanding; a retry of a forgotten sequence is refused
//! as stale, never applied again. A client silent for the dedup window loses its session,
//! through the `SessionExpiry` index on command time, so every replica deletes the same
//! records at the same log index. State is O(clients), not O(requests): one sled write per
//! request, and snapshots do not grow with the request rate.

use cairn_model::command::{CommandError, Response, Session};

use super::batch::{BatchCtx, MachineConfig, TxResult, abort, decode, encode};
use super::session_cache::{Cached, ClientSession};
use crate::error::StorageError;
use crate::keyspace::{self, Space, Trees, meta_key};

/// Most expired sessions deleted by one command, bounding the work (and transaction size) a
/// single entry can cause after a long idle period; the rest go with the next commands.
const MAX_PRUNE_PER_COMMAND: usize = 1024;

/// Most replies kept per client. A client has at most this many writes in flight unless it
/// stops reporting `first_incomplete`; past it the oldest reply is dropped (and a retry of it
/// is refused as stale).
pub(crate) const MAX_REPLIES: usize = 1024;

/// What the session says about a request.
pub(super) enum Seen {
    /// A retry of an applied request: answer this, write nothing.
    Replay(Response),
    /// A retry of a request whose reply was forgotten.
    Stale(Response),
    /// A new request; record its reply afterwards.
    New,
}

fn bucket(config: MachineConfig, time_ms: u64) -> u64 {
    time_ms / config.prune_interval_ms.max(1)
}

fn cached<'c>(ctx: &'c mut BatchCtx<'_>, client_id: &str) -> TxResult<&'c mut Cached> {
    if !ctx.sessions.entries.contains_key(client_id) {
        let stored = ctx.tx.tree(Space::Sessions).get(client_id.as_bytes())?;
        let entry = match stored {
            Some(bytes) => {
                let session: ClientSession = decode(&bytes)?;
                Cached {
                    stored_bucket: Some(bucket(ctx.config, session.last_seen_ms)),
                    session,
                    dirty: false,
                }
            }
            None => Cached {
                session: ClientSession::default(),
                stored_bucket: None,
                dirty: false,
            },
        };
        ctx.sessions.entries.insert(client_id.to_string(), entry);
    }
    match ctx.sessions.entries.get_mut(client_id) {
        Some(c) => Ok(c),
        None => abort(StorageError::Internal("session cache lost an entry".into())),
    }
}

pub(super) fn check(ctx: &mut BatchCtx<'_>, s: &Session) -> TxResult<Seen> {
    let session = &cached(ctx, &s.client_id)?.session;
    if let Ok(i) = session
        .replies
        .binary_search_by_key(&s.sequence, |(q, _)| *q)
    {
        return Ok(Seen::Replay(session.replies[i].1.clone()));
    }
    if s.sequence < session.floor {
        return Ok(Seen::Stale(Response::Rejected(
            CommandError::StaleSequence {
                sequence: s.sequence,
                floor: session.floor,
            },
        )));
    }
    Ok(Seen::New)
}

/// Records `response` as the reply to `s`, dropping replies the client no longer needs.
pub(super) fn record(
    ctx: &mut BatchCtx<'_>,
    s: &Session,
    now_ms: u64,
    response: &Response,
) -> TxResult<()> {
    let entry = cached(ctx, &s.client_id)?;
    entry.dirty = true;
    let session = &mut entry.session;
    // Never past this request's own sequence: its reply must survive its own retries.
    session.floor = session.floor.max(s.first_incomplete.min(s.sequence));
    let floor = session.floor;
    session.replies.retain(|(q, _)| *q >= floor);
    let at = session.replies.partition_point(|(q, _)| *q < s.sequence);
    session.replies.insert(at, (s.sequence, response.clone()));
    while session.replies.len() > MAX_REPLIES {
        let (dropped, _) = session.replies.remove(0);
        session.floor = dropped + 1;
    }
    session.last_seen_ms = now_ms;
    Ok(())
}

/// Writes the run's changed sessions (and moves their expiry keys). Call once, last, in the
/// run's transaction.
pub(crate) fn flush(ctx: &mut BatchCtx<'_>) -> TxResult<()> {
    let entries = std::mem::take(&mut ctx.sessions.entries);
    for (client_id, c) in entries.into_iter().filter(|(_, c)| c.dirty) {
        let new_bucket = bucket(ctx.config, c.session.last_seen_ms);
        if c.stored_bucket != Some(new_bucket) {
            let expiry = ctx.tx.tree(Space::SessionExpiry);
            if let Some(old) = c.stored_bucket {
                expiry.remove(keyspace::expiry_key(old, &client_id))?;
            }
            expiry.insert(keyspace::expiry_key(new_bucket, &client_id), &[][..])?;
        }
        ctx.tx
            .tree(Space::Sessions)
            .insert(client_id.as_bytes(), encode(&c.session)?)?;
    }
    Ok(())
}

fn read_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    keyspace::decode_u64(bytes, "session prune clock")
}

fn is_due(config: MachineConfig, pruned_at: u64, now_ms: u64) -> bool {
    now_ms >= pruned_at.saturating_add(config.prune_interval_ms)
}

/// Whether a request at `now_ms` prunes, seen from inside the transaction.
pub(super) fn prune_due(ctx: &BatchCtx<'_>, now_ms: u64) -> TxResult<bool> {
    let pruned_at = match ctx.tx.tree(Space::Meta).get(meta_key::SESSION_PRUNED_AT)? {
        Some(bytes) => read_u64(&bytes).or_else(abort)?,
        None => 0,
    };
    Ok(is_due(ctx.config, pruned_at, now_ms))
}

/// Outside the transaction, on committed state: the expiry keys a request at `now_ms`
/// would prune, or `None` if no prune is due. A session expires once its whole last-seen
/// bucket lies before `now - window` (so up to one prune interval after the window).
pub(super) fn prescan(
    trees: &Trees,
    config: MachineConfig,
    now_ms: u64,
) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
    let pruned_at = match trees.get(Space::Meta).get(meta_key::SESSION_PRUNED_AT)? {
        Some(bytes) => read_u64(&bytes)?,
        None => 0,
    };
    if !is_due(config, pruned_at, now_ms) {
        return Ok(None);
    }
    let cutoff = bucket(config, now_ms.saturating_sub(config.dedup_window_ms)).to_be_bytes();
    let keys = trees
        .get(Space::SessionExpiry)
        .range(..&cutoff[..])
        .keys()
        .take(MAX_PRUNE_PER_COMMAND)
        .map(|k| k.map(|k| k.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(keys))
}

/// Delete sessions idle past the window, at most once per prune interval of command time
/// (the last prune time is replicated state, so replicas agree on when it runs).
pub(super) fn prune_expired(ctx: &mut BatchCtx<'_>, now_ms: u64) -> TxResult<()> {
    if !prune_due(ctx, now_ms)? {
        return Ok(());
    }
    // Only the first entry of a run may prune (see `BatchCtx`), and it has the prescan.
    let Some(victims) = ctx.prescanned.take() else {
        return abort(StorageError::Internal(
            "dedup prune due without a prescan".into(),
        ));
    };
    for expiry in &victims {
        ctx.tx
            .tree(Space::SessionExpiry)
            .remove(expiry.as_slice())?;
        if let Some(client_id) = keyspace::client_of_expiry(expiry) {
            ctx.tx.tree(Space::Sessions).remove(client_id)?;
        }
    }
    // After a capped prune, leave the clock alone so the next command continues the backlog.
    if victims.len() < MAX_PRUNE_PER_COMMAND {
        ctx.tx
            .tree(Space::Meta)
            .insert(meta_key::SESSION_PRUNED_AT, &now_ms.to_be_bytes()[..])?;
    }
    Ok(())
}
