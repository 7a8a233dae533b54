//! The workflow service: checks input, maps writes to replicated workflow commands proposed
//! through the shared [`Gateway`], and serves reads from the local state machine's workflow
//! reader after a read index (linearizable) or directly (serializable).

mod claims;
pub(crate) mod convert;
mod namespace;
pub(crate) mod validate;
#[cfg(test)]
mod validate_tests;
pub(crate) mod vars;

use cairn_api::v1 as pb;
use cairn_api::v1::workflows_server::Workflows;
use cairn_model::workflow::command::MAX_HISTORY_COMPACT;
use cairn_model::workflow::{WorkflowCommand, WorkflowError, WorkflowReply};
use cairn_model::{Command, Response};
use cairn_raft::now_ms;
use cairn_storage::WorkflowReader;
use tonic::{Request, Status};

use super::coord;
use super::gateway::{Gateway, unexpected};
use crate::auth::caller;
use crate::services::fields;
use crate::status;

/// History page size when a request sets none, and the largest page served.
const DEFAULT_HISTORY_LIMIT: u32 = 100;
const MAX_HISTORY_LIMIT: u32 = 1000;

type Reply<T> = Result<tonic::Response<T>, Status>;

pub struct WorkflowService {
    gateway: Gateway,
    reader: WorkflowReader,
    limits: cairn_model::workflow::limits::RecordLimits,
}

impl WorkflowService {
    pub fn new(
        gateway: Gateway,
        reader: WorkflowReader,
        limits: cairn_model::workflow::limits::RecordLimits,
    ) -> Self {
        Self {
            gateway,
            reader,
            limits,
        }
    }

    /// Proposes a workflow command (applied only while `fence`, if any, is current); returns
    /// the entry's revision and the machine's reply.
    async fn propose(
        &self,
        header: Option<pb::RequestHeader>,
        fence: Option<pb::Fence>,
        command: WorkflowCommand,
    ) -> Result<(u64, WorkflowReply), Status> {
        let fence = coord::fence(fence)?;
        match self
            .gateway
            .propose_fenced(header, fence, Command::Workflow(command))
            .await?
        {
            Response::Workflow { revision, reply } => Ok((revision, reply)),
            other => Err(unexpected(other).into()),
        }
    }

    /// A transition or update: both answer with the changed workflow.
    async fn propose_change(
        &self,
        header: Option<pb::RequestHeader>,
        fence: Option<pb::Fence>,
        command: WorkflowCommand,
    ) -> Result<(u64, pb::WorkflowRef), Status> {
        match self.propose(header, fence, command).await? {
            (revision, WorkflowReply::Workflow { workflow, .. }) => {
                Ok((revision, convert::workflow_ref(workflow)))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    /// `NOT_FOUND` unless workflow `id` exists: sub-resource reads (history, tasks) of a
    /// missing workflow are an error, not an empty list.
    fn require_workflow(&self, id: &str) -> Result<(), Status> {
        match self.reader.workflow(id).map_err(status::storage_error)? {
            Some(_) => Ok(()),
            None => Err(status::workflow_error(WorkflowError::NotFound(
                id.to_string(),
            ))),
        }
    }
}

fn unexpected_reply(r: WorkflowReply) -> Status {
    status::internal(format!("unexpected workflow reply: {r:?}"))
}

#[tonic::async_trait]
impl Workflows for WorkflowService {
    async fn register_definition(
        &self,
        req: Request<pb::RegisterDefinitionRequest>,
    ) -> Reply<pb::RegisterDefinitionResponse> {
        let r = req.into_inner();
        let (definition, report) = validate::definition(r.definition)?;
        let command = WorkflowCommand::RegisterDefinition(definition);
        match self.propose(r.header, None, command).await? {
            (
                revision,
                WorkflowReply::Definition {
                    name,
                    version,
                    created,
                },
            ) => Ok(self.gateway.reply(pb::RegisterDefinitionResponse {
                name,
                version,
                created,
                unreachable: report.unreachable,
                dead_ends: report.dead_ends,
                revision,
            })),
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    async fn get_definition(
        &self,
        req: Request<pb::GetDefinitionRequest>,
    ) -> Reply<pb::GetDefinitionResponse> {
        let r = req.into_inner();
        fields::id("name", &r.name)?;
        self.gateway.before_read(r.serializable).await?;
        let revision = self.reader.applied_index();
        let definition = self
            .reader
            .definition(&r.name, r.version)
            .map_err(status::storage_error)?
            .map(|(v, d)| convert::definition(v, d));
        Ok(self.gateway.reply(pb::GetDefinitionResponse {
            definition,
            revision,
        }))
    }

    async fn list_definitions(
        &self,
        req: Request<pb::ListDefinitionsRequest>,
    ) -> Reply<pb::ListDefinitionsResponse> {
        let r = req.into_inner();
        self.gateway.before_read(r.serializable).await?;
        let revision = self.reader.applied_index();
        let definitions = self
            .reader
            .definitions()
            .map_err(status::storage_error)?
            .into_iter()
            .map(|(v, d)| convert::definition(v, d))
            .collect();
        Ok(self.gateway.reply(pb::ListDefinitionsResponse {
            definitions,
            revision,
        }))
    }

    async fn create_workflow(
        &self,
        req: Request<pb::CreateWorkflowRequest>,
    ) -> Reply<pb::CreateWorkflowResponse> {
        let mut r = req.into_inner();
        let (header, fence) = (r.header.take(), r.fence.take());
        let create = validate::create(&self.limits, r)?;
        match self
            .propose(header, fence, WorkflowCommand::Create(Box::new(create)))
            .await?
        {
            (revision, WorkflowReply::Workflow { workflow, created }) => {
                Ok(self.gateway.reply(pb::CreateWorkflowResponse {
                    workflow: Some(convert::workflow_ref(workflow)),
                    created,
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    async fn get_workflow(
        &self,
        req: Request<pb::GetWorkflowRequest>,
    ) -> Reply<pb::GetWorkflowResponse> {
        let r = req.into_inner();
        fields::id("id", &r.id)?;
        self.gateway.before_read(r.serializable).await?;
        caller::check_workflow_read(&self.reader, &r.id)?;
        let revision = self.reader.applied_index();
        let Some(workflow) = self.reader.workflow(&r.id).map_err(status::storage_error)? else {
            return Ok(self.gateway.reply(pb::GetWorkflowResponse {
                revision,
                ..Default::default()
            }));
        };
        let tasks = self.reader.tasks(&r.id).map_err(status::storage_error)?;
        let progress = convert::progress(&workflow, &tasks, now_ms());
        let tasks = if r.include_tasks {
            tasks.into_iter().map(convert::task).collect()
        } else {
            Vec::new()
        };
        Ok(self.gateway.reply(pb::GetWorkflowResponse {
            workflow: Some(convert::workflow(workflow)),
            progress: Some(progress),
            tasks,
            revision,
        }))
    }

    async fn list_workflows(
        &self,
        req: Request<pb::ListWorkflowsRequest>,
    ) -> Reply<pb::ListWorkflowsResponse> {
        let mut r = req.into_inner();
        if r.all_namespaces {
            // Ignored with all_namespaces (as documented), so not checked either.
            r.namespace.clear();
        }
        let (serializable, with_count) = (r.serializable, r.with_count);
        let (with_progress, all) = (r.with_progress, r.all_namespaces);
        let mut query = validate::list(r)?;
        self.gateway.before_read(serializable).await?;
        self.scope(&mut query, all)?;
        let revision = self.reader.applied_index();
        let page = self.reader.list(&query).map_err(status::storage_error)?;
        let count = if with_count {
            Some(self.reader.count(&query).map_err(status::storage_error)?)
        } else {
            None
        };
        let mut progress = Vec::new();
        if with_progress {
            let now = now_ms();
            for w in &page.workflows {
                let tasks = self.reader.tasks(&w.id).map_err(status::storage_error)?;
                progress.push(convert::progress(w, &tasks, now));
            }
        }
        Ok(self.gateway.reply(pb::ListWorkflowsResponse {
            workflows: page.workflows.into_iter().map(convert::workflow).collect(),
            progress,
            next_cursor: page.next_cursor.unwrap_or_default(),
            count,
            revision,
        }))
    }

    async fn count_workflows(
        &self,
        req: Request<pb::CountWorkflowsRequest>,
    ) -> Reply<pb::CountWorkflowsResponse> {
        let mut r = req.into_inner();
        if r.all_namespaces {
            r.namespace.clear();
        }
        let mut query = validate::query(r.namespace, r.statuses, r.definition, r.labels)?;
        query.orphaned_only = r.orphaned_only;
        self.gateway.before_read(r.serializable).await?;
        self.scope(&mut query, r.all_namespaces)?;
        let revision = self.reader.applied_index();
        let count = self.reader.count(&query).map_err(status::storage_error)?;
        Ok(self
            .gateway
            .reply(pb::CountWorkflowsResponse { count, revision }))
    }

    async fn transition_workflow(
        &self,
        req: Request<pb::TransitionWorkflowRequest>,
    ) -> Reply<pb::TransitionWorkflowResponse> {
        let mut r = req.into_inner();
        let (header, fence) = (r.header.take(), r.fence.take());
        let t = validate::transition(r)?;
        let (revision, workflow) = self
            .propose_change(header, fence, WorkflowCommand::Transition(t))
            .await?;
        Ok(self.gateway.reply(pb::TransitionWorkflowResponse {
            workflow: Some(workflow),
            revision,
        }))
    }

    async fn update_workflow(
        &self,
        req: Request<pb::UpdateWorkflowRequest>,
    ) -> Reply<pb::UpdateWorkflowResponse> {
        let mut r = req.into_inner();
        let (header, fence) = (r.header.take(), r.fence.take());
        let u = validate::update(&self.limits, r)?;
        let (revision, workflow) = self
            .propose_change(header, fence, WorkflowCommand::Update(Box::new(u)))
            .await?;
        Ok(self.gateway.reply(pb::UpdateWorkflowResponse {
            workflow: Some(workflow),
            revision,
        }))
    }

    async fn delete_workflow(
        &self,
        req: Request<pb::DeleteWorkflowRequest>,
    ) -> Reply<pb::DeleteWorkflowResponse> {
        let r = req.into_inner();
        fields::id("id", &r.id)?;
        let command = WorkflowCommand::Delete {
            id: r.id,
            force: r.force,
        };
        match self.propose(r.header, r.fence, command).await? {
            (revision, WorkflowReply::Deleted { id, tasks }) => {
                Ok(self.gateway.reply(pb::DeleteWorkflowResponse {
                    id,
                    tasks,
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    async fn get_history(
        &self,
        req: Request<pb::GetHistoryRequest>,
    ) -> Reply<pb::GetHistoryResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        let limit = match r.limit {
            0 => DEFAULT_HISTORY_LIMIT,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        self.gateway.before_read(r.serializable).await?;
        caller::check_workflow_read(&self.reader, &r.workflow_id)?;
        let revision = self.reader.applied_index();
        let times = r.since_ms.unwrap_or(0)..r.until_ms.unwrap_or(u64::MAX);
        if times.start > times.end {
            return Err(status::invalid("since_ms is after until_ms"));
        }
        let page = self
            .reader
            .history_between(&r.workflow_id, r.from_version.max(1), limit as usize, times)
            .map_err(status::storage_error)?;
        // Only an empty page can mean a missing workflow: a workflow always keeps at least
        // its latest event. The floor says whether older events were compacted away.
        let mut compacted_before = 0;
        if page.events.is_empty() || r.from_version.max(1) < page.events[0].version {
            match self
                .reader
                .workflow(&r.workflow_id)
                .map_err(status::storage_error)?
            {
                Some(rec) if rec.history_floor > r.from_version.max(1) => {
                    compacted_before = rec.history_floor;
                }
                Some(_) => {}
                None => {
                    return Err(status::workflow_error(WorkflowError::NotFound(
                        r.workflow_id,
                    )));
                }
            }
        }
        Ok(self.gateway.reply(pb::GetHistoryResponse {
            events: page
                .events
                .into_iter()
                .map(convert::history_event)
                .collect(),
            next_version: page.next_version,
            revision,
            compacted_before,
        }))
    }

    async fn compact_history(
        &self,
        req: Request<pb::CompactHistoryRequest>,
    ) -> Reply<pb::CompactHistoryResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        if r.keep_last == 0 {
            return Err(status::invalid("keep_last must be at least 1"));
        }
        let command = WorkflowCommand::CompactHistory {
            id: r.workflow_id,
            keep_last: r.keep_last,
        };
        match self.propose(r.header, None, command).await? {
            (revision, WorkflowReply::HistoryCompacted { floor, removed, .. }) => {
                // Done unless the bound stopped it: a full batch may have more behind it.
                let done = removed < MAX_HISTORY_COMPACT;
                Ok(self.gateway.reply(pb::CompactHistoryResponse {
                    floor,
                    removed,
                    done,
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    async fn upsert_tasks(
        &self,
        req: Request<pb::UpsertTasksRequest>,
    ) -> Reply<pb::UpsertTasksResponse> {
        let mut r = req.into_inner();
        let (header, fence) = (r.header.take(), r.fence.take());
        let u = validate::upsert_tasks(&self.limits, r)?;
        match self
            .propose(header, fence, WorkflowCommand::UpsertTasks(Box::new(u)))
            .await?
        {
            (revision, WorkflowReply::Tasks { workflow_id, tasks }) => {
                Ok(self.gateway.reply(pb::UpsertTasksResponse {
                    workflow_id,
                    tasks: tasks.into_iter().map(convert::task_ref).collect(),
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    async fn list_tasks(&self, req: Request<pb::ListTasksRequest>) -> Reply<pb::ListTasksResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        let statuses = r
            .statuses
            .iter()
            .map(|s| validate::task_status("statuses", s))
            .collect::<Result<Vec<_>, _>>()?;
        self.gateway.before_read(r.serializable).await?;
        caller::check_workflow_read(&self.reader, &r.workflow_id)?;
        let revision = self.reader.applied_index();
        let mut tasks = self
            .reader
            .tasks(&r.workflow_id)
            .map_err(status::storage_error)?;
        if tasks.is_empty() {
            self.require_workflow(&r.workflow_id)?;
        }
        if r.ready_only {
            let ready: Vec<String> = cairn_model::workflow::task::ready_tasks(&tasks)
                .into_iter()
                .map(str::to_string)
                .collect();
            // Both lists are in id order.
            tasks.retain(|t| ready.binary_search(&t.id).is_ok());
        }
        if !statuses.is_empty() {
            tasks.retain(|t| statuses.contains(&t.status));
        }
        Ok(self.gateway.reply(pb::ListTasksResponse {
            tasks: tasks.into_iter().map(convert::task).collect(),
            revision,
        }))
    }

    async fn set_namespace_limits(
        &self,
        req: Request<pb::SetNamespaceLimitsRequest>,
    ) -> Reply<pb::SetNamespaceLimitsResponse> {
        self.set_namespace_limits_impl(req.into_inner()).await
    }

    async fn get_namespace_quota(
        &self,
        req: Request<pb::GetNamespaceQuotaRequest>,
    ) -> Reply<pb::GetNamespaceQuotaResponse> {
        self.get_namespace_quota_impl(req.into_inner()).await
    }

    async fn list_namespaces(
        &self,
        req: Request<pb::ListNamespacesRequest>,
    ) -> Reply<pb::ListNamespacesResponse> {
        self.list_namespaces_impl(req.into_inner()).await
    }

    async fn claim_task(&self, req: Request<pb::ClaimTaskRequest>) -> Reply<pb::ClaimTaskResponse> {
        self.claim_task_impl(req.into_inner()).await
    }

    async fn finish_task(
        &self,
        req: Request<pb::FinishTaskRequest>,
    ) -> Reply<pb::FinishTaskResponse> {
        self.finish_task_impl(req.into_inner()).await
    }

    async fn adopt_workflow(
        &self,
        req: Request<pb::AdoptWorkflowRequest>,
    ) -> Reply<pb::AdoptWorkflowResponse> {
        self.adopt_workflow_impl(req.into_inner()).await
    }

    async fn update_vars(
        &self,
        req: Request<pb::UpdateVarsRequest>,
    ) -> Reply<pb::UpdateVarsResponse> {
        self.update_vars_impl(req.into_inner()).await
    }

    async fn rollback_vars(
        &self,
        req: Request<pb::RollbackVarsRequest>,
    ) -> Reply<pb::UpdateVarsResponse> {
        self.rollback_vars_impl(req.into_inner()).await
    }

    async fn get_vars(&self, req: Request<pb::GetVarsRequest>) -> Reply<pb::GetVarsResponse> {
        self.get_vars_impl(req.into_inner()).await
    }

    async fn var_history(
        &self,
        req: Request<pb::VarHistoryRequest>,
    ) -> Reply<pb::VarHistoryResponse> {
        self.var_history_impl(req.into_inner()).await
    }
}
