//! [`Client::txn`]: a compare-and-swap transaction over several keys, applied as one write at
//! one revision. If every compare holds (against the state before the transaction), the
//! `and_then` operations run in order, else the `or_else` ones.

use cairn_api::v1 as pb;

use super::TxnResult;
use crate::client::Client;
use crate::coord::Fence;
use crate::error::{Error, Result};
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

/// How a compare relates the key's field to the given value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

/// Which field of the key a compare looks at, with the value compared to. A missing key has
/// every revision 0 and no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    ModRevision(u64),
    CreateRevision(u64),
    Version(u64),
    Value(Vec<u8>),
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Sees the writes of the operations before it.
    Get {
        key: Vec<u8>,
    },
}

impl TxnOp {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        TxnOp::Delete { key: key.into() }
    }
    pub fn get(key: impl Into<Vec<u8>>) -> Self {
        TxnOp::Get { key: key.into() }
    }

    fn into_pb(self) -> pb::TxnOp {
        use pb::txn_op::{Delete, Get, Op, Put};
        pb::TxnOp {
            op: Some(match self {
                TxnOp::Put { key, value } => Op::Put(Put { key, value }),
                TxnOp::Delete { key } => Op::Delete(Delete { key }),
                TxnOp::Get { key } => Op::Get(Get { key }),
            }),
        }
    }
}

/// A transaction: compares, then the operations of the branch they choose.
///
/// ```no_run
/// # async fn demo(client: cairn_client::Client) -> cairn_client::Result<()> {
/// use cairn_client::{CompareOp, CompareTarget, Txn, TxnOp};
/// // Move a job from "queue/" to "running/" only if nobody took it first.
/// let r = client
///     .txn(
///         Txn::new()
///             .when("queue/job-7", CompareOp::NotEqual, CompareTarget::ModRevision(0))
///             .when_absent("running/job-7")
///             .and_then([TxnOp::delete("queue/job-7"), TxnOp::put("running/job-7", "w1")]),
///     )
///     .await?;
/// assert!(r.succeeded || r.results.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    compare: Vec<pb::Compare>,
    success: Vec<pb::TxnOp>,
    failure: Vec<pb::TxnOp>,
    fence: Option<Fence>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }

    /// The key's `target` field must be `op` the given value.
    pub fn when(mut self, key: impl Into<Vec<u8>>, op: CompareOp, target: CompareTarget) -> Self {
        use pb::compare::{Op, Target};
        let op = match op {
            CompareOp::Equal => Op::Equal,
            CompareOp::NotEqual => Op::NotEqual,
            CompareOp::Less => Op::Less,
            CompareOp::Greater => Op::Greater,
        };
        let target = match target {
            CompareTarget::ModRevision(v) => Target::ModRevision(v),
            CompareTarget::CreateRevision(v) => Target::CreateRevision(v),
            CompareTarget::Version(v) => Target::Version(v),
            CompareTarget::Value(v) => Target::Value(v),
        };
        self.compare.push(pb::Compare {
            key: key.into(),
            op: op.into(),
            target: Some(target),
        });
        self
    }

    /// The key must not exist.
    pub fn when_absent(self, key: impl Into<Vec<u8>>) -> Self {
        self.when(key, CompareOp::Equal, CompareTarget::ModRevision(0))
    }

    /// The key must be at exactly this `mod_revision` (what `put_if` checks).
    pub fn when_at(self, key: impl Into<Vec<u8>>, mod_revision: u64) -> Self {
        self.when(
            key,
            CompareOp::Equal,
            CompareTarget::ModRevision(mod_revision),
        )
    }

    /// Operations when every compare holds.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.success.extend(ops.into_iter().map(TxnOp::into_pb));
        self
    }

    /// Operations when a compare fails.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.failure.extend(ops.into_iter().map(TxnOp::into_pb));
        self
    }

    /// Apply only while `fence` (a lock token, an election term, an ownership epoch) is
    /// current ([`Error::StaleFence`] otherwise).
    pub fn fenced(mut self, fence: &Fence) -> Self {
        self.fence = Some(fence.clone());
        self
    }
}

impl Client {
    /// Applies `txn` as one write: its compares decide which branch runs, all at one
    /// revision. A retry with the same idempotency key applies it once. Input the cluster
    /// refuses (empty or oversized keys, over 128 compares or operations) is
    /// [`Error::InvalidArgument`]; nothing is written.
    pub async fn txn(&self, txn: Txn) -> Result<TxnResult> {
        if txn.success.is_empty() && txn.failure.is_empty() && txn.compare.is_empty() {
            return Err(Error::InvalidArgument("an empty transaction".into()));
        }
        let msg = pb::TxnRequest {
            header: Some(self.next_header()),
            compare: txn.compare,
            success: txn.success,
            failure: txn.failure,
            fence: txn.fence.as_ref().map(Fence::to_pb),
        };
        match self.send_write(WriteOp::Txn(msg)).await? {
            WriteOutcome::Txn(t) => Ok(t),
            _ => Err(mismatched_reply()),
        }
    }
}
