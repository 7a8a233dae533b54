//! Network partitions cut with iptables between nodes that each run in their own network
//! namespace: an isolated leader loses the cluster to the majority and takes no writes, a
//! minority cannot elect, a bridge node keeps a cluster whole, and after healing every node
//! has every acknowledged write. Skipped (with the reason) only where namespaces or iptables
//! cannot exist (not root, no iptables: see scripts/install-deps), and never under CI=true,
//! where that fails the test instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_client::{Client, ClientConfig};
use cairn_cluster_tests::net::{Net, Partition, can_run};
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};

fn net(n: usize) -> Option<std::sync::Arc<Net>> {
    if !can_run() {
        return None;
    }
    Some(Net::new(n).expect("create the test network"))
}

/// A client of only `ids`, giving up after `deadline`.
fn client_of(cluster: &Cluster, ids: &[u64], deadline: Duration) -> Client {
    let config = ClientConfig {
        retry_deadline: deadline,
        request_timeout: deadline.min(Duration::from_secs(2)),
        ..ClientConfig::default()
    };
    let eps = ids.iter().map(|id| cluster.node(*id).client_addr.clone());
    Client::with_config(eps, config).unwrap()
}

/// Waits until node `id` serves `key` = `value` from its own state.
async fn has(cluster: &Cluster, id: u64, key: &str, value: &str) {
    let c = client_of(cluster, &[id], Duration::from_secs(2));
    wait_until(
        Duration::from_secs(30),
        &format!("{key} on node {id}"),
        || {
            let c = c.clone();
            async move {
                let kv = c.get_serializable(key).await.ok()??;
                (kv.value == value.as_bytes()).then_some(())
            }
        },
    )
    .await
    .unwrap();
}

#[test]
fn an_isolated_leader_loses_to_the_majority_and_catches_up_after_heal() {
    let Some(net) = net(3) else { return };
    let n2 = net.clone();
    net.block_on(async move {
        let cluster = Cluster::start_in(n2.clone(), 3, ClusterOptions::default())
            .await
            .unwrap();
        let old = cluster.leader(Duration::from_secs(20)).await.unwrap();
        let rest: Vec<u64> = (1..=3).filter(|i| *i != old).collect();
        n2.partition(&Partition::Isolate { node: old }).unwrap();
        let new = cluster
            .leader_among(&rest, Duration::from_secs(30))
            .await
            .unwrap();
        assert_ne!(new, old);
        let majority = client_of(&cluster, &rest, Duration::from_secs(10));
        majority.put("p/k", "after-split").await.unwrap();
        // The old leader cannot commit anything on its own.
        let alone = client_of(&cluster, &[old], Duration::from_secs(3));
        assert!(
            alone.put("p/lost", "x").await.is_err(),
            "a minority of one acked a write"
        );
        n2.heal().unwrap();
        has(&cluster, old, "p/k", "after-split").await;
        assert!(majority.get("p/lost").await.unwrap().is_none());
    })
    .expect("run in the hub namespace");
}

#[test]
fn minority_split_bridge_and_one_way_cuts_on_five_nodes() {
    let Some(net) = net(5) else { return };
    let n2 = net.clone();
    net.block_on(async move {
        let cluster = Cluster::start_in(n2.clone(), 5, ClusterOptions::default())
            .await
            .unwrap();
        let all: Vec<u64> = (1..=5).collect();
        let c = client_of(&cluster, &all, Duration::from_secs(20));
        // Whatever side the leader was on, the majority {3,4,5} ends up with it.
        n2.partition(&Partition::Split {
            groups: vec![vec![1, 2], vec![3, 4, 5]],
        })
        .unwrap();
        let l = cluster
            .leader_among(&[3, 4, 5], Duration::from_secs(30))
            .await
            .unwrap();
        assert!([3, 4, 5].contains(&l));
        c.put("s/k", "split").await.unwrap();
        // A minority node either cannot answer or sends the client on to the leader, which
        // the client can still reach: never a stale value.
        let minority = client_of(&cluster, &[1, 2], Duration::from_secs(3));
        if let Ok(kv) = minority.get("s/k").await {
            assert_eq!(kv.map(|kv| kv.value), Some(b"split".to_vec()));
        }
        n2.heal().unwrap();
        // A bridge: {1,2} and {4,5} only talk through 3, which still makes majorities.
        n2.partition(&Partition::Bridge { middle: 3 }).unwrap();
        c.put("s/k", "bridge").await.unwrap();
        n2.heal().unwrap();
        // One-way: the leader's packets stop reaching one follower; the cluster goes on.
        let l = cluster.leader(Duration::from_secs(30)).await.unwrap();
        let f = l % 5 + 1;
        n2.partition(&Partition::OneWay { from: l, to: f }).unwrap();
        c.put("s/k", "one-way").await.unwrap();
        n2.heal().unwrap();
        for id in all {
            has(&cluster, id, "s/k", "one-way").await;
        }
    })
    .expect("run in the hub namespace");
}
