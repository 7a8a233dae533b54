//! The per-batch apply context ([`BatchCtx`]) and the transaction helpers every domain file
//! uses (`TxResult`, `abort`, `get`, `encode`, `decode`). It sits below the domain files and
//! the dispatch in `mod.rs`, so they can all depend on it without depending on each other.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use cairn_model::codec;
use cairn_model::workflow::limits::RecordLimits;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::ConflictableTransactionError;

use super::session_cache::SessionCache;
use crate::error::StorageError;
use crate::key_set::KeySet;
use crate::keyspace::{Space, Tx};
use crate::watch::EventSink;
use crate::workflow_index::IndexOp;

pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<StorageError>>;

pub(super) fn abort<T>(e: impl Into<StorageError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e.into()))
}

/// The record under `key` in `space`, decoded, as this transaction sees it.
pub(super) fn get<T: DeserializeOwned>(
    ctx: &BatchCtx<'_>,
    space: Space,
    key: &[u8],
) -> TxResult<Option<T>> {
    match ctx.tx.tree(space).get(key)? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> TxResult<Vec<u8>> {
    codec::encode(value).or_else(abort)
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> TxResult<T> {
    codec::decode(bytes).or_else(abort)
}

/// Apply parameters. They shape replicated state, so every node must use the same values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MachineConfig {
    pub(crate) dedup_window_ms: u64,
    pub(crate) prune_interval_ms: u64,
}

/// The workflow record limits in force at this point of the run: the replicated ones
/// (`Command::SetRecordLimits`, read through the transaction so an earlier entry of the same
/// run counts), else the defaults.
pub(super) fn record_limits(ctx: &BatchCtx<'_>) -> TxResult<RecordLimits> {
    Ok(get(ctx, Space::Meta, crate::keyspace::meta_key::RECORD_LIMITS)?.unwrap_or_default())
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
///
/// [`prescan_expired`]: super::prescan_expired
/// [`prune_due`]: super::prune_due
pub(crate) struct BatchCtx<'a> {
    pub(crate) tx: Tx<'a>,
    /// The committed key set, for range operations (see `kv_keys`).
    pub(super) kv_keys: &'a KeySet,
    /// Keys this run wrote (true) or removed (false), laid over `kv_keys` and applied to it
    /// once the transaction commits.
    pub(crate) kv_written: RefCell<BTreeMap<Vec<u8>, bool>>,
    /// The committed claim queue (see `claim_queue`), and this run's changes laid over it.
    pub(super) claim_keys: &'a KeySet,
    pub(crate) claims_written: RefCell<BTreeMap<Vec<u8>, bool>>,
    /// Set by a `Compact` command: every node drops watch history up to it after commit.
    pub(crate) compact_to: Cell<Option<u64>>,
    pub(super) config: MachineConfig,
    /// Expired expiry-index keys, valid for the run's first entry only.
    pub(super) prescanned: Option<Vec<Vec<u8>>>,
    /// Changes to the in-memory workflow index, applied once the transaction commits.
    pub(crate) index_ops: Vec<IndexOp>,
    /// Watch events of the run, published once the transaction commits.
    pub(crate) events: EventSink,
    /// Client sessions the run touched, written back by [`finish_run`].
    ///
    /// [`finish_run`]: super::finish_run
    pub(super) sessions: SessionCache,
    /// Entries of steps known to be refused (see `step`), by revision, with their refusal.
    pub(super) refused: &'a BTreeMap<u64, cairn_model::CommandError>,
    /// Workflow definitions decoded in this run, by name then version (looked up by `&str`,
    /// so a hit allocates nothing).
    pub(super) definitions: std::collections::HashMap<
        String,
        std::collections::HashMap<u32, std::sync::Arc<cairn_model::workflow::Definition>>,
    >,
}

impl<'a> BatchCtx<'a> {
    pub(crate) fn new(
        tx: Tx<'a>,
        (kv_keys, claim_keys): (&'a KeySet, &'a KeySet),
        config: MachineConfig,
        prescanned: Option<Vec<Vec<u8>>>,
        refused: &'a BTreeMap<u64, cairn_model::CommandError>,
    ) -> Self {
        Self {
            tx,
            kv_keys,
            kv_written: RefCell::default(),
            claim_keys,
            claims_written: RefCell::default(),
            compact_to: Cell::default(),
            config,
            prescanned,
            index_ops: Vec::new(),
            events: EventSink::default(),
            sessions: SessionCache::default(),
            refused,
            definitions: std::collections::HashMap::new(),
        }
    }
}
