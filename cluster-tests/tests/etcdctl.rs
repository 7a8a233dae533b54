//! Real etcdctl 3.4 against a 3-node Cairn cluster, plaintext and with TLS and client
//! certificates: runs scripts/etcdctl-compat (which installs Debian's etcd-client package when
//! etcdctl is missing) with every member as an endpoint, and fails with the script's report
//! when a check fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cairn_cluster_tests::{Cluster, ClusterOptions};

/// Covers an apt-get install on a cold machine plus the checks themselves.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_commands_against_a_3_node_cluster() {
    let cluster = Cluster::start(3).await.unwrap();
    let out = etcdctl_compat(&cluster).await;
    assert!(out.contains("over http "), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_commands_over_tls_with_client_certificates() {
    let opts = ClusterOptions {
        tls: true,
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    let out = etcdctl_compat(&cluster).await;
    assert!(out.contains("over https "), "{out}");
}

/// Runs every check of scripts/etcdctl-compat against `cluster` (with the `root` client
/// certificate when it runs TLS); returns what the script printed.
async fn etcdctl_compat(cluster: &Cluster) -> String {
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/etcdctl-compat");
    let mut cmd = tokio::process::Command::new(&script);
    if let Some(pki) = cluster.pki() {
        let root = pki.client("root");
        cmd.arg("--cacert")
            .arg(&pki.ca)
            .arg("--cert")
            .arg(&root.cert)
            .arg("--key")
            .arg(&root.key);
    }
    let mut child = cmd
        .arg("--endpoints")
        .arg(cluster.endpoints().join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, async {
        use tokio::io::AsyncReadExt;
        let (mut out, mut err) = (String::new(), String::new());
        let (a, b) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        a.unwrap();
        b.unwrap();
        (child.wait().await.unwrap(), out, err)
    })
    .await;
    let (status, out, err) = output.unwrap_or_else(|_| {
        panic!("scripts/etcdctl-compat did not finish within {SCRIPT_TIMEOUT:?}")
    });
    assert!(
        status.success(),
        "scripts/etcdctl-compat failed ({status}):\n{out}\n{err}"
    );
    assert!(out.contains("checks passed"), "{out}");
    out
}
