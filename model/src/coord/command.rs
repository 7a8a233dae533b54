//! Replicated coordination commands, their replies and typed rejections.

use serde::{Deserialize, Serialize};

use super::record::Holder;

/// TTL bounds the state machine itself enforces (nodes may configure narrower ones).
pub const MIN_TTL_MS: u64 = 1;
pub const MAX_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

/// Longest owner or candidate id, in bytes.
pub const MAX_OWNER_BYTES: usize = 256;
/// Largest election value: it is copied into every leadership record and change event.
pub const MAX_ELECTION_VALUE_BYTES: usize = 64 * 1024;

/// The lease a lock or candidacy is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseChoice {
    Existing(u64),
    /// Grant a new lease (its id is the entry's revision) in the same command.
    New {
        ttl_ms: u64,
    },
}

/// A write's proof that its sender still holds a lock or leads an election. The machine
/// refuses the write (nothing applied) if the token or term is not the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fence {
    Lock {
        name: String,
        token: u64,
    },
    Election {
        name: String,
        term: u64,
    },
    /// The sender still owns workflow `workflow_id` from `epoch` (its adoption's revision)
    /// under a live lease.
    Owner {
        workflow_id: String,
        epoch: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordCommand {
    GrantLease {
        /// None: the entry's revision.
        id: Option<u64>,
        ttl_ms: u64,
    },
    KeepAlive {
        id: u64,
    },
    RevokeLease {
        id: u64,
    },
    /// Leader-proposed: expire these leases if, at this command's time, they are past due.
    ExpireLeases {
        ids: Vec<u64>,
    },
    /// Proposed by a new leader, before it expires anything, for every lease it sees: each
    /// gets a full TTL from now, so a leader change never revokes a lease early. (A lease
    /// granted after the leader looked was granted later, so it is fresh anyway.)
    RenewLeases {
        ids: Vec<u64>,
    },
    Acquire {
        name: String,
        owner: String,
        lease: LeaseChoice,
        /// Join the queue when held by someone else (else answer `Busy`).
        wait: bool,
    },
    Release {
        name: String,
        owner: String,
        token: u64,
    },
    /// Leave a lock's queue (a waiter that gave up).
    CancelWait {
        name: String,
        owner: String,
    },
    Campaign {
        election: String,
        candidate: String,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        lease: LeaseChoice,
    },
    Resign {
        election: String,
        candidate: String,
        term: u64,
    },
    Proclaim {
        election: String,
        candidate: String,
        term: u64,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordReply {
    Lease {
        id: u64,
        ttl_ms: u64,
        expires_ms: u64,
    },
    /// Revoked (or expired) leases, and what they released.
    LeasesEnded {
        ids: Vec<u64>,
    },
    LeasesRenewed {
        count: u64,
    },
    /// The lock is (now or already) held by this owner with this token; `lease` is the lease
    /// it is bound to (new when the command granted one).
    Acquired {
        token: u64,
        lease: u64,
    },
    /// In line at `position` (1 = next).
    Queued {
        position: u32,
        lease: u64,
    },
    /// Held by someone else and the caller would not wait.
    Busy {
        holder: Holder,
    },
    /// Released (or resigned); `next` now holds it, if anyone waited.
    Released {
        next: Option<Holder>,
    },
    WaitCancelled,
    Elected {
        term: u64,
        lease: u64,
    },
    Proclaimed {
        term: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CoordError {
    #[error("lease {0} not found (expired, revoked or never granted)")]
    UnknownLease(u64),
    #[error("lease {0} already exists")]
    LeaseExists(u64),
    #[error("ttl {ttl_ms} ms is out of range [{min_ms}, {max_ms}]")]
    InvalidTtl {
        ttl_ms: u64,
        min_ms: u64,
        max_ms: u64,
    },
    #[error("invalid name {0:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidName(String),
    #[error("owner or candidate id must be 1-256 bytes")]
    InvalidOwner,
    #[error("{owner} does not hold {name} with token {token}")]
    NotHolder {
        name: String,
        owner: String,
        token: u64,
    },
    #[error("{owner} is not waiting for {name}")]
    NotWaiting { name: String, owner: String },
    #[error("stale fence on {name}: token/term {presented}, current {current}")]
    StaleFence {
        name: String,
        presented: u64,
        /// The current token or term (0 if nobody holds it).
        current: u64,
    },
}

impl CoordCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CoordCommand::GrantLease { .. } => "grant_lease",
            CoordCommand::KeepAlive { .. } => "keep_alive",
            CoordCommand::RevokeLease { .. } => "revoke_lease",
            CoordCommand::ExpireLeases { .. } => "expire_leases",
            CoordCommand::RenewLeases { .. } => "renew_leases",
            CoordCommand::Acquire { .. } => "acquire",
            CoordCommand::Release { .. } => "release",
            CoordCommand::CancelWait { .. } => "cancel_wait",
            CoordCommand::Campaign { .. } => "campaign",
            CoordCommand::Resign { .. } => "resign",
            CoordCommand::Proclaim { .. } => "proclaim",
        }
    }

    /// Whether only the leader's own duties propose it (see `Command::is_internal`).
    pub fn is_internal(&self) -> bool {
        match self {
            CoordCommand::GrantLease { .. }
            | CoordCommand::KeepAlive { .. }
            | CoordCommand::RevokeLease { .. }
            | CoordCommand::Acquire { .. }
            | CoordCommand::Release { .. }
            | CoordCommand::CancelWait { .. }
            | CoordCommand::Campaign { .. }
            | CoordCommand::Resign { .. }
            | CoordCommand::Proclaim { .. } => false,
            // The lease keeper (`lease_keeper.rs`): expiry and a new leader's renewal are the
            // leader's decisions, on its clock; a client revokes or keeps alive one lease.
            CoordCommand::ExpireLeases { .. } | CoordCommand::RenewLeases { .. } => true,
        }
    }
}
