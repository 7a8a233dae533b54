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

use super::convert::json_text;
use super::types::{Adoption, ClaimOptions, Claimed, RunResult, TaskRef};
use crate::client::Client;
use crate::error::Result;
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

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
