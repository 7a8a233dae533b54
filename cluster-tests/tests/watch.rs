//! Watch on real 3-node clusters: 8 watchers (on the leader and followers, one reconnecting
//! by hand, one too slow for the server, some on a follower that is killed and restarted)
//! each rebuild the state from 10,000 mixed writes, in order, without a repeat or a gap; a
//! watch survives the death of its node; and a resume point older than the history window
//! takes the catch-up path (Compacted, then a snapshot and the events after it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod watch_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_api::v1::watch_client::WatchClient;
use cairn_api::v1::{self as pb, watch_response};
use cairn_client::serde_json::json;
use cairn_client::{
    Client, CreateWorkflow, Definition, Target, TaskSpec, WatchFilter, WatchItem, WatchOptions,
};
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use watch_support::{Seen, View, first_answer};

const NS: &str = "wt";

fn client(cluster: &Cluster, ids: &[u64]) -> Client {
    Client::connect(ids.iter().map(|i| cluster.node(*i).client_addr.clone())).expect("client")
}

fn flip() -> Definition {
    Definition::new("flip", ["A", "B"], "A", Vec::<String>::new())
        .transition_on("A", "B", "flip")
        .transition_on("B", "A", "flip")
}

/// One writer's share of the mixed workload: KV puts and deletes on shared keys, and
/// creates, transitions, task upserts and deletes of its own workflows. Returns the revision
/// of every write that changed something.
async fn writer(c: Client, w: u64, ops: u64, acked: Arc<Mutex<Vec<u64>>>) -> anyhow::Result<()> {
    // Seeded per writer, so runs differ only by timing.
    let mut rng = SmallRng::seed_from_u64(w + 1);
    let mut mine: Vec<String> = Vec::new();
    for i in 0..ops {
        let roll = rng.random_range(0..100);
        let key = format!("k/{:03}", rng.random_range(0..300));
        let rev = if roll < 40 {
            Some(c.put(key, format!("{w}-{i}")).await?)
        } else if roll < 50 {
            let d = c.delete(key).await?;
            d.deleted.then_some(d.revision)
        } else if roll < 62 || mine.is_empty() {
            let id = format!("wt-{w}-{i}");
            let r = c
                .create_workflow(
                    CreateWorkflow::new()
                        .id(id.clone())
                        .namespace(NS)
                        .definition("flip"),
                )
                .await?;
            mine.push(id);
            Some(r.revision)
        } else {
            let id = mine[rng.random_range(0..mine.len())].clone();
            if roll < 82 {
                Some(
                    c.transition(&id, Target::event("flip"), None, "w", "")
                        .await?
                        .revision,
                )
            } else if roll < 95 {
                let t =
                    TaskSpec::new(format!("t{}", rng.random_range(0..4))).output(json!({ "i": i }));
                Some(c.upsert_tasks(&id, [t]).await?.revision)
            } else {
                mine.retain(|m| *m != id);
                Some(c.delete_workflow(&id, true).await?.revision)
            }
        };
        if let Some(r) = rev {
            acked.lock().unwrap().push(r);
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    /// Drops its stream every 25 items and opens a new watch from the last revision + 1.
    Resuming,
    /// Reads slowly at first (the server cancels it if it falls too far behind; it resumes).
    Slow,
}

async fn watcher(
    c: Client,
    style: Style,
    at: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(Seen, u64)> {
    let started = Instant::now();
    let mut seen = Seen::default();
    // The slow one gets a short buffer, so its backlog reaches the server quickly.
    let options = WatchOptions {
        buffer: if style == Style::Slow { 2 } else { 64 },
        ..WatchOptions::default()
    };
    let mut stream = c.watch_with(WatchFilter::everything(), 1, options.clone());
    let mut reopened = 0;
    loop {
        let item = tokio::select! {
            item = stream.recv() => item,
            _ = stop.wait_for(|s| *s) => break,
        };
        let item = item.ok_or_else(|| anyhow::anyhow!("watch ended"))??;
        seen.record(item)?;
        at.send_replace(seen.last);
        match style {
            Style::Slow if started.elapsed() < Duration::from_secs(3) => {
                // A consumer busy with other work (this is load, not a wait for a condition).
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            Style::Resuming if seen.items % 25 == 0 => {
                drop(stream);
                stream = c.watch_with(WatchFilter::everything(), seen.last + 1, options.clone());
                reopened += 1;
            }
            _ => {}
        }
    }
    Ok((seen, stream.reconnects() + reopened))
}

/// Issue 6's main demonstration.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_watchers_rebuild_the_state_of_10000_mixed_writes() {
    let opts = ClusterOptions {
        // Small, so that any watcher that stalls is cancelled and has to resume.
        extra_args: vec!["--watch-max-lag".into(), "300".into()],
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start_with(3, opts).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let followers: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    let (f1, f2) = (followers[0], followers[1]);
    let all = client(&cluster, &[1, 2, 3]);
    all.register_definition(&flip()).await.unwrap();

    // Watchers list their preferred node first; f2 is killed and restarted mid-run.
    let plans = [
        (vec![leader, f1, f2], Style::Plain),
        (vec![leader, f2, f1], Style::Slow),
        (vec![f1, f2, leader], Style::Plain),
        (vec![f1, leader, f2], Style::Resuming),
        (vec![f2, f1, leader], Style::Plain),
        (vec![f2, leader, f1], Style::Plain),
        (vec![f2, f1, leader], Style::Resuming),
        (vec![f1, f2, leader], Style::Plain),
    ];
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut watchers = Vec::new();
    let mut positions = Vec::new();
    for (ids, style) in plans {
        let (tx, rx) = watch::channel(0u64);
        positions.push(rx);
        let c = client(&cluster, &ids);
        watchers.push(tokio::spawn(watcher(c, style, tx, stop_rx.clone())));
    }

    let started = Instant::now();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let (writers, per_writer) = (50u64, 200u64);
    let mut tasks = Vec::new();
    for w in 0..writers {
        tasks.push(tokio::spawn(writer(
            all.clone(),
            w,
            per_writer,
            acked.clone(),
        )));
    }
    let count = |a: &Arc<Mutex<Vec<u64>>>| a.lock().unwrap().len();
    wait_until(Duration::from_secs(120), "3000 writes", || async {
        (count(&acked) >= 3000).then_some(())
    })
    .await
    .unwrap();
    cluster.kill(f2);
    wait_until(Duration::from_secs(120), "5000 writes", || async {
        (count(&acked) >= 5000).then_some(())
    })
    .await
    .unwrap();
    cluster.spawn(f2, &[]).unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let final_rev = all.put("done", "1").await.unwrap();
    let writes_took = started.elapsed();
    wait_until(
        Duration::from_secs(60),
        "every watcher at the final revision",
        || async {
            positions
                .iter()
                .all(|p| *p.borrow() >= final_rev)
                .then_some(())
        },
    )
    .await
    .unwrap();
    stop_tx.send_replace(true);

    let expected = View::read(&all, NS).await.unwrap();
    let mut acked = acked.lock().unwrap().clone();
    acked.push(final_rev);
    // 10,000 writes were issued; deletes of absent keys change nothing.
    assert_eq!(writers * per_writer, 10_000);
    assert!(
        acked.len() >= 9_000,
        "only {} writes changed something",
        acked.len()
    );
    assert!(expected.workflows.len() > 100 && expected.tasks.len() > 100);
    let mut reconnects = Vec::new();
    for (i, w) in watchers.into_iter().enumerate() {
        let (seen, reconnected) = w
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("watcher {i}: {e:#}"));
        seen.check_complete(&acked)
            .unwrap_or_else(|e| panic!("watcher {i}: {e:#}"));
        assert!(
            seen.view == expected,
            "watcher {i} rebuilt a different state"
        );
        reconnects.push((reconnected, seen.resets.len()));
    }
    // The resuming ones reopened, and those preferring f2 moved away when it died. (The
    // slow one may or may not have been cancelled: transport buffers absorb a lot of small
    // events; see `a_consumer_too_far_behind_is_cancelled_and_resumes`.)
    assert!(
        reconnects[3].0 >= 5 && reconnects[6].0 >= 5,
        "{reconnects:?}"
    );
    assert!(
        reconnects[4].0 >= 1 && reconnects[5].0 >= 1,
        "{reconnects:?}"
    );
    eprintln!(
        "{} writes in {writes_took:?}; 8 watchers equal the final state; (reconnects, resets) {reconnects:?}",
        acked.len()
    );
}

/// The watcher's own node dies; its client resumes on another node with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_watched_node_resumes_elsewhere_without_a_gap() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let others: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    let watched = client(&cluster, &[leader, others[0], others[1]]);
    let mut stream = watched.watch(WatchFilter::new().kv_prefix("k/"), 0);
    let addr = cluster.node(leader).client_addr.clone();
    let connected = wait_until(Duration::from_secs(10), "the watch to connect", || {
        let at = stream.endpoint();
        async move { at }
    })
    .await
    .unwrap();
    assert_eq!(connected, addr);
    assert_eq!(stream.endpoint().as_deref(), Some(addr.as_str()));

    let acked = Arc::new(Mutex::new(Vec::new()));
    let writes = {
        let c = client(&cluster, &[1, 2, 3]);
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let r = c.put(format!("k/{i}"), "v").await?;
                acked.lock().unwrap().push(r);
            }
            anyhow::Ok(())
        })
    };
    let mut seen = Seen::default();
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if !killed && acked.lock().unwrap().len() >= 100 {
            cluster.kill(leader);
            killed = true;
        }
        let last_acked = *acked.lock().unwrap().last().unwrap_or(&u64::MAX);
        if killed && writes.is_finished() && seen.last >= last_acked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watch stalled at {} (acked up to {last_acked}, endpoint {:?}, reconnects {})",
            seen.last,
            stream.endpoint(),
            stream.reconnects()
        );
        // Short waits: the last event may arrive before the writer has finished.
        if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.recv()).await {
            seen.record(item.expect("watch ended").unwrap()).unwrap();
        }
    }
    writes.await.unwrap().unwrap();
    seen.check_complete(&acked.lock().unwrap()).unwrap();
    assert_eq!(seen.revisions.len(), 300, "one event per put, none twice");
    assert!(
        seen.resets.is_empty(),
        "the other nodes still had the history"
    );
    assert!(stream.reconnects() >= 1);
    assert_ne!(stream.endpoint().as_deref(), Some(addr.as_str()));
}

/// A resume point older than the history window is answered Compacted (never a silent
/// skip), and the client crate catches up through a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_before_the_history_window_takes_the_catch_up_path() {
    let opts = ClusterOptions {
        extra_args: vec!["--watch-history-revisions".into(), "20".into()],
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start_with(3, opts).await.unwrap();
    let c = client(&cluster, &[1, 2, 3]);
    let mut last = 0;
    for i in 0..100 {
        last = c
            .put(format!("c/{:02}", i % 30), format!("{i}"))
            .await
            .unwrap();
    }
    last = c.delete("c/00").await.unwrap().revision.max(last);
    for id in 1..=3 {
        cluster
            .wait_applied(id, last, Duration::from_secs(10))
            .await
            .unwrap();
    }

    match first_answer(&cluster.node(2).client_addr, 1).await {
        watch_response::Kind::Compacted(c) => {
            // The window keeps the last 20 revisions that changed something; the cluster's
            // own bookkeeping entries (cluster id, limits, members' incarnation records) may
            // fall between the puts and change nothing a watch sees.
            assert!(
                c.compact_revision >= last - 30 && c.compact_revision < last,
                "compacted {} with the last change at {last}",
                c.compact_revision
            );
            assert!(c.current_revision >= last);
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    // Inside the window: the events, in order.
    match first_answer(&cluster.node(2).client_addr, last - 5).await {
        watch_response::Kind::Events(e) => {
            assert!(e.events.iter().all(|ev| ev.revision >= last - 5));
            assert!(e.events.windows(2).all(|w| w[0].revision <= w[1].revision));
        }
        other => panic!("expected events, got {other:?}"),
    }

    // The client crate turns Compacted into a snapshot of the watched keys, then events.
    let options = WatchOptions {
        progress_notify: Some(Duration::from_millis(100)),
        ..WatchOptions::default()
    };
    let mut stream = c.watch_with(WatchFilter::new().kv_prefix("c/"), 1, options);
    let mut seen = Seen::default();
    let item = stream.recv().await.unwrap().unwrap();
    let WatchItem::Reset { revision, .. } = &item else {
        panic!("expected a reset, got {item:?}");
    };
    let reset_at = *revision;
    assert!(reset_at >= last);
    seen.record(item).unwrap();
    let keys = c.range_all("c/").await.unwrap();
    assert_eq!(seen.view.kv.len(), keys.len());
    assert!(
        keys.iter()
            .all(|kv| seen.view.kv.get(&kv.key) == Some(&(kv.value.clone(), kv.mod_revision)))
    );
    let after = c.put("c/after", "x").await.unwrap();
    while seen.last < after {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.record(item).unwrap();
    }
    assert!(seen.revisions.contains(&after));
    assert_eq!(seen.view.kv.len(), keys.len() + 1);

    // A restarted node's history starts where it reopened: older resume points there are
    // Compacted, or (if it replayed them from its log) complete; never silently skipped.
    cluster.restart(3).await.unwrap();
    cluster
        .wait_applied(3, after, Duration::from_secs(20))
        .await
        .unwrap();
    match first_answer(&cluster.node(3).client_addr, after - 3).await {
        watch_response::Kind::Compacted(c) => assert!(c.compact_revision >= after - 3),
        watch_response::Kind::Events(e) => {
            assert_eq!(e.events.last().map(|e| e.revision), Some(after));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A consumer that stops reading while 16 MiB of changes arrive fills the transport and the
/// server's queue; the server cancels its watch instead of buffering more, and the client
/// resumes from the last revision it delivered, without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_too_far_behind_is_cancelled_and_resumes() {
    let opts = ClusterOptions {
        extra_args: vec!["--watch-max-lag".into(), "50".into()],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    let c = client(&cluster, &[1, 2, 3]);
    let options = WatchOptions {
        progress_notify: None,
        buffer: 1,
    };
    let mut stream = c.watch_with(WatchFilter::new().kv_prefix("big/"), 0, options);
    wait_until(Duration::from_secs(10), "the watch to connect", || {
        let at = stream.endpoint();
        async move { at }
    })
    .await
    .unwrap();

    // Nobody reads the stream while these are written.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let value = vec![b'v'; 16 * 1024];
    let mut writers = Vec::new();
    for w in 0..16 {
        let (c, acked, value) = (c.clone(), acked.clone(), value.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..64 {
                let r = c.put(format!("big/{w}/{i}"), value.clone()).await?;
                acked.lock().unwrap().push(r);
            }
            anyhow::Ok(())
        }));
    }
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let last = *acked.iter().max().unwrap();

    let mut seen = Seen::default();
    while seen.last < last {
        let item = tokio::time::timeout(Duration::from_secs(30), stream.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "watch stalled at {} of {last} (reconnects {}, endpoint {:?})",
                    seen.last,
                    stream.reconnects(),
                    stream.endpoint()
                )
            })
            .expect("watch ended")
            .unwrap();
        seen.record(item).unwrap();
    }
    seen.check_complete(&acked).unwrap();
    assert_eq!(seen.revisions.len(), acked.len());
    assert!(
        stream.reconnects() >= 1,
        "the server should have cancelled the stalled watch"
    );
}

/// Locks and elections by name prefix: a watcher sees each grant (with its fencing token or
/// term), the hand-over and the release, and a reset on catch-up lists the current holders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_and_elections_are_watched_by_prefix() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client(&cluster, &[1, 2, 3]);
    let filter = WatchFilter::new()
        .locks_prefix("jobs/")
        .elections_prefix("coord");
    let mut stream = c.watch(filter, 0);
    wait_until(Duration::from_secs(10), "the watch to connect", || {
        let at = stream.endpoint();
        async move { at }
    })
    .await
    .unwrap();

    let opts = || cairn_client::LockOptions::new().ttl(Duration::from_secs(10));
    let a = c.lock("jobs/1", opts().owner("a")).await.unwrap();
    let a_token = a.token();
    c.lock("other/1", opts().owner("a")).await.unwrap();
    let leader = c
        .campaign("coordinator", "n1", "10.0.0.1", Default::default())
        .await
        .unwrap();
    a.release().await.unwrap();

    // (holder owner, token) after each lock change; None once free.
    let mut lock_states = Vec::new();
    let mut leaders = Vec::new();
    while lock_states.len() < 2 || leaders.is_empty() {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.recv())
            .await
            .expect("watch stalled")
            .unwrap()
            .unwrap();
        let WatchItem::Events { events, .. } = item else {
            continue;
        };
        for e in events {
            match e.change {
                cairn_client::WatchChange::Lock { lock } => {
                    assert_eq!(lock.name, "jobs/1");
                    lock_states.push(lock.holder.map(|h| (h.owner, h.token)));
                }
                cairn_client::WatchChange::LockDeleted { name } => {
                    assert_eq!(name, "jobs/1");
                    lock_states.push(None);
                }
                cairn_client::WatchChange::Election { election } => {
                    let h = election.holder.expect("a leader");
                    leaders.push((h.owner, h.token, h.value));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(lock_states, [Some(("a".to_string(), a_token)), None]);
    assert_eq!(
        leaders,
        [("n1".to_string(), leader.term(), b"10.0.0.1".to_vec())]
    );

    // A catch-up snapshot lists the election's leader, and no record for the free lock.
    let raw = WatchClient::connect(format!("http://{}", cluster.node(2).client_addr))
        .await
        .unwrap();
    let sel = |t| pb::WatchSelector { target: Some(t) };
    let req = pb::WatchSnapshotRequest {
        filter: Some(pb::WatchFilter {
            selectors: vec![
                sel(pb::watch_selector::Target::Locks(pb::LockSelector {
                    prefix: "jobs/".into(),
                })),
                sel(pb::watch_selector::Target::Elections(
                    pb::ElectionSelector {
                        prefix: "coord".into(),
                    },
                )),
            ],
        }),
        serializable: false,
    };
    // A raw client does not retry: wait out a transient Unavailable (e.g. this follower not
    // knowing the leader's address yet).
    let mut chunks = wait_until(Duration::from_secs(10), "a watch snapshot", || {
        let mut raw = raw.clone();
        let req = req.clone();
        async move { raw.snapshot(req).await.ok() }
    })
    .await
    .unwrap()
    .into_inner();
    let chunk = chunks.message().await.unwrap().unwrap();
    assert!(chunk.done);
    assert_eq!(chunk.objects.len(), 1);
    match &chunk.objects[0].object {
        Some(pb::watch_object::Object::Election(e)) => {
            assert_eq!(e.holder.as_ref().map(|h| h.token), Some(leader.term()));
        }
        other => panic!("{other:?}"),
    }
}
