//! Typed access to the checkpoint spaces inside an apply transaction: a workflow's checkpoint
//! directory, checkpoint records and their chunks, and the removal of all of a workflow's
//! checkpoints when it is deleted. Below both `checkpoint` (the apply) and `workflow_store`
//! (whose workflow removal takes the checkpoints with it), as `workflow_store` is for
//! workflows.

use cairn_model::checkpoint::{CheckpointRecord, RetentionPolicy};
use cairn_model::workflow::WorkflowRecord;
use cairn_model::workflow::quota::QuotaResource;
use serde::{Deserialize, Serialize};

use super::batch::{BatchCtx, TxResult, encode, get};
use super::namespace_store;
use crate::keyspace::Space;
use crate::watch::Change;
use crate::workflow_keys as keys;

/// A workflow's checkpoints in save order, and its retention policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CheckpointDir {
    pub(crate) ids: Vec<String>,
    pub(crate) policy: Option<RetentionPolicy>,
}

pub(super) fn dir(ctx: &BatchCtx<'_>, workflow_id: &str) -> TxResult<CheckpointDir> {
    Ok(get(ctx, Space::CheckpointDirs, workflow_id.as_bytes())?.unwrap_or_default())
}

pub(super) fn put_dir(ctx: &BatchCtx<'_>, workflow_id: &str, dir: &CheckpointDir) -> TxResult<()> {
    ctx.tx
        .tree(Space::CheckpointDirs)
        .insert(workflow_id.as_bytes(), encode(dir)?)?;
    Ok(())
}

pub(super) fn record(
    ctx: &BatchCtx<'_>,
    workflow_id: &str,
    id: &str,
) -> TxResult<Option<CheckpointRecord>> {
    get(ctx, Space::Checkpoints, &keys::checkpoint(workflow_id, id))
}

pub(super) fn remove_chunks(ctx: &BatchCtx<'_>, blob_id: &str, chunks: u32) -> TxResult<()> {
    let data = ctx.tx.tree(Space::CheckpointData);
    for i in 0..chunks {
        data.remove(keys::chunk(blob_id, i))?;
    }
    Ok(())
}

/// Removes a checkpoint of a workflow in `namespace`, with its chunks.
pub(super) fn remove_record(
    ctx: &BatchCtx<'_>,
    namespace: &str,
    rec: &CheckpointRecord,
) -> TxResult<()> {
    remove_chunks(ctx, &rec.blob_id, rec.chunks)?;
    namespace_store::release(
        ctx,
        namespace,
        QuotaResource::CheckpointBytes,
        rec.stored_size,
    )?;
    ctx.tx
        .tree(Space::Checkpoints)
        .remove(keys::checkpoint(&rec.workflow_id, &rec.id))?;
    ctx.events.push(Change::CheckpointDelete {
        workflow_id: rec.workflow_id.clone(),
        id: rec.id.clone(),
    });
    Ok(())
}

/// Deletes every checkpoint of a workflow that is being deleted.
pub(super) fn remove_all(ctx: &BatchCtx<'_>, workflow: &WorkflowRecord) -> TxResult<()> {
    let workflow_id = &workflow.id;
    let d = dir(ctx, workflow_id)?;
    for id in &d.ids {
        if let Some(rec) = record(ctx, workflow_id, id)? {
            remove_record(ctx, &workflow.namespace, &rec)?;
        }
    }
    ctx.tx
        .tree(Space::CheckpointDirs)
        .remove(workflow_id.as_bytes())?;
    Ok(())
}
