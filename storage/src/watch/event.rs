//! The change events apply produces: one [`Change`] per object a command writes, grouped by
//! the revision (log index) of the entry that wrote it.
//!
//! A change carries the object's whole new state (and what a filter needs of the old one), so
//! a watcher can maintain its view from events alone, and filters decide from the event
//! without reading the store.

use cairn_model::KvRecord;
use cairn_model::checkpoint::CheckpointRecord;
use cairn_model::coord::LockRecord;
use cairn_model::workflow::vars::{VarScope, VarSet};
use cairn_model::workflow::{HistoryEvent, TaskRecord, WorkflowRecord};

/// One change of replicated state.
///
/// New domains add variants here (checkpoints of a workflow, leases, locks and elections);
/// every consumer matches exhaustively, so the compiler points at each place to extend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A key was written. `prev` is its record before (None: created), for etcd's `prev_kv`.
    KvPut {
        key: Vec<u8>,
        record: KvRecord,
        prev: Option<KvRecord>,
    },
    /// A key was deleted; `prev` is its last record.
    KvDelete { key: Vec<u8>, prev: KvRecord },
    /// A workflow was created or changed. `prev_status` is None on creation; a status filter
    /// matches the old status too, so a watcher sees a workflow leave the statuses it follows.
    WorkflowPut {
        record: Box<WorkflowRecord>,
        prev_status: Option<String>,
        /// The history event the change appended (what happened, who did it and why).
        history: Option<Box<HistoryEvent>>,
    },
    /// A workflow was deleted or purged (its tasks' deletions precede this in the revision).
    WorkflowDelete { record: Box<WorkflowRecord> },
    /// A task was created or changed.
    TaskPut { record: Box<TaskRecord> },
    /// A task was removed with its workflow.
    TaskDelete {
        workflow_id: String,
        task_id: String,
    },
    /// A checkpoint was saved (its metadata; the payload is read separately).
    CheckpointPut { record: Box<CheckpointRecord> },
    /// A checkpoint was purged or removed with its workflow.
    CheckpointDelete { workflow_id: String, id: String },
    /// A lock's holder or line changed (its whole new state).
    LockPut { record: Box<LockRecord> },
    /// A lock is free with nobody waiting (it no longer exists).
    LockDelete { name: String },
    /// An election's leader, value or candidates changed.
    ElectionPut { record: Box<LockRecord> },
    /// An election has no leader and no candidates.
    ElectionDelete { name: String },
    /// A new version of a scope's variables (the whole set). `namespace` is the scope's own
    /// or its workflow's, for filters.
    VarsPut {
        scope: VarScope,
        namespace: String,
        record: Box<VarSet>,
    },
    /// A scope's variables were removed (with their workflow).
    VarsDelete { scope: VarScope, namespace: String },
}

impl Change {
    /// Roughly the heap and inline bytes this change holds: what the history ring budgets.
    pub fn approx_bytes(&self) -> usize {
        const BASE: usize = 128;
        let kv = |r: &KvRecord| r.value.len() + 32;
        let wf = |r: &WorkflowRecord| {
            BASE + r.id.len()
                + r.namespace.len()
                + r.definition.len()
                + r.status.len()
                + r.metadata.len()
                + r.owner_id.len()
                + r.routing_strategy.len()
                + r.labels
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 48)
                    .sum::<usize>()
        };
        BASE + match self {
            Change::KvPut { key, record, prev } => {
                key.len() + kv(record) + prev.as_ref().map_or(0, kv)
            }
            Change::KvDelete { key, prev } => key.len() + kv(prev),
            Change::WorkflowPut {
                record, history, ..
            } => {
                wf(record)
                    + history.as_ref().map_or(0, |h| {
                        BASE + h.from.len()
                            + h.to.len()
                            + h.event.len()
                            + h.actor.len()
                            + h.reason.len()
                    })
            }
            Change::WorkflowDelete { record } => wf(record),
            Change::TaskPut { record: t } => {
                BASE + t.workflow_id.len()
                    + t.id.len()
                    + t.name.len()
                    + t.kind.len()
                    + t.agent_id.len()
                    + t.dependencies.iter().map(|d| d.len() + 24).sum::<usize>()
                    + t.input.len()
                    + t.output.len()
                    + t.error.len()
            }
            Change::TaskDelete {
                workflow_id,
                task_id,
            } => workflow_id.len() + task_id.len(),
            Change::CheckpointPut { record: c } => {
                BASE + c.workflow_id.len()
                    + c.id.len()
                    + c.label.len()
                    + c.metadata.len()
                    + c.blob_id.len()
                    + c.workflow_status.len()
                    + c.workflow_metadata.len()
            }
            Change::CheckpointDelete { workflow_id, id } => workflow_id.len() + id.len(),
            Change::LockPut { record } | Change::ElectionPut { record } => {
                record.name.len()
                    + record
                        .holder
                        .iter()
                        .chain(&record.waiters)
                        .map(|h| BASE + h.owner.len() + h.value.len())
                        .sum::<usize>()
            }
            Change::LockDelete { name } | Change::ElectionDelete { name } => name.len(),
            Change::VarsPut {
                scope,
                namespace,
                record,
            } => {
                scope.name().len()
                    + namespace.len()
                    + record.updated_by.len()
                    + record
                        .values
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 48)
                        .sum::<usize>()
                    + record.immutable.iter().map(|k| k.len() + 24).sum::<usize>()
            }
            Change::VarsDelete { scope, namespace } => scope.name().len() + namespace.len(),
        }
    }
}

/// Every change one log entry made, in the order it made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionEvents {
    pub revision: u64,
    pub changes: Vec<Change>,
}

impl RevisionEvents {
    pub fn approx_bytes(&self) -> usize {
        64 + self.changes.iter().map(Change::approx_bytes).sum::<usize>()
    }
}
