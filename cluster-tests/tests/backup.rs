//! Backup under write load with `cairn ctl backup`, restore into a fresh cluster with
//! `cairn ctl restore`, and compare every workflow and key; corrupt and truncated backups are
//! refused before anything is written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_client::{Client, CreateWorkflow, Target};
use cairn_cluster_tests::ops::{ServeProc, ctl};
use cairn_cluster_tests::ports::free_addr;
use cairn_cluster_tests::{Cluster, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_restores_into_a_new_cluster_with_the_same_data() {
    let cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let client = Client::connect(eps.clone()).unwrap();

    // Workflows at various points of their lifecycle, with history.
    for i in 0..12 {
        let id = format!("wf-{i:02}");
        client
            .create_workflow(CreateWorkflow::new().id(&id))
            .await
            .unwrap();
        if i % 3 > 0 {
            client
                .transition(&id, Target::event("start"), None, "test", "go")
                .await
                .unwrap();
        }
        if i % 3 > 1 {
            client
                .transition(&id, Target::status("COMPLETED"), None, "test", "done")
                .await
                .unwrap();
        }
    }

    // Key writes keep going while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let (s, load_eps) = (stop.clone(), eps.clone());
    let load = tokio::spawn(async move {
        let c = Client::connect(load_eps).unwrap();
        let mut written = BTreeMap::new();
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) || n < 50 {
            let key = format!("k{n:06}");
            let rev = c.put(key.clone(), format!("v{n}")).await.unwrap();
            written.insert(key, rev);
            n += 1;
        }
        written
    });
    wait_until(Duration::from_secs(30), "load to start", || async {
        (client.range("k", b"", 10).await.ok()?.kvs.len() >= 10).then_some(())
    })
    .await
    .unwrap();

    let file = cluster.dir().join("cairn.backup");
    let file_arg = file.to_str().unwrap().to_string();
    let out = ctl(&eps, &["backup", &file_arg]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let index = out.json["snapshot_index"].as_u64().unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = load.await.unwrap();
    assert!(file.is_file());
    assert!(!cluster.dir().join("cairn.backup.partial").exists());

    // Exactly the writes at or below the backup's index are in it.
    let expected: BTreeMap<String, u64> = written
        .into_iter()
        .filter(|(_, rev)| *rev <= index)
        .collect();
    assert!(
        !expected.is_empty(),
        "backup index {index} precedes the load"
    );

    // A corrupt or truncated copy is refused before anything is written.
    let bytes = std::fs::read(&file).unwrap();
    let bad = cluster.dir().join("bad.backup");
    let mut flipped = bytes.clone();
    let mid = bytes.len() / 2;
    flipped[mid] ^= 0xff;
    for (name, content) in [
        ("corrupt", flipped),
        ("truncated", bytes[..bytes.len() - 20].to_vec()),
    ] {
        std::fs::write(&bad, content).unwrap();
        let target = cluster.dir().join(format!("never-{name}"));
        let out = ctl(
            &[],
            &[
                "restore",
                bad.to_str().unwrap(),
                "--data-dir",
                target.to_str().unwrap(),
                "--id",
                "1",
                "--member",
                "1=127.0.0.1:1/127.0.0.1:2",
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            (out.code, out.error_kind()),
            (7, Some("corrupt")),
            "{out:?}"
        );
        assert!(!target.exists(), "{name} backup wrote {target:?}");
    }

    // Restore every member of a new 3-node cluster from the backup, then start it.
    let addrs: Vec<(String, String)> = (0..3)
        .map(|_| (free_addr().unwrap(), free_addr().unwrap()))
        .collect();
    let members: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, (peer, client))| format!("{}={peer}/{client}", i + 1))
        .collect();
    let member_arg = members.join(",");
    let restored = tempfile::tempdir().unwrap();
    let mut procs = Vec::new();
    for (i, (peer, client_addr)) in addrs.iter().enumerate() {
        let id = (i + 1).to_string();
        let dir = restored.path().join(format!("node-{id}"));
        let out = ctl(
            &[],
            &[
                "restore",
                &file_arg,
                "--data-dir",
                dir.to_str().unwrap(),
                "--id",
                &id,
                "--member",
                &member_arg,
            ],
        )
        .await
        .unwrap();
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json["snapshot_index"].as_u64(), Some(index));
        let args: Vec<String> = [
            "--id",
            &id,
            "--data-dir",
            dir.to_str().unwrap(),
            "--client-addr",
            client_addr,
            "--peer-addr",
            peer,
            "--member",
            &member_arg,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = restored.path().join(format!("node-{id}.log"));
        procs.push(ServeProc::spawn(&args, &log).unwrap());
    }
    let new_eps: Vec<String> = addrs.iter().map(|(_, c)| c.clone()).collect();
    wait_until(
        Duration::from_secs(30),
        "restored cluster leader",
        || async {
            let out = ctl(&new_eps, &["status"]).await.ok()?;
            (out.code == 0).then_some(())
        },
    )
    .await
    .unwrap();

    // The restored cluster has an id of its own, the same on every member.
    let cluster_id = |eps: Vec<String>| async move {
        wait_until(Duration::from_secs(10), "a cluster id", || {
            let eps = eps.clone();
            async move {
                let out = ctl(&eps, &["status"]).await.ok()?;
                out.json["cluster_id"].as_str().map(String::from)
            }
        })
        .await
        .unwrap()
    };
    let source_id = cluster_id(eps.clone()).await;
    let restored_id = cluster_id(new_eps.clone()).await;
    assert_ne!(source_id, restored_id);
    // Each member restored its own copy: they must have derived the same id.
    for ep in &new_eps {
        let mut e = etcd_client::Client::connect([ep], None).await.unwrap();
        let id = e.status().await.unwrap().header().unwrap().cluster_id();
        assert_eq!(format!("{id:016x}"), restored_id, "{ep}");
    }

    let restored_client = Client::connect(new_eps.clone()).unwrap();
    let got: BTreeMap<String, u64> = restored_client
        .range_all("k")
        .await
        .unwrap()
        .into_iter()
        .map(|kv| (String::from_utf8(kv.key).unwrap(), kv.mod_revision))
        .collect();
    assert_eq!(got, expected, "restored keys differ from the backup's");
    for i in 0..12 {
        let id = format!("wf-{i:02}");
        let a = client.workflow(&id, true).await.unwrap().unwrap();
        let b = restored_client.workflow(&id, true).await.unwrap().unwrap();
        assert_eq!(a.workflow, b.workflow, "{id}");
        assert_eq!(a.tasks, b.tasks, "{id}");
        assert_eq!(
            client.history_all(&id).await.unwrap(),
            restored_client.history_all(&id).await.unwrap(),
            "{id}"
        );
    }
    // The new cluster takes writes, at revisions above every restored one.
    let rev = restored_client.put("after-restore", "x").await.unwrap();
    assert!(rev > index);
    drop(procs);
}
