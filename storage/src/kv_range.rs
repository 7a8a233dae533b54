//! etcd-style range reads on the read path: at the applied state, or at an earlier revision
//! still inside the node's watch history. The past is rebuilt from the present by undoing
//! the history's key changes newest-first (each change carries the record it replaced), so
//! no per-revision versions are stored; how far back a read can go is the watch window
//! (bounded by count, bytes and age, and by `Compact`).

use std::collections::BTreeMap;
use std::ops::Bound;

use cairn_model::KvRecord;
use cairn_model::codec;
use cairn_model::txn::{KeyValue, KvError, RangeReply, RangeSpec};

use crate::error::StorageError;
use crate::reader::KvReader;
use crate::watch::{Change, HistoryRead};

/// A range read's answer and the revision it reflects.
pub type RangeAt = Result<(RangeReply, u64), KvError>;

impl KvReader {
    /// `spec` at `revision` (0 = the applied state), and the applied revision, which etcd
    /// reports in the response header whatever revision was read (the trees and the watch
    /// history are read under one commit exclusion, so they agree).
    pub fn range_at(&self, spec: &RangeSpec, revision: u64) -> Result<RangeAt, StorageError> {
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            let current = self.hub.current();
            if revision == 0 || revision == current {
                return Ok(Ok((self.scan(spec)?, current)));
            }
            if revision > current {
                return Ok(Err(KvError::FutureRevision {
                    requested: revision,
                    current,
                }));
            }
            let batches = match self.hub.read(revision + 1, usize::MAX, usize::MAX) {
                HistoryRead::Ready { batches, .. } => batches,
                HistoryRead::Compacted { compacted, .. } => {
                    return Ok(Err(KvError::Compacted {
                        requested: revision,
                        compacted,
                    }));
                }
            };
            let mut state = self.all_in(spec)?;
            for batch in batches.iter().rev().filter(|b| b.revision <= current) {
                for change in batch.changes.iter().rev() {
                    let (key, before) = match change {
                        Change::KvPut { key, prev, .. } => (key, prev.clone()),
                        Change::KvDelete { key, prev } => (key, Some(prev.clone())),
                        _ => continue,
                    };
                    if !spec.range.contains(key) {
                        continue;
                    }
                    match before {
                        Some(record) => state.insert(key.clone(), record),
                        None => state.remove(key),
                    };
                }
            }
            let count = state.len() as u64;
            let kvs = state
                .into_iter()
                .map(|(key, record)| KeyValue { key, record })
                .collect();
            Ok(Ok((spec.finish(count, kvs), current)))
        })
    }

    /// The range at the applied state; the caller holds the scan lock.
    fn scan(&self, spec: &RangeSpec) -> Result<RangeReply, StorageError> {
        let wanted = if spec.needs_all() {
            usize::MAX
        } else {
            spec.wanted()
        };
        let mut count = 0u64;
        let mut kvs = Vec::new();
        for item in self
            .kv
            .range::<&[u8], (Bound<&[u8]>, Bound<&[u8]>)>(spec.range.bounds())
        {
            let (k, v) = item?;
            count += 1;
            if kvs.len() < wanted {
                kvs.push(KeyValue {
                    key: k.to_vec(),
                    record: codec::decode(&v)?,
                });
            }
        }
        Ok(spec.finish(count, kvs))
    }

    fn all_in(&self, spec: &RangeSpec) -> Result<BTreeMap<Vec<u8>, KvRecord>, StorageError> {
        let mut out = BTreeMap::new();
        for item in self
            .kv
            .range::<&[u8], (Bound<&[u8]>, Bound<&[u8]>)>(spec.range.bounds())
        {
            let (k, v) = item?;
            out.insert(k.to_vec(), codec::decode(&v)?);
        }
        Ok(out)
    }
}
