//! `LogStore` / `LogReader`: openraft's Raft log, vote and committed id on raft-log, a WAL
//! whose FlushWorker group-commits (one fdatasync per batch of appends, then every callback).
//!
//! Durability contract: an append's `IOFlushed` callback and `save_vote`'s return happen only
//! after fdatasync; a flush error reaches openraft as an error (it then stops the node). raft-log
//! writes records in order, so a later synced flush also makes earlier unsynced records
//! (truncate, purge, committed) durable.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use cairn_raft::TypeConfig;
use cairn_raft::types::{Entry, LogId, Vote};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::{RaftLog, Types};

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::log_types::{Cd, FlushCallback, LogTypes};

type Wal = RaftLog<LogTypes>;

/// Most entries returned by one `limited_get_log_entries`, so one replication read stays small.
const MAX_ENTRIES_PER_READ: u64 = 4096;
/// Entry bytes after which one `limited_get_log_entries` stops (it returns at least one entry):
/// an AppendEntries of 1 MiB checkpoint chunks then stays far below the 64 MiB peer message
/// limit, which a full batch of them would exceed, stalling replication for good.
const MAX_BYTES_PER_READ: usize = 16 * 1024 * 1024;

#[derive(Clone)]
struct SharedWal(Arc<RwLock<Wal>>);

impl SharedWal {
    // std locks: never held across an `.await` (raft-log's API is synchronous).
    fn read(&self) -> io::Result<RwLockReadGuard<'_, Wal>> {
        self.0
            .read()
            .map_err(|_| io::Error::other("raft log lock poisoned"))
    }

    fn write(&self) -> io::Result<RwLockWriteGuard<'_, Wal>> {
        self.0
            .write()
            .map_err(|_| io::Error::other("raft log lock poisoned"))
    }
}

/// openraft's `RaftLogStorage`. Created by [`crate::open`].
pub struct LogStore {
    wal: SharedWal,
}

/// openraft's `RaftLogReader`, used by replication tasks concurrently with appends.
#[derive(Clone)]
pub struct LogReader {
    wal: SharedWal,
}

impl LogStore {
    pub(crate) fn open(dir: &Path, config: &StorageConfig) -> Result<Self, StorageError> {
        let dir = dir.to_str().ok_or_else(|| {
            StorageError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("log directory is not UTF-8: {}", dir.display()),
            ))
        })?;
        let mut wal_config = raft_log::Config::new(dir);
        wal_config.log_cache_capacity = Some(config.log_cache_bytes);
        wal_config.wal.flush_batch_wait = Some(config.wal_batch_wait);
        let wal = RaftLog::<LogTypes>::open(Arc::new(wal_config))?;
        Ok(Self {
            wal: SharedWal(Arc::new(RwLock::new(wal))),
        })
    }

    /// Index of the last purged entry, if any was purged.
    pub(crate) fn purged_index(&self) -> Result<Option<u64>, StorageError> {
        self.read_wal(|w| w.log_state().purged().map(|l| l.0.index()))
    }

    /// Index of the last entry in the log, if it holds any.
    pub(crate) fn last_index(&self) -> Result<Option<u64>, StorageError> {
        self.read_wal(|w| w.log_state().last().map(|l| l.0.index()))
    }

    fn read_wal<T>(&self, read: impl FnOnce(&Wal) -> T) -> Result<T, StorageError> {
        let wal = self
            .wal
            .read()
            .map_err(|_| StorageError::Internal("raft log lock poisoned".into()))?;
        Ok(read(&wal))
    }

    /// Number of WAL flush batches that ended with an fdatasync (for tests and metrics).
    pub fn synced_flush_batches(&self) -> io::Result<u64> {
        Ok(self.wal.read()?.stat().flush_metrics.sync_batch_count)
    }
}

fn read_range<RB: RangeBounds<u64>>(wal: &Wal, range: &RB) -> io::Result<Vec<Entry>> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    // raft-log's read is a BTreeMap range, which panics on an inverted range.
    if start >= end {
        return Ok(Vec::new());
    }
    wal.read(start, end)
        .map(|r| {
            r.map(|(log_id, payload)| Entry {
                log_id: log_id.0,
                payload: payload.0,
            })
        })
        .collect()
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        read_range(&*self.wal.read()?, &range)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.wal.read()?.log_state().vote().map(|v| v.0))
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        let end = end.min(start.saturating_add(MAX_ENTRIES_PER_READ));
        if start >= end {
            return Ok(Vec::new());
        }
        let wal = self.wal.read()?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for r in wal.read(start, end) {
            let (log_id, payload) = r?;
            let entry = Entry {
                log_id: log_id.0,
                payload: payload.0,
            };
            bytes += match &entry.payload {
                openraft::EntryPayload::Normal(req) => req.encoded_len(),
                _ => 256,
            };
            out.push(entry);
            if bytes >= MAX_BYTES_PER_READ {
                break;
            }
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let wal = self.wal.read()?;
        let st = wal.log_state();
        let last_purged_log_id = st.purged().map(|l| l.0);
        let last_log_id = st.last().map(|l| l.0).or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            wal: self.wal.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        fail::fail_point!("vote-save", |_| Err(io::Error::other(
            "failpoint vote-save"
        )));
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut wal = self.wal.write()?;
            wal.save_vote(Cd(*vote))?;
            wal.flush(true, Some(FlushCallback::Wait(tx, Instant::now())))?;
        }
        // The vote must be on stable storage before we return (Raft's election safety).
        rx.await
            .map_err(|_| io::Error::other("raft log flush worker stopped"))?
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let Some(committed) = committed else {
            return Ok(());
        };
        let mut wal = self.wal.write()?;
        let st = wal.log_state();
        // raft-log refuses a committed id that goes backwards or lies beyond its last entry.
        // Both are harmless to skip: the committed id only bounds how far a restart
        // re-applies, and a smaller one just re-applies less (openraft catches up later).
        if st.committed().is_some_and(|c| c.0 >= committed)
            || st.last().is_none_or(|l| l.0 < committed)
        {
            return Ok(());
        }
        wal.commit(Cd(committed))?;
        // No fsync of its own: the next synced append or vote carries it to disk.
        wal.flush(false, None)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.wal.read()?.log_state().committed().map(|c| c.0))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        fail::fail_point!("log-append", |_| Err(io::Error::other(
            "failpoint log-append"
        )));
        let mut wal = self.wal.write()?;
        wal.append(entries.into_iter().map(|e| (Cd(e.log_id), Cd(e.payload))))?;
        // An fdatasync that fails: the entries were written but are not durable.
        #[cfg(feature = "failpoints")]
        if fail::eval("log-fsync", |_| ()).is_some() {
            callback.io_completed(Err(io::Error::other("failpoint log-fsync")));
            return Ok(());
        }
        // Entries are readable from memory now; openraft is told they are durable only by
        // the callback, which the FlushWorker fires after the batch's fdatasync.
        wal.flush(true, Some(FlushCallback::Raft(callback, Instant::now())))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let mut wal = self.wal.write()?;
        let st = wal.log_state();
        let Some(last) = st.last().map(|l| l.0.index()) else {
            return Ok(());
        };
        let from = match &last_log_id {
            Some(keep) if keep.index() >= last => return Ok(()),
            Some(keep) => keep.index() + 1,
            None => LogTypes::next_log_index(st.purged()),
        };
        if from > last {
            return Ok(());
        }
        wal.truncate(from)?;
        // Made durable by the next synced append, which openraft issues after a truncate.
        wal.flush(false, None)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut wal = self.wal.write()?;
        wal.purge(Cd(log_id))?;
        // A synced flush is what lets raft-log delete the purged chunk files (only after the
        // purge record is durable). Nobody needs to wait for it.
        wal.flush(true, None)
    }
}

#[cfg(test)]
#[path = "log_store_tests.rs"]
mod tests;
