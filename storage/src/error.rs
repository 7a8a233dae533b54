//! `StorageError`: every way the storage layer can fail, and its mapping to `io::Error` for
//! the openraft traits (openraft turns an `io::Error` from storage into a fatal stop).

use std::io;
use std::path::PathBuf;

use cairn_model::codec::CodecError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),

    #[error("state machine (sled): {0}")]
    Sled(#[from] sled::Error),

    #[error(transparent)]
    Codec(#[from] CodecError),

    /// The data directory was written by an incompatible version (or is not a Cairn directory).
    #[error(
        "data version mismatch: found {}, expected {expected}",
        found.map_or_else(|| "none".to_string(), |v| v.to_string())
    )]
    DataVersion { found: Option<u32>, expected: u32 },

    /// A snapshot file failed its checksum, is truncated, or is not a Cairn snapshot.
    #[error("snapshot {path} is corrupt: {reason}")]
    SnapshotCorrupt { path: PathBuf, reason: String },

    /// A snapshot is being installed; the state machine is transiently incomplete, retry later.
    #[error("a snapshot is being installed; the state machine is not readable right now")]
    SnapshotInstalling,

    /// A decoded record does not make sense (a bug or on-disk corruption).
    #[error("corrupt state machine record: {0}")]
    CorruptRecord(String),

    /// A list cursor that this store did not hand out (or from another query).
    #[error("invalid list cursor")]
    InvalidCursor,

    /// A lock was poisoned by a panicking thread, or a blocking task failed.
    #[error("internal storage failure: {0}")]
    Internal(String),
    /// The log was purged past everything this node's state machine and snapshots reach:
    /// the entries in between exist on no local copy. Start the node with an empty data
    /// directory so it catches up from the leader.
    #[error(
        "log purged up to index {purged} but the state machine and newest valid snapshot \
         only reach {applied}; replace this node's data directory to catch up from the leader"
    )]
    LogGap { purged: u64, applied: u64 },
    /// Sealed data (a snapshot or backup) without the key it was sealed with, or with a
    /// different key under that id. A configuration problem, never treated as corruption.
    #[error("encryption at rest: {0}")]
    Encryption(#[from] crate::seal::SealError),
    /// Apply-internal: a step of entry `revision` was refused after earlier parts wrote. It
    /// aborts the run's transaction, which the state machine applies again with that entry
    /// refused (see `machine/step.rs`); it never leaves the state machine.
    #[error("entry {revision} refused: {error}")]
    StepRefused {
        revision: u64,
        error: Box<cairn_model::CommandError>,
    },
}

impl StorageError {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        StorageError::SnapshotCorrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<StorageError> for io::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(e) => e,
            StorageError::Sled(e) => e.into(),
            StorageError::Codec(e) => e.into(),
            e @ (StorageError::SnapshotCorrupt { .. }
            | StorageError::CorruptRecord(_)
            | StorageError::DataVersion { .. }
            | StorageError::LogGap { .. }
            | StorageError::Encryption(_)) => io::Error::new(io::ErrorKind::InvalidData, e),
            e @ StorageError::SnapshotInstalling => io::Error::new(io::ErrorKind::WouldBlock, e),
            e @ StorageError::InvalidCursor => io::Error::new(io::ErrorKind::InvalidInput, e),
            e @ (StorageError::Internal(_) | StorageError::StepRefused { .. }) => {
                io::Error::other(e)
            }
        }
    }
}

impl From<tokio::task::JoinError> for StorageError {
    fn from(e: tokio::task::JoinError) -> Self {
        StorageError::Internal(format!("blocking storage task failed: {e}"))
    }
}

impl From<sled::transaction::TransactionError<StorageError>> for StorageError {
    fn from(e: sled::transaction::TransactionError<StorageError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StorageError::Sled(e),
        }
    }
}
