//! The harness itself: a node that cannot start must fail the test at once with its log,
//! not after a leader-election timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cairn_cluster_tests::{Cluster, ClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_exits_fails_start_quickly_with_its_log() {
    // Heartbeat above the election timeout: every node refuses its configuration and exits.
    let opts = ClusterOptions {
        extra_args: ["--heartbeat-ms", "5000"].map(String::from).to_vec(),
        ..ClusterOptions::default()
    };
    let started = Instant::now();
    let err = match Cluster::start_with(3, opts).await {
        Err(e) => format!("{e:#}"),
        Ok(_) => panic!("a cluster of misconfigured nodes started"),
    };
    // A failed start keeps its directory for debugging; this failure is the expected one.
    if let Some(kept) = err.split('"').nth(1) {
        let _ = std::fs::remove_dir_all(kept);
    }
    assert!(err.contains("kept in"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("exited"), "{err}");
    assert!(
        err.contains("heartbeat"),
        "the node's own error is shown: {err}"
    );
}
