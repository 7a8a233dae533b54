//! The etcd v3 API of a 3-node Cairn cluster, driven by the `etcd-client` crate (the client
//! Rust etcd users have): Maintenance status on every member, the member list, learner
//! promotion, removal and leader moves through the Cluster/Maintenance services, the lease
//! lifecycle (grant, keep-alive, time-to-live, list, revoke, expiry), and etcd's error
//! answers. Requests go to followers on purpose: they must forward like etcd members do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use cairn_cluster_tests::{Cluster, wait_until};
use etcd_client::{
    AlarmAction, AlarmType, Client, ConnectOptions, Error, LeaseGrantOptions,
    LeaseTimeToLiveOptions,
};
use tonic::Code;

/// A client bound to one member only (etcd-client balances over all given endpoints). Every
/// call has a deadline, so a request the server never answers fails the test instead of
/// hanging it.
async fn client_of(cluster: &Cluster, id: u64) -> Client {
    let endpoint = format!("http://{}", cluster.node(id).client_addr);
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(20));
    Client::connect([endpoint], Some(options)).await.unwrap()
}

fn status_of(e: Error) -> tonic::Status {
    match e {
        Error::GRpcStatus(s) => s,
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

#[track_caller]
fn assert_status(e: Error, code: Code, message: &str) {
    let s = status_of(e);
    assert_eq!((s.code(), s.message()), (code, message), "{s:?}");
}

/// A listed member: id, name, peer URLs, client URLs, is learner.
type MemberRow = (u64, String, Vec<String>, Vec<String>, bool);

/// Some member other than the leader.
fn follower(leader: u64) -> u64 {
    if leader == 1 { 2 } else { 1 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_member_list_and_refusals() {
    let cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    let mut cluster_ids = Vec::new();
    for id in 1..=3 {
        let mut c = client_of(&cluster, id).await;
        // A follower learns the leader from its first heartbeat; wait for that, no longer.
        // The cluster's id is chosen by its first leader just after the election: wait for it
        // to be applied here too.
        let status = wait_until(Duration::from_secs(10), "status naming the leader", || {
            let mut c = c.clone();
            async move {
                c.status().await.ok().filter(|s| {
                    s.leader() == leader && s.header().is_some_and(|h| h.cluster_id() != 0)
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(status.version(), "3.4.0");
        assert!(status.db_size() > 0, "db size of node {id}");
        assert!(status.raft_term() > 0);
        assert!(status.raft_applied_index() > 0);
        assert!(status.raft_index() >= status.raft_applied_index());
        assert!(status.errors().is_empty(), "{:?}", status.errors());
        assert!(!status.is_learner());
        let header = status.header().unwrap();
        assert_eq!(header.member_id(), id);
        assert_eq!(header.raft_term(), status.raft_term());
        assert!(header.revision() > 0);
        cluster_ids.push(header.cluster_id());

        let members = c.member_list().await.unwrap();
        let mut seen: Vec<MemberRow> = members
            .members()
            .iter()
            .map(|m| {
                (
                    m.id(),
                    m.name().to_string(),
                    m.peer_urls().to_vec(),
                    m.client_urls().to_vec(),
                    m.is_learner(),
                )
            })
            .collect();
        seen.sort();
        let expected: Vec<_> = cluster
            .nodes
            .iter()
            .map(|n| {
                (
                    n.id,
                    format!("node-{}", n.id),
                    vec![format!("http://{}", n.peer_addr)],
                    vec![format!("http://{}", n.client_addr)],
                    false,
                )
            })
            .collect();
        assert_eq!(seen, expected, "member list from node {id}");
    }
    assert!(cluster_ids[0] != 0);
    assert!(cluster_ids.iter().all(|c| *c == cluster_ids[0]));

    let mut c = client_of(&cluster, follower(leader)).await;
    assert!(
        c.alarm(AlarmAction::Get, AlarmType::None, None)
            .await
            .unwrap()
            .alarms()
            .is_empty()
    );
    c.defragment().await.unwrap();
    assert_eq!(
        status_of(c.hash().await.unwrap_err()).code(),
        Code::Unimplemented
    );
    let add = c
        .member_add(["http://127.0.0.1:1"], None)
        .await
        .unwrap_err();
    assert_eq!(status_of(add).code(), Code::Unimplemented);
    assert_status(
        c.member_promote(leader).await.unwrap_err(),
        Code::FailedPrecondition,
        "etcdserver: can only promote a learner member",
    );
    assert_status(
        c.member_promote(99).await.unwrap_err(),
        Code::NotFound,
        "etcdserver: member not found",
    );
    assert_status(
        c.member_remove(99).await.unwrap_err(),
        Code::NotFound,
        "etcdserver: member not found",
    );
    assert_status(
        c.move_leader(99).await.unwrap_err(),
        Code::FailedPrecondition,
        "etcdserver: bad leader transferee",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_promote_remove_and_move_leader() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    let joiner = cluster.add_node().unwrap();
    let via = cluster.node(leader).client_addr.clone();
    cluster.spawn(joiner, &["--join".to_string(), via]).unwrap();
    // Every change goes to a follower, which hands it to the leader.
    let mut c = client_of(&cluster, follower(leader)).await;
    wait_until(
        Duration::from_secs(20),
        "the joiner listed as a learner",
        || {
            let mut c = c.clone();
            async move {
                let list = c.member_list().await.ok()?;
                list.members()
                    .iter()
                    .any(|m| m.id() == joiner && m.is_learner())
                    .then_some(())
            }
        },
    )
    .await
    .unwrap();
    // Refused until the learner has caught up, in etcd's words; then promoted.
    let promoted = wait_until(Duration::from_secs(20), "promotion of the joiner", || {
        let mut c = c.clone();
        async move {
            match c.member_promote(joiner).await {
                Ok(r) => Some(r),
                Err(e) => {
                    let s = status_of(e);
                    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
                    None
                }
            }
        }
    })
    .await
    .unwrap();
    let m = promoted
        .members()
        .iter()
        .find(|m| m.id() == joiner)
        .unwrap();
    assert!(!m.is_learner());
    assert_eq!(promoted.members().len(), 4);

    let target = (1..=3).find(|id| *id != leader).unwrap();
    c.move_leader(target).await.unwrap();
    let now = cluster.leader(Duration::from_secs(10)).await.unwrap();
    assert_eq!(now, target);

    let mut c = client_of(&cluster, leader).await;
    let removed = c.member_remove(joiner).await.unwrap();
    assert_eq!(removed.members().len(), 3);
    assert!(removed.members().iter().all(|m| m.id() != joiner));
    cluster.kill(joiner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_lifecycle_through_a_follower() {
    let cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    let mut c = client_of(&cluster, follower(leader)).await;

    let granted = c.lease_grant(10, None).await.unwrap();
    let id = granted.id();
    assert!(id > 0);
    assert_eq!(granted.ttl(), 10);
    assert!(granted.header().unwrap().revision() > 0);

    let ttl = c
        .lease_time_to_live(id, Some(LeaseTimeToLiveOptions::new().with_keys()))
        .await
        .unwrap();
    assert_eq!(ttl.id(), id);
    assert_eq!(ttl.granted_ttl(), 10);
    assert!((1..=10).contains(&ttl.ttl()), "ttl {}", ttl.ttl());
    assert!(ttl.keys().is_empty());

    // etcd-client sends the first keep-alive and reads its answer (TTL > 0) when the stream
    // opens; each later answer has the full TTL.
    let (mut keeper, mut answers) = c.lease_keep_alive(id).await.unwrap();
    keeper.keep_alive().await.unwrap();
    let first = answers.message().await.unwrap().unwrap();
    assert_eq!((first.id(), first.ttl()), (id, 10));
    keeper.keep_alive().await.unwrap();
    let second = answers.message().await.unwrap().unwrap();
    assert_eq!((second.id(), second.ttl()), (id, 10));
    assert!(second.header().unwrap().revision() > first.header().unwrap().revision());

    let listed: Vec<i64> = c
        .leases()
        .await
        .unwrap()
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    assert!(listed.contains(&id), "{listed:?}");

    // A client-chosen id, once.
    let chosen = c
        .lease_grant(5, Some(LeaseGrantOptions::new().with_id(7_000_001)))
        .await
        .unwrap();
    assert_eq!((chosen.id(), chosen.ttl()), (7_000_001, 5));
    assert_status(
        c.lease_grant(5, Some(LeaseGrantOptions::new().with_id(7_000_001)))
            .await
            .unwrap_err(),
        Code::FailedPrecondition,
        "etcdserver: lease already exists",
    );
    assert_status(
        c.lease_grant(1_000_000_000, None).await.unwrap_err(),
        Code::OutOfRange,
        "etcdserver: too large lease TTL",
    );

    c.lease_revoke(id).await.unwrap();
    assert_eq!(c.lease_time_to_live(id, None).await.unwrap().ttl(), -1);
    assert_status(
        c.lease_revoke(id).await.unwrap_err(),
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
    // Keep-alive of an ended lease: TTL 0 on the same stream, as etcd answers.
    keeper.keep_alive().await.unwrap();
    let ended = answers.message().await.unwrap().unwrap();
    assert_eq!((ended.id(), ended.ttl()), (id, 0));
    let listed: Vec<i64> = c
        .leases()
        .await
        .unwrap()
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    assert!(
        !listed.contains(&id) && listed.contains(&7_000_001),
        "{listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_unless_kept_alive() {
    let cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    let mut c = client_of(&cluster, follower(leader)).await;
    // TTL 0 asks for the minimum (1 s by default), as in etcd.
    let short = c.lease_grant(0, None).await.unwrap();
    assert_eq!(short.ttl(), 1);
    let short = short.id();
    let kept = c.lease_grant(2, None).await.unwrap().id();
    let granted_at = Instant::now();
    let (mut keeper, mut answers) = c.lease_keep_alive(kept).await.unwrap();
    // Renew the kept lease every 500 ms (a quarter of its TTL) until the short one is gone
    // and the kept one has outlived two of its TTLs.
    let expired = wait_until(Duration::from_secs(15), "the short lease to expire", || {
        let mut c = c.clone();
        async move {
            let gone = c.lease_time_to_live(short, None).await.ok()?.ttl() == -1;
            (gone && granted_at.elapsed() > Duration::from_secs(4)).then_some(())
        }
    });
    let renew = async {
        loop {
            keeper.keep_alive().await.unwrap();
            let a = answers.message().await.unwrap().unwrap();
            assert_eq!(a.ttl(), 2, "the kept lease ended");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        r = expired => r.unwrap(),
        () = renew => unreachable!(),
    }
    // Only renewals kept it alive this long.
    let ttl = c.lease_time_to_live(kept, None).await.unwrap();
    assert!(ttl.ttl() > 0, "kept lease ttl {}", ttl.ttl());
    let listed: Vec<i64> = c
        .leases()
        .await
        .unwrap()
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    assert!(
        listed.contains(&kept) && !listed.contains(&short),
        "{listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_quorum_says_so_in_etcds_words() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    let survivor = follower(leader);
    for id in (1..=3).filter(|id| *id != survivor) {
        cluster.kill(id);
    }
    let mut c = client_of(&cluster, survivor).await;
    // Once its election timeout passes, the survivor knows there is no leader.
    let status = wait_until(Duration::from_secs(20), "a status without leader", || {
        let mut c = c.clone();
        async move { c.status().await.ok().filter(|s| s.leader() == 0) }
    })
    .await
    .unwrap();
    assert_eq!(status.errors(), ["etcdserver: no leader"]);
    // A write cannot commit: UNAVAILABLE, which etcd clients retry, never a success.
    let s = status_of(c.lease_grant(10, None).await.unwrap_err());
    assert_eq!(s.code(), Code::Unavailable, "{s:?}");
    assert_eq!(s.message(), "etcdserver: no leader", "{s:?}");
}

/// server/src/etcd/watch.rs's MAX_WATCHERS_PER_STREAM.
const MAX_WATCHERS_PER_STREAM: usize = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_watch_stream_carries_a_bounded_number_of_watchers() {
    let cluster = Cluster::start(1).await.unwrap();
    let mut c = client_of(&cluster, 1).await;
    let mut stream = c.watch("w-0", None).await.unwrap();
    for i in 1..=MAX_WATCHERS_PER_STREAM {
        stream.watch(format!("w-{i}"), None).await.unwrap();
    }
    let mut created = Vec::new();
    for _ in 0..MAX_WATCHERS_PER_STREAM {
        let resp = stream.message().await.unwrap().unwrap();
        assert!(resp.created() && !resp.canceled(), "{resp:?}");
        created.push(resp.watch_id());
    }
    let refused = stream.message().await.unwrap().unwrap();
    assert!(refused.created() && refused.canceled(), "{refused:?}");
    assert!(
        refused.cancel_reason().contains("too many watchers"),
        "{refused:?}"
    );

    // The bound counts live watchers: cancel one and there is room again.
    stream.cancel(created[0]).await.unwrap();
    let canceled = stream.message().await.unwrap().unwrap();
    assert!(canceled.canceled() && canceled.watch_id() == created[0]);
    stream.watch("w-again", None).await.unwrap();
    let again = stream.message().await.unwrap().unwrap();
    assert!(again.created() && !again.canceled(), "{again:?}");
}
