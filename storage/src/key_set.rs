//! An ordered set of keys in memory that apply can range over, with a run's uncommitted
//! writes laid over it. A sled transaction cannot iterate (a plain scan inside one deadlocks
//! on sled's global lock), so the ranges apply needs come from derived sets like this one:
//! every key of the Kv space (etcd transactions: a DeleteRange, a Range inside a Txn, a
//! compare over a range; etcd keeps the same in-memory key index) and the claim queue (see
//! `claim_queue`). Rebuilt by a scan on open and snapshot install, changed after each apply
//! transaction commits.

use std::collections::{BTreeMap, BTreeSet};

use cairn_model::txn::KeyRange;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees};

#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: BTreeSet<Vec<u8>>,
}

impl KeySet {
    pub(crate) fn from_keys(keys: BTreeSet<Vec<u8>>) -> Self {
        Self { keys }
    }

    /// Every key of the Kv space.
    pub(crate) fn rebuild_kv(trees: &Trees) -> Result<Self, StorageError> {
        let mut keys = BTreeSet::new();
        for k in trees.get(Space::Kv).iter().keys() {
            keys.insert(k?.to_vec());
        }
        Ok(Self { keys })
    }

    /// Applies a committed run's writes: `true` = the key exists now, `false` = removed.
    pub(crate) fn apply(&mut self, written: BTreeMap<Vec<u8>, bool>) {
        for (k, present) in written {
            if present {
                self.keys.insert(k);
            } else {
                self.keys.remove(&k);
            }
        }
    }

    /// The keys in `range`, in order, with `written` (this run's uncommitted writes) laid over
    /// the committed set.
    pub(crate) fn range(
        &self,
        range: &KeyRange,
        written: &BTreeMap<Vec<u8>, bool>,
    ) -> Vec<Vec<u8>> {
        self.range_limit(range, written, usize::MAX)
    }

    /// The first `limit` keys of [`KeySet::range`].
    pub(crate) fn range_limit(
        &self,
        range: &KeyRange,
        written: &BTreeMap<Vec<u8>, bool>,
        limit: usize,
    ) -> Vec<Vec<u8>> {
        let bounds = range.bounds();
        let mut committed = self.keys.range::<[u8], _>(bounds).peekable();
        let mut overlay = written.range::<[u8], _>(bounds).peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let take_committed = match (committed.peek(), overlay.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(c), Some((o, _))) => c.as_slice() < o.as_slice(),
            };
            if take_committed {
                if let Some(k) = committed.next() {
                    out.push(k.clone());
                }
            } else if let Some((k, present)) = overlay.next() {
                // The run's write decides, whether or not the key was committed before.
                if committed.peek().is_some_and(|c| *c == k) {
                    committed.next();
                }
                if *present {
                    out.push(k.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_merges_uncommitted_writes_over_committed_keys() {
        let mut keys = KeySet::default();
        keys.apply(
            [("a", true), ("b", true), ("d", true)]
                .into_iter()
                .map(|(k, p)| (k.as_bytes().to_vec(), p))
                .collect(),
        );
        let written: BTreeMap<Vec<u8>, bool> = [("b", false), ("c", true), ("d", true)]
            .into_iter()
            .map(|(k, p)| (k.as_bytes().to_vec(), p))
            .collect();
        let all = keys.range(&KeyRange::prefix(""), &written);
        assert_eq!(all, vec![b"a".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        let one = keys.range(&KeyRange::single("b"), &written);
        assert!(one.is_empty());
        let from_c = KeyRange {
            key: b"c".to_vec(),
            range_end: vec![0],
        };
        assert_eq!(
            keys.range(&from_c, &written),
            vec![b"c".to_vec(), b"d".to_vec()]
        );
    }
}
