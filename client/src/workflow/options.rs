//! What the workflow API takes: options and builders for creating, updating, listing and
//! transitioning workflows and for upserting and filtering tasks.

use std::collections::BTreeMap;

use serde_json::Value;

/// Order of a workflow listing (cairn-model's own type): `Created` (the default) or `Updated`.
pub use cairn_model::workflow::Target;
pub use cairn_model::workflow::query::SortBy;

use super::types::{RetryPolicy, TaskStatus};

/// Options of a new workflow. Unset `id` lets the cluster name it; unset namespace and
/// definition mean `"default"`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateWorkflow {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub definition: Option<String>,
    /// Unset: the latest version.
    pub definition_version: Option<u32>,
    /// A JSON object; `Null` means `{}`.
    pub metadata: Value,
    pub labels: BTreeMap<String, String>,
    pub owner_id: String,
    pub routing_strategy: String,
    pub max_concurrent: u32,
    pub total_tasks: u32,
    /// On an existing id: replace metadata, labels and fields instead of failing with
    /// [`crate::Error::AlreadyExists`].
    pub upsert: bool,
    pub actor: String,
}

impl CreateWorkflow {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    pub fn definition(mut self, name: impl Into<String>) -> Self {
        self.definition = Some(name.into());
        self
    }
    pub fn definition_version(mut self, version: u32) -> Self {
        self.definition_version = Some(version);
        self
    }
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    pub fn owner_id(mut self, owner: impl Into<String>) -> Self {
        self.owner_id = owner.into();
        self
    }
    pub fn routing_strategy(mut self, strategy: impl Into<String>) -> Self {
        self.routing_strategy = strategy.into();
        self
    }
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = n;
        self
    }
    pub fn total_tasks(mut self, n: u32) -> Self {
        self.total_tasks = n;
        self
    }
    pub fn upsert(mut self, upsert: bool) -> Self {
        self.upsert = upsert;
        self
    }
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }
}

/// Filters and paging of [`crate::Client::list_workflows`] (and
/// [`crate::Client::count_workflows`], which ignores paging).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Unset: `"default"`.
    pub namespace: Option<String>,
    /// Any of these; empty: any status.
    pub statuses: Vec<String>,
    pub definition: Option<String>,
    /// Every label must match.
    pub labels: BTreeMap<String, String>,
    pub sort: SortBy,
    pub descending: bool,
    /// 0: the server default (100); capped at 1000.
    pub limit: u32,
    /// The previous page's `next_cursor`.
    pub cursor: Option<Vec<u8>>,
    /// Also count every match.
    pub with_count: bool,
    /// Only orphans: workflows whose owner's lease ended and that nobody adopted since.
    pub orphaned_only: bool,
    /// Also each workflow's task progress ([`crate::WorkflowPage::progress`]).
    pub with_progress: bool,
    /// Every namespace the caller may read, merged in sort order (`namespace` is ignored).
    pub all_namespaces: bool,
    /// Read locally from whichever node answers (possibly stale).
    pub serializable: bool,
}

impl ListOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.statuses.push(status.into());
        self
    }
    pub fn definition(mut self, name: impl Into<String>) -> Self {
        self.definition = Some(name.into());
        self
    }
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    pub fn sort(mut self, sort: SortBy, descending: bool) -> Self {
        self.sort = sort;
        self.descending = descending;
        self
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
    pub fn cursor(mut self, cursor: Option<Vec<u8>>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn with_count(mut self) -> Self {
        self.with_count = true;
        self
    }
    pub fn orphaned_only(mut self) -> Self {
        self.orphaned_only = true;
        self
    }
    pub fn with_progress(mut self) -> Self {
        self.with_progress = true;
        self
    }
    pub fn all_namespaces(mut self) -> Self {
        self.all_namespaces = true;
        self
    }
    pub fn serializable(mut self) -> Self {
        self.serializable = true;
        self
    }
}

/// A partial update of a workflow: unset fields are left alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateWorkflow {
    pub expected_version: Option<u64>,
    /// An RFC 7386 merge patch (a JSON object) for the metadata: `null` members delete keys.
    pub metadata_patch: Option<Value>,
    pub set_labels: BTreeMap<String, String>,
    pub remove_labels: Vec<String>,
    pub owner_id: Option<String>,
    pub routing_strategy: Option<String>,
    pub max_concurrent: Option<u32>,
    pub total_tasks: Option<u32>,
    pub actor: String,
    pub reason: String,
}

impl UpdateWorkflow {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }
    pub fn metadata_patch(mut self, patch: Value) -> Self {
        self.metadata_patch = Some(patch);
        self
    }
    pub fn set_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_labels.insert(key.into(), value.into());
        self
    }
    pub fn remove_label(mut self, key: impl Into<String>) -> Self {
        self.remove_labels.push(key.into());
        self
    }
    pub fn owner_id(mut self, owner: impl Into<String>) -> Self {
        self.owner_id = Some(owner.into());
        self
    }
    pub fn routing_strategy(mut self, strategy: impl Into<String>) -> Self {
        self.routing_strategy = Some(strategy.into());
        self
    }
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = Some(n);
        self
    }
    pub fn total_tasks(mut self, n: u32) -> Self {
        self.total_tasks = Some(n);
        self
    }
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
}

/// A task to create or change in [`crate::Client::upsert_tasks`]: unset fields are left
/// alone (a new task starts PENDING).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSpec {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub status: Option<TaskStatus>,
    pub agent_id: Option<String>,
    /// `Some` replaces the dependencies.
    pub dependencies: Option<Vec<String>>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    /// The task's current version must equal this (0 = it must not exist yet).
    pub expected_version: Option<u64>,
    /// How a claimed run that fails is retried (unset on creation: one attempt).
    pub retry: Option<RetryPolicy>,
}

impl TaskSpec {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }
    pub fn status(mut self, status: TaskStatus) -> Self {
        self.status = Some(status);
        self
    }
    pub fn agent_id(mut self, agent: impl Into<String>) -> Self {
        self.agent_id = Some(agent.into());
        self
    }
    pub fn depends_on(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.dependencies = Some(ids.into_iter().map(Into::into).collect());
        self
    }
    pub fn input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }
    pub fn output(mut self, output: Value) -> Self {
        self.output = Some(output);
        self
    }
    pub fn error(mut self, error: Value) -> Self {
        self.error = Some(error);
        self
    }
    pub fn expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }
    /// Up to `max_attempts` runs, the next one `backoff` * 2^(attempt-1) after a failure.
    pub fn retry(mut self, max_attempts: u32, backoff: std::time::Duration) -> Self {
        self.retry = Some(RetryPolicy {
            max_attempts,
            backoff_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        });
        self
    }
}

/// Which tasks [`crate::Client::tasks`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Any of these; empty: any.
    pub statuses: Vec<TaskStatus>,
    /// Only pending tasks whose dependencies all completed.
    pub ready_only: bool,
    pub serializable: bool,
}

impl TaskFilter {
    pub fn status(mut self, status: TaskStatus) -> Self {
        self.statuses.push(status);
        self
    }
    pub fn ready_only(mut self) -> Self {
        self.ready_only = true;
        self
    }
}
