//! The replicated command set: what a log entry asks the state machine to do, and the typed
//! reply it gives. Applying a command is deterministic (see cairn-storage's machine module), so
//! everything the apply needs, including the time, travels inside the [`Request`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmCommand;
use crate::auth::{AuthCommand, AuthError, AuthStamp};
use crate::checkpoint::{CheckpointCommand, CheckpointError, CheckpointReply};
use crate::coord::{CoordCommand, CoordError, CoordReply, Fence};
use crate::step::{Step, StepPart, StepReply};
use crate::txn::{KvError, TxnCommand, TxnReply};
use crate::workflow::limits::RecordLimits;
use crate::workflow::{WorkflowCommand, WorkflowError, WorkflowReply};

/// Identifies one logical client request across retries (Raft thesis §6.3): the state machine
/// remembers the reply of each `(client_id, sequence)` until the client acknowledges it and
/// returns it again for a duplicate instead of applying twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Session {
    pub client_id: String,
    pub sequence: u64,
    /// The client's lowest sequence still awaiting its final answer (0 = not reported). Every
    /// reply below it has reached the client, so the machine may forget it.
    pub first_incomplete: u64,
}

/// A log entry's application payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub session: Option<Session>,
    /// The proposing leader's wall clock, ms since the Unix epoch. The machine never reads a
    /// clock itself; every replica sees this same value.
    pub time_ms: u64,
    /// Apply only if this lock/election is still held with this token/term.
    pub fence: Option<Fence>,
    /// The user the serving node authorized this request for, while auth is on (None for
    /// the leader's own duties, and while auth is off).
    pub auth: Option<AuthStamp>,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Write `value` under `key`. With `expected_revision`, only if the key's current
    /// mod-revision equals it (0 = the key must not exist).
    Put {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        expected_revision: Option<u64>,
    },
    /// Remove `key`, optionally only at `expected_revision`.
    Delete {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        expected_revision: Option<u64>,
    },
    Workflow(WorkflowCommand),
    Checkpoint(CheckpointCommand),
    Coord(CoordCommand),
    /// An etcd-style transaction (also etcd's Put and DeleteRange).
    Txn(TxnCommand),
    /// Forget key history at and below `revision`: every node drops it from its watch
    /// history, and reads and watches from below it answer `Compacted`.
    Compact {
        revision: u64,
    },
    /// Name the cluster, once: the first leader proposes a random id; later ones change
    /// nothing. A restore names the new cluster itself (see cairn-storage's restore).
    SetClusterId {
        id: u64,
    },
    /// Users, roles, permissions, auth on/off (etcd's Auth service).
    Auth(AuthCommand),
    /// The limits apply enforces on workflow records (merged metadata, labels): proposed by
    /// the leader from its configuration, so they are replicated state, never a node's flags.
    SetRecordLimits(RecordLimits),
    /// The data-directory size at which a member raises NOSPACE (0: no quota): proposed by
    /// the leader from its configuration, like the record limits.
    SetQuota {
        backend_bytes: u64,
    },
    /// Raise or clear an alarm (etcd's Alarm). Members raise NOSPACE themselves.
    Alarm(AlarmCommand),
    /// The leader learned a member's data-directory incarnation (a random id made with the
    /// directory). The first record of a member stands while it is a member: a node that comes
    /// back with an empty directory under a recorded id has lost its data (and its votes) and
    /// refuses to start (see cairn-server's `bootstrap`).
    RecordIncarnation {
        node: u64,
        incarnation: u64,
    },
    /// Atomic steps over workflows (see [`crate::step`]): all of them apply, or none.
    Steps(Vec<Step>),
}

/// The state machine's reply to one applied entry. `revision` is the entry's log index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Put {
        revision: u64,
    },
    Delete {
        revision: u64,
        deleted: bool,
    },
    Workflow {
        revision: u64,
        reply: WorkflowReply,
    },
    Checkpoint {
        revision: u64,
        reply: CheckpointReply,
    },
    Coord {
        revision: u64,
        reply: CoordReply,
    },
    Txn {
        revision: u64,
        reply: TxnReply,
    },
    Compacted {
        revision: u64,
    },
    /// A deterministic rejection: nothing was written.
    Rejected(CommandError),
    /// Reply to a blank or membership entry, which carry no command.
    Empty {
        revision: u64,
    },
    /// An auth command took effect; `revision` is also the new auth revision.
    Auth {
        revision: u64,
    },
    /// Every step applied, at `revision`: one reply per step, in order.
    Steps {
        revision: u64,
        replies: Vec<StepReply>,
    },
}

/// Why the machine refused a command. Every replica refuses identically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error("revision mismatch: expected {expected}, current {current}")]
    RevisionMismatch { expected: u64, current: u64 },
    /// A retry of a sequence whose reply the machine no longer keeps (the client reported it
    /// done, or it fell out of the per-client reply window): whether the original was applied
    /// is unknown here, and applying it again could duplicate it.
    #[error(
        "request {sequence} is older than this client's remembered requests (from {floor}); \
         its outcome is unknown"
    )]
    StaleSequence { sequence: u64, floor: u64 },
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Coord(#[from] CoordError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A NOSPACE alarm stands: writes that can grow the state are refused (etcd's words).
    #[error("mvcc: database space exceeded")]
    NoSpace,
    /// A part of a step refused the whole batch of steps (nothing was written).
    #[error("step {step} ({part}): {error}")]
    Step {
        step: u32,
        part: StepPart,
        error: Box<CommandError>,
    },
}

impl CommandError {
    /// The refusal of `part` of step `step`.
    pub fn in_step(self, step: usize, part: StepPart) -> Self {
        CommandError::Step {
            step: u32::try_from(step).unwrap_or(u32::MAX),
            part,
            error: Box::new(self),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.command {
            Command::Put { key, value, .. } => {
                write!(
                    f,
                    "put({} bytes key, {} bytes value)",
                    key.len(),
                    value.len()
                )
            }
            Command::Delete { key, .. } => write!(f, "delete({} bytes key)", key.len()),
            Command::Workflow(c) => write!(f, "workflow({})", c.name()),
            Command::Checkpoint(c) => write!(f, "checkpoint({})", c.name()),
            Command::Coord(c) => write!(f, "coord({})", c.name()),
            Command::Txn(t) => write!(
                f,
                "txn({} compares, {}/{} ops)",
                t.compare.len(),
                t.success.len(),
                t.failure.len()
            ),
            Command::Compact { revision } => write!(f, "compact({revision})"),
            Command::SetClusterId { id } => write!(f, "set_cluster_id({id:x})"),
            Command::RecordIncarnation { node, incarnation } => {
                write!(f, "record_incarnation({node}, {incarnation:x})")
            }
            Command::Auth(c) => write!(f, "auth({})", c.name()),
            Command::SetRecordLimits(_) => write!(f, "set_record_limits"),
            Command::SetQuota { backend_bytes } => write!(f, "set_quota({backend_bytes})"),
            Command::Alarm(c) => write!(f, "alarm({})", c.name()),
            Command::Steps(steps) => write!(f, "steps({})", steps.len()),
        }
    }
}

impl Command {
    /// Whether only the leader's own duties propose this command, straight into its Raft
    /// (`Proposer::write_local`): never a client's request, never a forwarded one, so the
    /// peer port and [`Request::check_input`] refuse it. No `_` arm: a new command decides.
    pub fn is_internal(&self) -> bool {
        match self {
            Command::Put { .. }
            | Command::Delete { .. }
            | Command::Txn(_)
            | Command::Compact { .. }
            | Command::Auth(_)
            | Command::Steps(_) => false,
            Command::Workflow(c) => c.is_internal(),
            Command::Checkpoint(c) => c.is_internal(),
            Command::Coord(c) => c.is_internal(),
            // The first leader names the cluster (`cluster_id.rs`); a restore names its own.
            Command::SetClusterId { .. } | Command::RecordIncarnation { .. } => true,
            // The leader's configuration (`record_limits.rs`).
            Command::SetRecordLimits(_) | Command::SetQuota { .. } => true,
            // A member raises its own NOSPACE through any path, the leader's included.
            Command::Alarm(_) => false,
        }
    }
}

impl Request {
    /// A request a node makes itself (the leader's duties, a member's alarm): no session, no
    /// fence, no user. The leader stamps its time when it proposes it.
    pub fn from_node(command: Command) -> Self {
        Self {
            session: None,
            time_ms: 0,
            fence: None,
            auth: None,
            command,
        }
    }

    /// How many bytes the request occupies encoded. Replication reads use it to keep an
    /// AppendEntries under the peer message limit when entries are large.
    pub fn encoded_len(&self) -> usize {
        // Every replicated request encodes; should one not, it counts as huge, which only
        // makes a replication read stop early.
        crate::codec::encoded_len(self).unwrap_or(usize::MAX / 2)
    }
}

impl Response {
    /// The revision at which the entry was applied, if the command was not rejected.
    pub fn revision(&self) -> Option<u64> {
        match self {
            Response::Put { revision }
            | Response::Delete { revision, .. }
            | Response::Workflow { revision, .. }
            | Response::Checkpoint { revision, .. }
            | Response::Coord { revision, .. }
            | Response::Txn { revision, .. }
            | Response::Compacted { revision }
            | Response::Empty { revision }
            | Response::Auth { revision }
            | Response::Steps { revision, .. } => Some(*revision),
            Response::Rejected(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Command, Request, Session};

    #[test]
    fn encoded_len_is_the_length_encode_produces() {
        let req = Request {
            session: Some(Session {
                client_id: "c".repeat(32),
                sequence: 7,
                first_incomplete: 5,
            }),
            time_ms: 1_700_000_000_000,
            fence: None,
            auth: None,
            command: Command::Put {
                key: b"k".to_vec(),
                value: vec![9; 1 << 20],
                expected_revision: Some(3),
            },
        };
        assert_eq!(req.encoded_len(), crate::codec::encode(&req).unwrap().len());
    }
}
