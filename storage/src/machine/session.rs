//! Client sessions (Raft thesis §6.3): the reply of each `(client_id, sequence)` is kept for
//! the dedup window so a retried request gets its first answer instead of applying twice.
//! Expiry runs on command time through the `SessionExpiry` index, so every replica deletes
//! exactly the same records at the same log index.

use cairn_raft::command::{Response, Session};
use serde::{Deserialize, Serialize};

use super::{BatchCtx, MachineConfig, TxResult, decode, encode};
use crate::error::StorageError;
use crate::keyspace::{self, Space, Trees, meta_key};

/// Most dedup records deleted by one command, bounding the work (and transaction size) a
/// single entry can cause after a long idle period; the rest go with the next commands.
const MAX_PRUNE_PER_COMMAND: usize = 1024;

#[derive(Serialize)]
struct RecordRef<'a> {
    time_ms: u64,
    response: &'a Response,
}

/// Decoding side of `RecordRef` (postcard is positional, so the time must be read past; it
/// is kept for operators, expiry itself goes through the index).
#[derive(Deserialize)]
struct Record {
    _time_ms: u64,
    response: Response,
}

pub(super) fn key(session: &Session) -> Vec<u8> {
    keyspace::session_key(&session.client_id, session.sequence)
}

pub(super) fn lookup(ctx: &BatchCtx<'_>, key: &[u8]) -> TxResult<Option<Response>> {
    match ctx.tx.tree(Space::Sessions).get(key)? {
        Some(bytes) => Ok(Some(decode::<Record>(&bytes)?.response)),
        None => Ok(None),
    }
}

pub(super) fn record(
    ctx: &mut BatchCtx<'_>,
    key: Vec<u8>,
    time_ms: u64,
    response: &Response,
) -> TxResult<()> {
    let value = encode(&RecordRef { time_ms, response })?;
    let expiry = keyspace::expiry_key(time_ms, &key);
    ctx.tx.tree(Space::Sessions).insert(key, value)?;
    ctx.tx.tree(Space::SessionExpiry).insert(expiry, &[][..])?;
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
        Some(bytes) => read_u64(&bytes).or_else(super::abort)?,
        None => 0,
    };
    Ok(is_due(ctx.config, pruned_at, now_ms))
}

/// Outside the transaction, on committed state: the expiry keys a request at `now_ms`
/// would prune, or `None` if no prune is due.
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
    let cutoff = now_ms.saturating_sub(config.dedup_window_ms).to_be_bytes();
    let keys = trees
        .get(Space::SessionExpiry)
        .range(..&cutoff[..])
        .keys()
        .take(MAX_PRUNE_PER_COMMAND)
        .map(|k| k.map(|k| k.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(keys))
}

/// Delete dedup records older than the window, at most once per prune interval of command
/// time (the last prune time is replicated state, so replicas agree on when it runs).
pub(super) fn prune_expired(ctx: &mut BatchCtx<'_>, now_ms: u64) -> TxResult<()> {
    if !prune_due(ctx, now_ms)? {
        return Ok(());
    }
    // Only the first entry of a run may prune (see `BatchCtx`), and it has the prescan.
    let Some(victims) = ctx.prescanned.take() else {
        return super::abort(StorageError::Internal(
            "dedup prune due without a prescan".into(),
        ));
    };
    for expiry in &victims {
        ctx.tx
            .tree(Space::SessionExpiry)
            .remove(expiry.as_slice())?;
        if let Some(session) = keyspace::session_key_of_expiry(expiry) {
            ctx.tx.tree(Space::Sessions).remove(session)?;
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
