//! Replicated-core tests on real 3-node clusters: linearizable reads everywhere, leader
//! failover, whole-cluster kill -9 with no lost or duplicated writes, snapshot catch-up, state
//! machine rebuild, joining as a learner, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_client::{Client, Error};
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};
use tokio::sync::Mutex;

fn client_for(cluster: &Cluster, ids: &[u64]) -> Client {
    let eps: Vec<String> = ids
        .iter()
        .map(|i| cluster.node(*i).client_addr.clone())
        .collect();
    Client::connect(eps).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_any_node_are_readable_linearizably_on_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    for id in 1..=3 {
        // A client that only knows node `id`: followers forward the write to the leader.
        let c = client_for(&cluster, &[id]);
        let rev = c.put(format!("k{id}"), format!("v{id}")).await.unwrap();
        assert!(rev > 0);
    }
    for id in 1..=3 {
        let c = client_for(&cluster, &[id]);
        for k in 1..=3 {
            let kv = c.get(format!("k{k}")).await.unwrap().expect("present");
            assert_eq!(kv.value, format!("v{k}").into_bytes(), "node {id} key k{k}");
        }
        // A write acknowledged through another node is visible right away here.
        let rev = client_for(&cluster, &[id % 3 + 1])
            .put("last", format!("{id}"))
            .await
            .unwrap();
        let kv = c.get("last").await.unwrap().expect("present");
        assert_eq!(kv.value, format!("{id}").into_bytes());
        assert_eq!(kv.mod_revision, rev);
    }
    let page = client_for(&cluster, &[2]).range("k", b"", 2).await.unwrap();
    assert_eq!(page.kvs.len(), 2);
    let rest = client_for(&cluster, &[3])
        .range("k", page.next_key.as_deref().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(rest.kvs.len(), 1);
    assert!(rest.next_key.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_and_idempotent_versions() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    let r1 = c.put_if("cas", "a", 0).await.unwrap();
    match c.put_if("cas", "b", 0).await {
        Err(Error::RevisionMismatch { current }) => assert_eq!(current, r1),
        other => panic!("expected RevisionMismatch, got {other:?}"),
    }
    let r2 = c.put_if("cas", "b", r1).await.unwrap();
    let kv = c.get("cas").await.unwrap().unwrap();
    assert_eq!(
        (
            kv.value.as_slice(),
            kv.version,
            kv.mod_revision,
            kv.create_revision
        ),
        (&b"b"[..], 2, r2, r1)
    );
    let d = c.delete_if("cas", r1).await;
    assert!(matches!(d, Err(Error::RevisionMismatch { .. })), "{d:?}");
    let d = c.delete("cas").await.unwrap();
    assert!(d.deleted);
    assert!(c.get("cas").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_elects_new_leader_and_writes_resume_within_5s() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    c.put("before", "1").await.unwrap();
    let old = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let killed_at = Instant::now();
    cluster.kill(old);
    // Election timeouts are 500-1000 ms with 100 ms heartbeats (the defaults).
    let rev = c.put("after", "2").await.unwrap();
    let took = killed_at.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "write resumed after {took:?}"
    );
    let new = cluster.leader(Duration::from_secs(5)).await.unwrap();
    assert_ne!(new, old);
    let kv = c.get("after").await.unwrap().unwrap();
    assert_eq!(kv.mod_revision, rev);
    assert_eq!(c.get("before").await.unwrap().unwrap().value, b"1");
    eprintln!(
        "failover: write acknowledged {took:?} after SIGKILL of leader {old}; new leader {new}"
    );
}

/// Writers put unique keys; every put is applied once, so a key's `version` is 1. A retry
/// that applied twice would show version 2; a lost acknowledged write would be missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_whole_cluster_under_load_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let c = client_for(&cluster, &[1, 2, 3]);
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("w{w}-{n}");
                if let Ok(rev) = c.put(key.clone(), vec![b'x'; 64]).await {
                    acked.lock().await.insert(key, rev);
                }
                n += 1;
            }
        }));
    }
    wait_until(
        Duration::from_secs(20),
        "some acknowledged writes",
        || async { (acked.lock().await.len() >= 200).then_some(()) },
    )
    .await
    .unwrap();
    cluster.kill_all();
    // Restart while the writers' in-flight puts are still retrying with their original
    // idempotency keys: a retry whose first attempt was applied before the crash must get the
    // recorded answer from the restarted cluster, not a second application.
    for id in 1..=3 {
        cluster.spawn(id, &[]).unwrap();
    }
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let resumed = acked.lock().await.len();
    wait_until(
        Duration::from_secs(20),
        "writes to resume after the restart",
        || async { (acked.lock().await.len() > resumed + 50).then_some(()) },
    )
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    let c = client_for(&cluster, &[1, 2, 3]);
    for (key, rev) in &acked {
        let kv = c
            .get(key.as_str())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {key} lost"));
        assert_eq!(kv.version, 1, "{key} applied more than once");
        assert_eq!(kv.mod_revision, *rev, "{key} revision changed");
    }
    let all = c.range_all("w").await.unwrap();
    assert!(all.len() >= acked.len());
    assert!(
        all.iter().all(|kv| kv.version == 1),
        "a write was applied twice"
    );
    eprintln!(
        "kill -9 of all nodes: {} acknowledged writes, all present once",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_follower_catches_up_through_snapshot_install() {
    let opts = ClusterOptions {
        extra_args: ["--snapshot-logs", "200", "--keep-logs", "20"]
            .map(String::from)
            .to_vec(),
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start_with(3, opts).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    cluster.kill(follower);
    let live: Vec<u64> = (1..=3).filter(|i| *i != follower).collect();
    let c = client_for(&cluster, &live);
    let mut last = 0;
    for i in 0..600 {
        last = c.put(format!("s{i:04}"), format!("{i}")).await.unwrap();
    }
    // The leader has purged the entries the follower is missing.
    wait_until(Duration::from_secs(20), "leader log purge", || async {
        (cluster.status(leader).await.ok()?.purged_index > 300).then_some(())
    })
    .await
    .unwrap();
    cluster.spawn(follower, &[]).unwrap();
    cluster
        .wait_applied(follower, last, Duration::from_secs(30))
        .await
        .unwrap();
    let st = cluster.status(follower).await.unwrap();
    assert!(
        st.snapshot_index > 0,
        "follower caught up without a snapshot: {st:?}"
    );
    assert!(
        cluster.log_of(follower).contains("snapshot"),
        "no snapshot install logged"
    );
    let fc = client_for(&cluster, &[follower]);
    for i in [0, 299, 599] {
        let kv = fc
            .get_serializable(format!("s{i:04}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kv.value, format!("{i}").into_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_state_machine_is_rebuilt_on_start() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    let mut last = 0;
    for i in 0..100 {
        last = c.put(format!("r{i:03}"), format!("{i}")).await.unwrap();
    }
    cluster
        .wait_applied(2, last, Duration::from_secs(10))
        .await
        .unwrap();
    cluster.stop(2).await.unwrap();
    std::fs::remove_dir_all(cluster.node(2).data_dir.join("sm")).unwrap();
    cluster.spawn(2, &[]).unwrap();
    cluster
        .wait_applied(2, last, Duration::from_secs(20))
        .await
        .unwrap();
    let only2 = client_for(&cluster, &[2]);
    let all = only2.range_all("r").await.unwrap();
    assert_eq!(all.len(), 100);
    for id in [1, 3] {
        let other = client_for(&cluster, &[id]).range_all("r").await.unwrap();
        assert_eq!(other, all, "node 2 diverged from node {id}");
    }
    assert!(
        cluster.log_of(2).contains("rebuild"),
        "rebuild not logged:\n{}",
        cluster.log_of(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_node_joins_as_learner_and_catches_up() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    let last = c.put("j", "1").await.unwrap();
    let id = cluster.add_node().unwrap();
    let join = ["--join".to_string(), cluster.endpoints()[..3].join(",")];
    cluster.spawn(id, &join).unwrap();
    cluster
        .wait_applied(id, last, Duration::from_secs(20))
        .await
        .unwrap();
    let st = cluster.status(1).await.unwrap();
    let m = st
        .members
        .iter()
        .find(|m| m.id == id)
        .expect("member listed");
    assert_eq!(m.role, "learner");
    let kv = client_for(&cluster, &[id]).get("j").await.unwrap().unwrap();
    assert_eq!(kv.value, b"1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_with_invalid_argument_and_nothing_written() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    let before = cluster.status(1).await.unwrap().last_log_index;
    let cases: Vec<(&str, cairn_client::Result<u64>)> = vec![
        ("empty key", c.put(Vec::new(), "v").await),
        ("key > 4 KiB", c.put(vec![b'k'; 4097], "v").await),
        (
            "value > 1 MiB",
            c.put("k", vec![0u8; 1024 * 1024 + 1]).await,
        ),
    ];
    for (what, res) in cases {
        match res {
            Err(Error::InvalidArgument(msg)) => {
                assert!(
                    msg.contains("limit") || msg.contains("empty"),
                    "{what}: {msg}"
                )
            }
            other => panic!("{what}: expected InvalidArgument, got {other:?}"),
        }
    }
    assert_eq!(
        cluster.status(1).await.unwrap().last_log_index,
        before,
        "something was written"
    );
    // Admin input: unknown node id, malformed address.
    let mut admin = cairn_api::v1::admin_client::AdminClient::connect(format!(
        "http://{}",
        cluster
            .node(cluster.leader(Duration::from_secs(5)).await.unwrap())
            .client_addr
    ))
    .await
    .unwrap();
    let e = admin
        .change_membership(cairn_api::v1::ChangeMembershipRequest {
            voters: vec![1, 2, 42],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(e.message().contains("42"));
    // Two voters out in one call (a healthy 3-node cluster down to its leader) is refused,
    // and the voter set is unchanged.
    let leader = cluster.leader(Duration::from_secs(5)).await.unwrap();
    let e = admin
        .change_membership(cairn_api::v1::ChangeMembershipRequest {
            voters: vec![leader],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert_eq!(
        e.metadata()
            .get(cairn_api::meta::ERROR_KIND)
            .and_then(|v| v.to_str().ok()),
        Some(cairn_api::meta::kind::TOO_MANY_CHANGES)
    );
    let status = admin
        .status(cairn_api::v1::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.members.iter().filter(|m| m.role == "voter").count(),
        3,
        "{:?}",
        status.members
    );
    let e = admin
        .add_learner(cairn_api::v1::AddLearnerRequest {
            id: 9,
            peer_addr: "not an address".into(),
            client_addr: "127.0.0.1:1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    // The node is still up and serving.
    c.put("still", "up").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_transfers_to_the_chosen_voter() {
    let cluster = Cluster::start(3).await.unwrap();
    let old = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let to = old % 3 + 1;
    let mut admin = cairn_api::v1::admin_client::AdminClient::connect(format!(
        "http://{}",
        cluster.node(old).client_addr
    ))
    .await
    .unwrap();
    let e = admin
        .transfer_leader(cairn_api::v1::TransferLeaderRequest { to: 42 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    admin
        .transfer_leader(cairn_api::v1::TransferLeaderRequest { to })
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(5),
        "leadership on the chosen node",
        || async { (cluster.leader(Duration::from_secs(1)).await.ok()? == to).then_some(()) },
    )
    .await
    .unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    c.put("after-transfer", "ok").await.unwrap();
}
