//! The workflow API: definitions, workflows (create, read, list, transition, update, delete,
//! history) and their tasks. Writes go through the same retry loop and idempotency keys as
//! KV writes ([`Client::send_write`]); reads are linearizable unless asked otherwise.
//!
//! Rejections are typed: [`Error::NotFound`], [`Error::AlreadyExists`],
//! [`Error::IllegalTransition`] (with the current status and the legal targets),
//! [`Error::VersionConflict`] (with the current version), [`Error::FailedPrecondition`] and
//! [`Error::InvalidArgument`].

mod claims;
pub(crate) mod convert;
mod namespace;
mod options;
mod steps;
mod types;
pub(crate) mod vars;
mod vars_types;

use cairn_api::v1 as pb;
use cairn_api::v1::workflows_client::WorkflowsClient;
use serde_json::Value;
use tonic::transport::Channel;

pub use namespace::{NamespaceLimits, NamespaceQuota, NamespaceUsage};
pub use options::*;
pub use steps::{MAX_STEP_CHECKPOINT_BYTES, MAX_STEPS, Step};
pub use types::*;
pub use vars_types::{VarChange, VarScope, VarUpdate, VarVersion, Vars, VarsWritten};

use crate::client::{Client, MAX_RESPONSE_BYTES, request};
use crate::error::Result;
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

/// Page size of [`Client::history_all`].
const HISTORY_PAGE: u32 = 500;

impl Client {
    pub(crate) fn workflows(channel: Channel) -> WorkflowsClient<Channel> {
        WorkflowsClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// Registers a definition. An identical copy of the latest version is a no-op
    /// (`created == false`); a changed one becomes the next version.
    pub async fn register_definition(
        &self,
        definition: &Definition,
    ) -> Result<RegisteredDefinition> {
        let msg = pb::RegisterDefinitionRequest {
            header: Some(self.next_header()),
            definition: Some(convert::definition_to_pb(definition)),
        };
        match self.send_write(WriteOp::RegisterDefinition(msg)).await? {
            WriteOutcome::Definition(d) => Ok(d),
            _ => Err(mismatched_reply()),
        }
    }

    /// A definition by name: the latest version, or `version`. `Ok(None)` when unknown.
    pub async fn definition(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<Option<VersionedDefinition>> {
        let msg = pb::GetDefinitionRequest {
            name: name.to_string(),
            version,
            serializable: false,
        };
        let resp = self
            .call("get_definition", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).get_definition(req).await }
            })
            .await?;
        resp.definition
            .map(convert::versioned_definition)
            .transpose()
    }

    /// The latest version of every definition (the built-in `default` included).
    pub async fn definitions(&self) -> Result<Vec<VersionedDefinition>> {
        let msg = pb::ListDefinitionsRequest {
            serializable: false,
        };
        let resp = self
            .call("list_definitions", |ch, t| {
                let req = request(msg, t);
                async move { Self::workflows(ch).list_definitions(req).await }
            })
            .await?;
        resp.definitions
            .into_iter()
            .map(convert::versioned_definition)
            .collect()
    }

    /// Creates a workflow in its definition's initial status (or, with `upsert`, updates an
    /// existing one's metadata, labels and fields).
    pub async fn create_workflow(&self, new: CreateWorkflow) -> Result<CreatedWorkflow> {
        self.create_workflow_fenced(new, None).await
    }

    pub(crate) async fn create_workflow_fenced(
        &self,
        new: CreateWorkflow,
        fence: Option<pb::Fence>,
    ) -> Result<CreatedWorkflow> {
        let msg = pb::CreateWorkflowRequest {
            header: Some(self.next_header()),
            fence,
            ..create_request(new)?
        };
        match self.send_write(WriteOp::CreateWorkflow(msg)).await? {
            WriteOutcome::Created(c) => Ok(c),
            _ => Err(mismatched_reply()),
        }
    }

    /// A workflow with its progress (and its tasks if `include_tasks`), read linearizably.
    /// `Ok(None)` when it does not exist.
    pub async fn workflow(&self, id: &str, include_tasks: bool) -> Result<Option<WorkflowDetails>> {
        let msg = pb::GetWorkflowRequest {
            id: id.to_string(),
            include_tasks,
            serializable: false,
        };
        let resp = self
            .call("get_workflow", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).get_workflow(req).await }
            })
            .await?;
        let Some(w) = resp.workflow else {
            return Ok(None);
        };
        Ok(Some(WorkflowDetails {
            workflow: convert::workflow(w)?,
            progress: convert::progress(resp.progress),
            tasks: resp
                .tasks
                .into_iter()
                .map(convert::task)
                .collect::<Result<_>>()?,
            revision: resp.revision,
        }))
    }

    /// One page of workflows matching `options`.
    pub async fn list_workflows(&self, options: &ListOptions) -> Result<WorkflowPage> {
        let msg = convert::list_request(options);
        let resp = self
            .call("list_workflows", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).list_workflows(req).await }
            })
            .await?;
        Ok(WorkflowPage {
            workflows: resp
                .workflows
                .into_iter()
                .map(convert::workflow)
                .collect::<Result<_>>()?,
            next_cursor: Some(resp.next_cursor).filter(|c| !c.is_empty()),
            count: resp.count,
            progress: resp
                .progress
                .into_iter()
                .map(|p| convert::progress(Some(p)))
                .collect(),
            revision: resp.revision,
        })
    }

    /// How many workflows match `options` (paging fields are ignored).
    pub async fn count_workflows(&self, options: &ListOptions) -> Result<u64> {
        let msg = convert::count_request(options);
        let resp = self
            .call("count_workflows", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).count_workflows(req).await }
            })
            .await?;
        Ok(resp.count)
    }

    /// Moves workflow `id` to `target` if its definition allows the edge from the current
    /// status, and (with `expected_version`) only at that version. Fails with
    /// [`Error::IllegalTransition`] or [`Error::VersionConflict`]; nothing changes then.
    pub async fn transition(
        &self,
        id: &str,
        target: Target,
        expected_version: Option<u64>,
        actor: &str,
        reason: &str,
    ) -> Result<WorkflowRef> {
        self.transition_fenced(id, target, expected_version, actor, reason, None)
            .await
    }

    pub(crate) async fn transition_fenced(
        &self,
        id: &str,
        target: Target,
        expected_version: Option<u64>,
        actor: &str,
        reason: &str,
        fence: Option<pb::Fence>,
    ) -> Result<WorkflowRef> {
        let msg = pb::TransitionWorkflowRequest {
            header: Some(self.next_header()),
            fence,
            ..transition_request(id, target, expected_version, actor, reason)
        };
        match self.send_write(WriteOp::TransitionWorkflow(msg)).await? {
            WriteOutcome::Workflow(r) => Ok(r),
            _ => Err(mismatched_reply()),
        }
    }

    /// The `pause` event (RUNNING -> PAUSED in the default definition).
    pub async fn pause_workflow(&self, id: &str) -> Result<WorkflowRef> {
        self.transition(id, Target::event("pause"), None, "", "")
            .await
    }

    /// The `resume` event (PAUSED -> RUNNING in the default definition).
    pub async fn resume_workflow(&self, id: &str) -> Result<WorkflowRef> {
        self.transition(id, Target::event("resume"), None, "", "")
            .await
    }

    /// The `cancel` event, recording `reason`.
    pub async fn cancel_workflow(&self, id: &str, reason: &str) -> Result<WorkflowRef> {
        self.transition(id, Target::event("cancel"), None, "", reason)
            .await
    }

    /// Changes metadata (merge patch), labels or fields of workflow `id`.
    pub async fn update_workflow(&self, id: &str, update: UpdateWorkflow) -> Result<WorkflowRef> {
        self.update_workflow_fenced(id, update, None).await
    }

    pub(crate) async fn update_workflow_fenced(
        &self,
        id: &str,
        update: UpdateWorkflow,
        fence: Option<pb::Fence>,
    ) -> Result<WorkflowRef> {
        let msg = pb::UpdateWorkflowRequest {
            header: Some(self.next_header()),
            fence,
            ..update_request(id, update)?
        };
        match self.send_write(WriteOp::UpdateWorkflow(msg)).await? {
            WriteOutcome::Workflow(r) => Ok(r),
            _ => Err(mismatched_reply()),
        }
    }

    /// Deletes workflow `id` with its tasks and history. Without `force` it must be in a
    /// terminal status ([`Error::FailedPrecondition`] otherwise).
    pub async fn delete_workflow(&self, id: &str, force: bool) -> Result<DeletedWorkflow> {
        self.delete_workflow_fenced(id, force, None).await
    }

    pub(crate) async fn delete_workflow_fenced(
        &self,
        id: &str,
        force: bool,
        fence: Option<pb::Fence>,
    ) -> Result<DeletedWorkflow> {
        let msg = pb::DeleteWorkflowRequest {
            header: Some(self.next_header()),
            id: id.to_string(),
            force,
            fence,
        };
        match self.send_write(WriteOp::DeleteWorkflow(msg)).await? {
            WriteOutcome::WorkflowDeleted(d) => Ok(d),
            _ => Err(mismatched_reply()),
        }
    }

    /// Forgets the oldest history events of workflow `id`, keeping the last `keep_last`
    /// versions' (at least 1); repeats until done (each request removes a bounded number).
    /// Returns the new floor: events below that version are gone. Safe to retry: compacting
    /// to the same point twice changes nothing, so it needs no idempotency key.
    pub async fn compact_history(&self, id: &str, keep_last: u64) -> Result<u64> {
        let msg = pb::CompactHistoryRequest {
            header: None,
            workflow_id: id.to_string(),
            keep_last,
        };
        loop {
            let resp = self
                .call("compact_history", |ch, t| {
                    let req = request(msg.clone(), t);
                    async move { Self::workflows(ch).compact_history(req).await }
                })
                .await?;
            if resp.done {
                return Ok(resp.floor);
            }
        }
    }

    /// Up to `limit` history events of workflow `id` from version `from_version` (0 = the
    /// server's page size).
    pub async fn history(&self, id: &str, from_version: u64, limit: u32) -> Result<HistoryPage> {
        self.history_page(id, from_version, limit, None, None).await
    }

    async fn history_page(
        &self,
        id: &str,
        from_version: u64,
        limit: u32,
        since_ms: Option<u64>,
        until_ms: Option<u64>,
    ) -> Result<HistoryPage> {
        let msg = pb::GetHistoryRequest {
            workflow_id: id.to_string(),
            from_version,
            limit,
            serializable: false,
            since_ms,
            until_ms,
        };
        let resp = self
            .call("get_history", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).get_history(req).await }
            })
            .await?;
        Ok(HistoryPage {
            events: resp
                .events
                .into_iter()
                .map(convert::history_event)
                .collect::<Result<_>>()?,
            next_version: resp.next_version,
            revision: resp.revision,
            compacted_before: resp.compacted_before,
        })
    }

    /// The whole history of workflow `id`, page by page.
    pub async fn history_all(&self, id: &str) -> Result<Vec<HistoryEvent>> {
        self.history_between(id, None, None).await
    }

    /// The events of workflow `id` at or after `since_ms` and before `until_ms` (ms since
    /// the Unix epoch, the cluster leader's clock; `None`: unbounded), page by page: e.g.
    /// "its changes in the last hour".
    pub async fn history_between(
        &self,
        id: &str,
        since_ms: Option<u64>,
        until_ms: Option<u64>,
    ) -> Result<Vec<HistoryEvent>> {
        let mut from = 1;
        let mut all = Vec::new();
        loop {
            let page = self
                .history_page(id, from, HISTORY_PAGE, since_ms, until_ms)
                .await?;
            all.extend(page.events);
            match convert::next_version("history", from, page.next_version)? {
                Some(next) => from = next,
                None => return Ok(all),
            }
        }
    }

    /// Creates or changes tasks of workflow `workflow_id` in one atomic write: either every
    /// spec applies or none does.
    pub async fn upsert_tasks(
        &self,
        workflow_id: &str,
        tasks: impl IntoIterator<Item = TaskSpec>,
    ) -> Result<UpsertedTasks> {
        self.upsert_tasks_fenced(workflow_id, tasks, None).await
    }

    pub(crate) async fn upsert_tasks_fenced(
        &self,
        workflow_id: &str,
        tasks: impl IntoIterator<Item = TaskSpec>,
        fence: Option<pb::Fence>,
    ) -> Result<UpsertedTasks> {
        let tasks = tasks
            .into_iter()
            .map(convert::task_spec_to_pb)
            .collect::<Result<Vec<_>>>()?;
        let msg = pb::UpsertTasksRequest {
            header: Some(self.next_header()),
            workflow_id: workflow_id.to_string(),
            tasks,
            fence,
        };
        match self.send_write(WriteOp::UpsertTasks(msg)).await? {
            WriteOutcome::Tasks(t) => Ok(t),
            _ => Err(mismatched_reply()),
        }
    }

    /// Tasks of workflow `workflow_id` matching `filter`, ordered by id.
    pub async fn tasks(&self, workflow_id: &str, filter: &TaskFilter) -> Result<Vec<Task>> {
        let msg = pb::ListTasksRequest {
            workflow_id: workflow_id.to_string(),
            statuses: filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            ready_only: filter.ready_only,
            serializable: filter.serializable,
        };
        let resp = self
            .call("list_tasks", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).list_tasks(req).await }
            })
            .await?;
        resp.tasks.into_iter().map(convert::task).collect()
    }

    /// Pending tasks of `workflow_id` whose dependencies all completed: the ones to start.
    pub async fn ready_tasks(&self, workflow_id: &str) -> Result<Vec<Task>> {
        self.tasks(workflow_id, &TaskFilter::default().ready_only())
            .await
    }
}

/// A create's message without header and fence (the caller's, or a step's to carry).
pub(crate) fn create_request(new: CreateWorkflow) -> Result<pb::CreateWorkflowRequest> {
    let metadata = match &new.metadata {
        Value::Null => String::new(),
        v => convert::json_text("metadata", v)?,
    };
    Ok(pb::CreateWorkflowRequest {
        header: None,
        id: new.id.unwrap_or_default(),
        namespace: new.namespace.unwrap_or_default(),
        definition: new.definition.unwrap_or_default(),
        definition_version: new.definition_version,
        metadata,
        labels: new.labels,
        owner_id: new.owner_id,
        routing_strategy: new.routing_strategy,
        max_concurrent: new.max_concurrent,
        total_tasks: new.total_tasks,
        upsert: new.upsert,
        actor: new.actor,
        fence: None,
    })
}

/// A transition's message without header and fence.
pub(crate) fn transition_request(
    id: &str,
    target: Target,
    expected_version: Option<u64>,
    actor: &str,
    reason: &str,
) -> pb::TransitionWorkflowRequest {
    use pb::transition_workflow_request::Target as PbTarget;
    pb::TransitionWorkflowRequest {
        header: None,
        id: id.to_string(),
        target: Some(match target {
            Target::Status(s) => PbTarget::Status(s),
            Target::Event(e) => PbTarget::Event(e),
        }),
        expected_version,
        actor: actor.to_string(),
        reason: reason.to_string(),
        fence: None,
    }
}

/// An update's message without header and fence.
pub(crate) fn update_request(
    id: &str,
    update: UpdateWorkflow,
) -> Result<pb::UpdateWorkflowRequest> {
    let metadata_patch = update
        .metadata_patch
        .as_ref()
        .map(|p| convert::json_text("metadata_patch", p))
        .transpose()?;
    Ok(pb::UpdateWorkflowRequest {
        header: None,
        id: id.to_string(),
        expected_version: update.expected_version,
        metadata_patch,
        set_labels: update.set_labels,
        remove_labels: update.remove_labels,
        owner_id: update.owner_id,
        routing_strategy: update.routing_strategy,
        max_concurrent: update.max_concurrent,
        total_tasks: update.total_tasks,
        actor: update.actor,
        reason: update.reason,
        fence: None,
    })
}
