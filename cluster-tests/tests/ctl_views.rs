//! `cairn ctl` read views of checkpoints, locks and elections, with `-o json` output parsed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_client::{CampaignOptions, Client, CreateWorkflow, LockOptions, SaveOptions};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::ops::ctl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_shows_checkpoints_locks_and_elections() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();
    c.create_workflow(CreateWorkflow::new().id("wf"))
        .await
        .unwrap();
    let saved = c
        .save_checkpoint("wf", br#"{"step":1}"#.to_vec(), SaveOptions::default())
        .await
        .unwrap();
    let guard = c.lock("jobs/1", LockOptions::default()).await.unwrap();
    let leadership = c
        .campaign(
            "coordinator",
            "node-a",
            "10.0.0.1",
            CampaignOptions::default(),
        )
        .await
        .unwrap();

    let out = ctl(&eps, &["checkpoint", "list", "wf"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let list = out.json["checkpoints"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], saved.id.as_str());
    let out = ctl(&eps, &["checkpoint", "get", "wf", &saved.id])
        .await
        .unwrap();
    assert_eq!(out.json["raw_size"], 10);
    let missing = ctl(&eps, &["checkpoint", "get", "wf", "ckpt-nope"])
        .await
        .unwrap();
    assert_eq!(missing.code, 4, "{missing:?}");

    let out = ctl(&eps, &["lock", "list", "jobs/"]).await.unwrap();
    let locks = out.json["locks"].as_array().unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["holder"]["token"], guard.token());

    let out = ctl(&eps, &["election", "leader", "coordinator"])
        .await
        .unwrap();
    assert_eq!(out.json["leader"]["owner"], "node-a");
    assert_eq!(out.json["leader"]["token"], leadership.term());
    assert_eq!(out.json["leader"]["value"], "10.0.0.1");
}

/// Compaction on demand: the key/watch history window (every node) and one workflow's
/// history, through `cairn ctl`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_compacts_watch_history_and_workflow_history() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();
    let first = c.put("k", "1").await.unwrap();
    let second = c.put("k", "2").await.unwrap();

    let out = ctl(&eps, &["compact", &second.to_string()]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    // Again at the same revision: refused, as etcd refuses it.
    let again = ctl(&eps, &["compact", &second.to_string()]).await.unwrap();
    assert_eq!(again.code, 5, "{again:?}");
    // Every node forgot the history below the compaction: a read at `first` is refused.
    for ep in &eps {
        let mut e = etcd_client::Client::connect([ep], None).await.unwrap();
        let err = e
            .get(
                "k",
                Some(etcd_client::GetOptions::new().with_revision(first as i64)),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("compacted"), "{ep}: {err}");
    }

    c.create_workflow(CreateWorkflow::new().id("wf"))
        .await
        .unwrap();
    for _ in 0..2 {
        c.transition("wf", cairn_client::Target::status("RUNNING"), None, "t", "")
            .await
            .unwrap();
        c.transition("wf", cairn_client::Target::status("PAUSED"), None, "t", "")
            .await
            .unwrap();
    }
    let out = ctl(
        &eps,
        &["workflow", "compact-history", "wf", "--keep-last", "2"],
    )
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json["history_floor"], 4);
    let page = c.history("wf", 1, 100).await.unwrap();
    let versions: Vec<u64> = page.events.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![4, 5]);
    assert_eq!(page.compacted_before, 4);
}
