//! Key ranges and range reads with etcd's semantics: `range_end` empty means one key, `\0`
//! means every key from `key` on, anything else the half-open interval `[key, range_end)`.
//! A read's filters, sort and limit are applied here, so the read path and a transaction's
//! reads inside apply answer identically.

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::{KeyValue, KvError};

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyRange {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub range_end: Vec<u8>,
}

impl KeyRange {
    pub fn single(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            range_end: Vec::new(),
        }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        let key = prefix.into();
        let range_end = prefix_end(&key).unwrap_or_else(|| vec![0]);
        Self { key, range_end }
    }

    pub fn is_single(&self) -> bool {
        self.range_end.is_empty()
    }

    /// The interval as bounds over the key space (empty when `range_end <= key`).
    pub fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        let start = Bound::Included(self.key.as_slice());
        if self.is_single() {
            (start, Bound::Included(self.key.as_slice()))
        } else if self.range_end == [0] {
            (start, Bound::Unbounded)
        } else if self.range_end.as_slice() <= self.key.as_slice() {
            // An inverted interval selects nothing; express it as one that cannot match.
            (
                Bound::Excluded(self.key.as_slice()),
                Bound::Excluded(self.key.as_slice()),
            )
        } else {
            (start, Bound::Excluded(self.range_end.as_slice()))
        }
    }

    pub fn contains(&self, k: &[u8]) -> bool {
        if self.is_single() {
            return k == self.key.as_slice();
        }
        k >= self.key.as_slice() && (self.range_end == [0] || k < self.range_end.as_slice())
    }

    pub(super) fn validate(&self) -> Result<(), KvError> {
        // etcd: an empty key is only meaningful as the start of a range ("from the first key").
        if self.key.is_empty() && self.range_end.is_empty() {
            return Err(KvError::EmptyKey);
        }
        Ok(())
    }
}

/// The smallest key greater than every key starting with `prefix` (None: no such key, i.e.
/// the prefix is empty or all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    #[default]
    None,
    Ascend,
    Descend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortTarget {
    #[default]
    Key,
    Version,
    Create,
    Mod,
    Value,
}

/// A range read: which keys, which of them (revision filters, 0 = none), in which order, and
/// how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSpec {
    pub range: KeyRange,
    /// 0 = no limit.
    pub limit: u64,
    pub count_only: bool,
    pub keys_only: bool,
    pub sort_order: SortOrder,
    pub sort_target: SortTarget,
    pub min_mod_revision: u64,
    pub max_mod_revision: u64,
    pub min_create_revision: u64,
    pub max_create_revision: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeReply {
    pub kvs: Vec<KeyValue>,
    /// More keys matched than `limit` let through.
    pub more: bool,
    /// Keys in the range (before the revision filters and the limit), as etcd counts.
    pub count: u64,
}

impl RangeSpec {
    /// etcd sorts ascending when a non-key target is named without an order.
    fn order(&self) -> SortOrder {
        if self.sort_order == SortOrder::None && self.sort_target != SortTarget::Key {
            SortOrder::Ascend
        } else {
            self.sort_order
        }
    }

    fn filtered(&self) -> bool {
        self.min_mod_revision != 0
            || self.max_mod_revision != 0
            || self.min_create_revision != 0
            || self.max_create_revision != 0
    }

    /// Whether every record in the range must be read: a sort other than by ascending key,
    /// or a revision filter. Otherwise the first `limit + 1` records (in key order) and the
    /// number of keys suffice: see [`RangeSpec::wanted`].
    pub fn needs_all(&self) -> bool {
        let key_order = match self.order() {
            SortOrder::None => true,
            SortOrder::Ascend => self.sort_target == SortTarget::Key,
            SortOrder::Descend => false,
        };
        !key_order || self.filtered()
    }

    /// How many records (in key order) a reader must pass to [`RangeSpec::finish`] when
    /// `needs_all` is false; the rest only need counting.
    pub fn wanted(&self) -> usize {
        if self.count_only {
            0
        } else if self.limit == 0 {
            usize::MAX
        } else {
            usize::try_from(self.limit).map_or(usize::MAX, |l| l.saturating_add(1))
        }
    }

    /// The reply from the range's records in key order (all of them, or the first
    /// [`RangeSpec::wanted`] when `needs_all` is false) and the number of keys in the range.
    pub fn finish(&self, count: u64, mut kvs: Vec<KeyValue>) -> RangeReply {
        if self.filtered() {
            let ok = |v: u64, min: u64, max: u64| (min == 0 || v >= min) && (max == 0 || v <= max);
            kvs.retain(|kv| {
                ok(
                    kv.record.mod_revision,
                    self.min_mod_revision,
                    self.max_mod_revision,
                ) && ok(
                    kv.record.create_revision,
                    self.min_create_revision,
                    self.max_create_revision,
                )
            });
        }
        let order = self.order();
        if order != SortOrder::None {
            // Stable, so equal targets stay in key order as etcd's (key-ordered) input does.
            match self.sort_target {
                SortTarget::Key => {}
                SortTarget::Version => kvs.sort_by_key(|kv| kv.record.version),
                SortTarget::Create => kvs.sort_by_key(|kv| kv.record.create_revision),
                SortTarget::Mod => kvs.sort_by_key(|kv| kv.record.mod_revision),
                SortTarget::Value => kvs.sort_by(|a, b| a.record.value.cmp(&b.record.value)),
            }
            if order == SortOrder::Descend {
                kvs.reverse();
            }
        }
        if self.count_only {
            return RangeReply {
                kvs: Vec::new(),
                more: false,
                count,
            };
        }
        let mut more = false;
        if let Ok(limit) = usize::try_from(self.limit)
            && limit > 0
            && kvs.len() > limit
        {
            kvs.truncate(limit);
            more = true;
        }
        if self.keys_only {
            for kv in &mut kvs {
                kv.record.value = Vec::new();
            }
        }
        RangeReply { kvs, more, count }
    }
}
