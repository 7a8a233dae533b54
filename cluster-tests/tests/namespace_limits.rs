//! Per-namespace limits on a 3-node cluster, end to end: set with `cairn ctl`, enforced for
//! workflow creates and checkpoint saves through the Rust client (RESOURCE_EXHAUSTED, nothing
//! written), read back with usage, and room made by deleting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{Client, CreateWorkflow, Error, NamespaceLimits, SaveOptions};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::ops::ctl;
use rand::RngCore;

fn full<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::ResourceExhausted(m)) => m,
        other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_limits_refuse_creates_and_saves_past_them() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();

    let set = [
        "namespace",
        "limits",
        "tenant-a",
        "--max-workflows",
        "2",
        "--max-checkpoint-bytes",
        "10000",
    ];
    let out = ctl(&eps, &set).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json["limits"]["max_workflows"], 2, "{out:?}");

    for id in ["w1", "w2"] {
        c.create_workflow(CreateWorkflow::new().id(id).namespace("tenant-a"))
            .await
            .unwrap();
    }
    let m = full(
        c.create_workflow(CreateWorkflow::new().id("w3").namespace("tenant-a"))
            .await,
    );
    assert!(m.contains("namespace tenant-a is full"), "{m}");
    assert!(c.workflow("w3", false).await.unwrap().is_none());
    // Another namespace is not limited by it.
    c.create_workflow(CreateWorkflow::new().id("w3").namespace("tenant-b"))
        .await
        .unwrap();

    // Random bytes do not compress: stored size is about the payload size.
    let mut payload = vec![0u8; 6000];
    rand::rng().fill_bytes(&mut payload);
    c.save_checkpoint("w1", payload.clone(), SaveOptions::new())
        .await
        .unwrap();
    let m = full(c.save_checkpoint("w2", payload, SaveOptions::new()).await);
    assert!(m.contains("checkpoint bytes"), "{m}");
    assert!(
        c.list_checkpoints("w2", None, 10)
            .await
            .unwrap()
            .checkpoints
            .is_empty()
    );

    let out = ctl(&eps, &["namespace", "show", "tenant-a"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json["usage"]["workflows"], 2, "{out:?}");
    let used = out.json["usage"]["checkpoint_bytes"].as_u64().unwrap();
    assert!((6000..10000).contains(&used), "{out:?}");

    // Deleting makes room; raising a limit through the client works too.
    c.delete_workflow("w1", true).await.unwrap();
    let q = c.namespace_quota("tenant-a").await.unwrap();
    assert_eq!((q.usage.workflows, q.usage.checkpoint_bytes), (1, 0));
    c.create_workflow(CreateWorkflow::new().id("w4").namespace("tenant-a"))
        .await
        .unwrap();
    let q = c
        .set_namespace_limits(
            "tenant-a",
            NamespaceLimits {
                max_workflows: Some(3),
                max_checkpoint_bytes: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(q.usage.workflows, 2);
    c.create_workflow(CreateWorkflow::new().id("w5").namespace("tenant-a"))
        .await
        .unwrap();
}
