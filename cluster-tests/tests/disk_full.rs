//! A disk that fills: each node's data directory on its own 128 MiB file system (a tmpfs
//! mounted by the test; needs root). With the default free-space minimum
//! (`--min-free-disk-bytes`, 64 MiB), a member raises NOSPACE before its disk is full: writes are refused with the typed error, no
//! node stops, and everything acknowledged reads back. The negative control has no minimum:
//! the same load fills the disks and the nodes stop (the Raft log cannot append), which is
//! what the alarm prevents.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_client::{Client, Error};
use cairn_cluster_tests::ops::ctl;
use cairn_cluster_tests::{Cluster, net};

const DISK: &str = "128m";
/// The default minimum. Free space is measured once a second, so the minimum must hold what
/// can be written in a second: 12 MiB did not, under the full test run's load.
const MIN_FREE: u64 = 64 << 20;

/// Unmounts its tmpfs when dropped (after the cluster, declared later, has killed its nodes).
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in &self.0 {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

fn unavailable() -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    (euid != 0).then(|| "mounting a small file system per node needs root".to_string())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// Moves node `dir`'s contents onto a fresh tmpfs of [`DISK`] mounted at `dir`.
fn onto_small_disk(dir: &Path, mounts: &mut Mounts) {
    let aside = dir.with_extension("before");
    std::fs::rename(dir, &aside).unwrap();
    std::fs::create_dir(dir).unwrap();
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={DISK}"), "tmpfs"])
        .arg(dir));
    mounts.0.push(dir.to_path_buf());
    run(Command::new("cp").arg("-a").arg(aside.join(".")).arg(dir));
}

/// A cluster whose nodes run on small disks with `min_free` bytes of reserve, the mounts (to
/// drop after it), and a client.
async fn cluster_on_small_disks(min_free: u64) -> Option<(Mounts, Cluster, Client)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !net::runnable(unavailable(), ci) {
        return None;
    }
    let mut mounts = Mounts(Vec::new());
    let mut cluster = Cluster::start(3).await.unwrap();
    for id in 1..=3 {
        cluster.stop(id).await.unwrap();
        let dir = cluster.node(id).data_dir.clone();
        onto_small_disk(&dir, &mut mounts);
        cluster.node_mut(id).env = vec![("CAIRN_MIN_FREE_DISK_BYTES".into(), min_free.to_string())];
        cluster.spawn(id, &[]).unwrap();
    }
    cluster.leader(Duration::from_secs(30)).await.unwrap();
    let client = Client::connect(cluster.endpoints()).unwrap();
    Some((mounts, cluster, client))
}

/// Puts 256 KiB values until one is refused or fails (or 60 s pass); the acknowledged keys
/// and the error that stopped it.
async fn fill(c: &Client) -> (Vec<String>, Option<Error>) {
    let value = vec![b'x'; 256 * 1024];
    let mut acked = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let key = format!("fill/{:05}", acked.len());
        match c.put(key.as_str(), value.clone()).await {
            Ok(_) => acked.push(key),
            Err(e) => return (acked, Some(e)),
        }
    }
    (acked, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_disk_raises_nospace_and_no_node_stops() {
    let Some((_mounts, cluster, c)) = cluster_on_small_disks(MIN_FREE).await else {
        return;
    };
    let (acked, refusal) = fill(&c).await;
    assert!(acked.len() >= 10, "refused after {} puts", acked.len());
    match &refusal {
        Some(Error::ResourceExhausted(m)) => {
            assert!(m.contains("database space exceeded"), "{m}")
        }
        Some(other) => panic!("expected NOSPACE, got {other}"),
        None => panic!("no NOSPACE after 60 s of writes"),
    }
    let eps = cluster.endpoints();
    let out = ctl(&eps, &["alarm", "list"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.json["alarms"].as_array().unwrap().is_empty(),
        "{out:?}"
    );
    // Writes keep being refused (before they cost a log entry), and no node stops.
    for i in 0..20 {
        let r = c.put(format!("more/{i}"), vec![b'y'; 256 * 1024]).await;
        assert!(
            matches!(r, Err(Error::ResourceExhausted(_))),
            "write {i} while NOSPACE stands: {r:?}"
        );
    }
    assert_eq!(cluster.exited(), None, "a node stopped");
    for key in &acked {
        assert!(c.get(key.as_str()).await.unwrap().is_some(), "{key} lost");
    }
    println!(
        "{} puts of 256 KiB acknowledged before NOSPACE",
        acked.len()
    );
}

/// The control: without the minimum, the same load fills the disks and nodes stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_free_space_minimum_the_full_disk_stops_the_nodes() {
    let Some((_mounts, mut cluster, c)) = cluster_on_small_disks(0).await else {
        return;
    };
    let (acked, error) = fill(&c).await;
    assert!(
        error.is_some(),
        "{} puts of 256 KiB fitted on {DISK} disks",
        acked.len()
    );
    let stopped =
        cairn_cluster_tests::wait_until(Duration::from_secs(30), "a node to stop", || {
            let e = cluster.exited();
            async move { e }
        })
        .await;
    let error = error.map(|e| e.to_string());
    println!(
        "{} puts acknowledged; then {error:?}; node stopped: {stopped:?}",
        acked.len()
    );
    assert!(stopped.is_ok(), "the disks filled and every node went on");
    let id = stopped.unwrap();
    let status = cluster.exit_status(id);
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
}
