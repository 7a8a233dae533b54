//! Plain Rust types of the checkpoint API: what a save takes, and the records, pages and
//! results it returns, independent of the generated protobuf types.

use std::time::Duration;

use serde_json::Value;

/// Why a checkpoint was taken (`Auto` by default) and how the cluster stores its payload:
/// cairn-model's own types, re-exported.
pub use cairn_model::checkpoint::{CheckpointKind, Codec};

/// Options of a save: kind, label, metadata, and an optional parent (which a delta needs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SaveOptions {
    pub kind: CheckpointKind,
    /// Label or step name.
    pub label: String,
    /// A JSON object; `Null` means `{}`.
    pub metadata: Value,
    /// A checkpoint of the same workflow.
    pub parent: Option<String>,
    /// The payload is a JSON merge patch (RFC 7386) over the parent's full state.
    pub delta: bool,
}

impl SaveOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn kind(mut self, kind: CheckpointKind) -> Self {
        self.kind = kind;
        self
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }
    /// The payload is a merge patch over `parent`.
    pub fn delta_of(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self.delta = true;
        self
    }
}

/// The result of [`crate::Client::save_checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheckpoint {
    /// `ckpt-<revision>`: later checkpoints of a workflow sort after earlier ones.
    pub id: String,
    pub raw_size: u64,
    pub stored_size: u64,
    pub revision: u64,
}

/// A checkpoint's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    pub workflow_id: String,
    pub id: String,
    pub revision: u64,
    pub created_ms: u64,
    pub kind: CheckpointKind,
    pub label: String,
    pub metadata: Value,
    pub parent: Option<String>,
    pub delta: bool,
    /// The stored encoding (what a load decodes; the node removes its encryption first).
    pub codec: Codec,
    /// Encrypted at rest by the node that saved it (`--encryption-key-file`).
    pub sealed: bool,
    pub raw_size: u64,
    pub stored_size: u64,
    /// CRC-32 of the raw payload (of the patch itself for a delta).
    pub checksum: u32,
    pub chunks: u32,
    /// The workflow's status and version when the checkpoint was saved.
    pub workflow_status: String,
    pub workflow_version: u64,
    /// The workflow's metadata when the checkpoint was saved (`None` in listings).
    pub workflow_metadata: Option<Value>,
}

impl CheckpointInfo {
    /// Raw size over stored size (1.0 for an empty payload).
    pub fn compression_ratio(&self) -> f64 {
        if self.stored_size == 0 {
            return 1.0;
        }
        self.raw_size as f64 / self.stored_size as f64
    }
}

/// One page of [`crate::Client::list_checkpoints`], oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPage {
    pub checkpoints: Vec<CheckpointInfo>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next_after: Option<String>,
    pub revision: u64,
}

/// How a load reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// For a delta: the full state (its chain applied) instead of the patch.
    pub materialize: bool,
    /// Read the serving node's local state, possibly stale, instead of a linearizable read.
    pub serializable: bool,
}

/// Which checkpoints to keep; the leader purges the rest. Either rule keeps; the parent of a
/// kept checkpoint is kept too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_last: Option<u32>,
    pub max_age: Option<Duration>,
}

impl RetentionPolicy {
    pub fn keep_last(n: u32) -> Self {
        Self {
            keep_last: Some(n),
            max_age: None,
        }
    }
    pub fn max_age(age: Duration) -> Self {
        Self {
            keep_last: None,
            max_age: Some(age),
        }
    }
}

/// What a retention policy applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionScope {
    /// One workflow (overrides its namespace's default).
    Workflow(String),
    /// The default of a namespace's workflows without their own policy.
    Namespace(String),
}
