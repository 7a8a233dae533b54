//! The key-value API's plain types: what reads, deletes and ranges return. Data only (no
//! client calls, no errors), so `pending::WriteOutcome` can name [`DeleteResult`] while `kv`
//! sends its writes through `pending`.

use cairn_api::v1 as pb;

/// A stored key with its revisions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Revision of the write that created the key (since its last deletion).
    pub create_revision: u64,
    /// Revision of the last write to the key: the value to pass to `put_if` / `delete_if`.
    pub mod_revision: u64,
    /// Number of writes since creation (1 after the first put).
    pub version: u64,
}

impl From<pb::KeyValue> for KeyValue {
    fn from(kv: pb::KeyValue) -> Self {
        Self {
            key: kv.key,
            value: kv.value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
        }
    }
}

/// The outcome of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteResult {
    /// Revision of the delete (the cluster's revision at that point if nothing was deleted).
    pub revision: u64,
    /// Whether the key existed.
    pub deleted: bool,
}

/// One page of a prefix range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePage {
    /// The keys of this page, in key order.
    pub kvs: Vec<KeyValue>,
    /// `Some(key)` when more keys follow: pass it as `start_after` for the next page.
    pub next_key: Option<Vec<u8>>,
    /// Last revision applied on the node that served the page.
    pub revision: u64,
}

/// What one operation of the branch that ran did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOpResult {
    Put,
    /// Whether the key existed.
    Deleted(bool),
    Get(Option<KeyValue>),
}

/// What [`Client::txn`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResult {
    /// Every compare held, so the `and_then` operations ran.
    pub succeeded: bool,
    /// One per operation of the branch that ran.
    pub results: Vec<TxnOpResult>,
    pub revision: u64,
}
