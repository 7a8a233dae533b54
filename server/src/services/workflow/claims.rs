//! Task claims and workflow ownership: `ClaimTask`, `FinishTask`, `AdoptWorkflow`. The
//! command's own input check (`Request::check_input`, run by the gateway) validates the
//! fields; who may call each is in its command's auth needs (namespace or workflow writers).

use cairn_api::v1 as pb;
use cairn_model::workflow::command::{AdoptWorkflow, ClaimTask, FinishTask, RunOutcome};
use cairn_model::workflow::{WorkflowCommand, WorkflowReply};

use super::{Reply, WorkflowService, convert, unexpected_reply, validate};

impl WorkflowService {
    pub(super) async fn claim_task_impl(
        &self,
        r: pb::ClaimTaskRequest,
    ) -> Reply<pb::ClaimTaskResponse> {
        let command = WorkflowCommand::ClaimTask(Box::new(ClaimTask {
            namespace: validate::namespace(r.namespace)?,
            workflow_id: r.workflow_id,
            kinds: r.kinds,
            agent_id: r.agent_id,
            lease: r.lease_id,
        }));
        match self.propose(r.header, None, command).await? {
            (
                revision,
                WorkflowReply::Claimed {
                    task,
                    next_ready_ms,
                },
            ) => Ok(self.gateway.reply(pb::ClaimTaskResponse {
                task: task.map(|t| convert::task(*t)),
                next_ready_ms,
                revision,
            })),
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    pub(super) async fn finish_task_impl(
        &self,
        r: pb::FinishTaskRequest,
    ) -> Reply<pb::FinishTaskResponse> {
        let outcome = if r.failed {
            RunOutcome::Failed { error: r.error }
        } else {
            RunOutcome::Completed { output: r.output }
        };
        let command = WorkflowCommand::FinishTask(Box::new(FinishTask {
            workflow_id: r.workflow_id,
            task_id: r.task_id,
            claim: r.claim,
            outcome,
        }));
        match self.propose(r.header, None, command).await? {
            (revision, WorkflowReply::Tasks { mut tasks, .. }) if tasks.len() == 1 => {
                Ok(self.gateway.reply(pb::FinishTaskResponse {
                    task: tasks.pop().map(convert::task_ref),
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    pub(super) async fn adopt_workflow_impl(
        &self,
        r: pb::AdoptWorkflowRequest,
    ) -> Reply<pb::AdoptWorkflowResponse> {
        let command = WorkflowCommand::Adopt(Box::new(AdoptWorkflow {
            id: r.id,
            owner_id: r.owner_id,
            lease: r.lease_id,
            expected_version: r.expected_version,
            reason: r.reason,
        }));
        match self.propose(r.header, None, command).await? {
            (
                revision,
                WorkflowReply::Adopted {
                    workflow,
                    epoch,
                    previous_owner,
                },
            ) => Ok(self.gateway.reply(pb::AdoptWorkflowResponse {
                workflow: Some(convert::workflow_ref(workflow)),
                epoch,
                previous_owner,
                revision,
            })),
            (_, other) => Err(unexpected_reply(other)),
        }
    }
}
