//! Plain Rust types of what the workflow API returns (records, results, pages), independent
//! of the generated protobuf types. JSON fields are `serde_json::Value`s here.
//!
//! [`TaskStatus`], [`HistoryKind`] and [`WorkflowRef`] are cairn-model's own types (the ones
//! the cluster replicates), re-exported here; the records (with `Value` JSON fields where
//! the model keeps JSON text) and results are the client's.

use std::collections::BTreeMap;

use serde_json::Value;

use super::vars_types::VarsWritten;
use crate::checkpoint::SavedCheckpoint;

pub use cairn_model::workflow::record::HistoryKind;
pub use cairn_model::workflow::task::RetryPolicy;
pub use cairn_model::workflow::{Definition, TaskStatus, Transition, WorkflowRef};

/// A registered definition and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedDefinition {
    pub version: u32,
    pub definition: Definition,
}

/// The result of registering a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredDefinition {
    pub name: String,
    pub version: u32,
    /// False when it equals the latest registered version (nothing was written).
    pub created: bool,
    /// States no path from the initial state reaches.
    pub unreachable: Vec<String>,
    /// Non-terminal states without an outgoing edge.
    pub dead_ends: Vec<String>,
    pub revision: u64,
}

/// The result of [`crate::Client::create_workflow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWorkflow {
    pub workflow: WorkflowRef,
    /// False when an upsert updated an existing workflow.
    pub created: bool,
    pub revision: u64,
}

/// A workflow record.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: String,
    pub namespace: String,
    pub definition: String,
    pub definition_version: u32,
    pub status: String,
    /// 1 at creation, +1 per change of the workflow (task changes do not count).
    pub version: u64,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// A JSON object.
    pub metadata: Value,
    pub labels: BTreeMap<String, String>,
    pub owner_id: String,
    pub routing_strategy: String,
    pub max_concurrent: u32,
    pub total_tasks: u32,
    /// The lease its owner holds it under (0: not owned under a lease).
    pub owner_lease: u64,
    /// The owner's fencing token ([`crate::Fence::owner`]).
    pub owner_epoch: u64,
    /// While orphaned: when the owner's lease ended.
    pub orphaned_ms: Option<u64>,
}

/// Task counts and derived metrics of a workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub total: u32,
    pub pending: u32,
    pub running: u32,
    pub completed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub cancelled: u32,
    /// completed / (completed + failed); `None` before any task finished.
    pub success_rate: Option<f64>,
    /// Finished (or now) minus created.
    pub duration_ms: u64,
}

/// A workflow with its progress and, when asked for, its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowDetails {
    pub workflow: Workflow,
    pub progress: Progress,
    /// Empty unless requested; ordered by task id.
    pub tasks: Vec<Task>,
    /// Last revision applied on the node that served the read.
    pub revision: u64,
}

/// One page of workflows.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowPage {
    pub workflows: Vec<Workflow>,
    /// `Some` when more may follow: pass it as [`ListOptions::cursor`].
    pub next_cursor: Option<Vec<u8>>,
    /// With [`ListOptions::with_count`]: every match.
    pub count: Option<u64>,
    /// With [`ListOptions::with_progress`]: one per workflow, in the same order (else empty).
    pub progress: Vec<Progress>,
    pub revision: u64,
}

/// The result of a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedWorkflow {
    pub id: String,
    /// Tasks deleted with it.
    pub tasks: u32,
    pub revision: u64,
}

/// One change of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    /// The workflow version this change produced (a history is 1..=current, gap-free).
    pub version: u64,
    pub revision: u64,
    pub time_ms: u64,
    pub kind: HistoryKind,
    /// Empty on creation.
    pub from: String,
    pub to: String,
    /// The event name, when the transition was requested by event.
    pub event: Option<String>,
    pub actor: String,
    pub reason: String,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub events: Vec<HistoryEvent>,
    /// `Some(v)` when more may follow: ask again from version `v`.
    pub next_version: Option<u64>,
    pub revision: u64,
    /// Events of versions below this were compacted away (0: none were, or none asked for).
    pub compacted_before: u64,
}

/// A task (agent execution record) of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub workflow_id: String,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: TaskStatus,
    pub agent_id: String,
    pub dependencies: Vec<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    /// Runs started: 0 until the first, then +1 each time it becomes RUNNING.
    pub attempts: u32,
    pub version: u64,
    pub mod_revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// The lease of the worker running it (0: not claimed).
    pub lease_id: u64,
    /// The claim that started the current run: [`crate::Client::finish_task`]'s token.
    pub claim: u64,
    pub retry: RetryPolicy,
    /// Claims skip it before this time (ms since the Unix epoch; a retry's backoff).
    pub ready_ms: u64,
}

/// A task as an upsert left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub id: String,
    pub status: TaskStatus,
    pub version: u64,
    pub attempts: u32,
}

/// The result of [`crate::Client::upsert_tasks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertedTasks {
    pub workflow_id: String,
    pub tasks: Vec<TaskRef>,
    pub revision: u64,
}

/// What [`crate::Client::claim_task`] takes: one workflow's tasks or a whole namespace's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimOptions {
    /// Unset: `"default"`.
    pub namespace: Option<String>,
    pub workflow_id: Option<String>,
    /// Only tasks of these kinds; empty: any.
    pub kinds: Vec<String>,
}

impl ClaimOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    pub fn workflow(mut self, workflow_id: impl Into<String>) -> Self {
        self.workflow_id = Some(workflow_id.into());
        self
    }
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kinds.push(kind.into());
        self
    }
}

/// The answer of [`crate::Client::claim_task`].
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The task now RUNNING under the caller's lease (its `claim` finishes it), or None when
    /// no task was ready.
    pub task: Option<Task>,
    /// With no task: when the earliest backed-off task becomes claimable.
    pub next_ready_ms: Option<u64>,
    pub revision: u64,
}

/// How a claimed run ended, for [`crate::Client::finish_task`].
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    /// COMPLETED with this output.
    Completed(Value),
    /// Failed: retried under the task's policy, else FAILED with this error.
    Failed(Value),
}

/// The answer of [`crate::Client::adopt_workflow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    pub workflow: WorkflowRef,
    /// The fencing token of this ownership: `Fence::owner(id, epoch)`.
    pub epoch: u64,
    /// Who owned it before ("" when nobody did).
    pub previous_owner: String,
}

/// What one step did; a part the step did not have is `None` (or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The workflow after its change.
    pub workflow: Option<WorkflowRef>,
    /// The change created the workflow (false: an upsert changed an existing one).
    pub created: bool,
    pub tasks: Vec<TaskRef>,
    pub vars: Option<VarsWritten>,
    pub checkpoint: Option<SavedCheckpoint>,
}

/// What [`Client::apply_steps`] returns: every part of every step has `revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepsApplied {
    pub revision: u64,
    /// One per step, in order.
    pub results: Vec<StepResult>,
}
