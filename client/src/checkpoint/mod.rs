//! The checkpoint API: save workflow state beside its workflow (compressed and checksummed by
//! the cluster; payloads larger than one chunk stream automatically), load it back verified
//! (a delta materialized on request), find the latest (valid) one, list, roll a workflow
//! back to one, and set retention. Writes share the retry loop and idempotency keys of
//! every other write ([`Client::send_write`]); reads are linearizable unless asked otherwise.
//!
//! Rejections are typed: [`Error::NotFound`] (workflow or checkpoint), [`Error::InvalidArgument`]
//! (unknown or foreign parent, payload over the limit, a delta that is not JSON),
//! [`Error::FailedPrecondition`] (a delta over a chain that does not materialize),
//! [`Error::DataLoss`] (stored bytes fail verification), and for rollback
//! [`Error::IllegalTransition`] / [`Error::VersionConflict`].

pub(crate) mod convert;
mod transfer;
mod types;

use std::sync::Arc;

use cairn_api::v1 as pb;

pub use types::*;

use crate::client::{Client, request};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::workflow::WorkflowRef;
use crate::write_op::{CheckpointSave, WriteOp};

/// The arguments of a rollback (see [`Client::rollback_workflow`]).
pub(crate) struct Rollback<'a> {
    pub(crate) workflow_id: &'a str,
    pub(crate) checkpoint_id: &'a str,
    pub(crate) expected_version: Option<u64>,
    pub(crate) force: bool,
    pub(crate) actor: &'a str,
    pub(crate) reason: &'a str,
}

/// Page size of [`Client::list_checkpoints`] when none is given.
const DEFAULT_PAGE: u32 = 100;

impl Client {
    /// Saves `payload` as a checkpoint of `workflow_id`. Payloads larger than one chunk
    /// (1 MiB) are streamed; a retry (also after [`Error::OutcomeUnknown`] and
    /// [`Client::resume`]) continues the same upload, and the checkpoint is created once.
    pub async fn save_checkpoint(
        &self,
        workflow_id: &str,
        payload: impl Into<Vec<u8>>,
        options: SaveOptions,
    ) -> Result<SavedCheckpoint> {
        self.save_checkpoint_fenced(workflow_id, payload.into(), options, None)
            .await
    }

    pub(crate) async fn save_checkpoint_fenced(
        &self,
        workflow_id: &str,
        payload: Vec<u8>,
        options: SaveOptions,
        fence: Option<pb::Fence>,
    ) -> Result<SavedCheckpoint> {
        let save = CheckpointSave {
            fields: convert::fields(workflow_id, &options)?,
            header: self.next_header(),
            payload: Arc::new(payload),
            fence,
        };
        match self.send_write(WriteOp::SaveCheckpoint(save)).await? {
            WriteOutcome::Checkpoint(s) => Ok(s),
            _ => Err(mismatched_reply()),
        }
    }

    /// A checkpoint's metadata and its payload, verified (for a delta with `materialize`: the
    /// full state). [`Error::NotFound`] if it does not exist, [`Error::DataLoss`] if its
    /// stored bytes fail verification.
    pub async fn load_checkpoint(
        &self,
        workflow_id: &str,
        id: &str,
        materialize: bool,
    ) -> Result<(CheckpointInfo, Vec<u8>)> {
        self.load_checkpoint_with(
            workflow_id,
            id,
            LoadOptions {
                materialize,
                serializable: false,
            },
        )
        .await
    }

    /// [`Client::load_checkpoint`] with explicit options (e.g. a serializable local read).
    pub async fn load_checkpoint_with(
        &self,
        workflow_id: &str,
        id: &str,
        options: LoadOptions,
    ) -> Result<(CheckpointInfo, Vec<u8>)> {
        self.fetch(pb::LoadCheckpointRequest {
            workflow_id: workflow_id.to_string(),
            id: id.to_string(),
            materialize: options.materialize,
            serializable: options.serializable,
        })
        .await
    }

    /// A checkpoint's metadata; `Ok(None)` when it does not exist.
    pub async fn checkpoint(&self, workflow_id: &str, id: &str) -> Result<Option<CheckpointInfo>> {
        let msg = pb::GetCheckpointRequest {
            workflow_id: workflow_id.to_string(),
            id: id.to_string(),
            serializable: false,
        };
        let resp = self
            .call("get_checkpoint", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::checkpoints(ch).get(req).await }
            })
            .await?;
        resp.checkpoint.map(convert::checkpoint).transpose()
    }

    /// The newest checkpoint of a workflow; `Ok(None)` when it has none, [`Error::NotFound`]
    /// when the workflow does not exist.
    pub async fn latest_checkpoint(&self, workflow_id: &str) -> Result<Option<CheckpointInfo>> {
        self.latest(workflow_id, false).await
    }

    /// The newest checkpoint whose whole chain loads and verifies, skipping damaged ones:
    /// where to resume from after a crash.
    pub async fn latest_valid_checkpoint(
        &self,
        workflow_id: &str,
    ) -> Result<Option<CheckpointInfo>> {
        self.latest(workflow_id, true).await
    }

    async fn latest(&self, workflow_id: &str, valid: bool) -> Result<Option<CheckpointInfo>> {
        let msg = pb::LatestCheckpointRequest {
            workflow_id: workflow_id.to_string(),
            serializable: false,
        };
        let resp = self
            .call("latest_checkpoint", |ch, t| {
                let req = request(msg.clone(), t);
                async move {
                    let mut c = Self::checkpoints(ch);
                    if valid {
                        c.latest_valid(req).await
                    } else {
                        c.latest(req).await
                    }
                }
            })
            .await?;
        resp.checkpoint.map(convert::checkpoint).transpose()
    }

    /// One page of a workflow's checkpoints, oldest first, after checkpoint `after`
    /// (`limit` 0: 100). Listings leave out the workflow metadata saved with each.
    pub async fn list_checkpoints(
        &self,
        workflow_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<CheckpointPage> {
        let msg = pb::ListCheckpointsRequest {
            workflow_id: workflow_id.to_string(),
            after: after.unwrap_or_default().to_string(),
            limit: if limit == 0 { DEFAULT_PAGE } else { limit },
            serializable: false,
        };
        let resp = self
            .call("list_checkpoints", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::checkpoints(ch).list(req).await }
            })
            .await?;
        Ok(CheckpointPage {
            checkpoints: resp
                .checkpoints
                .into_iter()
                .map(convert::checkpoint)
                .collect::<Result<_>>()?,
            next_after: resp.next_after,
            revision: resp.revision,
        })
    }

    /// Every checkpoint of a workflow, oldest first (all pages).
    pub async fn list_all_checkpoints(&self, workflow_id: &str) -> Result<Vec<CheckpointInfo>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .list_checkpoints(workflow_id, after.as_deref(), 1000)
                .await?;
            out.extend(page.checkpoints);
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Puts a workflow back to the status and metadata saved with `checkpoint_id` (recorded
    /// in its history as a rollback). The status change must be legal in the workflow's
    /// definition unless `force`; with `expected_version`, only at that version.
    pub async fn rollback_workflow(
        &self,
        workflow_id: &str,
        checkpoint_id: &str,
        expected_version: Option<u64>,
        force: bool,
        actor: &str,
        reason: &str,
    ) -> Result<WorkflowRef> {
        let rollback = Rollback {
            workflow_id,
            checkpoint_id,
            expected_version,
            force,
            actor,
            reason,
        };
        self.rollback_workflow_fenced(rollback, None).await
    }

    pub(crate) async fn rollback_workflow_fenced(
        &self,
        r: Rollback<'_>,
        fence: Option<pb::Fence>,
    ) -> Result<WorkflowRef> {
        let Rollback {
            workflow_id,
            checkpoint_id,
            expected_version,
            force,
            actor,
            reason,
        } = r;
        let msg = pb::RollbackWorkflowRequest {
            fence,
            header: Some(self.next_header()),
            workflow_id: workflow_id.to_string(),
            checkpoint_id: checkpoint_id.to_string(),
            expected_version,
            force,
            actor: actor.to_string(),
            reason: reason.to_string(),
        };
        match self.send_write(WriteOp::RollbackWorkflow(msg)).await? {
            WriteOutcome::Workflow(w) => Ok(w),
            _ => Err(mismatched_reply()),
        }
    }

    /// Sets (or with `None` clears) the checkpoint retention of a workflow or a namespace.
    /// Returns the revision of the change; the leader purges on its next sweep.
    pub async fn set_retention(
        &self,
        scope: RetentionScope,
        policy: Option<RetentionPolicy>,
    ) -> Result<u64> {
        use pb::set_retention_request::Scope;
        let msg = pb::SetRetentionRequest {
            header: Some(self.next_header()),
            scope: Some(match scope {
                RetentionScope::Workflow(id) => Scope::WorkflowId(id),
                RetentionScope::Namespace(ns) => Scope::Namespace(ns),
            }),
            policy: policy.map(convert::policy),
        };
        match self.send_write(WriteOp::SetRetention(msg)).await? {
            WriteOutcome::RetentionSet { revision } => Ok(revision),
            _ => Err(mismatched_reply()),
        }
    }
}
