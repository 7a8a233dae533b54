//! `KvReader`: the read-only view of the key-value space that services use, concurrently
//! with apply. Single-key reads never wait; a range scan waits out an apply commit.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cairn_model::KvRecord;
use cairn_model::alarm::Alarm;
use cairn_model::codec;
use cairn_model::workflow::limits::RecordLimits;

use crate::error::StorageError;
use crate::watch::EventHub;
use crate::workflow_index::WorkflowIndex;

/// Shared between the state machine and its readers: the applied index, and an install
/// epoch (odd while a snapshot install rewrites the trees) so readers never return a
/// half-loaded state.
#[derive(Debug, Default)]
pub(crate) struct ReadGate {
    applied: AtomicU64,
    epoch: AtomicU64,
    /// Held for writing while an apply transaction commits (and its workflow index changes
    /// land) and for reading during a range scan: sled takes its lock per iterator step, so
    /// without this a scan could see a later write to one key and miss an earlier write to
    /// another (a state that never was). The in-memory workflow index lives inside it.
    commits: RwLock<WorkflowIndex>,
}

impl ReadGate {
    pub(crate) fn new(applied: u64, index: WorkflowIndex) -> Self {
        Self {
            applied: AtomicU64::new(applied),
            epoch: AtomicU64::new(0),
            commits: RwLock::new(index),
        }
    }

    /// Excludes range scans while the caller commits an apply transaction.
    pub(crate) fn commit_lock(&self) -> RwLockWriteGuard<'_, WorkflowIndex> {
        self.commits.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn scan_lock(&self) -> RwLockReadGuard<'_, WorkflowIndex> {
        self.commits.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    pub(crate) fn set_applied(&self, index: u64) {
        self.applied.store(index, Ordering::Release);
    }

    pub(crate) fn begin_install(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn end_install(&self, applied: u64) {
        self.set_applied(applied);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs `read`, failing with `SnapshotInstalling` if an install overlapped it.
    pub(crate) fn guarded<T>(
        &self,
        read: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let before = self.epoch.load(Ordering::SeqCst);
        if before % 2 == 1 {
            return Err(StorageError::SnapshotInstalling);
        }
        let out = read()?;
        if self.epoch.load(Ordering::SeqCst) != before {
            return Err(StorageError::SnapshotInstalling);
        }
        Ok(out)
    }
}

/// The record under `key` in `tree`, decoded, failing if an install overlapped the read.
pub(crate) fn get_decoded<T: serde::de::DeserializeOwned>(
    gate: &ReadGate,
    tree: &sled::Tree,
    key: &[u8],
) -> Result<Option<T>, StorageError> {
    gate.guarded(|| match tree.get(key)? {
        Some(v) => Ok(Some(codec::decode(&v)?)),
        None => Ok(None),
    })
}

/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct KvReader {
    pub(crate) kv: sled::Tree,
    meta: sled::Tree,
    pub(crate) gate: Arc<ReadGate>,
    /// The watch history: the applied revision of the trees, and the past for reads at an
    /// earlier revision (see `kv_range`).
    pub(crate) hub: Arc<EventHub>,
}

impl KvReader {
    pub(crate) fn new(
        kv: sled::Tree,
        meta: sled::Tree,
        gate: Arc<ReadGate>,
        hub: Arc<EventHub>,
    ) -> Self {
        Self {
            kv,
            meta,
            gate,
            hub,
        }
    }

    /// The cluster's id, 0 until the first leader (or a restore) has set it.
    /// The incarnation recorded for `node` (`Command::RecordIncarnation`), if any.
    pub fn incarnation_of(&self, node: u64) -> Result<Option<u64>, StorageError> {
        let all: Option<std::collections::BTreeMap<u64, u64>> = get_decoded(
            &self.gate,
            &self.meta,
            crate::keyspace::meta_key::INCARNATIONS,
        )?;
        Ok(all.and_then(|m| m.get(&node).copied()))
    }

    pub fn cluster_id(&self) -> Result<u64, StorageError> {
        self.gate.guarded(
            || match self.meta.get(crate::keyspace::meta_key::CLUSTER_ID)? {
                Some(b) => crate::keyspace::decode_u64(&b, "cluster id"),
                None => Ok(0),
            },
        )
    }

    /// The standing alarms.
    pub fn alarms(&self) -> Result<Vec<Alarm>, StorageError> {
        Ok(
            get_decoded(&self.gate, &self.meta, crate::keyspace::meta_key::ALARMS)?
                .unwrap_or_default(),
        )
    }

    /// The data-directory quota the leader last set (0: none, or none set yet).
    pub fn quota(&self) -> Result<u64, StorageError> {
        self.gate
            .guarded(|| match self.meta.get(crate::keyspace::meta_key::QUOTA)? {
                Some(b) => crate::keyspace::decode_u64(&b, "quota"),
                None => Ok(0),
            })
    }

    /// The workflow record limits the leader last set (`Command::SetRecordLimits`).
    pub fn record_limits(&self) -> Result<Option<RecordLimits>, StorageError> {
        get_decoded(
            &self.gate,
            &self.meta,
            crate::keyspace::meta_key::RECORD_LIMITS,
        )
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<KvRecord>, StorageError> {
        self.gate.guarded(|| match self.kv.get(key)? {
            Some(v) => Ok(Some(codec::decode(&v)?)),
            None => Ok(None),
        })
    }

    /// Up to `limit` keys starting with `prefix` and sorting strictly after `start_after`
    /// (an empty `start_after` means from the first key), in key order, and whether more
    /// such keys exist.
    #[allow(clippy::type_complexity)]
    pub fn range(
        &self,
        prefix: &[u8],
        start_after: &[u8],
        limit: usize,
    ) -> Result<(Vec<(Vec<u8>, KvRecord)>, bool), StorageError> {
        let start = if start_after.is_empty() || start_after < prefix {
            Bound::Included(prefix)
        } else {
            Bound::Excluded(start_after)
        };
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            let mut out = Vec::new();
            for item in self.kv.range::<&[u8], _>((start, Bound::Unbounded)) {
                let (k, v) = item?;
                if !k.starts_with(prefix) {
                    break;
                }
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push((k.to_vec(), codec::decode(&v)?));
            }
            Ok((out, false))
        })
    }

    /// Index of the last applied log entry (0 if none). Linearizable reads wait until this
    /// reaches the read index.
    pub fn applied_index(&self) -> u64 {
        self.gate.applied()
    }
}
