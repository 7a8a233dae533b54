//! Worker and orchestrator liveness. A worker holds one lease (kept alive by its heartbeat,
//! e.g. [`Client::keep_alive`](crate::Client::keep_alive) or a `LeaseKeeper`), claims ready
//! tasks under it and finishes each run with the claim's token; if the worker dies, the lease
//! ends and the cluster itself fails or retries its runs (the task's [`RetryPolicy`]). An
//! orchestrator adopts its workflows under its lease; if it dies they become orphans (listed
//! by [`ListOptions::orphaned_only`]) that another orchestrator adopts, fencing the old one
//! out ([`Fence::owner`]).
//!
//! Claims, finishes and adoptions are writes with an idempotency key: a retried claim returns
//! the task the first attempt claimed, never a second one.
//!
//! [`RetryPolicy`]: super::RetryPolicy
//! [`ListOptions::orphaned_only`]: super::ListOptions::orphaned_only
//! [`Fence::owner`]: crate::Fence::owner

use cairn_api::v1 as pb;
use serde_json::Value;

use super::convert::json_text;
use super::types::{Task, TaskRef, WorkflowRef};
use crate::client::Client;
use crate::error::Result;
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

/// What [`Client::claim_task`] takes: one workflow's tasks or a whole namespace's.
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

/// The answer of [`Client::claim_task`].
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The task now RUNNING under the caller's lease (its `claim` finishes it), or None when
    /// no task was ready.
    pub task: Option<Task>,
    /// With no task: when the earliest backed-off task becomes claimable.
    pub next_ready_ms: Option<u64>,
    pub revision: u64,
}

/// How a claimed run ended, for [`Client::finish_task`].
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    /// COMPLETED with this output.
    Completed(Value),
    /// Failed: retried under the task's policy, else FAILED with this error.
    Failed(Value),
}

/// The answer of [`Client::adopt_workflow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    pub workflow: WorkflowRef,
    /// The fencing token of this ownership: `Fence::owner(id, epoch)`.
    pub epoch: u64,
    /// Who owned it before ("" when nobody did).
    pub previous_owner: String,
}

impl Client {
    /// Claims the oldest ready task (PENDING, dependencies completed, past its backoff, its
    /// workflow not terminal and under `max_concurrent`) for `agent_id` under lease
    /// `lease_id`. Concurrent claims never get the same task.
    pub async fn claim_task(
        &self,
        agent_id: &str,
        lease_id: u64,
        options: ClaimOptions,
    ) -> Result<Claimed> {
        let msg = pb::ClaimTaskRequest {
            header: Some(self.next_header()),
            namespace: options.namespace.unwrap_or_default(),
            workflow_id: options.workflow_id,
            kinds: options.kinds,
            agent_id: agent_id.to_string(),
            lease_id,
        };
        match self.send_write(WriteOp::ClaimTask(msg)).await? {
            WriteOutcome::Claimed(c) => Ok(*c),
            _ => Err(mismatched_reply()),
        }
    }

    /// Ends the run that claim `claim` started. Fails with
    /// [`Error::StaleClaim`](crate::Error::StaleClaim) if the task no longer runs under it
    /// (the lease ended, the task was changed or claimed again): the result is not stored.
    pub async fn finish_task(
        &self,
        workflow_id: &str,
        task_id: &str,
        claim: u64,
        result: RunResult,
    ) -> Result<TaskRef> {
        let (failed, output, error) = match &result {
            RunResult::Completed(v) => (false, json_text("output", v)?, String::new()),
            RunResult::Failed(v) => (true, String::new(), json_text("error", v)?),
        };
        let msg = pb::FinishTaskRequest {
            header: Some(self.next_header()),
            workflow_id: workflow_id.to_string(),
            task_id: task_id.to_string(),
            claim,
            failed,
            output,
            error,
        };
        match self.send_write(WriteOp::FinishTask(msg)).await? {
            WriteOutcome::Finished(t) => Ok(t),
            _ => Err(mismatched_reply()),
        }
    }

    /// Owns workflow `id` as `owner_id` under lease `lease_id`: allowed while nobody owns it
    /// under a live lease (never owned, or orphaned), or the caller already does. Otherwise
    /// [`Error::Owned`](crate::Error::Owned). Writes fenced with the previous owner's epoch
    /// are refused from now on.
    pub async fn adopt_workflow(
        &self,
        id: &str,
        owner_id: &str,
        lease_id: u64,
        reason: &str,
    ) -> Result<Adoption> {
        let msg = pb::AdoptWorkflowRequest {
            header: Some(self.next_header()),
            id: id.to_string(),
            owner_id: owner_id.to_string(),
            lease_id,
            expected_version: None,
            reason: reason.to_string(),
        };
        match self.send_write(WriteOp::AdoptWorkflow(msg)).await? {
            WriteOutcome::Adopted(a) => Ok(a),
            _ => Err(mismatched_reply()),
        }
    }
}
