//! The queries orchestrators run, on a 3-node cluster through the Rust client and the ctl:
//! lists across namespaces (paged, merged in creation order) with task progress, counts
//! across namespaces, the list of namespaces with their usage, and a workflow's history in a
//! time range.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_client::{Client, CreateWorkflow, ListOptions, Target, TaskSpec, TaskStatus};
use cairn_cluster_tests::ops::ctl;
use cairn_cluster_tests::{Cluster, now_ms, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_span_namespaces_with_progress_and_history_filters_by_time() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();

    let mut created = Vec::new();
    for (ns, n) in [("q-a", 3), ("q-b", 2)] {
        for i in 0..n {
            let id = format!("{ns}-{i}");
            c.create_workflow(CreateWorkflow::new().id(&id).namespace(ns))
                .await
                .unwrap();
            created.push(id);
        }
    }
    c.upsert_tasks(
        "q-b-1",
        [
            TaskSpec::new("x").status(TaskStatus::Running),
            TaskSpec::new("y"),
        ],
    )
    .await
    .unwrap();

    // Every namespace, two per page, merged in creation order.
    let mut seen = Vec::new();
    let mut opts = ListOptions::new().all_namespaces().with_progress().limit(2);
    loop {
        let page = c.list_workflows(&opts).await.unwrap();
        assert_eq!(page.progress.len(), page.workflows.len());
        for (w, p) in page.workflows.iter().zip(&page.progress) {
            let expected = if w.id == "q-b-1" {
                (2, 1, 1)
            } else {
                (0, 0, 0)
            };
            assert_eq!((p.total, p.running, p.pending), expected, "{}", w.id);
        }
        seen.extend(page.workflows.into_iter().map(|w| w.id));
        match page.next_cursor {
            Some(cursor) => opts.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, created, "pages across namespaces, in creation order");
    let count = c
        .count_workflows(&ListOptions::new().all_namespaces())
        .await
        .unwrap();
    assert_eq!(count, 5);
    // One namespace still lists only its own.
    let only_b = c
        .list_workflows(&ListOptions::new().namespace("q-b"))
        .await
        .unwrap();
    assert_eq!(only_b.workflows.len(), 2);
    assert!(only_b.progress.is_empty(), "progress only when asked");

    let namespaces = c.namespaces().await.unwrap();
    let usage: Vec<(String, u64)> = namespaces
        .iter()
        .map(|(n, q)| (n.clone(), q.usage.workflows))
        .collect();
    assert_eq!(usage, [("q-a".to_string(), 3), ("q-b".to_string(), 2)]);

    let listed = ctl(&eps, &["namespace", "list"]).await.unwrap();
    assert_eq!(listed.code, 0, "{listed:?}");
    let names: BTreeSet<&str> = listed.json["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["q-a", "q-b"]));
    let all = ctl(
        &eps,
        &["workflow", "list", "--all-namespaces", "--progress"],
    )
    .await
    .unwrap();
    assert_eq!(all.code, 0, "{all:?}");
    let rows = all.json["workflows"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "{all:?}");
    let b1 = rows.iter().find(|r| r["id"] == "q-b-1").unwrap();
    assert_eq!(b1["progress"]["running"], 1, "{b1}");

    // History in a time range: each change waits for the leader's clock to move on, so the
    // events have distinct times; a range returns exactly the events whose time is in it.
    let id = "q-a-0";
    for event in ["start", "pause", "resume", "pause", "resume"] {
        let last = c.history_all(id).await.unwrap().last().unwrap().time_ms;
        wait_until(Duration::from_secs(5), "the clock to move", || async {
            (now_ms() > last).then_some(())
        })
        .await
        .unwrap();
        c.transition(id, Target::event(event), None, "t", "")
            .await
            .unwrap();
    }
    let all_events = c.history_all(id).await.unwrap();
    assert_eq!(all_events.len(), 6);
    let since = all_events[2].time_ms;
    let until = all_events[4].time_ms;
    let ranged = c
        .history_between(id, Some(since), Some(until))
        .await
        .unwrap();
    let expected: Vec<u64> = all_events
        .iter()
        .filter(|e| e.time_ms >= since && e.time_ms < until)
        .map(|e| e.version)
        .collect();
    assert!(!expected.is_empty() && expected.len() < all_events.len());
    assert_eq!(
        ranged.iter().map(|e| e.version).collect::<Vec<_>>(),
        expected
    );
    let recent = ctl(&eps, &["workflow", "history", id, "--since-secs", "3600"])
        .await
        .unwrap();
    assert_eq!(
        recent.json["events"].as_array().unwrap().len(),
        6,
        "{recent:?}"
    );
    let future = c
        .history_between(id, Some(now_ms() + 3_600_000), None)
        .await
        .unwrap();
    assert!(future.is_empty());
}
