//! The replicated workflow records as the state machine stores them and readers return them:
//! a workflow, one of its tasks, and one history event. JSON fields travel as canonical text
//! (postcard cannot carry `serde_json::Value`), and every record names the revision that last
//! wrote it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::task::{RetryPolicy, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    pub id: String,
    pub namespace: String,
    pub definition: String,
    pub definition_version: u32,
    pub status: String,
    /// 1 at creation, +1 on every change of this record (status, metadata, labels, fields).
    /// Task changes do not bump it: agents reporting progress must not make an orchestrator's
    /// optimistic transition fail.
    pub version: u64,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// When the workflow first left its initial state.
    pub started_ms: Option<u64>,
    /// When it entered a terminal state.
    pub finished_ms: Option<u64>,
    /// A JSON object, canonical text (keys sorted).
    pub metadata: String,
    pub labels: BTreeMap<String, String>,
    pub owner_id: String,
    pub routing_strategy: String,
    pub max_concurrent: u32,
    pub total_tasks: u32,
    /// History events of versions below this were compacted away (0 or 1: none were).
    pub history_floor: u64,
    /// The lease the owner holds the workflow under (0: not owned under a lease). When it
    /// ends the workflow is orphaned until someone adopts it.
    pub owner_lease: u64,
    /// The revision that gave the current owner the workflow: its fencing token
    /// (`Fence::Owner`). 0 while nobody ever owned it under a lease.
    pub owner_epoch: u64,
    /// When its owner's lease ended, while nobody has adopted it since.
    pub orphaned_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub workflow_id: String,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: TaskStatus,
    pub agent_id: String,
    pub dependencies: Vec<String>,
    /// JSON text, empty when unset.
    pub input: String,
    pub output: String,
    pub error: String,
    /// Runs started: 0 until the first, then +1 each time it becomes RUNNING (a claim, or an
    /// upsert to RUNNING).
    pub attempts: u32,
    /// 1 at creation, +1 per change.
    pub version: u64,
    pub mod_revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// The lease of the worker running it (0: not claimed). Set by a claim, cleared when the
    /// run ends (finish, lease end, or any change out of RUNNING).
    pub lease: u64,
    /// The revision of the claim that started the current run: the worker's fencing token
    /// for finishing it (0 when not claimed).
    pub claim: u64,
    pub retry: RetryPolicy,
    /// Machine time before which a claim skips it (a retry's backoff).
    pub ready_ms: u64,
}

/// What kind of change a history event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryKind {
    Created,
    Transition,
    Updated,
    Rollback,
    /// The owner's lease ended: the workflow waits for an adopter.
    Orphaned,
    /// Ownership handed to a new owner (adoption of an orphan, or a first owner).
    Adopted,
}

impl HistoryKind {
    /// The lower-case name, e.g. `"transition"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Created => "created",
            HistoryKind::Transition => "transition",
            HistoryKind::Updated => "updated",
            HistoryKind::Rollback => "rollback",
            HistoryKind::Orphaned => "orphaned",
            HistoryKind::Adopted => "adopted",
        }
    }
}

/// [`HistoryKind::as_str`]; honours width and alignment (`{:<10}`).
impl fmt::Display for HistoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One change of a workflow. Events of a workflow are numbered by the version they produced,
/// so a history is gap-free by construction: versions 1..=current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub version: u64,
    pub revision: u64,
    pub time_ms: u64,
    pub kind: HistoryKind,
    /// Status before (empty for `Created`) and after the change.
    pub from: String,
    pub to: String,
    /// The event name that selected the edge, if the transition was requested by event.
    pub event: String,
    pub actor: String,
    pub reason: String,
}

/// What a write returns about the workflow it changed: enough to chain an expected version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRef {
    pub id: String,
    pub status: String,
    pub version: u64,
    pub revision: u64,
}

impl WorkflowRecord {
    pub fn to_ref(&self) -> WorkflowRef {
        WorkflowRef {
            id: self.id.clone(),
            status: self.status.clone(),
            version: self.version,
            revision: self.mod_revision,
        }
    }
}

/// Progress derived from a workflow's tasks at read time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub total: u32,
    pub pending: u32,
    pub running: u32,
    pub completed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub cancelled: u32,
}

impl Progress {
    pub fn of<'a>(tasks: impl IntoIterator<Item = &'a TaskRecord>) -> Self {
        let mut p = Progress::default();
        for t in tasks {
            p.total += 1;
            match t.status {
                TaskStatus::Pending => p.pending += 1,
                TaskStatus::Running => p.running += 1,
                TaskStatus::Completed => p.completed += 1,
                TaskStatus::Failed => p.failed += 1,
                TaskStatus::Skipped => p.skipped += 1,
                TaskStatus::Cancelled => p.cancelled += 1,
            }
        }
        p
    }

    /// Completed share of the finished (completed or failed) tasks; None before any finished.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.completed + self.failed;
        (done > 0).then(|| f64::from(self.completed) / f64::from(done))
    }
}

impl super::task::TaskNode for TaskRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> TaskStatus {
        self.status
    }
    fn dependencies(&self) -> &[String] {
        &self.dependencies
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn history_kind_names_and_encoding() {
        let all = [
            (HistoryKind::Created, "created"),
            (HistoryKind::Transition, "transition"),
            (HistoryKind::Updated, "updated"),
            (HistoryKind::Rollback, "rollback"),
            (HistoryKind::Orphaned, "orphaned"),
            (HistoryKind::Adopted, "adopted"),
        ];
        for (index, (kind, name)) in all.into_iter().enumerate() {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
            // Encoded by variant index: the names above must not reorder the variants.
            assert_eq!(crate::codec::encode(&kind).unwrap(), vec![index as u8]);
        }
        assert_eq!(format!("[{:<8}]", HistoryKind::Updated), "[updated ]");
    }
}
