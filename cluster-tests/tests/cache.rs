//! The client-side workflow cache on a 3-node cluster: after `sync` every cached workflow and
//! variable set equals a direct linearizable read (deletes included, other namespaces
//! absent); `wait_for` gives read-your-writes; and the cache stays coherent while each node
//! in turn is killed with SIGKILL and restarted (so the node serving its watch dies at some
//! point), including across a quiet spell with no writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{
    Client, CreateWorkflow, Target, VarScope, VarUpdate, WorkflowCache, serde_json::json,
};
use cairn_cluster_tests::Cluster;

const NS: &str = "cached";

/// Every workflow and variable set of the namespace, read directly (linearizably), equals
/// the cache's view after a sync.
async fn assert_coherent(c: &Client, cache: &WorkflowCache) {
    let at = cache.sync().await.unwrap();
    assert!(cache.revision() >= at);
    let direct = c
        .list_workflows(&cairn_client::ListOptions::new().namespace(NS).limit(0))
        .await
        .unwrap()
        .workflows;
    let mut ids: Vec<_> = direct.iter().map(|w| w.id.clone()).collect();
    ids.sort();
    let cached = cache.workflows();
    assert_eq!(
        cached.iter().map(|w| w.id.clone()).collect::<Vec<_>>(),
        ids,
        "the cache holds exactly the namespace's workflows"
    );
    for w in &cached {
        let now = c.workflow(&w.id, false).await.unwrap().unwrap().workflow;
        // Written before the sync began or after: the cache may only be newer.
        assert!(w.version <= now.version, "{}", w.id);
        if now.mod_revision <= at {
            assert_eq!(*w, now, "{}", w.id);
        }
        let scope = VarScope::Workflow(w.id.clone());
        let vars = c.vars(&scope, None).await.unwrap();
        if vars.as_ref().is_none_or(|v| v.mod_revision <= at) {
            assert_eq!(cache.vars(&scope), vars, "{}", w.id);
        }
    }
    let ns = VarScope::Namespace(NS.into());
    assert_eq!(cache.vars(&ns), c.vars(&ns, None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_coherent_through_writes_deletes_and_node_deaths() {
    let mut cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let c = Client::connect(cluster.endpoints()).unwrap();
    // Some state before the cache exists (its snapshot), some after (its watch).
    for i in 0..10 {
        c.create_workflow(CreateWorkflow::new().id(format!("wf-{i:02}")).namespace(NS))
            .await
            .unwrap();
    }
    c.update_vars(
        &VarScope::Namespace(NS.into()),
        VarUpdate::new().set("model", json!("small")),
    )
    .await
    .unwrap();
    c.create_workflow(CreateWorkflow::new().id("elsewhere").namespace("other"))
        .await
        .unwrap();
    let cache = c.workflow_cache(NS).await.unwrap();
    assert_eq!(cache.workflows().len(), 10);
    for i in 10..20 {
        c.create_workflow(CreateWorkflow::new().id(format!("wf-{i:02}")).namespace(NS))
            .await
            .unwrap();
    }
    for i in (0..20).step_by(3) {
        c.update_vars(
            &VarScope::Workflow(format!("wf-{i:02}")),
            VarUpdate::new().set("i", json!(i)),
        )
        .await
        .unwrap();
    }
    assert_coherent(&c, &cache).await;
    assert!(
        cache.workflow("elsewhere").is_none(),
        "other namespaces stay out"
    );

    // Read-your-writes: the revision a write returned, then the local read.
    let moved = c
        .transition("wf-04", Target::event("start"), None, "t", "")
        .await
        .unwrap();
    cache.wait_for(moved.revision).await.unwrap();
    assert_eq!(cache.workflow("wf-04").unwrap().status, "RUNNING");

    // A deleted workflow leaves with its variables.
    c.delete_workflow("wf-03", true).await.unwrap();
    assert_coherent(&c, &cache).await;
    assert!(cache.workflow("wf-03").is_none());
    assert!(cache.vars(&VarScope::Workflow("wf-03".into())).is_none());

    // Each node in turn dies (SIGKILL) and comes back: whichever serves the cache's watch
    // dies once; writes go on and the cache converges after each.
    for id in 1..=3 {
        cluster.kill(id);
        cluster.leader(Duration::from_secs(20)).await.unwrap();
        c.update_vars(
            &VarScope::Namespace(NS.into()),
            VarUpdate::new().set("killed", json!(id)),
        )
        .await
        .unwrap();
        c.transition(
            &format!("wf-{:02}", 10 + id),
            Target::event("start"),
            None,
            "t",
            "",
        )
        .await
        .unwrap();
        assert_coherent(&c, &cache).await;
        cluster.restart(id).await.unwrap();
    }
    // A quiet spell: nothing written, and a sync still returns (progress on request).
    assert_coherent(&c, &cache).await;
    let v = cache.vars(&VarScope::Namespace(NS.into())).unwrap();
    assert_eq!(v.values["killed"], json!(3));
}
