//! The deterministic apply: turns one committed entry into writes inside the batch's sled
//! transaction plus a typed `Response`. A pure function of (state, entry): no clock, no
//! randomness, no I/O outside the state machine's own trees. One file per domain; this module
//! dispatches commands to them and owns the per-batch context.

mod checkpoint;
mod coord;
mod kv;
mod session;
mod task;
mod txn;
mod workflow;
mod workflow_store;

pub(crate) use checkpoint::CheckpointDir;

use cairn_model::codec;
use cairn_model::command::{Command, Request, Response};
use cairn_model::workflow::limits::RecordLimits;
use cairn_raft::types::Entry;
use openraft::EntryPayload;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::ConflictableTransactionError;

use crate::error::StorageError;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::keyspace::{Space, Trees, Tx, meta_key};
use crate::kv_keys::KvKeys;
use crate::watch::EventSink;
use crate::workflow_index::IndexOp;

pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<StorageError>>;

fn abort<T>(e: impl Into<StorageError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e.into()))
}

/// The record under `key` in `space`, decoded, as this transaction sees it.
fn get<T: DeserializeOwned>(ctx: &BatchCtx<'_>, space: Space, key: &[u8]) -> TxResult<Option<T>> {
    match ctx.tx.tree(space).get(key)? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> TxResult<Vec<u8>> {
    codec::encode(value).or_else(abort)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> TxResult<T> {
    codec::decode(bytes).or_else(abort)
}

/// Apply parameters. They shape replicated state, so every node must use the same values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MachineConfig {
    pub(crate) dedup_window_ms: u64,
    pub(crate) prune_interval_ms: u64,
    pub(crate) record_limits: RecordLimits,
}

/// One attempt at applying a run of entries in one transaction (sled may re-run the
/// transaction closure on conflict, so this is rebuilt per attempt).
///
/// sled transactions cannot range-scan (and a plain tree scan inside one deadlocks on sled's
/// global concurrency lock), but pruning expired dedup records needs a scan. So the caller
/// scans before the transaction ([`prescan_expired`]) for the run's first entry only, and
/// ends the run before any later entry that would prune ([`prune_due`]); that entry starts
/// the next run. A prune is due at most once per prune interval of command time, so runs
/// are rarely cut, and the outcome is the same however entries are grouped.
pub(crate) struct BatchCtx<'a> {
    pub(crate) tx: Tx<'a>,
    /// The committed key set, for range operations (see `kv_keys`).
    kv_keys: &'a KvKeys,
    /// Keys this run wrote (true) or removed (false), laid over `kv_keys` and applied to it
    /// once the transaction commits.
    pub(crate) kv_written: RefCell<BTreeMap<Vec<u8>, bool>>,
    /// Set by a `Compact` command: every node drops watch history up to it after commit.
    pub(crate) compact_to: Cell<Option<u64>>,
    config: MachineConfig,
    /// Expired expiry-index keys, valid for the run's first entry only.
    prescanned: Option<Vec<Vec<u8>>>,
    /// Changes to the in-memory workflow index, applied once the transaction commits.
    pub(crate) index_ops: Vec<IndexOp>,
    /// Watch events of the run, published once the transaction commits.
    pub(crate) events: EventSink,
    /// Client sessions the run touched, written back by [`finish_run`].
    sessions: session::SessionCache,
    /// Workflow definitions decoded in this run, by name then version (looked up by `&str`,
    /// so a hit allocates nothing).
    definitions: std::collections::HashMap<
        String,
        std::collections::HashMap<u32, std::sync::Arc<cairn_model::workflow::Definition>>,
    >,
}

impl<'a> BatchCtx<'a> {
    pub(crate) fn new(
        tx: Tx<'a>,
        kv_keys: &'a KvKeys,
        config: MachineConfig,
        prescanned: Option<Vec<Vec<u8>>>,
    ) -> Self {
        Self {
            tx,
            kv_keys,
            kv_written: RefCell::default(),
            compact_to: Cell::default(),
            config,
            prescanned,
            index_ops: Vec::new(),
            events: EventSink::default(),
            sessions: session::SessionCache::default(),
            definitions: std::collections::HashMap::new(),
        }
    }
}

/// Writes what the run kept in memory (client sessions). Call once, after its last entry.
pub(crate) fn finish_run(ctx: &mut BatchCtx<'_>) -> TxResult<()> {
    session::flush(ctx)
}

/// Whether applying `entry` on top of the transaction's current state would prune.
pub(crate) fn prune_due(ctx: &BatchCtx<'_>, entry: &Entry, now_ms: u64) -> TxResult<bool> {
    match &entry.payload {
        EntryPayload::Normal(_) => session::prune_due(ctx, now_ms),
        _ => Ok(false),
    }
}

/// The machine time at each entry: the running max of command times, starting from the
/// clock committed before `entries` (see `meta_key::CLOCK`). Independent of batching.
pub(crate) fn entry_times(clock: u64, entries: &[Entry]) -> Vec<u64> {
    let mut now = clock;
    entries
        .iter()
        .map(|e| {
            if let EntryPayload::Normal(req) = &e.payload {
                now = now.max(req.time_ms);
            }
            now
        })
        .collect()
}

/// Outside any transaction: if applying `entry` on the committed state prunes, the expired
/// keys it will delete.
pub(crate) fn prescan_expired(
    trees: &Trees,
    config: MachineConfig,
    entry: &Entry,
    now_ms: u64,
) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
    match &entry.payload {
        EntryPayload::Normal(_) => session::prescan(trees, config, now_ms),
        _ => Ok(None),
    }
}

/// Apply one entry. The entry's log index is its revision.
pub(crate) fn apply_entry(
    ctx: &mut BatchCtx<'_>,
    entry: &Entry,
    now_ms: u64,
) -> TxResult<Response> {
    let revision = entry.log_id.index();
    ctx.events.begin(revision);
    match &entry.payload {
        EntryPayload::Normal(req) => apply_request(ctx, revision, req, now_ms),
        EntryPayload::Blank | EntryPayload::Membership(_) => Ok(Response::Empty { revision }),
    }
}

fn apply_request(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    req: &Request,
    now_ms: u64,
) -> TxResult<Response> {
    session::prune_expired(ctx, now_ms)?;

    let mut client = None;
    if let Some(s) = &req.session {
        match session::check(ctx, s)? {
            // A retry: answer as the first time (or refuse a forgotten one), write nothing.
            session::Seen::Replay(first) | session::Seen::Stale(first) => return Ok(first),
            session::Seen::New => client = Some(s),
        }
    }

    let stale = match &req.fence {
        Some(fence) => coord::check_fence(ctx, fence)?,
        None => None,
    };
    let response = if let Some(e) = stale {
        // The sender no longer holds its lock (or leads its election): refuse the write.
        Response::Rejected(e.into())
    } else {
        match &req.command {
            Command::Put {
                key,
                value,
                expected_revision,
            } => kv::put(ctx, revision, key, value, *expected_revision)?,
            Command::Delete {
                key,
                expected_revision,
            } => kv::delete(ctx, revision, key, *expected_revision)?,
            Command::Workflow(cmd) => workflow::apply(ctx, revision, now_ms, cmd)?,
            Command::Checkpoint(cmd) => checkpoint::apply(ctx, revision, now_ms, cmd)?,
            Command::Coord(cmd) => coord::apply(ctx, revision, now_ms, cmd)?,
            Command::Txn(cmd) => txn::apply(ctx, revision, cmd)?,
            Command::Compact { revision: target } => kv::compact(ctx, revision, *target)?,
            Command::SetClusterId { id } => {
                let meta = ctx.tx.tree(Space::Meta);
                if meta.get(meta_key::CLUSTER_ID)?.is_none() && *id != 0 {
                    meta.insert(meta_key::CLUSTER_ID, &id.to_be_bytes()[..])?;
                }
                Response::Empty { revision }
            }
        }
    };

    if let Some(s) = client {
        session::record(ctx, s, now_ms, &response)?;
    }
    Ok(response)
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod coord_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
#[cfg(test)]
mod workflow_tests;
