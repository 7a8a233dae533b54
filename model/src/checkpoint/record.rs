//! The replicated checkpoint records: a checkpoint's metadata (its payload lives in chunks
//! under its blob id), an upload in progress, and a retention policy.

use serde::{Deserialize, Serialize};

/// Why a checkpoint was taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckpointKind {
    #[default]
    Auto,
    Manual,
    ErrorRecovery,
}

/// How each stored chunk is encoded. Every chunk is compressed on its own, so a load can
/// stream chunk by chunk. The sealed codecs are the same encodings, each chunk then sealed
/// (encrypted and authenticated) by the node that proposed it; see cairn-storage's `seal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Codec {
    Raw,
    Zstd,
    SealedRaw,
    SealedZstd,
}

/// Bytes a sealed chunk has beyond its encoded content: envelope version, key id, nonce and
/// authentication tag.
pub const SEALED_CHUNK_OVERHEAD: usize = 1 + 4 + 12 + 16;

impl Codec {
    /// The encoding under the seal (the codec itself if it is not sealed).
    pub fn unsealed(self) -> Codec {
        match self {
            Codec::Raw | Codec::SealedRaw => Codec::Raw,
            Codec::Zstd | Codec::SealedZstd => Codec::Zstd,
        }
    }

    pub fn sealed(self) -> Codec {
        match self.unsealed() {
            Codec::Zstd => Codec::SealedZstd,
            _ => Codec::SealedRaw,
        }
    }

    pub fn is_sealed(self) -> bool {
        matches!(self, Codec::SealedRaw | Codec::SealedZstd)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub workflow_id: String,
    /// `ckpt-<revision>`: later checkpoints of a workflow sort after earlier ones.
    pub id: String,
    pub revision: u64,
    pub created_ms: u64,
    pub kind: CheckpointKind,
    pub label: String,
    /// JSON object text.
    pub metadata: String,
    pub parent: Option<String>,
    /// The payload is a JSON merge patch over the parent's materialized state.
    pub delta: bool,
    pub codec: Codec,
    pub raw_size: u64,
    pub stored_size: u64,
    /// CRC-32 of the raw payload.
    pub checksum: u32,
    /// Where the chunks live (the checkpoint id, or the upload id it was committed from).
    pub blob_id: String,
    pub chunks: u32,
    /// The workflow as it was when the checkpoint was saved, for restore/rollback.
    pub workflow_status: String,
    pub workflow_version: u64,
    pub workflow_metadata: String,
}

/// A chunked upload that has not been committed yet: invisible to readers, and removed by
/// the leader's garbage collection if it is never committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub workflow_id: String,
    pub started_ms: u64,
    /// Chunks 0..next are stored.
    pub next: u32,
    pub stored_size: u64,
}

/// Which checkpoints of a workflow to keep; the rest may be purged. A checkpoint that is the
/// parent of a kept one is kept too, so every kept delta still materializes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub keep_last: Option<u32>,
    pub max_age_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn kind_default_and_encoding() {
        assert_eq!(CheckpointKind::default(), CheckpointKind::Auto);
        // Encoded by variant index.
        let kinds = [
            CheckpointKind::Auto,
            CheckpointKind::Manual,
            CheckpointKind::ErrorRecovery,
        ];
        for (index, kind) in kinds.into_iter().enumerate() {
            assert_eq!(crate::codec::encode(&kind).unwrap(), vec![index as u8]);
        }
        for (index, codec) in [Codec::Raw, Codec::Zstd].into_iter().enumerate() {
            assert_eq!(crate::codec::encode(&codec).unwrap(), vec![index as u8]);
        }
    }
}
