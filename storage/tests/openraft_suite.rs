//! openraft's storage conformance suite, run against the real on-disk store.

// Test code: a failed setup step should panic with its message.
#![allow(clippy::expect_used)]

use cairn_raft::TypeConfig;
use cairn_storage::{LogStore, StateMachineStore, StorageConfig};
use openraft::testing::log::{StoreBuilder, Suite};
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, StateMachineStore), openraft::StorageError<TypeConfig>> {
        let dir = TempDir::new().expect("temp dir");
        let (log, sm) = cairn_storage::open(dir.path(), StorageConfig::default())
            .await
            .expect("open storage");
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    Suite::test_all(Builder)
        .await
        .expect("openraft storage suite");
}
