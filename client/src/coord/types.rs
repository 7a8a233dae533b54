//! The coordination API's public types (leases, holders, lock and election state, fences) and
//! their conversions from the wire messages.

use std::time::Duration;

use cairn_api::v1 as pb;

/// A write's proof that its sender still holds a lock or leads an election. The cluster
/// refuses a write carrying a fence whose token (or term) is no longer current, with
/// [`crate::Error::StaleFence`], and writes nothing. See [`crate::Client::fenced`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fence {
    /// Lock `name` held with fencing token `token`.
    Lock { name: String, token: u64 },
    /// Election `name` led in term `term`.
    Election { name: String, term: u64 },
    /// Workflow `workflow_id` owned from `epoch` (see [`crate::Client::adopt_workflow`]).
    Owner { workflow_id: String, epoch: u64 },
}

impl Fence {
    pub fn lock(name: impl Into<String>, token: u64) -> Self {
        Fence::Lock {
            name: name.into(),
            token,
        }
    }

    pub fn election(name: impl Into<String>, term: u64) -> Self {
        Fence::Election {
            name: name.into(),
            term,
        }
    }

    pub fn owner(workflow_id: impl Into<String>, epoch: u64) -> Self {
        Fence::Owner {
            workflow_id: workflow_id.into(),
            epoch,
        }
    }

    pub(crate) fn to_pb(&self) -> pb::Fence {
        use pb::fence::Target;
        match self {
            Fence::Lock { name, token } => pb::Fence {
                target: Some(Target::Lock(name.clone())),
                token: *token,
            },
            Fence::Election { name, term } => pb::Fence {
                target: Some(Target::Election(name.clone())),
                token: *term,
            },
            Fence::Owner { workflow_id, epoch } => pb::Fence {
                target: Some(Target::Workflow(workflow_id.clone())),
                token: *epoch,
            },
        }
    }
}

/// A lease as the cluster answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseInfo {
    pub id: u64,
    pub ttl: Duration,
    /// The cluster leader's clock (ms since the Unix epoch) after which the lease may end.
    pub expires_ms: u64,
    /// Time left when the answering node looked (by its clock).
    pub remaining: Duration,
}

impl LeaseInfo {
    pub(crate) fn from_pb(l: pb::Lease) -> Self {
        Self {
            id: l.id,
            ttl: Duration::from_millis(l.ttl_ms),
            expires_ms: l.expires_ms,
            remaining: Duration::from_millis(l.remaining_ms),
        }
    }
}

/// Something a lease keeps alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAttachment {
    /// Lock `name`, held or waited for by `owner`.
    Lock { name: String, owner: String },
    /// Election `name`, led or campaigned for by `candidate`.
    Election { name: String, candidate: String },
    /// A key put with the lease through the etcd API.
    Key(Vec<u8>),
    /// A claimed task run, as `<workflow id>/<task id>`.
    Task(String),
    /// A workflow owned under the lease.
    Workflow(String),
}

/// A lease and what it keeps alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseDetails {
    pub lease: LeaseInfo,
    pub attached: Vec<LeaseAttachment>,
}

impl LeaseDetails {
    pub(crate) fn from_pb(lease: pb::Lease, attached: Vec<pb::LeaseAttachment>) -> Self {
        use pb::lease_attachment::Target;
        Self {
            lease: LeaseInfo::from_pb(lease),
            attached: attached
                .into_iter()
                .filter_map(|a| match a.target? {
                    Target::Lock(name) => Some(LeaseAttachment::Lock {
                        name,
                        owner: a.owner,
                    }),
                    Target::Election(name) => Some(LeaseAttachment::Election {
                        name,
                        candidate: a.owner,
                    }),
                    Target::Key(key) => Some(LeaseAttachment::Key(key)),
                    Target::Task(t) => Some(LeaseAttachment::Task(t)),
                    Target::Workflow(id) => Some(LeaseAttachment::Workflow(id)),
                })
                .collect(),
        }
    }
}

/// The holder of a lock or leader of an election, or one waiting in line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Lock owner or election candidate.
    pub owner: String,
    pub lease_id: u64,
    /// Fencing token (lock) or term (election); 0 while waiting.
    pub token: u64,
    /// The election value (empty for locks).
    pub value: Vec<u8>,
    /// When it got the lock or leadership, or joined the line (leader's clock, ms).
    pub since_ms: u64,
}

impl From<pb::Holder> for Holder {
    fn from(h: pb::Holder) -> Self {
        Self {
            owner: h.owner,
            lease_id: h.lease_id,
            token: h.token,
            value: h.value,
            since_ms: h.since_ms,
        }
    }
}

/// A lock's holder and its line of waiters (next first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    pub name: String,
    pub holder: Option<Holder>,
    pub waiters: Vec<Holder>,
}

impl From<pb::Lock> for LockState {
    fn from(l: pb::Lock) -> Self {
        Self {
            name: l.name,
            holder: l.holder.map(Holder::from),
            waiters: l.waiters.into_iter().map(Holder::from).collect(),
        }
    }
}

/// An election's leader and the candidates in line (next first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    pub leader: Option<Holder>,
    pub candidates: Vec<Holder>,
    /// Last revision applied on the node that answered.
    pub revision: u64,
}

/// One observed change of an election's leadership: a new leader (or term), a proclaimed
/// value, or no leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderChange {
    pub leader: Option<Holder>,
    /// The revision the observing node had applied when it saw the change.
    pub revision: u64,
}

/// What a coordination write returned, for [`crate::Client::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoordOutcome {
    /// A granted or renewed lease.
    Lease(LeaseInfo),
    Revoked {
        revision: u64,
    },
    /// The lock is held with this fencing token, bound to this lease.
    Acquired {
        token: u64,
        lease_id: u64,
    },
    /// Held by someone else (a try-once acquire).
    Busy(Holder),
    /// Released or resigned: `next` holds it now, if anyone waited.
    Released {
        next: Option<Holder>,
        revision: u64,
    },
    Elected {
        term: u64,
        lease_id: u64,
    },
    Proclaimed {
        term: u64,
        revision: u64,
    },
}
