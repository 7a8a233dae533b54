//! cairn-storage: everything Cairn keeps on disk. The Raft log and vote in an fsynced WAL
//! (raft-log), the state machine in sled, snapshot files, and the on-disk data version.
//!
//! Entry point: [`open`] returns the openraft [`LogStore`] and [`StateMachineStore`];
//! services read through [`StateMachineStore::reader`].

mod auth_reader;
mod checkpoint_reader;
mod claim_queue;
mod config;
mod coord_reader;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod key_set;
mod keyspace;
mod kv_range;
mod load;
mod log_store;
mod log_types;
mod machine;
mod namespace_usage;
mod reader;
#[cfg(test)]
mod recovery_tests;
mod restore;
pub mod seal;
mod snapshot;
mod snapshot_builder;
mod snapshot_dir;
#[cfg(test)]
mod snapshot_tests;
mod state_machine;
mod store;
// Also the fuzz targets' helpers.
#[cfg(any(test, feature = "fuzzing"))]
#[cfg_attr(not(test), allow(dead_code))]
mod test_util;
#[cfg(test)]
mod wal_tail_tests;
pub mod watch;
mod workflow_index;
mod workflow_keys;
mod workflow_reader;

pub use auth_reader::AuthReader;
pub use checkpoint_reader::{CheckpointReadError, CheckpointReader};
pub use config::StorageConfig;
pub use coord_reader::CoordReader;
pub use error::StorageError;
pub use kv_range::RangeAt;
pub use log_store::{LogReader, LogStore};
pub use log_types::WAL_DURABLE_SECONDS;
pub use reader::KvReader;
pub use restore::{RestoreError, RestoreReport, restore_backup};
pub use snapshot::verify_snapshot;
pub use snapshot_builder::SnapshotBuilder;
pub use state_machine::StateMachineStore;
pub use store::{DATA_VERSION, incarnation, open};
pub use workflow_reader::WorkflowReader;
