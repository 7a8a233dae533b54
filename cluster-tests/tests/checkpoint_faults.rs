//! Checkpoints under faults and housekeeping, on real 3-node clusters: retention keeps exactly
//! what each policy says (workflow, namespace default, age, parents of kept deltas) and a
//! follower that catches up through a snapshot install holds exactly the same; a leader
//! killed in the middle of a chunked upload leaves one whole checkpoint after the client's
//! retry; an abandoned upload is collected; a follower catches up over large chunk entries;
//! deleting a workflow deletes its checkpoints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod checkpoint_support;

use std::time::Duration;

use cairn_api::v1 as pb;
use cairn_api::v1::checkpoints_client::CheckpointsClient;
use cairn_client::{Client, Error, LoadOptions, RetentionPolicy, RetentionScope, SaveOptions};
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};
use checkpoint_support::*;

fn options(extra: &[&str]) -> ClusterOptions {
    ClusterOptions {
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        ..ClusterOptions::default()
    }
}

async fn ids(c: &Client, workflow: &str) -> Vec<String> {
    c.list_all_checkpoints(workflow)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// Waits until `workflow`'s checkpoints, read through `c`, are exactly `want`.
async fn wait_for_ids(c: &Client, workflow: &str, want: &[String]) {
    let got = wait_until(Duration::from_secs(20), "retention to converge", || async {
        let now = ids(c, workflow).await;
        (now == want).then_some(now)
    })
    .await;
    if got.is_err() {
        panic!(
            "{workflow}: checkpoints {:?}, expected {want:?}",
            ids(c, workflow).await
        );
    }
}

async fn save_n(c: &Client, workflow: &str, n: u64, seed: u64) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let s = c
            .save_checkpoint(workflow, agent_state(2_000, seed + i), SaveOptions::new())
            .await
            .unwrap();
        out.push(s.id);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_exactly_what_each_policy_says() {
    let cluster = Cluster::start_with(3, options(&["--checkpoint-retention-interval-ms", "200"]))
        .await
        .unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);

    // keep_last 3, where a kept delta's parent is older than the last three.
    running_workflow(&c, "wf-last", "default").await;
    c.set_retention(
        RetentionScope::Workflow("wf-last".into()),
        Some(RetentionPolicy::keep_last(3)),
    )
    .await
    .unwrap();
    let full = save_n(&c, "wf-last", 3, 100).await;
    let delta = c
        .save_checkpoint(
            "wf-last",
            br#"{"x":1}"#.to_vec(),
            SaveOptions::new().delta_of(&full[0]),
        )
        .await
        .unwrap()
        .id;
    let newer = save_n(&c, "wf-last", 2, 200).await;
    let want = vec![
        full[0].clone(),
        delta.clone(),
        newer[0].clone(),
        newer[1].clone(),
    ];
    wait_for_ids(&c, "wf-last", &want).await;
    let (_, state) = c.load_checkpoint("wf-last", &delta, true).await.unwrap();
    assert!(!state.is_empty(), "the kept delta no longer materializes");

    // A namespace default applies to its workflows without a policy of their own.
    c.set_retention(
        RetentionScope::Namespace("ns-r".into()),
        Some(RetentionPolicy::keep_last(2)),
    )
    .await
    .unwrap();
    running_workflow(&c, "wf-ns", "ns-r").await;
    running_workflow(&c, "wf-own", "ns-r").await;
    c.set_retention(
        RetentionScope::Workflow("wf-own".into()),
        Some(RetentionPolicy::keep_last(3)),
    )
    .await
    .unwrap();
    let ns = save_n(&c, "wf-ns", 4, 300).await;
    let own = save_n(&c, "wf-own", 4, 400).await;
    wait_for_ids(&c, "wf-ns", &ns[2..]).await;
    wait_for_ids(&c, "wf-own", &own[1..]).await;

    // By age: everything older than the age goes; a young one stays.
    running_workflow(&c, "wf-age", "default").await;
    c.set_retention(
        RetentionScope::Workflow("wf-age".into()),
        Some(RetentionPolicy::max_age(Duration::from_millis(1500))),
    )
    .await
    .unwrap();
    save_n(&c, "wf-age", 2, 500).await;
    wait_for_ids(&c, "wf-age", &[]).await;
    let young = save_n(&c, "wf-age", 1, 600).await;
    assert_eq!(ids(&c, "wf-age").await, young);

    // Clearing the workflow's policy falls back to the namespace's (none for "default").
    c.set_retention(RetentionScope::Workflow("wf-last".into()), None)
        .await
        .unwrap();
    let more = save_n(&c, "wf-last", 3, 700).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut expected = want.clone();
    expected.extend(more);
    assert_eq!(ids(&c, "wf-last").await, expected);

    // Every node holds the same.
    for node in 1..=3 {
        let nc = client_for(&cluster, &[node]);
        assert_eq!(ids(&nc, "wf-last").await, expected, "node {node}");
        assert_eq!(ids(&nc, "wf-ns").await, ns[2..], "node {node}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_holds_across_a_snapshot_install() {
    let opts = options(&[
        "--snapshot-logs",
        "60",
        "--keep-logs",
        "5",
        "--checkpoint-retention-interval-ms",
        "200",
    ]);
    let mut cluster = Cluster::start_with(3, opts).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    let live: Vec<u64> = (1..=3).filter(|i| *i != follower).collect();
    let c = client_for(&cluster, &live);
    running_workflow(&c, "wf-snap", "default").await;
    c.set_retention(
        RetentionScope::Workflow("wf-snap".into()),
        Some(RetentionPolicy::keep_last(4)),
    )
    .await
    .unwrap();
    let first = save_n(&c, "wf-snap", 3, 10).await;
    cluster
        .wait_applied(follower, 1, Duration::from_secs(10))
        .await
        .unwrap();
    cluster.kill(follower);

    // While it is down: more checkpoints than the policy keeps, a multi-chunk one among
    // them, and enough other writes for the leader to snapshot and purge its log.
    let mut saved = first;
    saved.extend(save_n(&c, "wf-snap", 10, 20).await);
    let big = agent_state(3 * MIB, 30);
    saved.push(
        c.save_checkpoint("wf-snap", big.clone(), SaveOptions::new())
            .await
            .unwrap()
            .id,
    );
    let mut last = 0;
    for i in 0..150 {
        last = c.put(format!("filler/{i:04}"), "x").await.unwrap();
    }
    let want: Vec<String> = saved[saved.len() - 4..].to_vec();
    wait_for_ids(&c, "wf-snap", &want).await;
    wait_until(Duration::from_secs(30), "leader log purge", || async {
        let st = cluster.status(leader).await.ok()?;
        (st.purged_index > 100).then_some(())
    })
    .await
    .unwrap();

    cluster.spawn(follower, &[]).unwrap();
    cluster
        .wait_applied(follower, last, Duration::from_secs(60))
        .await
        .unwrap();
    let st = cluster.status(follower).await.unwrap();
    assert!(
        st.snapshot_index > 0,
        "caught up without a snapshot: {st:?}"
    );
    let fc = client_for(&cluster, &[follower]);
    assert_eq!(ids(&fc, "wf-snap").await, want);
    let (_, bytes) = fc
        .load_checkpoint_with("wf-snap", want.last().unwrap(), LOCAL)
        .await
        .unwrap();
    assert_same("multi-chunk checkpoint after install", &bytes, &big);

    // Retention keeps working on the installed state: two more, still exactly four.
    let all = client_for(&cluster, &[1, 2, 3]);
    let newer = save_n(&all, "wf-snap", 2, 40).await;
    let mut want2: Vec<String> = want[2..].to_vec();
    want2.extend(newer);
    for node in 1..=3 {
        wait_for_ids(&client_for(&cluster, &[node]), "wf-snap", &want2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_upload_leaves_one_whole_checkpoint() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-kill", "default").await;
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let before = c.put("kill-baseline", "x").await.unwrap();
    // Incompressible, so every chunk is a full 1 MiB entry and the upload takes a while.
    let payload = noise(40 * MIB, 77);
    let upload = {
        let (c, payload) = (c.clone(), payload.clone());
        tokio::spawn(async move {
            c.save_checkpoint("wf-kill", payload, SaveOptions::new().label("big"))
                .await
        })
    };
    wait_until(Duration::from_secs(60), "a few chunks applied", || async {
        let st = cluster.status(leader).await.ok()?;
        (st.applied >= before + 4).then_some(())
    })
    .await
    .unwrap();
    assert!(!upload.is_finished(), "the upload finished before the kill");
    cluster.kill(leader);

    let saved = upload.await.unwrap().unwrap();
    let live: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    let lc = client_for(&cluster, &live);
    let all = lc.list_all_checkpoints("wf-kill").await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].id, saved.id);
    assert_eq!((all[0].raw_size, all[0].chunks), (40 * MIB as u64, 40));
    let (_, bytes) = lc
        .load_checkpoint("wf-kill", &saved.id, false)
        .await
        .unwrap();
    assert_same("upload across a leader kill", &bytes, &payload);

    // The old leader comes back and converges on the same single checkpoint.
    cluster.spawn(leader, &[]).unwrap();
    cluster
        .wait_applied(leader, saved.revision, Duration::from_secs(60))
        .await
        .unwrap();
    let oc = client_for(&cluster, &[leader]);
    let (_, bytes) = oc
        .load_checkpoint_with("wf-kill", &saved.id, LOCAL)
        .await
        .unwrap();
    assert_same("on the restarted old leader", &bytes, &payload);
    assert_eq!(ids(&oc, "wf-kill").await, [saved.id]);
}

/// A follower that missed 100 MiB of chunk entries catches up from the log (no snapshot is
/// due). Replication reads up to `max_payload_entries` (1024) entries per AppendEntries: unless
/// `limited_get_log_entries` (storage/src/log_store.rs) also stops at a byte budget, such a
/// batch exceeds the 64 MiB peer message limit and the follower never catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_catches_up_over_large_chunk_entries() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    let live: Vec<u64> = (1..=3).filter(|i| *i != follower).collect();
    let c = client_for(&cluster, &live);
    running_workflow(&c, "wf-lag", "default").await;
    cluster.kill(follower);
    let payload = noise(100 * MIB, 1);
    let s = c
        .save_checkpoint("wf-lag", payload.clone(), SaveOptions::new())
        .await
        .unwrap();
    cluster.spawn(follower, &[]).unwrap();
    cluster
        .wait_applied(follower, s.revision, Duration::from_secs(90))
        .await
        .unwrap();
    let fc = client_for(&cluster, &[follower]);
    let (_, bytes) = fc
        .load_checkpoint_with("wf-lag", &s.id, LOCAL)
        .await
        .unwrap();
    assert_same("on the follower that caught up", &bytes, &payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_upload_is_collected() {
    let opts = options(&[
        "--checkpoint-upload-timeout-secs",
        "1",
        "--checkpoint-retention-interval-ms",
        "200",
    ]);
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-gc", "default").await;
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    // The revision of a write, not a status read: status lags apply a little, and a stale
    // baseline would count the setup writes as chunks.
    let before = c.put("gc-baseline", "x").await.unwrap();

    // A client that sends the first 3 MiB of a 10 MiB upload and then goes away.
    let addr = format!("http://{}", cluster.node(leader).client_addr);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let call = tokio::spawn(async move {
        let mut rpc = CheckpointsClient::connect(addr).await.unwrap();
        rpc.upload(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    tx.send(pb::UploadCheckpointRequest {
        part: Some(pb::upload_checkpoint_request::Part::Start(
            pb::UploadCheckpointStart {
                header: None,
                fields: Some(pb::CheckpointFields {
                    workflow_id: "wf-gc".into(),
                    ..Default::default()
                }),
                total_size: 10 * MIB as u64,
                fence: None,
            },
        )),
    })
    .await
    .unwrap();
    for i in 0..3 {
        tx.send(pb::UploadCheckpointRequest {
            part: Some(pb::upload_checkpoint_request::Part::Data(noise(MIB, i))),
        })
        .await
        .unwrap();
    }
    wait_until(Duration::from_secs(20), "chunks applied", || async {
        let st = cluster.status(leader).await.ok()?;
        (st.applied >= before + 2).then_some(())
    })
    .await
    .unwrap();
    // The client gives up mid-upload: what it stored stays (a retry would resume it) until
    // the leader's collection removes it.
    call.abort();

    wait_until(
        Duration::from_secs(20),
        "the upload to be collected",
        || async {
            (1..=3)
                .any(|n| {
                    cluster
                        .log_of(n)
                        .contains("collected stale checkpoint uploads")
                })
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert!(ids(&c, "wf-gc").await.is_empty());
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_workflow_deletes_its_checkpoints() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-del", "default").await;
    running_workflow(&c, "wf-keep", "default").await;
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let payload = if i == 2 {
            noise(2 * MIB, i)
        } else {
            agent_state(20_000, i)
        };
        ids.push(
            c.save_checkpoint("wf-del", payload, SaveOptions::new())
                .await
                .unwrap()
                .id,
        );
    }
    let kept = c
        .save_checkpoint("wf-keep", b"{}".to_vec(), SaveOptions::new())
        .await
        .unwrap()
        .id;
    let deleted = c.delete_workflow("wf-del", true).await.unwrap();
    for node in 1..=3 {
        cluster
            .wait_applied(node, deleted.revision, Duration::from_secs(10))
            .await
            .unwrap();
        let nc = client_for(&cluster, &[node]);
        for id in &ids {
            assert!(matches!(
                nc.load_checkpoint_with("wf-del", id, LOCAL).await,
                Err(Error::NotFound(_))
            ));
        }
        assert!(matches!(
            nc.latest_checkpoint("wf-del").await,
            Err(Error::NotFound(_))
        ));
    }
    // A new workflow under the same id starts with no checkpoints.
    running_workflow(&c, "wf-del", "default").await;
    assert!(c.list_all_checkpoints("wf-del").await.unwrap().is_empty());
    assert_eq!(c.latest_checkpoint("wf-del").await.unwrap(), None);
    assert!(c.load_checkpoint("wf-keep", &kept, false).await.is_ok());
    let opts = LoadOptions::default();
    assert!(matches!(
        c.load_checkpoint_with("wf-del", &ids[0], opts).await,
        Err(Error::NotFound(_))
    ));
}
