//! Disk faults through failpoints (the `cairn` binary the tests run is built with the
//! `failpoints` feature, see scripts/test): an fdatasync error makes a node stop, never carry
//! on, and a restart recovers it from what is durable without losing an acknowledged write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_client::Client;
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};

/// Arms `failpoints` on node `id` and restarts it.
async fn restart_with_failpoints(cluster: &mut Cluster, id: u64, failpoints: &str) {
    cluster.kill(id);
    cluster.node_mut(id).env = vec![("FAILPOINTS".into(), failpoints.into())];
    cluster.spawn(id, &[]).unwrap();
    wait_until(Duration::from_secs(10), "failpoints armed", || async {
        cluster
            .log_of(id)
            .contains("failpoints armed")
            .then_some(())
    })
    .await
    .expect("the cairn binary under test has no failpoints: build it as scripts/test does");
}

/// Writes keys `{prefix}0..n`, returning the last revision.
async fn write(c: &Client, prefix: &str, n: usize) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = c
            .put(format!("{prefix}{i}"), format!("v{i}"))
            .await
            .unwrap();
    }
    last
}

async fn stops_with_failure(cluster: &mut Cluster, id: u64) {
    let status = wait_until(Duration::from_secs(30), "the faulty node to stop", || {
        let s = cluster.exit_status(id);
        async move { s }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_of(id)));
    assert!(
        !status.success(),
        "a node whose storage failed must not exit cleanly"
    );
    assert!(
        cluster.log_of(id).contains("raft stopped on a fatal error"),
        "{}",
        cluster.log_of(id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdatasync_failure_on_a_follower_stops_it_and_restart_recovers() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = Client::connect(cluster.endpoints()).unwrap();
    write(&c, "before/", 20).await;
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let follower = (1..=3).find(|i| *i != leader).unwrap();

    restart_with_failpoints(&mut cluster, follower, "log-fsync=return").await;
    // Its first append after restart fails to sync: it must stop, and the other two go on.
    let last = write(&c, "during/", 50).await;
    stops_with_failure(&mut cluster, follower).await;

    cluster.node_mut(follower).env.clear();
    cluster.spawn(follower, &[]).unwrap();
    cluster
        .wait_applied(follower, last, Duration::from_secs(30))
        .await
        .unwrap();
    let only_follower = Client::connect([cluster.node(follower).client_addr.clone()]).unwrap();
    for prefix in ["before/", "during/"] {
        let page = only_follower.range(prefix, b"", 100).await.unwrap();
        let n = if prefix == "before/" { 20 } else { 50 };
        assert_eq!(page.kvs.len(), n, "{prefix} on the recovered follower");
    }
}

/// Moves leadership to `to` and waits until the cluster agrees.
async fn transfer_to(cluster: &Cluster, to: u64) {
    // A transfer the leader cannot confirm in time (a loaded machine) is asked again.
    wait_until(Duration::from_secs(30), "leadership moved", || async {
        let from = cluster.leader(Duration::from_secs(5)).await.ok()?;
        if from == to {
            return Some(());
        }
        let addr = format!("http://{}", cluster.node(from).client_addr);
        let mut admin = cairn_api::v1::admin_client::AdminClient::connect(addr)
            .await
            .ok()?;
        let _ = admin
            .transfer_leader(cairn_api::v1::TransferLeaderRequest { to })
            .await;
        (cluster.leader(Duration::from_secs(2)).await.ok()? == to).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_of(to)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_sync_or_apply_stops_and_acknowledged_writes_survive() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = Client::connect(cluster.endpoints()).unwrap();
    for (round, failpoint) in ["log-fsync", "apply"].iter().enumerate() {
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        let victim = leader % 3 + 1;
        // Healthy for its first 200 syncs (or applies): enough to catch up and take over.
        restart_with_failpoints(
            &mut cluster,
            victim,
            &format!("{failpoint}=200*off->return"),
        )
        .await;
        let applied = cluster.status(leader).await.unwrap().applied;
        cluster
            .wait_applied(victim, applied, Duration::from_secs(30))
            .await
            .unwrap();
        transfer_to(&cluster, victim).await;
        // The leader fails mid-stream; the client's retries reach the next leader with the
        // same idempotency keys.
        let prefix = format!("round{round}/");
        write(&c, &prefix, 300).await;
        stops_with_failure(&mut cluster, victim).await;
        cluster.node_mut(victim).env.clear();
        cluster.spawn(victim, &[]).unwrap();
        for id in 1..=3 {
            let one = Client::connect([cluster.node(id).client_addr.clone()]).unwrap();
            let page = wait_until(Duration::from_secs(30), "every write on every node", || {
                let one = one.clone();
                let prefix = prefix.clone();
                async move {
                    let page = one.range(prefix, b"", 1000).await.ok()?;
                    (page.kvs.len() == 300).then_some(page)
                }
            })
            .await
            .unwrap();
            assert!(page.kvs.iter().all(|kv| kv.version == 1), "applied once");
        }
    }
}

/// A slow disk (`wal-fsync-delay`, in the vendored WAL's flush thread): with the other
/// follower down, the quorum is the leader and the slow follower, so no write may be
/// acknowledged before that follower's 300 ms fdatasync; writes still complete, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_in_the_quorum_delays_acknowledgements_and_loses_nothing() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = Client::connect(cluster.endpoints()).unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let slow = leader % 3 + 1;
    let down = slow % 3 + 1;
    assert_ne!(down, leader);
    restart_with_failpoints(&mut cluster, slow, "wal-fsync-delay=sleep(300)").await;
    let applied = cluster.status(leader).await.unwrap().applied;
    cluster
        .wait_applied(slow, applied, Duration::from_secs(30))
        .await
        .unwrap();
    cluster.kill(down);
    let mut fastest = Duration::MAX;
    for i in 0..5 {
        let started = std::time::Instant::now();
        c.put(format!("slow/{i}"), "v").await.unwrap();
        fastest = fastest.min(started.elapsed());
    }
    assert!(
        fastest >= Duration::from_millis(250),
        "a put was acknowledged in {fastest:?}, before the quorum's delayed fdatasync"
    );
    cluster.spawn(down, &[]).unwrap();
    cluster.node_mut(slow).env.clear();
    cluster.kill(slow);
    cluster.spawn(slow, &[]).unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    for id in [slow, down] {
        let one = Client::connect([cluster.node(id).client_addr.clone()]).unwrap();
        let n = wait_until(Duration::from_secs(30), "every write on every node", || {
            let one = one.clone();
            async move {
                let page = one.range("slow/", b"", 100).await.ok()?;
                (page.kvs.len() == 5).then_some(page.kvs.len())
            }
        })
        .await
        .unwrap();
        assert_eq!(n, 5);
    }
}

/// A leader applies an entry once a quorum of the *others* made it durable, which may be
/// before its own slow fdatasync; killed then, it comes back with its state machine ahead of
/// its log. It must start, rebuild, and rejoin (a chaos run found one that could not start:
/// openraft's engine asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_before_its_own_fdatasync_restarts_and_rejoins() {
    // A snapshot behind the entries applied ahead of the log is what made the start fail.
    let opts = ClusterOptions {
        extra_args: vec!["--snapshot-logs".into(), "20".into()],
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start_with(3, opts).await.unwrap();
    let c = Client::connect(cluster.endpoints()).unwrap();
    for i in 0..30 {
        c.put(format!("before/{i}"), "v").await.unwrap();
    }
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    restart_with_failpoints(&mut cluster, leader, "wal-fsync-delay=sleep(600)").await;
    let applied = cluster
        .status(cluster.leader(Duration::from_secs(20)).await.unwrap())
        .await
        .unwrap()
        .applied;
    cluster
        .wait_applied(leader, applied, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        cluster.transfer_leader(leader).await,
        "leadership did not move back to node {leader}"
    );
    // Puts commit on the two fast followers; the slow leader applies them while its own
    // fdatasync sleeps. Kill it once it has applied past what its log can hold.
    let before = cluster.status(leader).await.unwrap().applied;
    for i in 0..10 {
        c.put(format!("ahead/{i}"), "v").await.unwrap();
    }
    let ahead = cluster.status(leader).await.unwrap().applied;
    assert!(ahead >= before + 10, "the leader applied {before}..{ahead}");
    cluster.kill(leader);
    cluster.node_mut(leader).env.clear();
    cluster.spawn(leader, &[]).unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let one = Client::connect([cluster.node(leader).client_addr.clone()]).unwrap();
    let n = wait_until(
        Duration::from_secs(30),
        "the old leader to catch up",
        || {
            let one = one.clone();
            async move {
                let page = one.range("ahead/", b"", 100).await.ok()?;
                (page.kvs.len() == 10).then_some(page.kvs.len())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_of(leader)));
    assert_eq!(n, 10);
    assert_eq!(cluster.exited(), None, "a node exited");
    // The case under test happened: the restart found its state machine ahead of its log.
    assert!(
        cluster
            .log_of(leader)
            .contains("applied entries this node's log does not hold"),
        "the leader's log write landed before the kill; nothing was tested"
    );
}
