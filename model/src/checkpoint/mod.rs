//! Checkpoints: workflow state saved beside its workflow so an orchestrator can resume after a
//! crash. Payloads are compressed once by the node before they enter the Raft log, carry a
//! checksum of the raw bytes verified on every load, may be deltas (JSON merge patches) over a
//! parent, and large ones arrive as chunks, each its own entry, made visible by one commit.

pub mod command;
pub(crate) mod input;
pub mod record;

pub use command::{CheckpointCommand, CheckpointError, CheckpointReply, SaveCheckpoint};
pub use record::{
    CheckpointKind, CheckpointRecord, Codec, RetentionPolicy, SEALED_CHUNK_OVERHEAD, UploadRecord,
};
