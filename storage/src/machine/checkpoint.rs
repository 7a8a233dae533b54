//! The `checkpoint` domain: save (whole, or by chunked upload then commit), upload garbage
//! collection, rollback of a workflow to a checkpoint, retention policy and purge (the
//! records themselves, and the removal of a deleted workflow's checkpoints, are in
//! `checkpoint_store`). Like every domain, it decides first and writes last, so a rejection
//! writes nothing.

use cairn_model::checkpoint::{
    CheckpointCommand, CheckpointError, CheckpointRecord, CheckpointReply, RetentionPolicy,
    SaveCheckpoint, UploadRecord,
};
use cairn_model::command::Response;
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{Target, WorkflowError, WorkflowRecord};

use super::batch::{BatchCtx, TxResult, encode, get};
use super::checkpoint_store::{dir, put_dir, record, remove_chunks, remove_record};
use super::workflow_store as store;
use super::{namespace_store, workflow};
use crate::keyspace::Space;
use crate::watch::Change;
use crate::workflow_keys as keys;
use cairn_model::workflow::quota::QuotaResource;

type Outcome = Result<CheckpointReply, CheckpointError>;

pub(super) fn apply(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    cmd: &CheckpointCommand,
) -> TxResult<Response> {
    let outcome = match cmd {
        CheckpointCommand::Save(save) => save_checkpoint(ctx, revision, now_ms, save, None)?,
        CheckpointCommand::UploadChunk {
            upload_id,
            workflow_id,
            index,
            data,
        } => upload_chunk(ctx, now_ms, upload_id, workflow_id, *index, data)?,
        CheckpointCommand::CommitUpload {
            upload_id,
            chunks,
            save,
        } => save_checkpoint(ctx, revision, now_ms, save, Some((upload_id, *chunks)))?,
        CheckpointCommand::AbortUploads { upload_ids } => abort_uploads(ctx, upload_ids)?,
        CheckpointCommand::Rollback {
            workflow_id,
            checkpoint_id,
            expected_version,
            force,
            actor,
            reason,
        } => rollback(
            ctx,
            revision,
            now_ms,
            Rollback {
                workflow_id,
                checkpoint_id,
                expected_version: *expected_version,
                force: *force,
                actor,
                reason,
            },
        )?,
        CheckpointCommand::SetRetention {
            workflow_id,
            policy,
        } => set_retention(ctx, workflow_id, *policy)?,
        CheckpointCommand::SetNamespaceRetention { namespace, policy } => {
            let key = keys::namespace_retention(namespace);
            match policy {
                Some(p) => ctx.tx.tree(Space::CheckpointDirs).insert(key, encode(p)?)?,
                None => ctx.tx.tree(Space::CheckpointDirs).remove(key)?,
            };
            Ok(CheckpointReply::RetentionSet)
        }
        CheckpointCommand::Purge { workflow_id, ids } => purge(ctx, workflow_id, ids)?,
    };
    Ok(match outcome {
        Ok(reply) => Response::Checkpoint { revision, reply },
        Err(e) => Response::Rejected(e.into()),
    })
}

fn workflow_of(ctx: &BatchCtx<'_>, id: &str) -> TxResult<Result<WorkflowRecord, CheckpointError>> {
    Ok(store::workflow(ctx, id)?
        .ok_or_else(|| CheckpointError::Workflow(WorkflowError::NotFound(id.to_string()))))
}

pub(super) fn save_checkpoint(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    save: &SaveCheckpoint,
    upload: Option<(&String, u32)>,
) -> TxResult<Outcome> {
    let wf = match workflow_of(ctx, &save.workflow_id)? {
        Ok(w) => w,
        Err(e) => return Ok(Err(e)),
    };
    if save.delta && save.parent.is_none() {
        return Ok(Err(CheckpointError::DeltaWithoutParent));
    }
    if let Some(parent) = &save.parent
        && record(ctx, &wf.id, parent)?.is_none()
    {
        return Ok(Err(CheckpointError::UnknownParent {
            workflow_id: wf.id.clone(),
            parent: parent.clone(),
        }));
    }
    let id = format!("ckpt-{revision:016}");
    let (blob_id, chunks, stored_size) = match upload {
        None => {
            if let Err(e) = charge_bytes(ctx, &wf, save.payload.len() as u64)? {
                return Ok(Err(e));
            }
            ctx.tx
                .tree(Space::CheckpointData)
                .insert(keys::chunk(&id, 0), save.payload.as_slice())?;
            (id.clone(), 1, save.payload.len() as u64)
        }
        Some((upload_id, expected)) => {
            let Some(up) = get::<UploadRecord>(ctx, Space::Uploads, upload_id.as_bytes())? else {
                return Ok(Err(CheckpointError::UnknownUpload(upload_id.clone())));
            };
            if up.workflow_id != wf.id {
                return Ok(Err(CheckpointError::UploadOfOtherWorkflow {
                    upload_id: upload_id.clone(),
                    owner: up.workflow_id,
                }));
            }
            if up.next != expected {
                return Ok(Err(CheckpointError::MissingChunks {
                    upload_id: upload_id.clone(),
                    expected,
                    have: up.next,
                }));
            }
            if let Err(e) = charge_bytes(ctx, &wf, up.stored_size)? {
                return Ok(Err(e));
            }
            // The chunks stay where they are; the checkpoint points at them.
            ctx.tx.tree(Space::Uploads).remove(upload_id.as_bytes())?;
            (upload_id.clone(), up.next, up.stored_size)
        }
    };
    let rec = CheckpointRecord {
        workflow_id: wf.id.clone(),
        id: id.clone(),
        revision,
        created_ms: now_ms,
        kind: save.kind,
        label: save.label.clone(),
        metadata: save.metadata.clone(),
        parent: save.parent.clone(),
        delta: save.delta,
        codec: save.codec,
        raw_size: save.raw_size,
        stored_size,
        checksum: save.checksum,
        blob_id,
        chunks,
        workflow_status: wf.status.clone(),
        workflow_version: wf.version,
        workflow_metadata: wf.metadata.clone(),
    };
    ctx.tx
        .tree(Space::Checkpoints)
        .insert(keys::checkpoint(&wf.id, &id), encode(&rec)?)?;
    ctx.events.push(Change::CheckpointPut {
        record: Box::new(rec.clone()),
    });
    let mut d = dir(ctx, &wf.id)?;
    d.ids.push(id.clone());
    put_dir(ctx, &wf.id, &d)?;
    Ok(Ok(CheckpointReply::Saved {
        id,
        raw_size: save.raw_size,
        stored_size,
    }))
}

/// Counts a checkpoint's stored bytes against its workflow's namespace: the last check
/// before a save writes anything.
fn charge_bytes(
    ctx: &BatchCtx<'_>,
    wf: &WorkflowRecord,
    bytes: u64,
) -> TxResult<Result<(), CheckpointError>> {
    Ok(
        namespace_store::charge(ctx, &wf.namespace, QuotaResource::CheckpointBytes, bytes)?
            .map_err(|e| CheckpointError::Workflow(WorkflowError::NamespaceFull(e))),
    )
}

fn upload_chunk(
    ctx: &BatchCtx<'_>,
    now_ms: u64,
    upload_id: &str,
    workflow_id: &str,
    index: u32,
    data: &[u8],
) -> TxResult<Outcome> {
    let existing = get::<UploadRecord>(ctx, Space::Uploads, upload_id.as_bytes())?;
    let mut up = match existing {
        Some(up) if up.workflow_id != workflow_id => {
            return Ok(Err(CheckpointError::UploadOfOtherWorkflow {
                upload_id: upload_id.to_string(),
                owner: up.workflow_id,
            }));
        }
        Some(up) => up,
        None if index == 0 => {
            // Chunks under this id without an upload record belong to a committed
            // checkpoint (a retried stream whose commit was applied): reopening the upload
            // would overwrite them, and collecting it later would delete them.
            if ctx
                .tx
                .tree(Space::CheckpointData)
                .get(keys::chunk(upload_id, 0))?
                .is_some()
            {
                return Ok(Err(CheckpointError::UnknownUpload(upload_id.to_string())));
            }
            UploadRecord {
                workflow_id: workflow_id.to_string(),
                started_ms: now_ms,
                next: 0,
                stored_size: 0,
            }
        }
        None => return Ok(Err(CheckpointError::UnknownUpload(upload_id.to_string()))),
    };
    let stored = || CheckpointReply::ChunkStored {
        upload_id: upload_id.to_string(),
        index,
    };
    if index < up.next {
        // A repeat (e.g. a client retry with a new idempotency key after a reconnect):
        // harmless if it is the same bytes.
        let same = ctx
            .tx
            .tree(Space::CheckpointData)
            .get(keys::chunk(upload_id, index))?
            .is_some_and(|b| b.as_ref() == data);
        return Ok(if same {
            Ok(stored())
        } else {
            Err(CheckpointError::ChunkMismatch {
                upload_id: upload_id.to_string(),
                index,
            })
        });
    }
    if index > up.next {
        return Ok(Err(CheckpointError::ChunkOutOfOrder {
            upload_id: upload_id.to_string(),
            expected: up.next,
            got: index,
        }));
    }
    // An upload that could never be committed is refused as early as it is known: its chunks
    // count against the namespace only at commit, but must fit with the rest of it.
    let wf = match workflow_of(ctx, workflow_id)? {
        Ok(w) => w,
        Err(e) => return Ok(Err(e)),
    };
    let upload_bytes = up.stored_size.saturating_add(data.len() as u64);
    if let Err(e) = namespace_store::admits(
        ctx,
        &wf.namespace,
        QuotaResource::CheckpointBytes,
        upload_bytes,
    )? {
        return Ok(Err(CheckpointError::Workflow(
            WorkflowError::NamespaceFull(e),
        )));
    }
    ctx.tx
        .tree(Space::CheckpointData)
        .insert(keys::chunk(upload_id, index), data)?;
    up.next += 1;
    up.stored_size += data.len() as u64;
    ctx.tx
        .tree(Space::Uploads)
        .insert(upload_id.as_bytes(), encode(&up)?)?;
    Ok(Ok(stored()))
}

fn abort_uploads(ctx: &BatchCtx<'_>, upload_ids: &[String]) -> TxResult<Outcome> {
    let mut aborted = Vec::new();
    for id in upload_ids {
        if let Some(up) = get::<UploadRecord>(ctx, Space::Uploads, id.as_bytes())? {
            remove_chunks(ctx, id, up.next)?;
            ctx.tx.tree(Space::Uploads).remove(id.as_bytes())?;
            aborted.push(id.clone());
        }
    }
    Ok(Ok(CheckpointReply::UploadsAborted {
        upload_ids: aborted,
    }))
}

struct Rollback<'a> {
    workflow_id: &'a str,
    checkpoint_id: &'a str,
    expected_version: Option<u64>,
    force: bool,
    actor: &'a str,
    reason: &'a str,
}

fn rollback(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    r: Rollback<'_>,
) -> TxResult<Outcome> {
    let old = match workflow::load_at(ctx, r.workflow_id, r.expected_version)? {
        Ok(w) => w,
        Err(e) => return Ok(Err(CheckpointError::Workflow(e))),
    };
    let Some(ckpt) = record(ctx, r.workflow_id, r.checkpoint_id)? else {
        return Ok(Err(CheckpointError::NotFound {
            workflow_id: r.workflow_id.to_string(),
            id: r.checkpoint_id.to_string(),
        }));
    };
    let def = match workflow::definition_of(ctx, &old)? {
        Ok(d) => d,
        Err(e) => return Ok(Err(CheckpointError::Workflow(e))),
    };
    if ckpt.workflow_status != old.status && !r.force {
        let target = Target::Status(ckpt.workflow_status.clone());
        if let Err(error) = def.resolve(&old.status, &target) {
            return Ok(Err(CheckpointError::Workflow(
                WorkflowError::IllegalTransition {
                    id: old.id.clone(),
                    error,
                },
            )));
        }
    }
    let mut rec = old.clone();
    rec.status = ckpt.workflow_status.clone();
    rec.metadata = ckpt.workflow_metadata.clone();
    store::bump(&mut rec, revision, now_ms);
    rec.finished_ms = def.is_terminal(&rec.status).then_some(now_ms);
    store::put_workflow(ctx, Some(&old), &rec)?;
    let mut ev = store::event(&rec, HistoryKind::Rollback, &old.status, r.actor);
    ev.event = ckpt.id.clone();
    ev.reason = r.reason.to_string();
    store::append_history(ctx, &rec.id, &ev)?;
    Ok(Ok(CheckpointReply::RolledBack {
        workflow: rec.to_ref(),
    }))
}

fn set_retention(
    ctx: &BatchCtx<'_>,
    workflow_id: &str,
    policy: Option<RetentionPolicy>,
) -> TxResult<Outcome> {
    if let Err(e) = workflow_of(ctx, workflow_id)? {
        return Ok(Err(e));
    }
    let mut d = dir(ctx, workflow_id)?;
    d.policy = policy;
    put_dir(ctx, workflow_id, &d)?;
    Ok(Ok(CheckpointReply::RetentionSet))
}

/// Deletes the named checkpoints, except any that a remaining checkpoint names as parent
/// (its chain must still materialize). The leader chose the names; re-checking here keeps
/// the outcome a function of the state.
fn purge(ctx: &BatchCtx<'_>, workflow_id: &str, ids: &[String]) -> TxResult<Outcome> {
    let mut d = dir(ctx, workflow_id)?;
    let mut records = Vec::with_capacity(d.ids.len());
    for id in &d.ids {
        if let Some(rec) = record(ctx, workflow_id, id)? {
            records.push(rec);
        }
    }
    let mut doomed: std::collections::BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    // Sparing a parent can make its own parent needed again: repeat until stable.
    loop {
        let needed: Vec<&str> = records
            .iter()
            .filter(|r| !doomed.contains(r.id.as_str()))
            .filter_map(|r| r.parent.as_deref())
            .filter(|p| doomed.contains(p))
            .collect();
        if needed.is_empty() {
            break;
        }
        for p in needed {
            doomed.remove(p);
        }
    }
    // Checkpoints live only while their workflow does (its removal takes them along).
    let Some(wf) = store::workflow(ctx, workflow_id)? else {
        return Ok(Ok(CheckpointReply::Purged { ids: Vec::new() }));
    };
    let mut purged = Vec::new();
    for rec in records.iter().filter(|r| doomed.contains(r.id.as_str())) {
        remove_record(ctx, &wf.namespace, rec)?;
        purged.push(rec.id.clone());
    }
    if !purged.is_empty() {
        d.ids.retain(|id| !purged.contains(id));
        put_dir(ctx, workflow_id, &d)?;
    }
    Ok(Ok(CheckpointReply::Purged { ids: purged }))
}
