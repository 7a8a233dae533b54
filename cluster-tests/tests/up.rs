//! `cairn up`: starts a local 3-node cluster, stops all of it on Ctrl-C (SIGINT), and resumes
//! the same cluster with the same data when run again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_client::Client;
use cairn_cluster_tests::cluster::cairn_bin;
use cairn_cluster_tests::wait_until;

/// A base port whose nine derived ports (BASE+1..3 clients, BASE+101..103 peers, BASE+201..203
/// HTTP) are free and below the ephemeral range (see `cairn_cluster_tests::ports`).
fn free_base_port() -> u16 {
    for _ in 0..200 {
        let base = cairn_cluster_tests::ports::free_port().unwrap() - 1;
        let ports = [1, 2, 3, 101, 102, 103, 201, 202, 203].map(|o| base + o);
        if base + 203 < 32_768
            && ports
                .iter()
                .all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        {
            return base;
        }
    }
    panic!("no free port range");
}

/// `cairn up` that is interrupted (and so stops its nodes) if the test fails midway.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(self.0.id() as i32, libc::SIGINT);
            }
            let _ = self.0.wait();
        }
    }
}

fn start_up(dir: &std::path::Path, base: u16) -> Up {
    Up(Command::new(cairn_bin().unwrap())
        .current_dir(dir)
        .args(["up", "--base-port", &base.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap())
}

async fn interrupt_and_wait(up: &mut Up, base: u16) {
    let child = &mut up.0;
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    wait_until(Duration::from_secs(20), "cairn up to exit", || {
        let done = matches!(child.try_wait(), Ok(Some(_)));
        async move { done.then_some(()) }
    })
    .await
    .unwrap();
    // Every node stopped with it: nothing listens on their ports any more.
    for off in [1, 2, 3, 101, 102, 103] {
        assert!(
            TcpStream::connect(("127.0.0.1", base + off)).is_err(),
            "port {} still served after Ctrl-C",
            base + off
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_starts_stops_on_ctrl_c_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port();
    let endpoints: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:{}", base + i)).collect();

    let mut up = start_up(dir.path(), base);
    let client = Client::connect(endpoints.clone()).unwrap();
    let rev = wait_until(
        Duration::from_secs(30),
        "a write to the new cluster",
        || async { client.put("greeting", "hello").await.ok() },
    )
    .await
    .unwrap();
    interrupt_and_wait(&mut up, base).await;
    assert!(dir.path().join("cairn-data/node-1").is_dir());

    let mut up = start_up(dir.path(), base);
    let client = Client::connect(endpoints).unwrap();
    let kv = wait_until(Duration::from_secs(30), "the resumed cluster", || async {
        client.get("greeting").await.ok().flatten()
    })
    .await
    .unwrap();
    assert_eq!(kv.value, b"hello");
    assert_eq!(kv.mod_revision, rev, "same cluster, same history");
    interrupt_and_wait(&mut up, base).await;
}
