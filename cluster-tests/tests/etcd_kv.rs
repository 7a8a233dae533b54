//! The etcd v3 KV and Watch API on a real 3-node cluster, driven by the `etcd-client` crate
//! as any etcd application would: puts and gets with revisions and versions, range options,
//! compare-and-swap transactions, range deletes, reads at past revisions, compaction, and
//! watches that resume from a revision on another node.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_cluster_tests::{Cluster, wait_until};
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, PutOptions, SortOrder,
    SortTarget, Txn, TxnOp, TxnOpResponse, WatchOptions,
};

async fn etcd(endpoints: &[String]) -> Client {
    Client::connect(endpoints, None).await.unwrap()
}

fn values(kvs: &[etcd_client::KeyValue]) -> Vec<(&str, &str)> {
    kvs.iter()
        .map(|kv| (kv.key_str().unwrap(), kv.value_str().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_txn_and_past_revisions_through_an_etcd_client() {
    let cluster = Cluster::start(3).await.unwrap();
    // One client per node: writes through followers are forwarded to the leader.
    let mut c = etcd(&cluster.endpoints()[1..2]).await;

    let first = c.put("jobs/a", "1", None).await.unwrap();
    let rev_a1 = first.header().unwrap().revision();
    c.put("jobs/b", "2", None).await.unwrap();
    let prev = c
        .put("jobs/a", "3", Some(PutOptions::new().with_prev_key()))
        .await
        .unwrap();
    assert_eq!(prev.prev_key().unwrap().value_str().unwrap(), "1");

    let got = c.get("jobs/a", None).await.unwrap();
    let kv = &got.kvs()[0];
    assert_eq!((kv.value_str().unwrap(), kv.version()), ("3", 2));
    assert_eq!(kv.create_revision(), rev_a1);
    assert!(kv.mod_revision() > rev_a1);

    let page = c
        .get("jobs/", Some(GetOptions::new().with_prefix().with_limit(1)))
        .await
        .unwrap();
    assert_eq!((page.count(), page.kvs().len(), page.more()), (2, 1, true));
    let newest_first = c
        .get(
            "jobs/",
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Mod, SortOrder::Descend),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        values(newest_first.kvs()),
        vec![("jobs/a", "3"), ("jobs/b", "2")]
    );
    let count = c
        .get(
            "jobs/",
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .unwrap();
    assert_eq!((count.count(), count.kvs().len()), (2, 0));

    // Compare-and-swap on the mod revision: one succeeds, the stale one takes the failure
    // branch and reads the winner.
    let rev = kv.mod_revision();
    let cas = |expect: i64, value: &str| {
        Txn::new()
            .when(vec![Compare::mod_revision(
                "jobs/a",
                CompareOp::Equal,
                expect,
            )])
            .and_then(vec![TxnOp::put("jobs/a", value, None)])
            .or_else(vec![TxnOp::get("jobs/a", None)])
    };
    let won = c.txn(cas(rev, "4")).await.unwrap();
    assert!(won.succeeded());
    let lost = c.txn(cas(rev, "5")).await.unwrap();
    assert!(!lost.succeeded());
    match &lost.op_responses()[0] {
        TxnOpResponse::Get(g) => assert_eq!(g.kvs()[0].value_str().unwrap(), "4"),
        other => panic!("{other:?}"),
    }
    // Create-if-absent, etcd's lock and election building block.
    let create = Txn::new()
        .when(vec![Compare::create_revision(
            "jobs/new",
            CompareOp::Equal,
            0,
        )])
        .and_then(vec![TxnOp::put("jobs/new", "x", None)]);
    assert!(c.txn(create.clone()).await.unwrap().succeeded());
    assert!(!c.txn(create).await.unwrap().succeeded());

    // A read at a past revision sees the state then.
    let then = c
        .get(
            "jobs/",
            Some(GetOptions::new().with_prefix().with_revision(rev_a1)),
        )
        .await
        .unwrap();
    assert_eq!(values(then.kvs()), vec![("jobs/a", "1")]);

    let deleted = c
        .delete(
            "jobs/",
            Some(DeleteOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 3);
    assert_eq!(deleted.prev_kvs().len(), 3);
    let after_delete = deleted.header().unwrap().revision();
    assert_eq!(
        c.get("jobs/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap()
            .count(),
        0
    );

    // Compaction: reads and watches from before it are refused with etcd's error.
    c.compact(after_delete, None).await.unwrap();
    let err = c
        .get("jobs/a", Some(GetOptions::new().with_revision(rev_a1)))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("required revision has been compacted"),
        "{err}"
    );
    let err = c.put("", "v", None).await.unwrap_err();
    assert!(err.to_string().contains("key is not provided"), "{err}");
    let err = c
        .txn(Txn::new().and_then(vec![TxnOp::put("d", "1", None), TxnOp::put("d", "2", None)]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
}

async fn next_events(
    stream: &mut etcd_client::WatchStream,
    want: usize,
) -> Vec<(EventType, String, String, i64)> {
    let mut out = Vec::new();
    while out.len() < want {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("watch events within 10 s")
            .unwrap()
            .expect("stream open");
        assert!(!msg.canceled(), "canceled: {}", msg.cancel_reason());
        for e in msg.events() {
            let kv = e.kv().unwrap();
            out.push((
                e.event_type(),
                kv.key_str().unwrap().to_string(),
                e.prev_kv()
                    .map(|p| p.value_str().unwrap().to_string())
                    .unwrap_or_default(),
                kv.mod_revision(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_from_a_revision_on_another_node_and_reports_compaction() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let mut writer = etcd(&eps[0..1]).await;
    let mut w1 = etcd(&eps[1..2]).await;

    let mut stream = w1
        .watch(
            "w/",
            Some(WatchOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .unwrap();
    let created = stream.message().await.unwrap().unwrap();
    assert!(created.created());
    writer.put("w/1", "a", None).await.unwrap();
    writer.put("w/1", "b", None).await.unwrap();
    writer.put("other", "x", None).await.unwrap();
    writer.delete("w/1", None).await.unwrap();
    let seen = next_events(&mut stream, 3).await;
    let kinds: Vec<_> = seen
        .iter()
        .map(|e| (e.0, e.1.as_str(), e.2.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EventType::Put, "w/1", ""),
            (EventType::Put, "w/1", "a"),
            (EventType::Delete, "w/1", "b"),
        ]
    );
    let last = seen[2].3;
    drop(stream);

    // Every member hashes the key space at one revision identically (once it applied it).
    let mut hashes = Vec::new();
    for ep in &eps {
        let mut c = etcd(std::slice::from_ref(ep)).await;
        let h = wait_until(
            Duration::from_secs(10),
            "the member to apply the revision",
            || {
                let mut c = c.clone();
                async move { c.hash_kv(last).await.ok() }
            },
        )
        .await
        .unwrap();
        assert_eq!(h.hash_revision(), last);
        hashes.push(h.hash());
        // Deterministic: asking again gives the same hash.
        assert_eq!(c.hash_kv(last).await.unwrap().hash(), h.hash());
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");

    // Resume on another node from just after what was seen: nothing lost, nothing repeated.
    writer.put("w/2", "c", None).await.unwrap();
    let mut w2 = etcd(&eps[2..3]).await;
    let mut resumed = w2
        .watch(
            "w/",
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(last + 1),
            ),
        )
        .await
        .unwrap();
    assert!(resumed.message().await.unwrap().unwrap().created());
    let more = next_events(&mut resumed, 1).await;
    assert_eq!((more[0].0, more[0].1.as_str()), (EventType::Put, "w/2"));
    assert!(more[0].3 > last);

    // After a compaction, a watch from before it is canceled with the compact revision.
    let now = writer
        .put("w/3", "d", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    writer.compact(now, None).await.unwrap();
    let mut old = w2
        .watch(
            "w/",
            Some(WatchOptions::new().with_prefix().with_start_revision(1)),
        )
        .await
        .unwrap();
    let mut compacted = None;
    while compacted.is_none() {
        let msg = tokio::time::timeout(Duration::from_secs(10), old.message())
            .await
            .expect("an answer within 10 s")
            .unwrap()
            .expect("stream open");
        if msg.canceled() {
            compacted = Some(msg.compact_revision());
        }
    }
    assert_eq!(compacted, Some(now));
}

/// A follower batches the writes it forwards (one peer call for many): under concurrency
/// every write must still be applied exactly once, with its own revision and reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_through_a_follower_are_each_applied_once() {
    let cluster = Cluster::start(3).await.unwrap();
    let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let c = etcd(&[cluster.node(follower).client_addr.clone()]).await;

    const WRITES: usize = 300;
    let puts = (0..WRITES).map(|i| {
        let mut c = c.clone();
        tokio::spawn(async move {
            let r = c.put(format!("fwd/{i:03}"), format!("v{i}"), None).await;
            (i, r.unwrap().header().unwrap().revision())
        })
    });
    let puts: Vec<_> = puts.collect();
    let mut revisions = Vec::new();
    for p in puts {
        revisions.push(p.await.unwrap());
    }
    let mut distinct: Vec<i64> = revisions.iter().map(|(_, r)| *r).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        WRITES,
        "every write has a revision of its own"
    );

    let mut on_leader = etcd(&[cluster.node(leader).client_addr.clone()]).await;
    let got = on_leader
        .get("fwd/", Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
    assert_eq!(got.kvs().len(), WRITES);
    for (i, revision) in revisions {
        let kv = &got.kvs()[i];
        assert_eq!(kv.key_str().unwrap(), format!("fwd/{i:03}"));
        assert_eq!(kv.value_str().unwrap(), format!("v{i}"));
        // Applied once: created by the acknowledged write, never written again.
        assert_eq!((kv.mod_revision(), kv.version()), (revision, 1));
    }
}
