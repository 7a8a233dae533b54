//! `StorageConfig`: tunables of the on-disk storage, with production defaults.

use std::sync::Arc;

use crate::seal::KeyRing;
use crate::watch::HistoryLimits;

/// Storage tunables. `dedup_window_ms` and `session_prune_interval_ms` feed the deterministic
/// apply, so they must be identical on every node of a cluster (otherwise replicas prune
/// different dedup records and diverge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// How long (in command time) a `(client_id, sequence)` reply is remembered for dedup.
    pub dedup_window_ms: u64,
    /// Expired dedup records are pruned at most once per this much command time.
    pub session_prune_interval_ms: u64,
    /// sled page-cache size.
    pub sled_cache_bytes: u64,
    /// raft-log in-memory payload cache size (serves replication reads without disk I/O).
    pub log_cache_bytes: usize,
    /// Most entries applied in one sled transaction.
    pub apply_batch_max: usize,
    /// How long the WAL flush thread waits for more appends before one fdatasync (appends
    /// already queued always share it).
    pub wal_batch_wait: std::time::Duration,
    /// Change history kept in memory for watchers to resume from (node-local).
    pub watch_history: HistoryLimits,
    /// Encryption at rest (`--encryption-key-file`): snapshots are sealed with the active
    /// key, and sealed snapshots and checkpoint chunks open with any key of the ring. Every
    /// node of a cluster needs the same file.
    pub encryption: Option<Arc<KeyRing>>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dedup_window_ms: 10 * 60 * 1000,
            session_prune_interval_ms: 1000,
            sled_cache_bytes: 256 * 1024 * 1024,
            log_cache_bytes: 256 * 1024 * 1024,
            apply_batch_max: 1024,
            wal_batch_wait: std::time::Duration::ZERO,
            watch_history: HistoryLimits::default(),
            encryption: None,
        }
    }
}
