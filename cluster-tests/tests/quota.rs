//! The space quota with etcd's NOSPACE semantics on a 3-node cluster: filled past the quota
//! under load, a member raises NOSPACE, every replica then refuses writes that grow the state
//! (typed for the Cairn client, etcd's words for etcd clients) while reads and deletes work and
//! no node exits; nothing acknowledged is lost; with a larger quota and the alarm disarmed,
//! writes work again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{Client, Error};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::ops::ctl;

const LEADER_WAIT: Duration = Duration::from_secs(20);

/// Restarts every node (kill -9) with `--quota-backend-bytes` = `quota` (through its env).
async fn restart_with_quota(cluster: &mut Cluster, quota: u64) {
    cluster.kill_all();
    for id in 1..=3 {
        let node = cluster.node_mut(id);
        node.env.retain(|(k, _)| k != "CAIRN_QUOTA_BACKEND_BYTES");
        node.env
            .push(("CAIRN_QUOTA_BACKEND_BYTES".into(), quota.to_string()));
        cluster.spawn(id, &[]).unwrap();
    }
    cluster.leader(LEADER_WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_quota_writes_stop_reads_and_deletes_go_on_and_disarming_restores_writes() {
    let mut cluster = Cluster::start(3).await.unwrap();
    cluster.leader(LEADER_WAIT).await.unwrap();
    restart_with_quota(&mut cluster, 4 << 20).await;
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();

    let value = vec![b'x'; 64 * 1024];
    let mut acked = Vec::new();
    let refusal = loop {
        assert!(acked.len() < 2_000, "128 MiB written and no NOSPACE");
        let key = format!("fill/{:05}", acked.len());
        match c.put(key.as_str(), value.clone()).await {
            Ok(_) => acked.push(key),
            Err(e) => break e,
        }
    };
    // Reached by writing (77 puts of 64 KiB in a run here), not already at start.
    assert!(acked.len() >= 10, "NOSPACE after {} puts", acked.len());
    match &refusal {
        Error::ResourceExhausted(m) => assert!(m.contains("database space exceeded"), "{m}"),
        other => panic!("expected NOSPACE, got {other:?}"),
    }
    let out = ctl(&eps, &["alarm", "list"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.json["alarms"].as_array().unwrap().is_empty(),
        "{out:?}"
    );
    assert_eq!(cluster.exited(), None, "a node exited");

    // etcd clients get etcd's words.
    let mut etcd = etcd_client::Client::connect(&eps, None).await.unwrap();
    let err = etcd
        .put("etcd-key", "v", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("etcdserver: mvcc: database space exceeded"),
        "{err}"
    );
    // Reads and deletes go on; nothing acknowledged is lost.
    for key in &acked {
        assert!(c.get(key.as_str()).await.unwrap().is_some(), "{key} lost");
    }
    c.delete(acked[0].as_str()).await.unwrap();
    assert!(c.get(acked[0].as_str()).await.unwrap().is_none());

    // A larger quota and a disarm: writes work again (a member still over the quota would
    // raise the alarm again, so retry until the new quota has applied everywhere).
    restart_with_quota(&mut cluster, 1 << 30).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = ctl(&eps, &["alarm", "disarm"]).await.unwrap();
        assert_eq!(out.code, 0, "{out:?}");
        match c.put("after", "disarm").await {
            Ok(_) => break,
            Err(Error::ResourceExhausted(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("writes did not come back: {e:?}"),
        }
    }
    let out = ctl(&eps, &["alarm", "list"]).await.unwrap();
    assert!(out.json["alarms"].as_array().unwrap().is_empty(), "{out:?}");
    for key in &acked[1..] {
        assert!(c.get(key.as_str()).await.unwrap().is_some(), "{key} lost");
    }
}
