//! Leases, locks and elections on real 3-node clusters: mutual exclusion checked through
//! fenced writes, a stalled holder losing its lock (its late fenced write refused), leader
//! failover that neither ends a lease early nor reorders waiters, an election that survives a
//! Raft failover and hands over after its leader crashes (one owner per term, seen by every
//! observer), and typed errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_client::{CampaignOptions, Client, Error, Fence, LockOptions};
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};

fn client(cluster: &Cluster) -> Client {
    Client::connect(cluster.endpoints()).unwrap()
}

/// One accepted fenced write: (lock, token, revision of the write).
type Accepted = (String, u64, u64);

/// Appends `token` to the lock's log key with compare-and-set under the lock's fence.
async fn append(c: &Client, fence: &Fence, key: &str, token: u64) -> Result<u64, Error> {
    let (value, rev) = match c.get(key).await? {
        Some(kv) => (kv.value, kv.mod_revision),
        None => (Vec::new(), 0),
    };
    let mut value = value;
    value.extend_from_slice(format!("{token},").as_bytes());
    c.fenced(fence).put_if(key, value, rev).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_exclusion_32_clients_4_locks_with_fenced_writes() {
    let cluster = Cluster::start(3).await.unwrap();
    let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..32u32 {
        let c = client(&cluster);
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("res-{}", i % 4);
            let key = format!("log/{name}");
            for _ in 0..3 {
                let opts = LockOptions::new()
                    .ttl(Duration::from_secs(5))
                    .wait(Duration::from_secs(60));
                let guard = c.lock(&name, opts).await.unwrap();
                // Two writes per grant, so an overlap would have room to show.
                for _ in 0..2 {
                    let rev = append(&c, &guard.fence(), &key, guard.token())
                        .await
                        .unwrap_or_else(|e| panic!("holder {i} of {name}: {e}"));
                    accepted
                        .lock()
                        .unwrap()
                        .push((name.clone(), guard.token(), rev));
                }
                guard.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 32 * 3 * 2);
    let c = client(&cluster);
    for l in 0..4 {
        let name = format!("res-{l}");
        let mut writes: Vec<(u64, u64)> = accepted
            .iter()
            .filter(|(n, ..)| *n == name)
            .map(|(_, t, r)| (*r, *t))
            .collect();
        writes.sort();
        // In revision order a write keeps its predecessor's token, or carries a token
        // granted after the predecessor was written: a grant before it would mean the
        // predecessor was accepted while stale.
        for w in writes.windows(2) {
            let ((r1, t1), (_, t2)) = (w[0], w[1]);
            assert!(
                t2 == t1 || t2 > r1,
                "{name}: token {t2} overlaps write {r1} of {t1}"
            );
        }
        let log = c.get(format!("log/{name}")).await.unwrap().unwrap();
        let tokens: Vec<u64> = String::from_utf8(log.value)
            .unwrap()
            .split_terminator(',')
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(tokens.len(), 8 * 3 * 2, "{name}");
        assert!(
            tokens.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {tokens:?}"
        );
        assert!(
            c.lock_state(&name).await.unwrap().is_none(),
            "{name} left held"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_holder_loses_the_lock_and_its_late_fenced_write_is_refused() {
    let cluster = Cluster::start(3).await.unwrap();
    let stalled = client(&cluster);
    let other = client(&cluster);
    // The stalled client's lease is never renewed: it stops, as a paused process would.
    let lease = stalled
        .grant_lease(Duration::from_millis(1500))
        .await
        .unwrap();
    let old = stalled
        .lock("res", LockOptions::new().lease(lease.id))
        .await
        .unwrap();
    stalled
        .fenced(&old.fence())
        .put("res/data", "old")
        .await
        .unwrap();
    let started = Instant::now();
    let new = other
        .lock(
            "res",
            LockOptions::new()
                .ttl(Duration::from_secs(5))
                .wait(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    let moved_after = started.elapsed();
    assert!(new.token() > old.token());
    assert!(
        moved_after < Duration::from_secs(4),
        "moved after {moved_after:?}"
    );
    // The old holder "resumes": its fenced write is refused and nothing is written.
    match stalled.fenced(&old.fence()).put("res/data", "late").await {
        Err(Error::StaleFence { current }) => assert_eq!(current, new.token()),
        other => panic!("expected StaleFence, got {other:?}"),
    }
    other
        .fenced(&new.fence())
        .put("res/data", "new")
        .await
        .unwrap();
    assert_eq!(
        stalled.get("res/data").await.unwrap().unwrap().value,
        b"new"
    );
    assert!(matches!(old.release().await, Err(Error::NotHolder(_))));
    assert!(
        stalled
            .lease_time_to_live(lease.id)
            .await
            .unwrap()
            .is_none()
    );

    // A guard reports loss promptly: here its lease is revoked behind its back.
    let lost = other.lock_state("res").await.unwrap().unwrap();
    assert_eq!(lost.holder.unwrap().owner, new.owner());
    other.revoke_lease(new.lease_id()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), new.lost())
        .await
        .expect("loss reported within the TTL");
    assert!(new.is_lost());
    eprintln!("stalled holder: lock moved on after {moved_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_ends_no_lease_early_and_keeps_waiters_in_order() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let c = client(&cluster);
    // Not kept alive by anyone: only the new leader's renewal can save it.
    let idle = c.grant_lease(Duration::from_secs(6)).await.unwrap();
    let holder = c
        .lock("queue", LockOptions::new().ttl(Duration::from_secs(6)))
        .await
        .unwrap();
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut waiters = Vec::new();
    for w in 1..=3 {
        let wc = client(&cluster);
        let order = order.clone();
        let owner = format!("waiter-{w}");
        waiters.push(tokio::spawn({
            let owner = owner.clone();
            async move {
                let opts = LockOptions::new()
                    .ttl(Duration::from_secs(6))
                    .wait(Duration::from_secs(30))
                    .owner(&owner);
                let g = wc.lock("queue", opts).await.unwrap();
                order.lock().unwrap().push(owner);
                let token = g.token();
                g.release().await.unwrap();
                token
            }
        }));
        // Each joins the line before the next one asks.
        wait_until(Duration::from_secs(5), "waiter in line", || async {
            let s = c.lock_state("queue").await.ok()??;
            s.waiters.iter().any(|h| h.owner == owner).then_some(())
        })
        .await
        .unwrap();
    }
    let before = c.lease_time_to_live(idle.id).await.unwrap().unwrap().lease;
    let old_leader = cluster.leader(Duration::from_secs(5)).await.unwrap();
    cluster.kill(old_leader);
    let new_leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    assert_ne!(new_leader, old_leader);
    // The new leader renews every lease (a full TTL from its takeover) before expiring any.
    let after = wait_until(Duration::from_secs(5), "renewed lease", || async {
        let l = c.lease_time_to_live(idle.id).await.ok()??.lease;
        (l.expires_ms > before.expires_ms).then_some(l)
    })
    .await
    .unwrap();
    assert!(
        after.remaining + Duration::from_millis(500) >= before.remaining,
        "{before:?} -> {after:?}"
    );
    let line: Vec<String> = c
        .lock_state("queue")
        .await
        .unwrap()
        .unwrap()
        .waiters
        .into_iter()
        .map(|h| h.owner)
        .collect();
    assert_eq!(line, ["waiter-1", "waiter-2", "waiter-3"]);
    assert!(!holder.is_lost());
    let first = holder.token();
    holder.release().await.unwrap();
    let mut tokens = Vec::new();
    for w in waiters {
        tokens.push(w.await.unwrap());
    }
    assert_eq!(*order.lock().unwrap(), ["waiter-1", "waiter-2", "waiter-3"]);
    assert!(
        first < tokens[0] && tokens.windows(2).all(|w| w[0] < w[1]),
        "{tokens:?}"
    );
    eprintln!(
        "failover: idle lease remaining {:?} before, {:?} after",
        before.remaining, after.remaining
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_refusals_are_typed() {
    let cluster = Cluster::start_with(
        3,
        ClusterOptions {
            extra_args: vec!["--max-lock-wait-ms".into(), "3000".into()],
            ..ClusterOptions::default()
        },
    )
    .await
    .unwrap();
    let c = client(&cluster);
    for ttl in [
        Duration::ZERO,
        Duration::from_millis(10),
        Duration::from_secs(7200),
    ] {
        assert!(
            matches!(c.grant_lease(ttl).await, Err(Error::InvalidArgument(_))),
            "{ttl:?}"
        );
    }
    assert!(matches!(
        c.revoke_lease(424242).await,
        Err(Error::LeaseNotFound(_))
    ));
    assert!(c.lease_time_to_live(424242).await.unwrap().is_none());
    let opts = LockOptions::new().wait(Duration::from_secs(1));
    assert!(matches!(
        c.lock("x", opts.clone().lease(424242)).await,
        Err(Error::LeaseNotFound(_))
    ));
    for name in ["", "has space"] {
        assert!(matches!(
            c.lock(name, opts.clone()).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        c.lock("x", opts.clone().owner("")).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.lock("x", LockOptions::new().wait(Duration::from_millis(3500)))
            .await,
        Err(Error::InvalidArgument(m)) if m.contains("maximum 3000")
    ));
    assert!(matches!(
        c.fenced(&Fence::lock("x", 0)).put("k", "v").await,
        Err(Error::InvalidArgument(_))
    ));
    // A fence on a lock nobody holds is stale, with current token 0.
    assert!(matches!(
        c.fenced(&Fence::lock("x", 5)).put("k", "v").await,
        Err(Error::StaleFence { current: 0 })
    ));

    let held = c.lock("x", opts.clone().owner("a")).await.unwrap();
    // Not re-entrant: the same owner asking again gets the same grant.
    let again = c
        .try_lock("x", LockOptions::new().owner("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.token(), held.token());
    // Dropping it would release the lock (one release frees it); keep `held` the holder.
    std::mem::forget(again);
    assert!(c.try_lock("x", LockOptions::new()).await.unwrap().is_none());
    assert!(matches!(
        c.release_lock("x", "b", held.token()).await,
        Err(Error::NotHolder(_))
    ));
    assert!(matches!(
        c.refresh_lock("x", "a", held.token() + 1).await,
        Err(Error::NotHolder(_))
    ));
    let refreshed = c.refresh_lock("x", "a", held.token()).await.unwrap();
    assert_eq!(refreshed.id, held.lease_id());
    // A blocking wait that runs out is WaitTimeout, and leaves the line.
    let started = Instant::now();
    assert!(matches!(
        c.lock("x", LockOptions::new().wait(Duration::from_millis(800)))
            .await,
        Err(Error::WaitTimeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(800));
    let state = c.lock_state("x").await.unwrap().unwrap();
    assert!(state.waiters.is_empty(), "{state:?}");
    assert!(matches!(
        c.resign("e", "nobody", 7).await,
        Err(Error::NotHolder(_))
    ));
    assert!(matches!(
        c.resign("e", "nobody", 0).await,
        Err(Error::NotWaiting(_))
    ));
    assert!(matches!(
        c.proclaim("e", "nobody", 7, "v").await,
        Err(Error::NotHolder(_))
    ));
    held.release().await.unwrap();
    assert!(c.lock_state("x").await.unwrap().is_none());
    // No lease still holds or waits for anything.
    let leases: BTreeMap<u64, _> = c
        .leases()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    for id in leases.keys() {
        let d = c.lease_time_to_live(*id).await.unwrap();
        assert!(d.as_ref().is_none_or(|d| d.attached.is_empty()), "{d:?}");
    }
}

/// A client that prefers node `first` (and fails over to the others).
fn client_on(cluster: &Cluster, first: u64) -> Client {
    let mut eps = vec![cluster.node(first).client_addr.clone()];
    eps.extend(
        cluster
            .nodes
            .iter()
            .filter(|n| n.id != first)
            .map(|n| n.client_addr.clone()),
    );
    Client::connect(eps).unwrap()
}

/// What one observer saw: (leader, term) and when.
type Seen = Arc<Mutex<Vec<(Option<(String, u64)>, Instant)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_survives_raft_failover_and_hands_over_after_a_crash() {
    let mut cluster = Cluster::start(3).await.unwrap();
    // Longer than a Raft failover takes (about 1-2 s here): a holder that cannot renew for a
    // whole TTL must assume it lost the lease, and this one must not.
    let ttl = Duration::from_secs(4);
    let mut observers: Vec<Seen> = Vec::new();
    for node in 1..=3 {
        let seen: Seen = Arc::default();
        let mut obs = client_on(&cluster, node).observe("coordinator");
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                match obs.next().await {
                    Ok(c) => log
                        .lock()
                        .unwrap()
                        .push((c.leader.map(|h| (h.owner, h.token)), Instant::now())),
                    Err(e) => eprintln!("observer on node {node}: {e}"),
                }
            }
        });
        observers.push(seen);
    }
    // The coordinator keeps its own lease alive, so the test can make it "crash".
    let ca = client(&cluster);
    let lease = ca.grant_lease(ttl).await.unwrap();
    let keep = ca.keep_alive(&lease);
    let a = ca
        .campaign(
            "coordinator",
            "node-a",
            "a:7001",
            CampaignOptions::new().lease(lease.id),
        )
        .await
        .unwrap();
    let mut standbys = Vec::new();
    for name in ["node-b", "node-c"] {
        let c = client(&cluster);
        standbys.push(tokio::spawn(async move {
            let opts = CampaignOptions::new()
                .ttl(ttl)
                .wait(Duration::from_secs(60));
            c.campaign("coordinator", name, name, opts).await.unwrap()
        }));
        wait_until(Duration::from_secs(5), "candidate in line", || async {
            let s = ca.leader("coordinator").await.ok()?;
            s.candidates.iter().any(|h| h.owner == name).then_some(())
        })
        .await
        .unwrap();
    }

    // Kill the Raft leader while node-a leads: its lease is renewed, not expired.
    let before = ca
        .lease_time_to_live(lease.id)
        .await
        .unwrap()
        .unwrap()
        .lease;
    let raft_leader = cluster.leader(Duration::from_secs(5)).await.unwrap();
    cluster.kill(raft_leader);
    cluster.leader(Duration::from_secs(10)).await.unwrap();
    // Renewed through the new leader: good for a full TTL from then.
    wait_until(ttl, "lease renewed after the failover", || async {
        let now = ca.lease_time_to_live(lease.id).await.ok()??.lease;
        (now.expires_ms > before.expires_ms).then_some(())
    })
    .await
    .unwrap();
    assert!(a.is_leader(), "leadership lost in a Raft failover");
    let now = ca.leader("coordinator").await.unwrap().leader.unwrap();
    assert_eq!((now.owner.as_str(), now.token), ("node-a", a.term()));
    a.proclaim("a:7001/v2").await.unwrap();

    // Crash the coordinator: renewals stop, and it never resigns.
    let a_term = a.term();
    let crashed = Instant::now();
    drop(keep);
    std::mem::forget(a);
    let mut standbys = standbys.into_iter();
    let b = standbys.next().unwrap().await.unwrap();
    let handover = crashed.elapsed();
    assert_eq!(b.candidate(), "node-b");
    assert!(b.term() > a_term && b.is_leader());
    let bound = ttl + Duration::from_secs(2);
    assert!(handover < bound, "handover took {handover:?}");
    for (i, seen) in observers.iter().enumerate() {
        let at = wait_until(bound, "observer sees node-b", || async {
            seen.lock()
                .unwrap()
                .iter()
                .find(|(l, _)| l.as_ref().is_some_and(|(o, _)| o == "node-b"))
                .map(|(_, at)| *at)
        })
        .await
        .unwrap();
        assert!(
            at.duration_since(crashed) < bound,
            "observer {i}: {:?}",
            at - crashed
        );
    }

    // Resigning (on drop) elects the next in line at once.
    let b_term = b.term();
    drop(b);
    let c = standbys.next().unwrap().await.unwrap();
    assert!(c.term() > b_term);
    wait_until(Duration::from_secs(5), "observers see node-c", || async {
        observers
            .iter()
            .all(|s| {
                s.lock()
                    .unwrap()
                    .iter()
                    .any(|(l, _)| l.as_ref().is_some_and(|(o, _)| o == "node-c"))
            })
            .then_some(())
    })
    .await
    .unwrap();

    // Never two leaders in one term, and terms only grow as observed.
    let mut owner_of: BTreeMap<u64, String> = BTreeMap::new();
    for seen in &observers {
        let terms: Vec<u64> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(l, _)| l.as_ref().map(|(_, t)| *t))
            .collect();
        assert!(terms.windows(2).all(|w| w[0] <= w[1]), "{terms:?}");
        for (leader, _) in seen.lock().unwrap().iter() {
            if let Some((owner, term)) = leader {
                let first = owner_of.entry(*term).or_insert_with(|| owner.clone());
                assert_eq!(first, owner, "term {term} held by two candidates");
            }
        }
    }
    assert_eq!(owner_of.len(), 3, "{owner_of:?}");
    eprintln!("election: handover {handover:?} after the leader's crash (ttl {ttl:?})");
}
