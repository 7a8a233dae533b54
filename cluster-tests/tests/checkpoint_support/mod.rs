//! Shared pieces of the checkpoint cluster tests: deterministic payloads (cairn-testdata's
//! realistic JSON agent state and incompressible noise), clients pinned to nodes, workflows in a known status,
//! and byte comparisons that do not print megabytes on failure.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_client::serde_json::json;
use cairn_client::{Client, ClientConfig, CreateWorkflow, LoadOptions, Target};
use cairn_cluster_tests::Cluster;

pub const MIB: usize = 1024 * 1024;

pub fn client_for(cluster: &Cluster, ids: &[u64]) -> Client {
    let eps: Vec<String> = ids
        .iter()
        .map(|i| cluster.node(*i).client_addr.clone())
        .collect();
    // A longer retry budget than the default: tests kill leaders under 2-core load.
    let config = ClientConfig {
        retry_deadline: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    Client::with_config(eps, config).expect("client")
}

pub use cairn_testdata::{agent_state, noise};

/// Creates workflow `id` (default definition) and starts it (RUNNING).
pub async fn running_workflow(c: &Client, id: &str, namespace: &str) {
    c.create_workflow(
        CreateWorkflow::new()
            .id(id)
            .namespace(namespace)
            .metadata(json!({"attempt": 1})),
    )
    .await
    .unwrap();
    c.transition(id, Target::event("start"), None, "test", "")
        .await
        .unwrap();
}

/// Asserts equal bytes, reporting only sizes and the first difference.
pub fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    panic!(
        "{what}: {} bytes, expected {}; first difference at {first:?}",
        got.len(),
        want.len()
    );
}

pub const LOCAL: LoadOptions = LoadOptions {
    materialize: false,
    serializable: true,
};
