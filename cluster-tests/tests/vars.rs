//! Versioned variables on a 3-node cluster: 1,000 compare-and-swap updates from 8 concurrent
//! writers (each retrying on a version conflict) end as 1,000 versions with nothing lost;
//! immutable keys refuse change; a rollback restores an old version's values as a new
//! version; and the whole history survives kill -9 of every node. `cairn ctl vars` reads the
//! same.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{Client, Error, VarScope, VarUpdate};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::ops::ctl;
use serde_json::json;

const WRITERS: u64 = 8;
const UPDATES: u64 = 125;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_updates_rollback_and_history_survive_a_full_restart() {
    let mut cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();
    let scope = VarScope::Namespace("pipelines".into());
    c.update_vars(
        &scope,
        VarUpdate::new()
            .set("model", json!("small"))
            .set("n", json!(0))
            .immutable("model")
            .keep_versions(5_000)
            .expected_version(0),
    )
    .await
    .unwrap();

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let c = Client::connect(eps.clone()).unwrap();
        let scope = scope.clone();
        writers.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for i in 1..=UPDATES {
                loop {
                    let now = c.vars(&scope, None).await.unwrap().unwrap();
                    let n = now.values["n"].as_u64().unwrap();
                    let update = VarUpdate::new()
                        .set("n", json!(n + 1))
                        .set(format!("w{w}"), json!(i))
                        .expected_version(now.version)
                        .actor(format!("writer-{w}"));
                    match c.update_vars(&scope, update).await {
                        Ok(_) => break,
                        Err(Error::VersionConflict { .. }) => conflicts += 1,
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for w in writers {
        conflicts += w.await.unwrap();
    }
    eprintln!("1000 CAS updates from {WRITERS} writers, {conflicts} conflicts retried");
    let total = WRITERS * UPDATES;
    let now = c.vars(&scope, None).await.unwrap().unwrap();
    assert_eq!(now.version, total + 1);
    assert_eq!(now.values["n"], json!(total), "a CAS update was lost");
    for w in 0..WRITERS {
        assert_eq!(now.values[&format!("w{w}")], json!(UPDATES));
    }

    // Immutable: refused, nothing changes.
    let refused = c
        .update_vars(&scope, VarUpdate::new().set("model", json!("large")))
        .await;
    assert!(matches!(refused, Err(Error::Immutable(_))), "{refused:?}");
    assert_eq!(
        c.vars(&scope, None).await.unwrap().unwrap().version,
        total + 1
    );

    // Rollback to version 500: a new version with exactly version 500's values.
    let old = c.vars(&scope, Some(500)).await.unwrap().unwrap();
    assert_eq!(old.values["n"], json!(499));
    let rolled = c
        .rollback_vars(&scope, 500, Some(total + 1), "ops", "bad batch")
        .await
        .unwrap();
    assert_eq!(rolled.version, total + 2);
    let after = c.vars(&scope, None).await.unwrap().unwrap();
    assert_eq!(after.values, old.values);
    assert_eq!(after.checksum, old.checksum);

    let history = c.var_history(&scope).await.unwrap();
    let versions: Vec<u64> = history.iter().map(|v| v.version).collect();
    assert_eq!(
        versions,
        (1..=total + 2).collect::<Vec<_>>(),
        "gap-free history"
    );
    assert_eq!(history.last().unwrap().rolled_back_to, Some(500));

    // Every node killed at once, then restarted: the history is durable.
    cluster.kill_all();
    for id in 1..=3 {
        cluster.spawn(id, &[]).unwrap();
    }
    cluster.leader(Duration::from_secs(30)).await.unwrap();
    let c = Client::connect(eps.clone()).unwrap();
    let reread = c.var_history(&scope).await.unwrap();
    assert_eq!(reread, history);
    assert_eq!(c.vars(&scope, None).await.unwrap().unwrap(), after);
    assert_eq!(
        c.vars(&scope, Some(500)).await.unwrap().unwrap().values,
        old.values
    );

    let got = ctl(
        &eps,
        &["vars", "get", "--namespace", "pipelines", "--version", "2"],
    )
    .await
    .unwrap();
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(got.json["values"]["n"], 1, "{got:?}");
    let hist = ctl(&eps, &["vars", "history", "--namespace", "pipelines"])
        .await
        .unwrap();
    assert_eq!(
        hist.json["versions"].as_array().unwrap().len() as u64,
        total + 2
    );
    let set = ctl(
        &eps,
        &["vars", "set", "--namespace", "pipelines", "model=\"x\""],
    )
    .await
    .unwrap();
    assert_eq!(set.error_kind(), Some("immutable"), "{set:?}");
}
