//! `CheckpointReader`: loads checkpoints for services — decoded, checksum-verified, delta
//! chains materialized — plus listings and what retention and upload collection should remove.
//!
//! Chunks are immutable once written (a blob is only ever deleted whole), so a load reads
//! them without holding the commit lock (a 256 MiB load must not stall apply); a chunk that
//! vanishes mid-load means the checkpoint was purged meanwhile, reported as not found.

use std::sync::Arc;

use cairn_model::checkpoint::{CheckpointRecord, Codec, RetentionPolicy, UploadRecord};
use cairn_model::codec;
use cairn_model::workflow::merge_patch;
use serde::de::DeserializeOwned;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees};
use crate::machine::CheckpointDir;
use crate::reader::ReadGate;
use crate::seal::{KeyRing, SealError};
use crate::workflow_keys as keys;

/// Why a checkpoint could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointReadError {
    #[error("checkpoint {workflow_id}/{id} not found")]
    NotFound { workflow_id: String, id: String },
    /// Stored bytes do not decode or do not match the checksum saved with them.
    #[error("checkpoint {workflow_id}/{id} failed verification: {reason}")]
    Integrity {
        workflow_id: String,
        id: String,
        reason: String,
    },
    /// A delta chain cannot be applied (a link is not a JSON object, ...).
    #[error("checkpoint {workflow_id}/{id} does not materialize: {reason}")]
    NotMaterializable {
        workflow_id: String,
        id: String,
        reason: String,
    },
    /// A sealed chunk without its key, or one that does not decrypt (a different key under
    /// its id, or damaged data).
    #[error("checkpoint {workflow_id}/{id}: {error}")]
    Encryption {
        workflow_id: String,
        id: String,
        error: SealError,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct CheckpointReader {
    trees: Trees,
    gate: Arc<ReadGate>,
    /// Opens sealed chunks.
    keys: Option<Arc<KeyRing>>,
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    Ok(codec::decode(bytes)?)
}

impl CheckpointReader {
    pub(crate) fn new(trees: Trees, gate: Arc<ReadGate>, keys: Option<Arc<KeyRing>>) -> Self {
        Self { trees, gate, keys }
    }

    /// The keys sealed chunks open with; a node seals new checkpoints with the same ring.
    pub fn keys(&self) -> Option<&Arc<KeyRing>> {
        self.keys.as_ref()
    }

    fn get<T: DeserializeOwned>(
        &self,
        space: Space,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        crate::reader::get_decoded(&self.gate, self.trees.get(space), key)
    }

    fn dir(&self, workflow_id: &str) -> Result<CheckpointDir, StorageError> {
        Ok(self
            .get(Space::CheckpointDirs, workflow_id.as_bytes())?
            .unwrap_or_default())
    }

    pub fn record(
        &self,
        workflow_id: &str,
        id: &str,
    ) -> Result<Option<CheckpointRecord>, StorageError> {
        self.get(Space::Checkpoints, &keys::checkpoint(workflow_id, id))
    }

    /// Up to `limit` checkpoints after `after` (oldest first), and the id to continue after.
    pub fn list(
        &self,
        workflow_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CheckpointRecord>, Option<String>), StorageError> {
        let ids = self.dir(workflow_id)?.ids;
        let start = after.map_or(0, |a| ids.partition_point(|id| id.as_str() <= a));
        let mut out = Vec::new();
        for id in ids.iter().skip(start).take(limit.max(1)) {
            if let Some(rec) = self.record(workflow_id, id)? {
                out.push(rec);
            }
        }
        let more = start + limit.max(1) < ids.len();
        let next = more.then(|| out.last().map(|r| r.id.clone())).flatten();
        Ok((out, next))
    }

    pub fn latest(&self, workflow_id: &str) -> Result<Option<CheckpointRecord>, StorageError> {
        match self.dir(workflow_id)?.ids.last() {
            Some(id) => self.record(workflow_id, id),
            None => Ok(None),
        }
    }

    fn integrity(rec: &CheckpointRecord, reason: impl Into<String>) -> CheckpointReadError {
        CheckpointReadError::Integrity {
            workflow_id: rec.workflow_id.clone(),
            id: rec.id.clone(),
            reason: reason.into(),
        }
    }

    /// Chunk `index` of `rec`, decoded.
    pub fn chunk(
        &self,
        rec: &CheckpointRecord,
        index: u32,
    ) -> Result<Vec<u8>, CheckpointReadError> {
        let stored = self.gate.guarded(|| {
            Ok(self
                .trees
                .get(Space::CheckpointData)
                .get(keys::chunk(&rec.blob_id, index))?)
        })?;
        let Some(stored) = stored else {
            if self.record(&rec.workflow_id, &rec.id)?.is_none() {
                return Err(CheckpointReadError::NotFound {
                    workflow_id: rec.workflow_id.clone(),
                    id: rec.id.clone(),
                });
            }
            return Err(Self::integrity(rec, format!("chunk {index} is missing")));
        };
        let encoded = if rec.codec.is_sealed() {
            self.open_chunk(rec, index, &stored)?
        } else {
            stored.to_vec()
        };
        match rec.codec.unsealed() {
            Codec::Zstd => zstd::stream::decode_all(encoded.as_slice())
                .map_err(|e| Self::integrity(rec, format!("chunk {index} does not decode: {e}"))),
            _ => Ok(encoded),
        }
    }

    fn open_chunk(
        &self,
        rec: &CheckpointRecord,
        index: u32,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CheckpointReadError> {
        let encryption = |error| CheckpointReadError::Encryption {
            workflow_id: rec.workflow_id.clone(),
            id: rec.id.clone(),
            error,
        };
        let Some(keys) = &self.keys else {
            let id = crate::seal::sealed_chunk_key_id(sealed).map_err(encryption)?;
            return Err(encryption(SealError::NoKeyFile(id)));
        };
        keys.open_chunk(&rec.workflow_id, index, sealed)
            .map_err(encryption)
    }

    /// The raw payload of `rec`, verified against its checksum and size.
    pub fn payload(&self, rec: &CheckpointRecord) -> Result<Vec<u8>, CheckpointReadError> {
        let mut out = Vec::with_capacity(usize::try_from(rec.raw_size).unwrap_or(0));
        let mut crc = crc32fast::Hasher::new();
        for i in 0..rec.chunks {
            let chunk = self.chunk(rec, i)?;
            crc.update(&chunk);
            out.extend_from_slice(&chunk);
        }
        Self::verify(rec, out.len() as u64, crc.finalize())?;
        Ok(out)
    }

    /// Checks a fully read payload's size and checksum (for streamed loads too).
    pub fn verify(
        rec: &CheckpointRecord,
        size: u64,
        checksum: u32,
    ) -> Result<(), CheckpointReadError> {
        if size != rec.raw_size {
            return Err(Self::integrity(
                rec,
                format!("{size} bytes, expected {}", rec.raw_size),
            ));
        }
        if checksum != rec.checksum {
            return Err(Self::integrity(
                rec,
                format!("checksum {checksum:08x}, expected {:08x}", rec.checksum),
            ));
        }
        Ok(())
    }

    /// A checkpoint with its verified raw payload.
    pub fn load(
        &self,
        workflow_id: &str,
        id: &str,
    ) -> Result<(CheckpointRecord, Vec<u8>), CheckpointReadError> {
        let rec = self
            .record(workflow_id, id)?
            .ok_or_else(|| CheckpointReadError::NotFound {
                workflow_id: workflow_id.to_string(),
                id: id.to_string(),
            })?;
        let payload = self.payload(&rec)?;
        Ok((rec, payload))
    }

    /// The full state of a checkpoint: its payload, or for a delta the nearest full
    /// ancestor's payload with every patch down the chain applied. Every link is verified.
    pub fn materialize(
        &self,
        workflow_id: &str,
        id: &str,
    ) -> Result<(CheckpointRecord, Vec<u8>), CheckpointReadError> {
        let (top, top_payload) = self.load(workflow_id, id)?;
        if !top.delta {
            return Ok((top, top_payload));
        }
        let not_materializable = |reason: String| CheckpointReadError::NotMaterializable {
            workflow_id: workflow_id.to_string(),
            id: id.to_string(),
            reason,
        };
        // Patches from the top down to the first full ancestor.
        let mut patches = vec![top_payload];
        let mut link = top.clone();
        let base = loop {
            let Some(parent) = link.parent.clone() else {
                return Err(not_materializable(format!(
                    "{} is a delta without parent",
                    link.id
                )));
            };
            let (rec, payload) = self.load(workflow_id, &parent)?;
            if !rec.delta {
                break payload;
            }
            patches.push(payload);
            link = rec;
        };
        let mut doc: serde_json::Value = serde_json::from_slice(&base)
            .map_err(|e| not_materializable(format!("base is not JSON: {e}")))?;
        for patch in patches.iter().rev() {
            let patch: serde_json::Value = serde_json::from_slice(patch)
                .map_err(|e| not_materializable(format!("a delta is not JSON: {e}")))?;
            merge_patch::apply(&mut doc, &patch);
        }
        let full = serde_json::to_vec(&doc)
            .map_err(|e| not_materializable(format!("result does not serialize: {e}")))?;
        Ok((top, full))
    }

    /// The newest checkpoint whose whole chain loads and verifies.
    pub fn latest_valid(
        &self,
        workflow_id: &str,
    ) -> Result<Option<CheckpointRecord>, StorageError> {
        for id in self.dir(workflow_id)?.ids.iter().rev() {
            match self.materialize(workflow_id, id) {
                Ok((rec, _)) => return Ok(Some(rec)),
                Err(CheckpointReadError::Storage(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(workflow_id, id, error = %e, "skipping invalid checkpoint")
                }
            }
        }
        Ok(None)
    }

    /// The policy that applies to a workflow: its own, else its namespace's default.
    pub fn policy(
        &self,
        workflow_id: &str,
        namespace: &str,
    ) -> Result<Option<RetentionPolicy>, StorageError> {
        if let Some(p) = self.dir(workflow_id)?.policy {
            return Ok(Some(p));
        }
        self.get(Space::CheckpointDirs, &keys::namespace_retention(namespace))
    }

    /// Checkpoints of a workflow its retention policy does not keep at `now_ms`: kept are the
    /// last `keep_last` and those younger than `max_age_ms` (either rule keeps), and the
    /// parents of kept deltas (the machine enforces that last part again).
    pub fn retention_victims(
        &self,
        workflow_id: &str,
        namespace: &str,
        now_ms: u64,
    ) -> Result<Vec<String>, StorageError> {
        let Some(policy) = self.policy(workflow_id, namespace)? else {
            return Ok(Vec::new());
        };
        if policy.keep_last.is_none() && policy.max_age_ms.is_none() {
            return Ok(Vec::new());
        }
        let ids = self.dir(workflow_id)?.ids;
        let keep_from = policy
            .keep_last
            .map_or(ids.len(), |n| ids.len().saturating_sub(n as usize));
        let mut victims = Vec::new();
        // Newest first: a parent is always older than its child, so by the time a
        // checkpoint is reached, every kept descendant has already claimed it.
        let mut needed = std::collections::HashSet::new();
        for (i, id) in ids.iter().enumerate().rev() {
            let Some(rec) = self.record(workflow_id, id)? else {
                continue;
            };
            let recent = i >= keep_from && policy.keep_last.is_some();
            let young = policy
                .max_age_ms
                .is_some_and(|age| rec.created_ms.saturating_add(age) > now_ms);
            if recent || young || needed.contains(&rec.id) {
                if let Some(p) = rec.parent {
                    needed.insert(p);
                }
            } else {
                victims.push(rec.id);
            }
        }
        victims.reverse();
        Ok(victims)
    }

    /// Workflows that have checkpoints (for the retention sweep), after `after`, at most `limit`.
    pub fn workflows_with_checkpoints(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let tree = self.trees.get(Space::CheckpointDirs);
        let start = after.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        let mut out = Vec::new();
        self.gate.guarded(|| {
            for item in tree.range(start.clone()..) {
                let (k, _) = item?;
                if k.first() == Some(&0) || (after.is_some() && k.as_ref() == start.as_slice()) {
                    continue;
                }
                if out.len() == limit {
                    break;
                }
                out.push(String::from_utf8_lossy(&k).into_owned());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// An upload in progress (not committed, not collected), e.g. to resume a retried stream.
    pub fn upload(&self, upload_id: &str) -> Result<Option<UploadRecord>, StorageError> {
        self.get(Space::Uploads, upload_id.as_bytes())
    }

    /// Uploads started before `cutoff_ms` and never committed.
    pub fn stale_uploads(&self, cutoff_ms: u64, limit: usize) -> Result<Vec<String>, StorageError> {
        self.gate.guarded(|| {
            let mut out = Vec::new();
            for item in self.trees.get(Space::Uploads).iter() {
                let (k, v) = item?;
                let up: UploadRecord = decode(&v)?;
                if up.started_ms < cutoff_ms {
                    out.push(String::from_utf8_lossy(&k).into_owned());
                    if out.len() == limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }
}
