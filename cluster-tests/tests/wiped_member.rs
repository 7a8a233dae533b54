//! A member whose data directory is lost must not come back as a voter under its old id: it
//! forgot its log and the votes it gave. Here a follower is killed, its directory wiped, and it
//! is started again with the same member list while the leader (which shares the latest writes
//! with it) is down too, the situation in which its vote could elect the lagging third node
//! without a committed entry. It refuses to start, saying how to replace it; nothing
//! acknowledged is lost. And peers of another cluster are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::Client;
use cairn_cluster_tests::{Cluster, wait_until};
use cairn_raft::ChannelPool;

/// What node `target` records for node `from`.
async fn recorded(cluster: &Cluster, from: u64, target: u64) -> Option<u64> {
    let pool = ChannelPool::new(Duration::from_secs(2), None);
    cairn_raft::probe::probe(
        &pool,
        from,
        target,
        &cluster.node(target).peer_addr,
        Duration::from_secs(2),
    )
    .await
    .ok()?
    .recorded_for_caller
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_refuses_to_rejoin_under_its_old_id_and_nothing_is_lost() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    // `wiped` shares the latest writes with the leader; `lagging` is the one left running.
    let followers: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    let (wiped, lagging) = (followers[0], followers[1]);
    let c = Client::connect(cluster.endpoints()).unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        let key = format!("k{i:02}");
        c.put(key.as_str(), "v").await.unwrap();
        acked.push(key);
    }
    // Every member knows the wiped node's directory before it is lost.
    for target in [leader, lagging] {
        wait_until(Duration::from_secs(20), "the incarnation recorded", || {
            recorded(&cluster, wiped, target)
        })
        .await
        .unwrap();
    }

    cluster.kill(leader);
    cluster.kill(wiped);
    let dir = cluster.node(wiped).data_dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();
    cluster.spawn(wiped, &[]).unwrap();
    let status = wait_until(Duration::from_secs(20), "the wiped node to exit", || {
        std::future::ready(cluster.exit_status(wiped))
    })
    .await
    .unwrap();
    assert!(!status.success(), "{status:?}");
    let log = cluster.log_of(wiped);
    assert!(
        log.contains("lost its log and the votes it gave")
            && log.contains(&format!("member remove {wiped}")),
        "{log}"
    );
    // It never voted: the lagging follower alone has no quorum, so it cannot lead.
    assert!(cluster.leader(Duration::from_secs(2)).await.is_err());

    // The old leader back: the cluster of the two serves every acknowledged write.
    cluster.spawn(leader, &[]).unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let c = Client::connect(vec![
        cluster.node(leader).client_addr.clone(),
        cluster.node(lagging).client_addr.clone(),
    ])
    .unwrap();
    for key in &acked {
        assert!(c.get(key.as_str()).await.unwrap().is_some(), "{key} lost");
    }
}

/// Peer traffic names the sender's data directory (its incarnation): a vote from node 3 that
/// names another directory than the one the cluster recorded for it is refused, as a node
/// that lost its log (and the votes it gave) must not vote or be voted for under its id; the
/// same vote naming the recorded directory is answered. A pre-vote, so the probe changes no
/// term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_naming_another_data_directory_are_refused() {
    use cairn_raft::types::{TypeConfig, Vote};
    use openraft::raft::VoteRequest;

    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let target = 1;
    let ours = wait_until(
        Duration::from_secs(20),
        "node 3's incarnation recorded",
        || recorded(&cluster, 3, target),
    )
    .await
    .unwrap();
    let term = cluster.status(target).await.unwrap().term;
    let pre_vote = |incarnation: u64| {
        let pool = ChannelPool::new(Duration::from_secs(2), None).with_incarnation(incarnation);
        let addr = cluster.node(target).peer_addr.clone();
        async move {
            let channel = pool.get(target, &addr).unwrap();
            let rpc = VoteRequest::<TypeConfig>::new(Vote::new(term + 1, 3), None);
            let data = cairn_model::codec::encode(&rpc).unwrap();
            let request = pool.request(cairn_raft::peer_proto::Payload { data: data.into() });
            cairn_raft::network::peer_client(channel)
                .pre_vote(request)
                .await
        }
    };
    let refused = pre_vote(ours ^ 0x5a).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("lost its log"), "{refused:?}");
    pre_vote(ours).await.unwrap();
}

/// Peer traffic names its cluster: a node of another cluster (a copied directory, a wrong
/// member list) is refused on every peer call, and this cluster's own traffic is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_another_cluster_are_refused() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let ours = wait_until(Duration::from_secs(20), "a cluster id", || async {
        let id = cluster.status(1).await.ok()?.cluster_id;
        (id != 0).then_some(id)
    })
    .await
    .unwrap();
    let probe = |cluster_id: u64| {
        let pool = ChannelPool::new(Duration::from_secs(2), None)
            .with_cluster_id(std::sync::Arc::new(move || cluster_id));
        let addr = cluster.node(1).peer_addr.clone();
        async move { cairn_raft::probe::probe(&pool, 2, 1, &addr, Duration::from_secs(2)).await }
    };
    let refused = probe(ours ^ 0xff).await.unwrap_err();
    assert!(
        refused.contains("this node belongs to cluster"),
        "{refused}"
    );
    let ok = probe(ours).await.unwrap();
    assert!(ok.initialized);
}
