//! What a replicated [`Request`] may carry when it comes from outside the leader's own duties:
//! a client's request, checked by the node that received it before it proposes or forwards
//! it, and a write a follower forwards, checked again by the leader (with the leader's limits)
//! before it proposes it. Both run the one function [`Request::check_input`], so a request
//! that arrives on the peer port meets exactly the checks a client's request meets.
//!
//! The checks need no state: sizes against the node's limits ([`InputLimits`]), ids, JSON,
//! workflow definitions, lease TTL bounds, the shape of a transaction. Whatever depends on
//! state (existence, versions, legal transitions, fences) the state machine checks at apply.
//!
//! Internal commands ([`Command::is_internal`]) are proposed only by the leader's own duties,
//! straight into its Raft; from a client or a peer they are refused ([`InputError::Internal`]).
//! The domain parts live beside their commands (`workflow/input.rs`, `coord/input.rs`,
//! `checkpoint/input.rs`, `txn/input.rs`).

use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointError;
use crate::command::{Command, Request, Session};
use crate::coord::{CoordError, Fence};
use crate::step::{MAX_STEPS, Step, StepPart};
use crate::txn::KvError;
use crate::workflow::WorkflowError;
use crate::workflow::limits::{LimitError, RecordLimits};
use crate::workflow::names::is_valid_id;

/// Longest client id of an idempotency session.
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// Longest short text: owner ids, routing strategies, actors, task names, kinds and agent
/// ids, checkpoint labels.
pub const MAX_SHORT_TEXT: usize = 256;
/// Longest transition, update or rollback reason.
pub const MAX_REASON: usize = 4096;

/// A node's input limits (its configuration). Nodes of one cluster should agree: the node a
/// client calls checks with its own, and the leader checks a forwarded request again with its
/// own, so the narrower of the two wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// Workflow and checkpoint metadata, workflow labels, task JSON fields.
    pub records: RecordLimits,
    /// Lease TTLs accepted (the node's, within the machine's own `MIN_TTL_MS..=MAX_TTL_MS`).
    pub min_lease_ttl_ms: u64,
    pub max_lease_ttl_ms: u64,
    /// Largest raw checkpoint payload.
    pub max_checkpoint_bytes: u64,
}

/// Why a request's input was refused; nothing was proposed. It travels from the leader back to
/// a forwarding follower (inside cairn-raft's `ForwardError`), so new variants go last:
/// variants travel by index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum InputError {
    /// A command only the leader's own duties propose.
    #[error("{command} is proposed only by the leader itself, never by a client or a peer")]
    Internal { command: String },
    #[error("{field} must not be empty")]
    Empty { field: String },
    #[error("{field} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        field: String,
        size: usize,
        limit: usize,
    },
    #[error("{count} {field}; the limit is {limit}")]
    TooMany {
        field: String,
        count: usize,
        limit: usize,
    },
    #[error("{field}: invalid id {value:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidId { field: String, value: String },
    /// Any other bad field; the message is `field reason`.
    #[error("{field} {reason}")]
    Invalid { field: String, reason: String },
    /// The workflow rules' own errors (limits, JSON, definitions, duplicate tasks), so the
    /// caller sees the same kind as when the machine refuses.
    #[error(transparent)]
    Workflow(WorkflowError),
    #[error(transparent)]
    Checkpoint(CheckpointError),
    #[error(transparent)]
    Coord(CoordError),
    /// A transaction etcd itself would refuse before proposing.
    #[error(transparent)]
    Kv(KvError),
    /// An auth command's empty user or role name (etcd's own errors).
    #[error(transparent)]
    Auth(crate::auth::AuthError),
    /// A part of an atomic step (`crate::step`) failed its own check.
    #[error("steps[{step}].{part}: {error}")]
    Step {
        step: u32,
        part: crate::step::StepPart,
        error: Box<InputError>,
    },
}

impl Request {
    /// Checks everything about this request that needs no state, against `limits`. The node
    /// runs it before proposing a client's request and, as leader, before proposing a
    /// forwarded one; an internal command always fails it.
    pub fn check_input(&self, limits: &InputLimits) -> Result<(), InputError> {
        // The command first, then the fence and the session: the order a service checks in.
        self.command.check_input(limits)?;
        if let Some(fence) = &self.fence {
            check_fence(fence)?;
        }
        if let Some(session) = &self.session {
            check_session(session)?;
        }
        Ok(())
    }
}

impl Command {
    /// The command's part of [`Request::check_input`].
    pub fn check_input(&self, limits: &InputLimits) -> Result<(), InputError> {
        match self {
            Command::Put { key, value, .. } => {
                check_key("key", key, limits)?;
                size("value", value.len(), limits.max_value_bytes)
            }
            Command::Delete { key, .. } => check_key("key", key, limits),
            Command::Workflow(c) => c.check_input(&limits.records),
            Command::Checkpoint(c) => c.check_input(limits),
            Command::Coord(c) => c.check_input(limits),
            Command::Txn(t) => t.check_input(limits),
            // Any revision: the machine answers one it cannot compact with a rejection.
            Command::Compact { .. } => Ok(()),
            Command::SetClusterId { .. } => Err(internal("set_cluster_id")),
            Command::RecordIncarnation { .. } => Err(internal("record_incarnation")),
            Command::Auth(c) => c.check_input(limits),
            Command::SetRecordLimits(_) => Err(internal("set_record_limits")),
            Command::SetQuota { .. } => Err(internal("set_quota")),
            Command::Alarm(_) => Ok(()),
            Command::Steps(steps) => check_steps(steps, limits),
        }
    }

    /// [`InputError::Internal`] for an internal command ([`Command::is_internal`]): what the
    /// peer port answers such a command whatever else it checks.
    pub fn check_not_internal(&self) -> Result<(), InputError> {
        if self.is_internal() {
            return Err(internal(&self.label()));
        }
        Ok(())
    }

    /// `domain.name` for messages, as the domain `check_input`s name their internal commands.
    fn label(&self) -> String {
        match self {
            Command::Put { .. } => "put".into(),
            Command::Delete { .. } => "delete".into(),
            Command::Workflow(c) => format!("workflow.{}", c.name()),
            Command::Checkpoint(c) => format!("checkpoint.{}", c.name()),
            Command::Coord(c) => format!("coord.{}", c.name()),
            Command::Txn(_) => "txn".into(),
            Command::Compact { .. } => "compact".into(),
            Command::SetClusterId { .. } => "set_cluster_id".into(),
            Command::RecordIncarnation { .. } => "record_incarnation".into(),
            Command::Auth(c) => format!("auth.{}", c.name()),
            Command::SetRecordLimits(_) => "set_record_limits".into(),
            Command::SetQuota { .. } => "set_quota".into(),
            Command::Alarm(c) => format!("alarm.{}", c.name()),
            Command::Steps(_) => "steps".into(),
        }
    }
}

/// The input check of a batch: 1..=[`MAX_STEPS`] steps, each part meeting its own command's
/// check. A refusal names the step and the part ([`InputError::Step`]).
fn check_steps(steps: &[Step], limits: &InputLimits) -> Result<(), InputError> {
    if steps.is_empty() {
        return Err(InputError::Empty {
            field: "steps".into(),
        });
    }
    count("steps", steps.len(), MAX_STEPS)?;
    let mut saved = std::collections::BTreeSet::new();
    for (i, step) in steps.iter().enumerate() {
        let in_step = |part, e| InputError::Step {
            step: u32::try_from(i).unwrap_or(u32::MAX),
            part,
            error: Box::new(e),
        };
        step.check_input(limits)
            .map_err(|(part, e)| in_step(part, e))?;
        // A checkpoint's id is `ckpt-<revision>`: two of one workflow in one entry would be
        // the same checkpoint.
        if let Some(c) = &step.checkpoint
            && !saved.insert(c.workflow_id.as_str())
        {
            return Err(in_step(
                StepPart::Checkpoint,
                invalid(
                    "workflow_id",
                    "names a workflow another step of the batch saves a checkpoint of",
                ),
            ));
        }
    }
    Ok(())
}

fn check_session(s: &Session) -> Result<(), InputError> {
    // A request without a client id carries no session at all; an empty id would make every
    // such request one client's.
    if s.client_id.is_empty() {
        return Err(InputError::Empty {
            field: "header.client_id".into(),
        });
    }
    size("header.client_id", s.client_id.len(), MAX_CLIENT_ID_BYTES)
}

pub(crate) fn check_fence(f: &Fence) -> Result<(), InputError> {
    let (name, token) = match f {
        Fence::Lock { name, token } => (name, *token),
        Fence::Election { name, term } => (name, *term),
        Fence::Owner { workflow_id, epoch } => (workflow_id, *epoch),
    };
    // Token 0 would match a lock nobody holds, which proves nothing.
    if token == 0 {
        return Err(invalid(
            "fence.token",
            "must be positive (a lock token or term)",
        ));
    }
    check_name(name)
}

/// A KV key: not empty, within the key limit.
pub(crate) fn check_key(field: &str, key: &[u8], limits: &InputLimits) -> Result<(), InputError> {
    if key.is_empty() {
        return Err(InputError::Empty {
            field: field.into(),
        });
    }
    size(field, key.len(), limits.max_key_bytes)
}

/// A lock or election name: the same rule as workflow ids.
pub(crate) fn check_name(name: &str) -> Result<(), InputError> {
    if is_valid_id(name) {
        Ok(())
    } else {
        Err(InputError::Coord(CoordError::InvalidName(name.to_string())))
    }
}

/// `value` must be an id (1-256 of [A-Za-z0-9_.:/-]).
pub(crate) fn id(field: &str, value: &str) -> Result<(), InputError> {
    if is_valid_id(value) {
        return Ok(());
    }
    Err(InputError::InvalidId {
        field: field.into(),
        value: value.into(),
    })
}

/// `value` must be at most `limit` bytes.
pub(crate) fn text(field: &str, value: &str, limit: usize) -> Result<(), InputError> {
    size(field, value.len(), limit)
}

/// `size` bytes must be at most `limit`.
pub(crate) fn size(field: &str, size: usize, limit: usize) -> Result<(), InputError> {
    if size > limit {
        return Err(InputError::TooLarge {
            field: field.into(),
            size,
            limit,
        });
    }
    Ok(())
}

/// `count` items must be at most `limit`.
pub(crate) fn count(field: &str, count: usize, limit: usize) -> Result<(), InputError> {
    if count > limit {
        return Err(InputError::TooMany {
            field: field.into(),
            count,
            limit,
        });
    }
    Ok(())
}

pub(crate) fn invalid(field: &str, reason: &str) -> InputError {
    InputError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn internal(command: &str) -> InputError {
    InputError::Internal {
        command: command.into(),
    }
}

/// A record-limit failure, as the workflow error the machine would give.
pub(crate) fn limit(e: LimitError) -> InputError {
    InputError::Workflow(WorkflowError::Limit(e))
}

/// Metadata: a JSON object within the metadata limit.
pub(crate) fn check_metadata(limits: &RecordLimits, text: &str) -> Result<(), InputError> {
    limits
        .parse_metadata(text.as_bytes())
        .map(|_| ())
        .map_err(limit)
}

#[cfg(test)]
mod tests;
