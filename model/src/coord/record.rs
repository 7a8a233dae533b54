//! Replicated records of leases, locks and elections.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What a lease keeps alive: revoking or expiring the lease releases all of it, atomically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attachment {
    /// Held or waited for, by owner.
    Lock { name: String, owner: String },
    /// Leading or campaigning, by candidate.
    Election { name: String, candidate: String },
    /// A key put with this lease (etcd's lease-attached keys).
    Key {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// A task run claimed under the lease.
    Task {
        workflow_id: String,
        task_id: String,
    },
    /// A workflow owned under the lease.
    Workflow { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub id: u64,
    pub ttl_ms: u64,
    /// Machine time (command time) after which the leader may expire it.
    pub expires_ms: u64,
    pub granted_revision: u64,
    pub attached: BTreeSet<Attachment>,
}

/// The holder of a lock or the leader of an election, or one waiting in line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Lock owner or election candidate.
    pub owner: String,
    pub lease: u64,
    /// Fencing token (lock) or term (election): the revision that granted it. 0 for waiters.
    pub token: u64,
    /// The election value (empty for locks).
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    pub since_ms: u64,
}

/// A lock and its FIFO queue of waiters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub name: String,
    pub holder: Option<Holder>,
    pub waiters: Vec<Holder>,
}

/// An election: the same shape as a lock (the leader holds it, candidates wait in line), with
/// the leader's value.
pub type ElectionRecord = LockRecord;
