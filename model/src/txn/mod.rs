//! etcd-style multi-key transactions, applied atomically as one log entry: compares over
//! key ranges, then the success or the failure branch of operations (range reads, puts with
//! leases, range deletions, nested transactions). Every write of one transaction gets the
//! entry's revision. The etcd v3 KV service maps Put, DeleteRange and Txn onto this command.

mod input;
mod nesting;
mod range;

pub use nesting::MAX_DECODE_DEPTH;
pub use range::{KeyRange, RangeReply, RangeSpec, SortOrder, SortTarget};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::kv::KvRecord;

/// Deepest nesting of transactions accepted (etcd has no limit of its own; a bound keeps the
/// recursive apply and its reply size predictable).
pub const MAX_TXN_DEPTH: usize = 16;
/// Most compares, or operations of one branch, per nesting level (etcd's default
/// `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnCommand {
    pub compare: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Equal,
    Greater,
    Less,
    NotEqual,
}

/// What a compare looks at, with the value it is compared to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    Version(u64),
    CreateRevision(u64),
    ModRevision(u64),
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Lease(u64),
}

/// True when every key in `range` satisfies `op target` (a missing single key counts as one
/// with all-zero fields and no value, as in etcd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub range: KeyRange,
    pub op: CompareOp,
    pub target: CompareTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutOp {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// 0 = no lease (a put detaches the key from any previous lease).
    pub lease: u64,
    pub prev_kv: bool,
    /// Keep the key's current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the key's current lease (the key must exist).
    pub ignore_lease: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    Range(RangeSpec),
    Put(PutOp),
    DeleteRange {
        range: KeyRange,
        prev_kv: bool,
    },
    /// Decoded under a nesting bound (`nesting.rs`): peers send these.
    Txn(#[serde(deserialize_with = "nesting::nested")] TxnCommand),
}

/// A key and its record, as a transaction read or removed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    pub record: KvRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpReply {
    Range(RangeReply),
    Put { prev: Option<KeyValue> },
    DeleteRange { deleted: u64, prev: Vec<KeyValue> },
    Txn(#[serde(deserialize_with = "nesting::nested")] TxnReply),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnReply {
    pub succeeded: bool,
    pub responses: Vec<OpReply>,
}

/// Why a transaction or compaction was refused; nothing of it was applied. The messages are
/// etcd's (without its "etcdserver: " prefix), which clients match on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum KvError {
    #[error("requested lease not found")]
    LeaseNotFound(u64),
    /// `ignore_value` or `ignore_lease` on a key that does not exist.
    #[error("key not found")]
    KeyNotFound,
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    #[error("transactions nested deeper than {MAX_TXN_DEPTH}")]
    TooDeep,
    #[error("value is provided")]
    ValueProvided,
    #[error("lease is provided")]
    LeaseProvided,
    #[error("key is not provided")]
    EmptyKey,
    #[error("mvcc: required revision has been compacted")]
    Compacted { requested: u64, compacted: u64 },
    #[error("mvcc: required revision is a future revision")]
    FutureRevision { requested: u64, current: u64 },
}

impl TxnCommand {
    /// A single put, as etcd's Put RPC.
    pub fn put(op: PutOp) -> Self {
        Self {
            compare: Vec::new(),
            success: vec![TxnOp::Put(op)],
            failure: Vec::new(),
        }
    }

    /// A single range delete, as etcd's DeleteRange RPC.
    pub fn delete(range: KeyRange, prev_kv: bool) -> Self {
        Self {
            compare: Vec::new(),
            success: vec![TxnOp::DeleteRange { range, prev_kv }],
            failure: Vec::new(),
        }
    }

    /// Checks what etcd checks before proposing: bounded nesting, non-empty keys, no
    /// `ignore_*` flag together with a value or lease, and no key written twice by one branch
    /// path (a put and a delete covering the same key, or two puts of it). Pure: the node
    /// rejects a bad transaction before it reaches the log, and apply checks again.
    pub fn validate(&self) -> Result<(), KvError> {
        self.validate_at(1)?;
        check_writes(&self.success)?;
        check_writes(&self.failure)?;
        Ok(())
    }

    fn validate_at(&self, depth: usize) -> Result<(), KvError> {
        if depth > MAX_TXN_DEPTH {
            return Err(KvError::TooDeep);
        }
        for c in &self.compare {
            c.range.validate()?;
        }
        for op in self.success.iter().chain(&self.failure) {
            match op {
                TxnOp::Range(spec) => spec.range.validate()?,
                TxnOp::Put(p) => {
                    if p.key.is_empty() {
                        return Err(KvError::EmptyKey);
                    }
                    if p.ignore_value && !p.value.is_empty() {
                        return Err(KvError::ValueProvided);
                    }
                    if p.ignore_lease && p.lease != 0 {
                        return Err(KvError::LeaseProvided);
                    }
                }
                TxnOp::DeleteRange { range, .. } => range.validate()?,
                TxnOp::Txn(t) => t.validate_at(depth + 1)?,
            }
        }
        Ok(())
    }

    /// Whether applying this command can write anything (else a read-only transaction, which
    /// a node may serve like a read).
    pub fn is_read_only(&self) -> bool {
        fn ops_read_only(ops: &[TxnOp]) -> bool {
            ops.iter().all(|op| match op {
                TxnOp::Range(_) => true,
                TxnOp::Put(_) | TxnOp::DeleteRange { .. } => false,
                TxnOp::Txn(t) => t.is_read_only(),
            })
        }
        ops_read_only(&self.success) && ops_read_only(&self.failure)
    }
}

/// The keys `ops` may put and the ranges they may delete, failing if one path through them
/// writes a key twice. etcd's `checkIntervals`: a nested transaction's two branches exclude
/// each other, so they may put the same key, but neither may collide with their siblings.
fn check_writes(ops: &[TxnOp]) -> Result<(BTreeSet<&[u8]>, Vec<&KeyRange>), KvError> {
    let mut dels: Vec<&KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            TxnOp::DeleteRange { range, .. } => Some(range),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[&KeyRange], k: &[u8]| dels.iter().any(|d| d.contains(k));
    let mut puts = BTreeSet::new();
    for op in ops {
        let TxnOp::Txn(t) = op else { continue };
        let (then_puts, then_dels) = check_writes(&t.success)?;
        let (else_puts, else_dels) = check_writes(&t.failure)?;
        for k in &then_puts {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(*k);
        }
        for k in else_puts {
            if (puts.contains(k) && !then_puts.contains(k)) || deleted(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k);
        }
        dels.extend(then_dels);
        dels.extend(else_dels);
    }
    for op in ops {
        let TxnOp::Put(p) = op else { continue };
        if puts.contains(p.key.as_slice()) || deleted(&dels, &p.key) {
            return Err(KvError::DuplicateKey);
        }
        puts.insert(&p.key);
    }
    Ok((puts, dels))
}

impl Compare {
    /// Whether `record` (None: the key does not exist) satisfies this compare.
    pub fn holds(&self, record: Option<&KvRecord>) -> bool {
        use std::cmp::Ordering;
        let ordering = match (&self.target, record) {
            // etcd: a value compare on a missing key is false whatever the operator.
            (CompareTarget::Value(_), None) => return false,
            (CompareTarget::Value(v), Some(r)) => r.value.as_slice().cmp(v.as_slice()),
            (CompareTarget::Version(v), r) => r.map_or(0, |r| r.version).cmp(v),
            (CompareTarget::CreateRevision(v), r) => r.map_or(0, |r| r.create_revision).cmp(v),
            (CompareTarget::ModRevision(v), r) => r.map_or(0, |r| r.mod_revision).cmp(v),
            (CompareTarget::Lease(v), r) => r.map_or(0, |r| r.lease).cmp(v),
        };
        match self.op {
            CompareOp::Equal => ordering == Ordering::Equal,
            CompareOp::Greater => ordering == Ordering::Greater,
            CompareOp::Less => ordering == Ordering::Less,
            CompareOp::NotEqual => ordering != Ordering::Equal,
        }
    }
}

#[cfg(test)]
mod tests;
