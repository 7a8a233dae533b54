//! Cairn's own KV transactions (`KV.Txn`) on a 3-node cluster: 8 workers moving 40 jobs from
//! a queue with one compare-and-swap transaction each take every job exactly once; a failed
//! compare runs the failure branch and writes nothing; value and version compares; input
//! over the limits and a stale fence are refused with nothing written; `cairn kv txn` does
//! the same from the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_client::{Client, CompareOp, CompareTarget, Error, LockOptions, Txn, TxnOp, TxnOpResult};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::cluster::cairn_bin;

const JOBS: u64 = 40;
const WORKERS: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_compare_and_swap_over_several_keys() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();
    for n in 0..JOBS {
        c.put(format!("queue/{n:03}"), "todo").await.unwrap();
    }

    // Workers race for every job; a take is one transaction: the queue key still at the
    // revision the worker read, nobody's take recorded, then both keys change together.
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let c = Client::connect(eps.clone()).unwrap();
        workers.push(tokio::spawn(async move {
            let mut taken = Vec::new();
            for n in (0..JOBS).map(|i| (i + w * 5) % JOBS) {
                let key = format!("queue/{n:03}");
                let Some(kv) = c.get(key.as_str()).await.unwrap() else {
                    continue;
                };
                let r = c
                    .txn(
                        Txn::new()
                            .when_at(key.as_str(), kv.mod_revision)
                            .when_absent(format!("taken/{n:03}"))
                            .and_then([
                                TxnOp::delete(key.as_str()),
                                TxnOp::put(format!("taken/{n:03}"), format!("w{w}")),
                            ])
                            .or_else([TxnOp::get(format!("taken/{n:03}"))]),
                    )
                    .await
                    .unwrap();
                if r.succeeded {
                    assert_eq!(r.results, [TxnOpResult::Deleted(true), TxnOpResult::Put]);
                    taken.push(n);
                } else {
                    // Someone else's take, visible in the failure branch.
                    match &r.results[..] {
                        [TxnOpResult::Get(Some(kv))] => assert_ne!(kv.value, b"todo"),
                        other => panic!("failure branch: {other:?}"),
                    }
                }
            }
            (w, taken)
        }));
    }
    let mut owner = BTreeMap::new();
    for h in workers {
        let (w, taken) = h.await.unwrap();
        for n in taken {
            assert!(owner.insert(n, w).is_none(), "job {n} taken twice");
        }
    }
    assert_eq!(owner.len() as u64, JOBS, "every job taken");
    assert!(c.range_all("queue/").await.unwrap().is_empty());
    for (n, w) in &owner {
        let kv = c.get(format!("taken/{n:03}")).await.unwrap().unwrap();
        assert_eq!(kv.value, format!("w{w}").into_bytes(), "job {n}");
    }

    // Value and version compares; a failed compare writes nothing.
    let rev = c.put("cfg/mode", "fast").await.unwrap();
    let flip = |from: &str, to: &str| {
        Txn::new()
            .when(
                "cfg/mode",
                CompareOp::Equal,
                CompareTarget::Value(from.into()),
            )
            .when("cfg/mode", CompareOp::Less, CompareTarget::Version(5))
            .and_then([TxnOp::put("cfg/mode", to), TxnOp::get("cfg/mode")])
            .or_else([TxnOp::get("cfg/mode")])
    };
    let r = c.txn(flip("slow", "x")).await.unwrap();
    assert!(!r.succeeded);
    let now = c.get("cfg/mode").await.unwrap().unwrap();
    assert_eq!(
        (now.value.as_slice(), now.mod_revision),
        (&b"fast"[..], rev)
    );
    let r = c.txn(flip("fast", "safe")).await.unwrap();
    assert!(r.succeeded);
    match &r.results[..] {
        [TxnOpResult::Put, TxnOpResult::Get(Some(kv))] => {
            // A get sees the put before it, at the transaction's revision.
            assert_eq!(
                (kv.value.as_slice(), kv.mod_revision),
                (&b"safe"[..], r.revision)
            );
        }
        other => panic!("{other:?}"),
    }

    // Over the operation limit: refused by the cluster, nothing written.
    let too_many = Txn::new().and_then((0..129).map(|i| TxnOp::put(format!("many/{i}"), "x")));
    let refused = c.txn(too_many).await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    assert!(c.range_all("many/").await.unwrap().is_empty());

    // A fence from a released lock: refused, nothing written.
    let guard = c.lock("txn-lock", LockOptions::new()).await.unwrap();
    let fence = guard.fence();
    guard.release().await.unwrap();
    let fenced = c
        .txn(
            Txn::new()
                .and_then([TxnOp::put("fenced", "x")])
                .fenced(&fence),
        )
        .await;
    assert!(
        matches!(fenced, Err(Error::StaleFence { .. })),
        "{fenced:?}"
    );
    assert!(c.get("fenced").await.unwrap().is_none());

    // The command line: a transaction that holds, then one that fails (exit 1).
    let kv_txn = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(cairn_bin().unwrap());
        cmd.args(["kv", "--endpoints", &eps.join(","), "txn"])
            .args(args)
            .kill_on_drop(true);
        async move { cmd.output().await.unwrap() }
    };
    let ok = kv_txn(&["--if-rev", "cli/a=0", "--put", "cli/a=1", "--get", "cli/a"]).await;
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("cli/a = 1") && out.contains("succeeded=true"),
        "{out}"
    );
    let failed = kv_txn(&[
        "--if-rev",
        "cli/a=0",
        "--put",
        "cli/a=2",
        "--else-get",
        "cli/a",
    ])
    .await;
    let out = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(
        out.contains("cli/a = 1") && out.contains("succeeded=false"),
        "{out}"
    );
}
