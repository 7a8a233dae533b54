//! `cairn up`: starts a local 3-node cluster, stops all of it on Ctrl-C (SIGINT), and resumes
//! the same cluster with the same data when run again; `cairn up --tls` does the same over TLS
//! with generated certificates and prints command lines that work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_client::{Client, ClientConfig, TlsOptions};
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
    start_up_with(dir, base, &[])
}

/// `cairn up` with `extra` flags; what it prints goes to `up.out` in `dir`.
fn start_up_with(dir: &std::path::Path, base: u16, extra: &[&str]) -> Up {
    let out = std::fs::File::create(dir.join("up.out")).unwrap();
    Up(Command::new(cairn_bin().unwrap())
        .current_dir(dir)
        .args(["up", "--base-port", &base.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_tls_generates_certificates_and_prints_lines_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port();
    let endpoints: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:{}", base + i)).collect();
    let mut up = start_up_with(dir.path(), base, &["--tls"]);

    // The line `up` prints for the operator, once the cluster has a leader.
    let printed = wait_until(Duration::from_secs(60), "cairn up --tls to print", || {
        let out = std::fs::read_to_string(dir.path().join("up.out")).unwrap_or_default();
        async move { out.contains("etcdctl --endpoints https://").then_some(out) }
    })
    .await
    .unwrap();
    // Each printed line works as printed: the put first, then the reads.
    for (prefix, expect) in [
        ("cairn kv ", "put ok"),
        ("cairn ctl ", "leader"),
        ("etcdctl ", "world"),
    ] {
        let line = printed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{printed}"));
        let mut words = line.split_whitespace();
        let program = match words.next() {
            // etcdctl comes with the test dependencies (scripts/install-deps).
            Some("etcdctl") => std::path::PathBuf::from("etcdctl"),
            _ => cairn_bin().unwrap(),
        };
        let run = Command::new(&program)
            .args(words)
            .env("ETCDCTL_API", "3")
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success() && stdout.contains(expect),
            "{line}: {run:?}"
        );
    }

    // The certificates it generated: the client port wants one of them.
    let pki = dir.path().join("cairn-data/pki");
    let tls = TlsOptions::from_files(
        Some(&pki.join("ca.pem")),
        Some(&pki.join("client-root.pem")),
        Some(&pki.join("client-root-key.pem")),
    )
    .unwrap();
    let config = ClientConfig {
        tls: Some(tls),
        ..ClientConfig::default()
    };
    let client = Client::with_config(endpoints.clone(), config).unwrap();
    let kv = client.get("hello").await.unwrap().unwrap();
    assert_eq!(kv.value, b"world");
    let plain = Client::with_config(
        endpoints,
        ClientConfig {
            retry_deadline: Duration::from_secs(2),
            ..ClientConfig::default()
        },
    )
    .unwrap();
    assert!(plain.get("hello").await.is_err(), "served without TLS");

    // Run again: the same certificates, the same cluster.
    let ca = std::fs::read(pki.join("ca.pem")).unwrap();
    interrupt_and_wait(&mut up, base).await;
    let mut up = start_up_with(dir.path(), base, &["--tls"]);
    let again = wait_until(
        Duration::from_secs(30),
        "the resumed TLS cluster",
        || async { client.get("hello").await.ok().flatten() },
    )
    .await
    .unwrap();
    assert_eq!(again.mod_revision, kv.mod_revision);
    assert_eq!(std::fs::read(pki.join("ca.pem")).unwrap(), ca);
    interrupt_and_wait(&mut up, base).await;
}
