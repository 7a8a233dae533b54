//! Turning a raw payload into replicated checkpoint entries. The node compresses once, before
//! anything enters the Raft log, so the log, every replica and every snapshot hold the
//! compressed bytes; the CRC-32 is of the raw bytes, computed as they stream.
//!
//! A payload of at most one chunk is one `Save` entry (raw below the threshold or when zstd
//! does not shrink it). A larger one is an upload: one `UploadChunk` entry per 1 MiB of raw
//! payload, always zstd (so every attempt of a retried upload encodes its chunks alike,
//! whatever each node's threshold), then a `CommitUpload` carrying the client's idempotency
//! header. The upload id derives from that header, so a retried stream continues the same
//! upload: chunks the machine already holds are skipped, repeats of identical chunks are
//! accepted, and if an earlier attempt's commit was applied, the retry's commit is answered
//! with that first result. Chunk entries carry no session: the machine's own rules make them
//! safe to repeat.
//!
//! With an encryption key file, each encoded chunk is sealed here too (cairn-storage's
//! `seal`), before it is proposed: the log, the state machine, snapshots and backups only
//! ever hold the sealed bytes. Sealing is deterministic, so a retried chunk still repeats.

use cairn_api::meta::{self, kind};
use cairn_api::v1::RequestHeader;
use cairn_model::checkpoint::{CheckpointCommand, CheckpointReply, Codec, SaveCheckpoint};
use cairn_model::coord::Fence;
use cairn_model::workflow::names::is_valid_id;
use cairn_model::{Command, Response};
use cairn_storage::seal::KeyRing;
use cairn_storage::{CheckpointReadError, CheckpointReader};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tonic::Status;

use super::stats;
use super::validate::{self, Fields};
use crate::config::CheckpointConfig;
use crate::error::Error;
use crate::services::gateway::{Gateway, unexpected};
use crate::status;

/// Raw bytes per chunk (and per `Save` entry): the model's, which bounds the entries.
pub const CHUNK: usize = cairn_model::checkpoint::command::CHUNK_BYTES;

/// What a save answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub id: String,
    pub raw_size: u64,
    pub stored_size: u64,
    pub revision: u64,
}

/// Compression settings and the way into Raft; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    pub gateway: Gateway,
    pub reader: CheckpointReader,
    pub config: CheckpointConfig,
}

/// Runs CPU-heavy work (compression, decoding, materializing) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| status::internal(format!("worker failed: {e}")))
}

/// A single-entry `Save` of `payload` (at most one chunk): CRC-32 of the raw bytes, encoded
/// as [`encode_single`] does, sealed under `keys` if the node has them. CPU-bound: run it in
/// [`blocking`]. Also a step's checkpoint part.
pub fn encode_save(
    config: &CheckpointConfig,
    keys: Option<&KeyRing>,
    fields: &Fields,
    payload: Vec<u8>,
) -> SaveCheckpoint {
    let checksum = crc32fast::hash(&payload);
    let raw_size = payload.len() as u64;
    let (codec, stored) = encode_single(payload, config.compression_level, config.raw_threshold);
    let (codec, stored) = match keys {
        Some(k) => (
            codec.sealed(),
            k.seal_chunk(&fields.workflow_id, 0, &stored),
        ),
        None => (codec, stored),
    };
    fields.to_save(codec, raw_size, checksum, stored)
}

/// The single-entry encoding of a payload of at most one chunk.
fn encode_single(payload: Vec<u8>, level: i32, raw_threshold: usize) -> (Codec, Vec<u8>) {
    if payload.len() < raw_threshold {
        return (Codec::Raw, payload);
    }
    match zstd::bulk::compress(&payload, level) {
        Ok(z) if z.len() < payload.len() => (Codec::Zstd, z),
        // Incompressible (or the encoder failed): raw is smaller, and just as valid.
        _ => (Codec::Raw, payload),
    }
}

impl Ingest {
    async fn propose(
        &self,
        header: Option<RequestHeader>,
        fence: Option<Fence>,
        command: CheckpointCommand,
    ) -> Result<(u64, CheckpointReply), Status> {
        match self
            .gateway
            .propose_fenced(header, fence, Command::Checkpoint(command))
            .await?
        {
            Response::Checkpoint { revision, reply } => Ok((revision, reply)),
            other => Err(unexpected(other).into()),
        }
    }

    async fn propose_save(
        &self,
        header: Option<RequestHeader>,
        fence: Option<Fence>,
        command: CheckpointCommand,
    ) -> Result<Saved, Status> {
        match self.propose(header, fence, command).await? {
            (
                revision,
                CheckpointReply::Saved {
                    id,
                    raw_size,
                    stored_size,
                },
            ) => {
                stats::saved(raw_size, stored_size);
                Ok(Saved {
                    id,
                    raw_size,
                    stored_size,
                    revision,
                })
            }
            (_, other) => Err(status::internal(format!(
                "unexpected checkpoint reply: {other:?}"
            ))),
        }
    }

    /// A delta's parent must materialize now (read linearizably), or the new checkpoint
    /// never would. The machine checks again that the parent still exists when it applies.
    pub async fn check_parent(&self, fields: &Fields) -> Result<(), Status> {
        let (true, Some(parent)) = (fields.delta, fields.parent.clone()) else {
            return Ok(());
        };
        self.gateway.before_read(false).await?;
        let reader = self.reader.clone();
        let workflow_id = fields.workflow_id.clone();
        let parent_id = parent.clone();
        // A full parent materializes as itself without being parsed: the patch needs JSON.
        let result = blocking(move || {
            let (rec, state) = reader.materialize(&workflow_id, &parent_id)?;
            Ok(serde_json::from_slice::<serde::de::IgnoredAny>(&state)
                .err()
                .map(|e| (rec.id, e.to_string())))
        })
        .await?;
        match result {
            Ok(None) => Ok(()),
            Ok(Some((id, e))) => Err(Error::ParentNotMaterializable(format!(
                "parent {id} is not JSON, so a merge patch over it cannot apply: {e}"
            ))
            .into()),
            Err(CheckpointReadError::NotFound { workflow_id, .. }) => Err(
                status::checkpoint_error(cairn_model::checkpoint::CheckpointError::UnknownParent {
                    workflow_id,
                    parent,
                }),
            ),
            Err(CheckpointReadError::Storage(e)) => Err(status::storage_error(e)),
            Err(e) => {
                if matches!(e, CheckpointReadError::Integrity { .. }) {
                    stats::verify_failed();
                }
                Err(Error::ParentNotMaterializable(format!(
                    "parent {parent} does not materialize, so neither would this delta: {e}"
                ))
                .into())
            }
        }
    }

    /// Saves a payload of any size within the limit: one entry, or an upload.
    pub async fn save(
        &self,
        header: Option<RequestHeader>,
        fence: Option<Fence>,
        fields: Fields,
        payload: Vec<u8>,
    ) -> Result<Saved, Status> {
        validate::size(payload.len() as u64, self.config.max_bytes)?;
        if fields.delta {
            validate::delta_payload(&payload)?;
            self.check_parent(&fields).await?;
        }
        if payload.len() <= CHUNK {
            return self.save_single(header, fence, &fields, payload).await;
        }
        let mut upload = self.start_upload(header, fence, fields)?;
        upload.resume().await?;
        for chunk in payload.chunks(CHUNK) {
            upload.push(chunk.to_vec()).await?;
        }
        upload.finish().await
    }

    /// One `Save` entry (the caller checked size and delta).
    pub async fn save_single(
        &self,
        header: Option<RequestHeader>,
        fence: Option<Fence>,
        fields: &Fields,
        payload: Vec<u8>,
    ) -> Result<Saved, Status> {
        let (config, keys) = (self.config, self.reader.keys().cloned());
        let fields = fields.clone();
        let save =
            blocking(move || encode_save(&config, keys.as_deref(), &fields, payload)).await?;
        self.propose_save(header, fence, CheckpointCommand::Save(Box::new(save)))
            .await
    }

    /// An upload for a payload larger than one chunk. Its id derives from the idempotency
    /// header, so every attempt of one logical save uses the same upload.
    pub fn start_upload(
        &self,
        header: Option<RequestHeader>,
        fence: Option<Fence>,
        fields: Fields,
    ) -> Result<Upload, Status> {
        let derived = header
            .as_ref()
            .filter(|h| !h.client_id.is_empty())
            .map(|h| format!("up-{}-{}", h.client_id, h.sequence))
            .filter(|id| is_valid_id(id));
        // Without a usable header there are no retries to join: any fresh id will do.
        let upload_id = derived.unwrap_or_else(|| format!("up-r{:032x}", rand::random::<u128>()));
        Ok(Upload {
            keys: self.reader.keys().cloned(),
            ingest: self.clone(),
            header,
            fence,
            fields,
            upload_id,
            next: 0,
            skip_below: 0,
            superseded: false,
            crc: crc32fast::Hasher::new(),
            raw_size: 0,
            in_flight: None,
            delta_payload: None,
        })
    }
}

type ChunkProposal = JoinHandle<Result<Response, Status>>;

/// A chunked upload in progress: push raw chunks of [`CHUNK`] bytes (the last may be
/// shorter), then [`Upload::finish`]. One chunk's proposal is in flight while the next is
/// received and compressed.
pub struct Upload {
    ingest: Ingest,
    /// Seals every chunk of this upload, or none of them (the commit says which).
    keys: Option<Arc<KeyRing>>,
    header: Option<RequestHeader>,
    /// Checked by the commit only: chunks are invisible until then.
    fence: Option<Fence>,
    fields: Fields,
    upload_id: String,
    /// Index of the next chunk pushed.
    next: u32,
    /// Chunks the machine already held when this attempt started (a retried stream).
    skip_below: u32,
    /// The upload is gone (an earlier attempt committed it): propose no more chunks, and let
    /// the commit's idempotency answer.
    superseded: bool,
    crc: crc32fast::Hasher,
    raw_size: u64,
    in_flight: Option<ChunkProposal>,
    /// A delta's whole payload, kept to check it is JSON before committing.
    delta_payload: Option<Vec<u8>>,
}

impl Upload {
    /// Skips the chunks an earlier attempt of the same upload stored. A local read is
    /// enough: a stale answer only means re-sending chunks, which the machine accepts.
    pub async fn resume(&mut self) -> Result<(), Status> {
        if self.fields.delta {
            self.delta_payload = Some(Vec::new());
        }
        let reader = self.ingest.reader.clone();
        let id = self.upload_id.clone();
        let existing = blocking(move || reader.upload(&id))
            .await?
            .map_err(status::storage_error)?;
        if let Some(up) = existing.filter(|u| u.workflow_id == self.fields.workflow_id) {
            tracing::debug!(upload = %self.upload_id, stored = up.next, "resuming upload");
            self.skip_below = up.next;
        }
        Ok(())
    }

    /// The next chunk, raw.
    pub async fn push(&mut self, raw: Vec<u8>) -> Result<(), Status> {
        self.crc.update(&raw);
        self.raw_size += raw.len() as u64;
        if let Some(all) = &mut self.delta_payload {
            all.extend_from_slice(&raw);
        }
        let index = self.next;
        self.next = self
            .next
            .checked_add(1)
            .ok_or_else(|| status::invalid("too many chunks"))?;
        if index < self.skip_below || self.superseded {
            return Ok(());
        }
        let level = self.ingest.config.compression_level;
        let (keys, workflow_id) = (self.keys.clone(), self.fields.workflow_id.clone());
        let data = blocking(move || {
            zstd::bulk::compress(&raw, level).map(|z| match keys {
                Some(k) => k.seal_chunk(&workflow_id, index, &z),
                None => z,
            })
        })
        .await?
        .map_err(|e| status::internal(format!("compress chunk {index}: {e}")))?;
        self.settle().await?;
        if self.superseded {
            return Ok(());
        }
        let command = Command::Checkpoint(CheckpointCommand::UploadChunk {
            upload_id: self.upload_id.clone(),
            workflow_id: self.fields.workflow_id.clone(),
            index,
            data,
        });
        let gateway = self.ingest.gateway.clone();
        // Spawned, so the proposal proceeds while the caller receives the next chunk.
        self.in_flight = Some(tokio::spawn(crate::auth::caller::inherit(async move {
            gateway.propose(None, command).await.map_err(Status::from)
        })));
        Ok(())
    }

    /// Waits for the chunk in flight. An upload that no longer exists was committed by an
    /// earlier attempt (or collected): the commit will tell which.
    async fn settle(&mut self) -> Result<(), Status> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let result = handle
            .await
            .map_err(|e| status::internal(format!("chunk proposal failed: {e}")))?;
        match result {
            Ok(Response::Checkpoint {
                reply: CheckpointReply::ChunkStored { .. },
                ..
            }) => Ok(()),
            Ok(other) => Err(unexpected(other).into()),
            Err(s) if is_kind(&s, kind::UNKNOWN_UPLOAD) => {
                tracing::debug!(upload = %self.upload_id, "upload gone; committing to learn its outcome");
                self.superseded = true;
                Ok(())
            }
            Err(s) => Err(s),
        }
    }

    /// Commits the upload as a checkpoint (under the client's idempotency header).
    pub async fn finish(mut self) -> Result<Saved, Status> {
        self.settle().await?;
        if let Some(payload) = self.delta_payload.take()
            && let Err(s) = validate::delta_payload(&payload)
        {
            self.abort().await;
            return Err(s);
        }
        let codec = if self.keys.is_some() {
            Codec::SealedZstd
        } else {
            Codec::Zstd
        };
        let save = self.fields.to_save(
            codec,
            self.raw_size,
            self.crc.clone().finalize(),
            Vec::new(),
        );
        let command = CheckpointCommand::CommitUpload {
            upload_id: self.upload_id.clone(),
            chunks: self.next,
            save: Box::new(save),
        };
        let result = self
            .ingest
            .propose_save(self.header.clone(), self.fence.clone(), command)
            .await;
        if let Err(s) = &result
            && is_kind(s, kind::STALE_FENCE)
        {
            // A definite refusal: these chunks will never be committed.
            self.abort().await;
        }
        result
    }

    /// Drops the chunks stored so far after a definite rejection (best effort: the leader's
    /// collection removes them later anyway).
    pub async fn abort(mut self) {
        if let Some(h) = self.in_flight.take() {
            let _ = h.await;
        }
        let command = Command::Checkpoint(CheckpointCommand::AbortUploads {
            upload_ids: vec![self.upload_id.clone()],
        });
        if let Err(e) = self.ingest.gateway.propose(None, command).await {
            tracing::debug!(upload = %self.upload_id, "abort not applied: {e}");
        }
    }
}

fn is_kind(s: &Status, error_kind: &str) -> bool {
    s.metadata()
        .get(meta::ERROR_KIND)
        .is_some_and(|v| v.as_bytes() == error_kind.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn small_payloads_stay_raw_and_incompressible_ones_too() {
        let (codec, stored) = encode_single(b"{}".to_vec(), 3, 1024);
        assert_eq!((codec, stored.as_slice()), (Codec::Raw, b"{}".as_slice()));

        let json =
            serde_json::to_vec(&vec![serde_json::json!({"step": 1, "ok": true}); 500]).unwrap();
        let (codec, stored) = encode_single(json.clone(), 3, 1024);
        assert_eq!(codec, Codec::Zstd);
        assert!(stored.len() * 10 < json.len());
        assert_eq!(zstd::stream::decode_all(stored.as_slice()).unwrap(), json);

        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let (codec, stored) = encode_single(noise.clone(), 3, 1024);
        if codec == Codec::Raw {
            assert_eq!(stored, noise);
        } else {
            assert!(stored.len() < noise.len());
        }
    }
}
