//! Replicated checkpoint commands, their replies and the machine's typed rejections.

use serde::{Deserialize, Serialize};

use super::record::{CheckpointKind, Codec, RetentionPolicy};
use crate::workflow::{WorkflowError, WorkflowRef};

/// Raw payload bytes per chunk of an upload, and most raw bytes in one `Save`.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Most encoded bytes of one chunk or `Save` payload: zstd's worst case on [`CHUNK_BYTES`]
/// (`ZSTD_COMPRESSBOUND`: +1/256 and a frame header) with room to spare.
pub const MAX_ENCODED_CHUNK_BYTES: usize = CHUNK_BYTES + CHUNK_BYTES / 128;
/// Most upload ids in one `AbortUploads`.
pub const MAX_UPLOADS_PER_ABORT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointCommand {
    /// A checkpoint whose (already encoded) payload travels in this entry.
    Save(Box<SaveCheckpoint>),
    /// Chunk `index` of upload `upload_id`, already encoded. Chunks arrive in order; a repeat
    /// of a stored chunk is accepted if identical.
    UploadChunk {
        upload_id: String,
        workflow_id: String,
        index: u32,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Makes a finished upload a checkpoint, atomically (`save.payload` is empty).
    CommitUpload {
        upload_id: String,
        chunks: u32,
        save: Box<SaveCheckpoint>,
    },
    /// Drops uploads never committed: the leader's garbage collection, or the node that ran
    /// an upload after a definite refusal of its commit.
    AbortUploads { upload_ids: Vec<String> },
    /// Put the workflow back to the status and metadata saved with a checkpoint.
    Rollback {
        workflow_id: String,
        checkpoint_id: String,
        expected_version: Option<u64>,
        /// Allow a status change the definition does not allow.
        force: bool,
        actor: String,
        reason: String,
    },
    /// A workflow's own policy (None: fall back to its namespace's).
    SetRetention {
        workflow_id: String,
        policy: Option<RetentionPolicy>,
    },
    /// The default policy of a namespace's workflows (None: keep everything).
    SetNamespaceRetention {
        namespace: String,
        policy: Option<RetentionPolicy>,
    },
    /// Retention (leader-proposed): delete these checkpoints unless one is still the parent
    /// of a checkpoint that stays.
    Purge {
        workflow_id: String,
        ids: Vec<String>,
    },
}

impl CheckpointCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CheckpointCommand::Save(_) => "save",
            CheckpointCommand::UploadChunk { .. } => "upload_chunk",
            CheckpointCommand::CommitUpload { .. } => "commit_upload",
            CheckpointCommand::AbortUploads { .. } => "abort_uploads",
            CheckpointCommand::Rollback { .. } => "rollback",
            CheckpointCommand::SetRetention { .. } => "set_retention",
            CheckpointCommand::SetNamespaceRetention { .. } => "set_namespace_retention",
            CheckpointCommand::Purge { .. } => "purge",
        }
    }

    /// Whether only the leader's own duties propose it (see `Command::is_internal`).
    pub fn is_internal(&self) -> bool {
        match self {
            // `AbortUploads` too: the leader's collection proposes it, and so does a node
            // dropping its own upload after a definite refusal (a client's request).
            CheckpointCommand::Save(_)
            | CheckpointCommand::UploadChunk { .. }
            | CheckpointCommand::CommitUpload { .. }
            | CheckpointCommand::AbortUploads { .. }
            | CheckpointCommand::Rollback { .. }
            | CheckpointCommand::SetRetention { .. }
            | CheckpointCommand::SetNamespaceRetention { .. } => false,
            // Retention (`checkpoint_retention.rs`).
            CheckpointCommand::Purge { .. } => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveCheckpoint {
    pub workflow_id: String,
    pub kind: CheckpointKind,
    pub label: String,
    /// JSON object text.
    pub metadata: String,
    pub parent: Option<String>,
    pub delta: bool,
    pub codec: Codec,
    pub raw_size: u64,
    pub checksum: u32,
    /// The encoded payload (empty when committing an upload).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointReply {
    Saved {
        id: String,
        raw_size: u64,
        stored_size: u64,
    },
    ChunkStored {
        upload_id: String,
        index: u32,
    },
    UploadsAborted {
        upload_ids: Vec<String>,
    },
    RolledBack {
        workflow: WorkflowRef,
    },
    RetentionSet,
    Purged {
        ids: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {workflow_id}/{id} not found")]
    NotFound { workflow_id: String, id: String },
    #[error("parent checkpoint {parent} not found in workflow {workflow_id}")]
    UnknownParent { workflow_id: String, parent: String },
    #[error("a delta checkpoint needs a parent")]
    DeltaWithoutParent,
    #[error("upload {0} not found (never started, committed already, or collected)")]
    UnknownUpload(String),
    #[error("upload {upload_id} belongs to workflow {owner}")]
    UploadOfOtherWorkflow { upload_id: String, owner: String },
    #[error("upload {upload_id}: expected chunk {expected}, got {got}")]
    ChunkOutOfOrder {
        upload_id: String,
        expected: u32,
        got: u32,
    },
    #[error("upload {upload_id}: chunk {index} differs from the stored one")]
    ChunkMismatch { upload_id: String, index: u32 },
    #[error("upload {upload_id} has {have} chunks; the commit names {expected}")]
    MissingChunks {
        upload_id: String,
        expected: u32,
        have: u32,
    },
    #[error("{0}")]
    Workflow(WorkflowError),
}
