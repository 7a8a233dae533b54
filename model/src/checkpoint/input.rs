//! The checkpoint part of `Request::check_input` (see `crate::input`): ids, label, metadata,
//! payload and upload sizes. The checkpoint service checks the raw payload's size as it
//! arrives, before compressing; here the encoded entry is bounded too, and its declared raw
//! size, so a forwarded entry cannot carry more than a client's could.

use super::command::{
    CHUNK_BYTES, CheckpointCommand, CheckpointError, MAX_ENCODED_CHUNK_BYTES,
    MAX_UPLOADS_PER_ABORT, SaveCheckpoint,
};
use super::record::{Codec, SEALED_CHUNK_OVERHEAD};
use crate::input::{
    InputError, InputLimits, MAX_REASON, MAX_SHORT_TEXT, check_metadata, count, id, internal,
    invalid, size, text,
};

impl CheckpointCommand {
    /// This command's part of `Request::check_input`.
    pub fn check_input(&self, limits: &InputLimits) -> Result<(), InputError> {
        match self {
            CheckpointCommand::Save(s) => check_single_save(limits, s),
            CheckpointCommand::UploadChunk {
                upload_id,
                workflow_id,
                index,
                data,
            } => {
                id("upload_id", upload_id)?;
                id("workflow_id", workflow_id)?;
                size("chunk", data.len(), MAX_ENCODED_CHUNK_BYTES)?;
                count(
                    "upload chunks",
                    raw(u64::from(*index) + 1),
                    max_chunks(limits),
                )
            }
            CheckpointCommand::CommitUpload {
                upload_id,
                chunks,
                save,
            } => {
                id("upload_id", upload_id)?;
                count("upload chunks", raw(u64::from(*chunks)), max_chunks(limits))?;
                check_save(limits, save)?;
                if !save.payload.is_empty() {
                    return Err(invalid("payload", "must be empty in a commit"));
                }
                Ok(())
            }
            CheckpointCommand::AbortUploads { upload_ids } => {
                count("upload ids", upload_ids.len(), MAX_UPLOADS_PER_ABORT)?;
                upload_ids.iter().try_for_each(|u| id("upload_ids", u))
            }
            CheckpointCommand::Rollback {
                workflow_id,
                checkpoint_id,
                actor,
                reason,
                ..
            } => {
                id("workflow_id", workflow_id)?;
                id("checkpoint_id", checkpoint_id)?;
                text("actor", actor, MAX_SHORT_TEXT)?;
                text("reason", reason, MAX_REASON)
            }
            CheckpointCommand::SetRetention { workflow_id, .. } => id("workflow_id", workflow_id),
            CheckpointCommand::SetNamespaceRetention { namespace, .. } => {
                id("namespace", namespace)
            }
            CheckpointCommand::Purge { .. } => Err(internal("checkpoint.purge")),
        }
    }
}

/// A `Save`: one entry with its whole (encoded) payload. Also a step's checkpoint part.
pub(crate) fn check_single_save(
    limits: &InputLimits,
    s: &SaveCheckpoint,
) -> Result<(), InputError> {
    check_save(limits, s)?;
    // One entry holds at most one chunk; larger payloads are uploads.
    size(
        "single-entry checkpoint payload",
        raw(s.raw_size),
        CHUNK_BYTES,
    )?;
    size("encoded payload", s.payload.len(), MAX_ENCODED_CHUNK_BYTES)?;
    let envelope = if s.codec.is_sealed() {
        SEALED_CHUNK_OVERHEAD as u64
    } else {
        0
    };
    if s.codec.unsealed() == Codec::Raw && s.payload.len() as u64 != s.raw_size + envelope {
        return Err(invalid("payload", "stored raw must be raw_size bytes"));
    }
    Ok(())
}

/// What a `Save` and a `CommitUpload` share: the fields a checkpoint is saved with.
fn check_save(limits: &InputLimits, s: &SaveCheckpoint) -> Result<(), InputError> {
    id("workflow_id", &s.workflow_id)?;
    text("label", &s.label, MAX_SHORT_TEXT)?;
    if let Some(p) = &s.parent {
        id("parent", p)?;
    }
    if s.delta && s.parent.is_none() {
        return Err(InputError::Checkpoint(CheckpointError::DeltaWithoutParent));
    }
    check_metadata(&limits.records, &s.metadata)?;
    size(
        "checkpoint payload",
        raw(s.raw_size),
        raw(limits.max_checkpoint_bytes),
    )
}

/// Chunks of the largest payload the node accepts.
fn max_chunks(limits: &InputLimits) -> usize {
    raw(limits.max_checkpoint_bytes.div_ceil(CHUNK_BYTES as u64))
}

/// A byte or chunk count as `usize`, saturating (only ever compared).
fn raw(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
