//! The workflow secondary indexes (by namespace and creation, by namespace and last change,
//! by namespace, status and creation, and terminal workflows by finish time), kept in memory.
//!
//! They are derived data: a pure function of the `Workflows` space, rebuilt by a scan when the
//! state machine opens or installs a snapshot. Keeping them out of sled takes four sled writes
//! off every status change (sled's per-write cost dominates apply), and snapshots stay smaller.
//! Apply collects each batch's changes as [`IndexOp`]s and applies them after its transaction
//! commits, under the same lock readers hold while they scan (see `reader::ReadGate`), so a
//! reader sees the indexes and the records of one applied state.

use std::collections::BTreeSet;
use std::ops::Bound;

use cairn_model::codec;
use cairn_model::workflow::WorkflowRecord;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees};
use crate::workflow_keys as keys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexOp {
    Insert(Vec<u8>),
    Remove(Vec<u8>),
}

/// Every index key of one workflow record.
pub(crate) fn keys_of(rec: &WorkflowRecord) -> Vec<Vec<u8>> {
    let mut out = vec![
        keys::by_created(&rec.namespace, rec.created_ms, &rec.id),
        keys::by_updated(&rec.namespace, rec.updated_ms, &rec.id),
        keys::by_status(&rec.namespace, &rec.status, rec.created_ms, &rec.id),
    ];
    if let Some(f) = rec.finished_ms {
        out.push(keys::by_finished(f, &rec.id));
    }
    out
}

/// The smallest key greater than every key starting with `prefix` (None: no such bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[derive(Debug, Default)]
pub(crate) struct WorkflowIndex {
    keys: BTreeSet<Vec<u8>>,
}

impl WorkflowIndex {
    /// Builds the indexes from the workflow records in `trees`.
    pub(crate) fn rebuild(trees: &Trees) -> Result<Self, StorageError> {
        let mut keys = BTreeSet::new();
        for item in trees.get(Space::Workflows).iter() {
            let (_, v) = item?;
            let rec: WorkflowRecord = codec::decode(&v)?;
            keys.extend(keys_of(&rec));
        }
        Ok(Self { keys })
    }

    pub(crate) fn apply(&mut self, ops: Vec<IndexOp>) {
        for op in ops {
            match op {
                IndexOp::Insert(k) => {
                    self.keys.insert(k);
                }
                IndexOp::Remove(k) => {
                    self.keys.remove(&k);
                }
            }
        }
    }

    /// Keys starting with `prefix`, in order or reversed, strictly after (or, reversed,
    /// before) `from` when given.
    pub(crate) fn scan<'a>(
        &'a self,
        prefix: &[u8],
        from: Option<&[u8]>,
        descending: bool,
    ) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
        let end = prefix_end(prefix);
        let upper = |k: &Option<Vec<u8>>| match k {
            Some(e) => Bound::Excluded(e.clone()),
            None => Bound::Unbounded,
        };
        let range = match (descending, from) {
            (false, None) => (Bound::Included(prefix.to_vec()), upper(&end)),
            (false, Some(f)) => (Bound::Excluded(f.to_vec()), upper(&end)),
            (true, None) => (Bound::Included(prefix.to_vec()), upper(&end)),
            (true, Some(f)) => (
                Bound::Included(prefix.to_vec()),
                Bound::Excluded(f.to_vec()),
            ),
        };
        let iter = self.keys.range(range).map(Vec::as_slice);
        if descending {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_stays_inside_its_prefix_in_both_directions() {
        let mut idx = WorkflowIndex::default();
        let k = |ns: &str, t: u64, id: &str| keys::by_created(ns, t, id);
        idx.apply(vec![
            IndexOp::Insert(k("a", 1, "x")),
            IndexOp::Insert(k("a", 2, "y")),
            IndexOp::Insert(k("a", 3, "z")),
            IndexOp::Insert(k("ab", 1, "q")),
            IndexOp::Insert(k("b", 1, "r")),
            IndexOp::Remove(k("b", 1, "r")),
        ]);
        let prefix = keys::index_prefix(keys::tag::CREATED, "a", None);
        let ids = |it: Box<dyn Iterator<Item = &[u8]> + '_>| {
            it.map(|key| keys::split_tail(key, &prefix).unwrap().1.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(idx.scan(&prefix, None, false)), ["x", "y", "z"]);
        assert_eq!(ids(idx.scan(&prefix, None, true)), ["z", "y", "x"]);
        let y = k("a", 2, "y");
        assert_eq!(ids(idx.scan(&prefix, Some(&y), false)), ["z"]);
        assert_eq!(ids(idx.scan(&prefix, Some(&y), true)), ["x"]);
        assert_eq!(idx.len(), 4);
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
