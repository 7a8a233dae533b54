//! No acknowledged write is lost when the power goes: three nodes take puts from eight
//! writers under the `unsynced` layer (cluster-tests/src/powerloss.rs), all are killed with
//! SIGKILL mid-load, every change no fsync covered is undone on every node, the nodes come
//! back as after a machine restart, and every acknowledged put is read back. The negative
//! control runs the same with the Raft log's fsyncs not counted (a WAL that forgets to fsync)
//! and must lose acknowledged puts: the check can see a missing fsync.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::Client;
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::powerloss::{Undone, Unsynced};

const WRITERS: usize = 8;

struct Outcome {
    acked: Vec<String>,
    lost: Vec<String>,
    undone: Undone,
    /// Why the cluster did not come back, if it did not.
    down: Option<String>,
}

async fn power_cut(ignore_sync: Option<&str>) -> Option<Outcome> {
    let tmp = tempfile::tempdir().unwrap();
    let unsynced = Unsynced::build_or_skip(tmp.path())?;
    let mut cluster = Cluster::start(3).await.unwrap();
    // Restart every node under the layer: what the first start wrote is durable (synced
    // below), what they write from here on is journaled.
    for id in 1..=3 {
        cluster.stop(id).await.unwrap();
    }
    // SAFETY: sync(2) has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync()
    };
    let dirs: Vec<PathBuf> = cluster.nodes.iter().map(|n| n.data_dir.clone()).collect();
    for id in 1..=3u64 {
        let dir = dirs[id as usize - 1].clone();
        cluster.node_mut(id).env = unsynced.env(&[&dir], ignore_sync);
        cluster.spawn(id, &[]).unwrap();
    }
    cluster.leader(Duration::from_secs(30)).await.unwrap();

    let client = Client::connect(cluster.endpoints()).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, acked) = (client.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("w{w}-{i}");
                if client.put(key.clone(), "v").await.is_ok() {
                    acked.lock().unwrap().push(key);
                }
            }
        }));
    }
    // Load until enough puts are acknowledged (at least 2 s of it), then cut the power while
    // the writers are still going.
    let start = std::time::Instant::now();
    while acked.lock().unwrap().len() < 300 || start.elapsed() < Duration::from_secs(2) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {} puts acknowledged in 60 s",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.kill_all();
    for w in writers {
        w.abort();
    }
    let acked = acked.lock().unwrap().clone();
    let undone = unsynced.power_loss(&dirs).unwrap();
    // The machine restarted: the nodes must not trust what only a page cache held.
    for dir in &dirs {
        std::fs::write(dir.join("sm.boot"), "after-the-power-cut\n").unwrap();
    }

    for id in 1..=3u64 {
        cluster.node_mut(id).env.clear();
        cluster.spawn(id, &[]).unwrap();
    }
    if let Err(e) = cluster.leader(Duration::from_secs(30)).await {
        return Some(Outcome {
            acked,
            lost: Vec::new(),
            undone,
            down: Some(format!("{e:#}")),
        });
    }
    let client = Client::connect(cluster.endpoints()).unwrap();
    let mut lost = Vec::new();
    for key in &acked {
        let mut tries = 0;
        let found = loop {
            match client.get(key.clone()).await {
                Ok(v) => break v.is_some(),
                // Reads may meet an election right after the restart; retry for a while.
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("read {key}: {e}"),
            }
        };
        if !found {
            lost.push(key.clone());
        }
    }
    Some(Outcome {
        acked,
        lost,
        undone,
        down: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_put_is_lost_when_the_power_goes() {
    let Some(out) = power_cut(None).await else {
        return;
    };
    println!(
        "{} puts acknowledged; undone {:?}; lost {}",
        out.acked.len(),
        out.undone,
        out.lost.len()
    );
    assert_eq!(out.down, None, "the cluster did not come back");
    assert!(
        out.undone.writes > 0,
        "the power cut undid nothing: {:?}",
        out.undone
    );
    assert!(
        out.lost.is_empty(),
        "{} of {} acknowledged puts lost, e.g. {:?}",
        out.lost.len(),
        out.acked.len(),
        &out.lost[..out.lost.len().min(5)]
    );
}

/// The negative control: the same, with the WAL's fsyncs not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_wal_fsync_the_power_cut_loses_acknowledged_puts() {
    let Some(out) = power_cut(Some("/log/")).await else {
        return;
    };
    println!(
        "{} puts acknowledged; undone {:?}; lost {}; down {:?}",
        out.acked.len(),
        out.undone,
        out.lost.len(),
        out.down
    );
    assert!(
        out.down.is_some() || !out.lost.is_empty(),
        "a WAL without fsyncs lost nothing: the power-loss check cannot see a missing fsync"
    );
}
