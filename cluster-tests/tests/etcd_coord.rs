//! etcd leases with attached keys, locks and elections on a real 3-node cluster through the
//! `etcd-client` crate: keys go with their lease, a second locker waits for the first, and
//! an election hands over on resign with every change seen by an observer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_cluster_tests::{Cluster, wait_until};
use etcd_client::{
    Client, GetOptions, LeaseTimeToLiveOptions, LockOptions, ProclaimOptions, PutOptions,
    ResignOptions,
};

async fn etcd(endpoint: &str) -> Client {
    Client::connect([endpoint], None).await.unwrap()
}

async fn exists(c: &mut Client, key: &[u8]) -> bool {
    c.get(key, None).await.unwrap().count() == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_live_and_die_with_their_lease() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let mut c = etcd(&eps[1]).await;
    let kept = c.lease_grant(60, None).await.unwrap().id();
    let short = c.lease_grant(1, None).await.unwrap().id();
    let with = |l| Some(PutOptions::new().with_lease(l));
    c.put("svc/a", "1", with(kept)).await.unwrap();
    c.put("svc/b", "1", with(kept)).await.unwrap();
    c.put("svc/tmp", "1", with(short)).await.unwrap();
    let got = c.get("svc/a", None).await.unwrap();
    assert_eq!(got.kvs()[0].lease(), kept);
    let ttl = c
        .lease_time_to_live(kept, Some(LeaseTimeToLiveOptions::new().with_keys()))
        .await
        .unwrap();
    assert_eq!(ttl.keys(), [b"svc/a".to_vec(), b"svc/b".to_vec()]);
    // A put to an unknown lease is refused with etcd's error.
    let err = c.put("svc/x", "1", with(999_999)).await.unwrap_err();
    assert!(
        err.to_string().contains("requested lease not found"),
        "{err}"
    );

    // The short lease expires without keep-alives: its key goes with it.
    wait_until(
        Duration::from_secs(15),
        "the expired lease's key to go",
        || {
            let mut c = c.clone();
            async move { (!exists(&mut c, b"svc/tmp").await).then_some(()) }
        },
    )
    .await
    .unwrap();
    // Revoking deletes what is still attached.
    c.lease_revoke(kept).await.unwrap();
    let left = c
        .get("svc/", Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(left.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_locker_waits_until_the_first_unlocks() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let mut a = etcd(&eps[0]).await;
    let mut b = etcd(&eps[2]).await;
    let la = a.lease_grant(60, None).await.unwrap().id();
    let lb = b.lease_grant(60, None).await.unwrap().id();
    let held = a
        .lock("jobs", Some(LockOptions::new().with_lease(la)))
        .await
        .unwrap();
    let a_key = held.key().to_vec();
    assert!(a_key.starts_with(b"jobs/"));

    let mut b2 = b.clone();
    let waiter = tokio::spawn(async move {
        b2.lock("jobs", Some(LockOptions::new().with_lease(lb)))
            .await
            .map(|r| r.key().to_vec())
    });
    // B is queued behind A (its key exists, it has not returned).
    wait_until(
        Duration::from_secs(10),
        "B's key in the lock's line",
        || {
            let mut b = b.clone();
            async move {
                let n = b
                    .get("jobs/", Some(GetOptions::new().with_prefix()))
                    .await
                    .unwrap()
                    .count();
                (n == 2).then_some(())
            }
        },
    )
    .await
    .unwrap();
    assert!(!waiter.is_finished());
    a.unlock(a_key.clone()).await.unwrap();
    let b_key = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("B gets the lock once A unlocks")
        .unwrap()
        .unwrap();
    assert_ne!(a_key, b_key);
    assert!(!exists(&mut a, &a_key).await);

    // A lock whose lease is revoked is released: A gets it back after B's lease goes.
    let mut a2 = a.clone();
    let again = tokio::spawn(async move {
        a2.lock("jobs", Some(LockOptions::new().with_lease(la)))
            .await
            .map(|r| r.key().to_vec())
    });
    b.lease_revoke(lb).await.unwrap();
    let a_again = tokio::time::timeout(Duration::from_secs(10), again)
        .await
        .expect("A gets the lock once B's lease is revoked")
        .unwrap()
        .unwrap();
    assert_eq!(a_again, a_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_campaign_proclaim_observe_and_resign() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let mut a = etcd(&eps[0]).await;
    let mut b = etcd(&eps[1]).await;
    let mut watcher = etcd(&eps[2]).await;
    let la = a.lease_grant(60, None).await.unwrap().id();
    let lb = b.lease_grant(60, None).await.unwrap().id();

    let won = a.campaign("coord", "a1", la).await.unwrap();
    let leader = won.leader().unwrap().clone();
    let mut observed = watcher.observe("coord").await.unwrap();
    let mut next_value = async || {
        let msg = tokio::time::timeout(Duration::from_secs(10), observed.message())
            .await
            .expect("an observation within 10 s")
            .unwrap()
            .expect("stream open");
        msg.kv().unwrap().value_str().unwrap().to_string()
    };
    assert_eq!(next_value().await, "a1");

    let mut b2 = b.clone();
    let challenger = tokio::spawn(async move { b2.campaign("coord", "b1", lb).await });
    a.proclaim(
        "a2",
        Some(ProclaimOptions::new().with_leader(leader.clone())),
    )
    .await
    .unwrap();
    assert_eq!(next_value().await, "a2");
    let current = watcher.leader("coord").await.unwrap();
    assert_eq!(current.kv().unwrap().value_str().unwrap(), "a2");
    assert!(!challenger.is_finished());

    a.resign(Some(ResignOptions::new().with_leader(leader.clone())))
        .await
        .unwrap();
    let b_won = tokio::time::timeout(Duration::from_secs(10), challenger)
        .await
        .expect("B leads once A resigns")
        .unwrap()
        .unwrap();
    assert!(b_won.leader().unwrap().rev() > leader.rev());
    assert_eq!(next_value().await, "b1");
    // The old leader can no longer proclaim.
    let err = a
        .proclaim("stale", Some(ProclaimOptions::new().with_leader(leader)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not leader"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_without_a_lease_still_exclude_each_other() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let mut a = etcd(&eps[0]).await;
    let first = a.lock("bare", None).await.unwrap().key().to_vec();
    let mut b = etcd(&eps[1]).await;
    let waiter = tokio::spawn(async move { b.lock("bare", None).await.map(|r| r.key().to_vec()) });
    // Once the second locker's key is in line, it must still be waiting.
    wait_until(
        Duration::from_secs(10),
        "the second key in the line",
        || {
            let mut a = a.clone();
            async move {
                let n = a
                    .get("bare/", Some(GetOptions::new().with_prefix()))
                    .await
                    .unwrap()
                    .count();
                (n == 2).then_some(())
            }
        },
    )
    .await
    .unwrap();
    assert!(
        !waiter.is_finished(),
        "a second lease-less locker got the held lock"
    );
    a.unlock(first.clone()).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the second locker gets it after unlock")
        .unwrap()
        .unwrap();
    assert_ne!(first, second);
}
