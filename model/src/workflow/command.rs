//! Replicated workflow commands, their replies and the machine's typed rejections. The node
//! validates input before proposing; the machine re-checks everything that depends on state
//! (existence, versions, legal edges, dependencies), atomically, identically on every replica.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::definition::{Definition, DefinitionError, Target, TransitionError};
use super::limits::LimitError;
use super::quota::{NamespaceFull, NamespaceLimits, NamespaceQuota};
use super::record::{TaskRecord, WorkflowRef};
use super::task::{RetryPolicy, TaskError, TaskStatus};
use super::vars::{RollbackVars, UpdateVars, VarScope};

/// The namespace used when a request names none.
pub const DEFAULT_NAMESPACE: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowCommand {
    /// Register a definition; an identical copy of the latest version is a no-op, a changed
    /// one becomes the next version.
    RegisterDefinition(Definition),
    Create(Box<CreateWorkflow>),
    Transition(TransitionWorkflow),
    Update(Box<UpdateWorkflow>),
    /// Delete a workflow with its tasks and history; unless forced, only in a terminal status.
    Delete {
        id: String,
        force: bool,
    },
    /// Retention: the leader names terminal workflows it found finished before the cutoff;
    /// the machine re-checks each one and deletes those that still qualify.
    Purge {
        ids: Vec<String>,
        finished_before_ms: u64,
    },
    /// Create or change tasks of one workflow, all or nothing.
    UpsertTasks(Box<UpsertTasks>),
    /// Forget history events older than the last `keep_last` (at least 1) versions, at most
    /// [`MAX_HISTORY_COMPACT`] of them per command (the reply says how far it got).
    CompactHistory {
        id: String,
        keep_last: u64,
    },
    /// Set a namespace's limits (all `None`: no limits). Usage is kept whatever the limits.
    SetNamespaceLimits {
        namespace: String,
        limits: NamespaceLimits,
    },
    /// A worker takes one ready task under its lease (see [`ClaimTask`]).
    ClaimTask(Box<ClaimTask>),
    /// The worker holding a claim ends the run (see [`FinishTask`]).
    FinishTask(Box<FinishTask>),
    /// Take ownership of a workflow under a lease (see [`AdoptWorkflow`]).
    Adopt(Box<AdoptWorkflow>),
    /// A versioned update of a workflow's or a namespace's variables.
    UpdateVars(Box<UpdateVars>),
    /// A new version of the variables equal to an older one.
    RollbackVars(Box<RollbackVars>),
}

/// Claim the first ready task (PENDING, dependencies completed, past its retry backoff, its
/// workflow not terminal and under its `max_concurrent`) of one workflow, or of every workflow
/// in a namespace (oldest ready first). The task becomes RUNNING with `agent_id`, bound to
/// `lease`: when the lease ends the run is lost and the task's retry policy decides (PENDING
/// again or FAILED, reason "worker lost"). Claims are entries, so concurrent workers get
/// distinct tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimTask {
    pub namespace: String,
    /// Only this workflow's tasks (it must be in `namespace`).
    pub workflow_id: Option<String>,
    /// Only tasks of these kinds (empty: any).
    pub kinds: Vec<String>,
    pub agent_id: String,
    pub lease: u64,
}

/// How a claimed run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    /// COMPLETED with this output (JSON text, may be empty).
    Completed { output: String },
    /// The run failed: retried under the task's policy, else FAILED with this error.
    Failed { error: String },
}

/// End the run that claim `claim` started. Refused (`StaleClaim`) unless the task is still
/// RUNNING under that claim: a worker whose lease ended, or whose task was changed or
/// re-claimed since, cannot overwrite the newer run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishTask {
    pub workflow_id: String,
    pub task_id: String,
    pub claim: u64,
    pub outcome: RunOutcome,
}

/// Own workflow `id` as `owner_id` under `lease`. Allowed when nobody owns it under a live
/// lease (never owned, orphaned) or the caller already does (same owner and lease: a no-op
/// that answers the current epoch). Otherwise `Owned`. Adoption sets the owner, binds the
/// workflow to the lease, starts a new epoch (this revision) that fences out every write of
/// the previous owner carrying its old epoch, and records an `adopted` history event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptWorkflow {
    pub id: String,
    pub owner_id: String,
    pub lease: u64,
    /// Only if the workflow is at this version.
    pub expected_version: Option<u64>,
    pub reason: String,
}

/// History events one `CompactHistory` removes at most, bounding one entry's apply work.
pub const MAX_HISTORY_COMPACT: u64 = 10_000;

/// Most tasks in one `UpsertTasks`: it is one log entry, applied in one transaction.
pub const MAX_TASKS_PER_UPSERT: usize = 10_000;

impl WorkflowCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            WorkflowCommand::RegisterDefinition(_) => "register_definition",
            WorkflowCommand::Create(_) => "create",
            WorkflowCommand::Transition(_) => "transition",
            WorkflowCommand::Update(_) => "update",
            WorkflowCommand::Delete { .. } => "delete",
            WorkflowCommand::Purge { .. } => "purge",
            WorkflowCommand::UpsertTasks(_) => "upsert_tasks",
            WorkflowCommand::CompactHistory { .. } => "compact_history",
            WorkflowCommand::SetNamespaceLimits { .. } => "set_namespace_limits",
            WorkflowCommand::ClaimTask(_) => "claim_task",
            WorkflowCommand::FinishTask(_) => "finish_task",
            WorkflowCommand::Adopt(_) => "adopt",
            WorkflowCommand::UpdateVars(_) => "update_vars",
            WorkflowCommand::RollbackVars(_) => "rollback_vars",
        }
    }

    /// Whether only the leader's own duties propose it (see `Command::is_internal`).
    pub fn is_internal(&self) -> bool {
        match self {
            WorkflowCommand::RegisterDefinition(_)
            | WorkflowCommand::Create(_)
            | WorkflowCommand::Transition(_)
            | WorkflowCommand::Update(_)
            | WorkflowCommand::Delete { .. }
            | WorkflowCommand::UpsertTasks(_)
            | WorkflowCommand::CompactHistory { .. }
            | WorkflowCommand::SetNamespaceLimits { .. }
            | WorkflowCommand::ClaimTask(_)
            | WorkflowCommand::FinishTask(_)
            | WorkflowCommand::Adopt(_)
            | WorkflowCommand::UpdateVars(_)
            | WorkflowCommand::RollbackVars(_) => false,
            // Retention (`workflow_retention.rs`): a client deletes with `Delete`.
            WorkflowCommand::Purge { .. } => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWorkflow {
    /// None: the machine names it `wf-<revision>`, unique and ordered.
    pub id: Option<String>,
    pub namespace: String,
    pub definition: String,
    /// None: the latest version at apply time.
    pub definition_version: Option<u32>,
    /// JSON object text.
    pub metadata: String,
    pub labels: BTreeMap<String, String>,
    pub owner_id: String,
    pub routing_strategy: String,
    pub max_concurrent: u32,
    pub total_tasks: u32,
    /// On an existing id: replace metadata, labels and fields (not the status, which changes
    /// only by transition) instead of failing with `AlreadyExists`.
    pub upsert: bool,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionWorkflow {
    pub id: String,
    pub target: Target,
    pub expected_version: Option<u64>,
    pub actor: String,
    pub reason: String,
}

/// A partial update: every `None` leaves the field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateWorkflow {
    pub id: String,
    pub expected_version: Option<u64>,
    /// RFC 7386 merge patch (JSON object text) applied to the metadata.
    pub metadata_patch: Option<String>,
    pub set_labels: BTreeMap<String, String>,
    pub remove_labels: Vec<String>,
    pub owner_id: Option<String>,
    pub routing_strategy: Option<String>,
    pub max_concurrent: Option<u32>,
    pub total_tasks: Option<u32>,
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertTasks {
    pub workflow_id: String,
    pub tasks: Vec<TaskSpec>,
}

/// One task to create or change. On creation unset fields take defaults (status PENDING).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub status: Option<TaskStatus>,
    pub agent_id: Option<String>,
    pub dependencies: Option<Vec<String>>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    /// The task's current version must equal this (0 = the task must not exist yet).
    pub expected_version: Option<u64>,
    pub retry: Option<RetryPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowReply {
    Definition {
        name: String,
        version: u32,
        /// False when the definition equals the latest registered version.
        created: bool,
    },
    Workflow {
        workflow: WorkflowRef,
        /// False when an upsert updated an existing workflow.
        created: bool,
    },
    Deleted {
        id: String,
        tasks: u32,
    },
    Purged {
        ids: Vec<String>,
    },
    Tasks {
        workflow_id: String,
        tasks: Vec<TaskRef>,
    },
    /// Events below `floor` are gone; `removed` of them by this command. `floor` below the
    /// requested one means the per-command bound stopped it: send the command again.
    HistoryCompacted {
        id: String,
        floor: u64,
        removed: u64,
    },
    NamespaceLimitsSet {
        namespace: String,
        quota: NamespaceQuota,
    },
    /// The claimed task (RUNNING; its `claim` is the fencing token), or None when no task was
    /// ready; then `next_ready_ms` is the earliest time a backed-off task becomes claimable.
    Claimed {
        task: Option<Box<TaskRecord>>,
        next_ready_ms: Option<u64>,
    },
    /// The variables' new version.
    Vars {
        version: u64,
        checksum: u32,
    },
    /// Owned by the caller from `epoch` on; `previous_owner` is who owned it when the command
    /// applied ("" nobody; the caller itself when it already owned it, a no-op).
    Adopted {
        workflow: WorkflowRef,
        epoch: u64,
        previous_owner: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    pub id: String,
    pub status: TaskStatus,
    pub version: u64,
    pub attempts: u32,
}

/// Why the machine refused a workflow command. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WorkflowError {
    #[error("invalid definition: {0}")]
    InvalidDefinition(DefinitionError),
    #[error("unknown definition {name}{}", version.map(|v| format!(" version {v}")).unwrap_or_default())]
    UnknownDefinition { name: String, version: Option<u32> },
    #[error("workflow {0} not found")]
    NotFound(String),
    #[error("workflow {0} already exists")]
    AlreadyExists(String),
    #[error("invalid id {0:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidId(String),
    #[error("workflow {id}: {error}")]
    IllegalTransition { id: String, error: TransitionError },
    #[error("workflow {id}: expected version {expected}, current {current}")]
    VersionConflict {
        id: String,
        expected: u64,
        current: u64,
    },
    #[error("task {workflow_id}/{task_id}: expected version {expected}, current {current}")]
    TaskVersionConflict {
        workflow_id: String,
        task_id: String,
        expected: u64,
        current: u64,
    },
    #[error("workflow {id} is {status}, not terminal; delete it with force")]
    NotTerminal { id: String, status: String },
    #[error("workflow {id} is {status} (terminal): its tasks cannot change")]
    Terminal { id: String, status: String },
    #[error("workflow {id}: {error}")]
    Task { id: String, error: TaskError },
    #[error("{0}")]
    Limit(LimitError),
    #[error("{field} is not valid JSON: {message}")]
    InvalidJson { field: String, message: String },
    #[error("task {0} is listed twice in one upsert")]
    DuplicateTask(String),
    #[error("{0}")]
    NamespaceFull(NamespaceFull),
    #[error(
        "task {workflow_id}/{task_id} is not running under claim {claim} (current claim {current})"
    )]
    StaleClaim {
        workflow_id: String,
        task_id: String,
        claim: u64,
        /// The task's current claim (0: not claimed).
        current: u64,
    },
    #[error("lease {0} not found (expired, revoked or never granted)")]
    UnknownLease(u64),
    #[error("workflow {id} is owned by {owner} under live lease {lease}")]
    Owned {
        id: String,
        owner: String,
        lease: u64,
    },
    #[error("variables of {scope}: expected version {expected}, current {current}")]
    VarsVersionConflict {
        scope: VarScope,
        expected: u64,
        current: u64,
    },
    #[error("variable {key} of {scope} is immutable")]
    ImmutableVar { scope: VarScope, key: String },
    #[error("variables of {scope}: version {version} is not kept (kept: {floor}..={current})")]
    VarsVersionGone {
        scope: VarScope,
        version: u64,
        floor: u64,
        current: u64,
    },
    #[error("variables of {scope}: {what}")]
    VarsLimit { scope: VarScope, what: String },
    #[error("workflow {id} is in namespace {actual}, not {requested}")]
    WrongNamespace {
        id: String,
        requested: String,
        actual: String,
    },
}
