//! The state machine's record of one KV key, shared by plain puts and etcd transactions.

use serde::{Deserialize, Serialize};

/// The state machine's record of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvRecord {
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// Revision that created the key (since its last deletion).
    pub create_revision: u64,
    /// Revision of the last write to the key.
    pub mod_revision: u64,
    /// Number of writes since creation (1 after the first put).
    pub version: u64,
    /// The lease the key is attached to (0 = none): revoking or expiring it deletes the key.
    pub lease: u64,
}
