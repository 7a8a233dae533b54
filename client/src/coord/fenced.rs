//! Fenced writes: `client.fenced(&guard.fence())` offers the KV and workflow writes, each
//! applied only while the lock token (or election term) is current. Otherwise the cluster
//! answers [`crate::Error::StaleFence`] with the current token, and writes nothing: a paused
//! or partitioned former holder cannot overwrite its successor's work.

use cairn_api::v1 as pb;

use super::types::Fence;
use crate::client::Client;
use crate::error::Result;
use crate::kv::DeleteResult;
use crate::workflow::{
    CreateWorkflow, CreatedWorkflow, DeletedWorkflow, Target, TaskSpec, UpdateWorkflow,
    UpsertedTasks, WorkflowRef,
};

/// Writes that carry a fence; see [`Client::fenced`]. Each method matches the unfenced one of
/// the same name on [`Client`].
#[derive(Debug, Clone)]
pub struct Fenced<'a> {
    client: &'a Client,
    fence: pb::Fence,
}

impl Client {
    /// The KV and workflow writes, fenced by `fence` (a lock's token or an election's term):
    ///
    /// ```no_run
    /// # async fn demo(client: cairn_client::Client) -> cairn_client::Result<()> {
    /// use cairn_client::LockOptions;
    /// let guard = client.lock("jobs/reindex", LockOptions::new()).await?;
    /// client.fenced(&guard.fence()).put("jobs/reindex/progress", "42%").await?;
    /// # Ok(()) }
    /// ```
    pub fn fenced(&self, fence: &Fence) -> Fenced<'_> {
        Fenced {
            client: self,
            fence: fence.to_pb(),
        }
    }
}

impl Fenced<'_> {
    fn f(&self) -> Option<pb::Fence> {
        Some(self.fence.clone())
    }

    pub async fn put(&self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<u64> {
        self.client
            .put_inner(key.into(), value.into(), None, self.f())
            .await
    }

    pub async fn put_if(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        expected_revision: u64,
    ) -> Result<u64> {
        self.client
            .put_inner(key.into(), value.into(), Some(expected_revision), self.f())
            .await
    }

    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> Result<DeleteResult> {
        self.client.delete_inner(key.into(), None, self.f()).await
    }

    pub async fn delete_if(
        &self,
        key: impl Into<Vec<u8>>,
        expected_revision: u64,
    ) -> Result<DeleteResult> {
        self.client
            .delete_inner(key.into(), Some(expected_revision), self.f())
            .await
    }

    pub async fn create_workflow(&self, new: CreateWorkflow) -> Result<CreatedWorkflow> {
        self.client.create_workflow_fenced(new, self.f()).await
    }

    pub async fn transition(
        &self,
        id: &str,
        target: Target,
        expected_version: Option<u64>,
        actor: &str,
        reason: &str,
    ) -> Result<WorkflowRef> {
        self.client
            .transition_fenced(id, target, expected_version, actor, reason, self.f())
            .await
    }

    pub async fn update_workflow(&self, id: &str, update: UpdateWorkflow) -> Result<WorkflowRef> {
        self.client
            .update_workflow_fenced(id, update, self.f())
            .await
    }

    pub async fn delete_workflow(&self, id: &str, force: bool) -> Result<DeletedWorkflow> {
        self.client
            .delete_workflow_fenced(id, force, self.f())
            .await
    }

    pub async fn upsert_tasks(
        &self,
        workflow_id: &str,
        tasks: impl IntoIterator<Item = TaskSpec>,
    ) -> Result<UpsertedTasks> {
        self.client
            .upsert_tasks_fenced(workflow_id, tasks, self.f())
            .await
    }

    /// A versioned update of `scope`'s variables, only while the fence holds.
    pub async fn update_vars(
        &self,
        scope: &crate::VarScope,
        update: crate::VarUpdate,
    ) -> Result<crate::VarsWritten> {
        self.client
            .update_vars_fenced(scope, update, self.f())
            .await
    }

    /// A checkpoint saved only while the fence holds (a chunked upload is checked when it
    /// commits; a stale fence stores nothing).
    pub async fn save_checkpoint(
        &self,
        workflow_id: &str,
        payload: impl Into<Vec<u8>>,
        options: crate::SaveOptions,
    ) -> Result<crate::SavedCheckpoint> {
        self.client
            .save_checkpoint_fenced(workflow_id, payload.into(), options, self.f())
            .await
    }

    pub async fn rollback_workflow(
        &self,
        workflow_id: &str,
        checkpoint_id: &str,
        expected_version: Option<u64>,
        force: bool,
        actor: &str,
        reason: &str,
    ) -> Result<WorkflowRef> {
        let rollback = crate::checkpoint::Rollback {
            workflow_id,
            checkpoint_id,
            expected_version,
            force,
            actor,
            reason,
        };
        self.client
            .rollback_workflow_fenced(rollback, self.f())
            .await
    }
}
