//! Operating a real cluster through `cairn ctl -o json`: status, metrics and health endpoints,
//! growing 3 -> 5 and back under write load, replacing a dead member, leadership transfer,
//! and refused bad input that leaves the cluster unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cairn_client::Client;
use cairn_cluster_tests::ops::{CtlOut, ctl, http_get, metric};
use cairn_cluster_tests::ports::free_addr;
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};
use serde_json::Value;
use tokio::task::JoinHandle;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A closed-loop writer of unique keys; counts writes that failed after the client's retries.
struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicU64>,
    task: JoinHandle<Vec<(String, u64)>>,
}

impl Load {
    fn start(endpoints: Vec<String>, prefix: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, f, prefix) = (stop.clone(), failed.clone(), prefix.to_string());
        let task = tokio::spawn(async move {
            let client = Client::connect(endpoints).unwrap();
            let mut written = Vec::new();
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                let key = format!("{prefix}{n:06}");
                match client.put(key.clone(), format!("v{n}")).await {
                    Ok(rev) => written.push((key, rev)),
                    Err(e) => {
                        eprintln!("write {key} failed: {e}");
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
            written
        });
        Self { stop, failed, task }
    }

    async fn finish(self) -> (Vec<(String, u64)>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let written = self.task.await.unwrap();
        (written, self.failed.load(Ordering::Relaxed))
    }
}

fn voters(out: &CtlOut) -> BTreeSet<u64> {
    out.json["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "voter")
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

fn member(status: &Value, id: u64) -> &Value {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or(&Value::Null)
}

async fn member_list(eps: &[String]) -> CtlOut {
    let out = ctl(eps, &["member", "list"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    out
}

/// Waits until the leader sees learner `id` answering and at most `lag` entries behind.
async fn wait_caught_up(eps: &[String], id: u64) {
    wait_until(
        Duration::from_secs(60),
        &format!("node {id} caught up"),
        || async {
            let s = ctl(eps, &["status"]).await.ok()?;
            let m = member(&s.json, id);
            (m["reachable"] == true && m["lag"].as_u64()? <= 100).then_some(())
        },
    )
    .await
    .unwrap();
}

/// Retries a membership change while the cluster answers "busy" (a previous change still
/// completing, a learner still catching up).
async fn change(eps: &[String], args: &[&str]) -> CtlOut {
    wait_until(
        Duration::from_secs(60),
        &format!("ctl {args:?}"),
        || async {
            let out = ctl(eps, args).await.unwrap();
            match (out.code, out.error_kind()) {
                (0, _) => Some(out),
                (5, Some("change_in_progress" | "learner_behind")) | (3, _) => None,
                _ => panic!("ctl {args:?} failed: {out:?}"),
            }
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_metrics_and_health_endpoints() {
    let opts = ClusterOptions {
        extra_args: vec!["--http-addr".into(), "127.0.0.1:0".into()],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    let eps = cluster.endpoints();
    let status = ctl(&eps, &["status"]).await.unwrap();
    assert_eq!(status.code, 0, "{status:?}");
    let leader = status.json["leader"].as_u64().unwrap();
    for id in 1..=3 {
        let m = member(&status.json, id);
        assert_eq!(m["reachable"], true, "{m}");
        assert_eq!(m["voter"], true);
        assert!(m["disk_bytes"].as_u64().unwrap() > 0);
        assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
        let want = if id == leader { "leader" } else { "follower" };
        assert_eq!(m["role"], want);
    }
    let http = |id: u64| {
        member(&status.json, id)["http_addr"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for id in 1..=3 {
        assert_eq!(http_get(&http(id), "/livez").await.unwrap().0, 200);
        let ready = wait_until(Duration::from_secs(10), "ready", || async {
            (http_get(&http(id), "/readyz").await.ok()?.0 == 200).then_some(())
        })
        .await;
        assert!(ready.is_ok(), "node {id} not ready");
    }

    // grpc.health.v1 on the client port agrees with /readyz.
    for id in 1..=3 {
        let addr = format!("http://{}", cluster.node(id).client_addr);
        let channel = tonic::transport::Endpoint::from_shared(addr)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let health = HealthClient::new(channel);
        for service in ["", "cairn.v1.Kv"] {
            // The gRPC statuses follow readiness on a 250 ms sample (health.rs), so they may
            // trail /readyz by a moment.
            let serving = wait_until(Duration::from_secs(10), "serving", || {
                let mut health = health.clone();
                async move {
                    let req = HealthCheckRequest {
                        service: service.into(),
                    };
                    let status = health.check(req).await.ok()?.into_inner().status;
                    (status == ServingStatus::Serving as i32).then_some(())
                }
            })
            .await;
            assert!(serving.is_ok(), "node {id} {service:?} not serving");
        }
    }

    let (_, before) = http_get(&http(leader), "/metrics").await.unwrap();
    for name in [
        "cairn_raft_term",
        "cairn_raft_commit_index",
        "cairn_raft_applied_index",
        "cairn_raft_last_log_index",
        "cairn_raft_snapshot_index",
        "cairn_raft_leader_changes_total",
        "cairn_raft_replication_lag_entries",
        "cairn_grpc_requests_total",
        "cairn_grpc_request_duration_seconds_count",
        "cairn_workflows",
    ] {
        assert!(metric(&before, name, &[]).is_some(), "{name} missing");
    }
    assert_eq!(metric(&before, "cairn_raft_is_leader", &[]), Some(1.0));

    let client = Client::connect(eps.clone()).unwrap();
    for i in 0..20 {
        client.put(format!("m{i}"), "v").await.unwrap();
    }
    client
        .create_workflow(cairn_client::CreateWorkflow::new().id("wf-metrics"))
        .await
        .unwrap();
    let snap = ctl(&eps, &["snapshot"]).await.unwrap();
    assert_eq!(snap.code, 0, "{snap:?}");
    // Gauges refresh at most every 10 s: wait for the workflow count to show.
    let after = wait_until(Duration::from_secs(20), "metrics to move", || async {
        let (_, text) = http_get(&http(leader), "/metrics").await.ok()?;
        let pending = metric(
            &text,
            "cairn_workflows",
            &["namespace=\"default\"", "status=\"PENDING\""],
        )?;
        let total = metric(
            &text,
            "cairn_namespace_workflows",
            &["namespace=\"default\""],
        )?;
        (pending >= 1.0 && total >= 1.0).then_some(text)
    })
    .await
    .unwrap();
    let grew = |name: &str, labels: &[&str]| {
        metric(&after, name, labels).unwrap_or(0.0) > metric(&before, name, labels).unwrap_or(0.0)
    };
    assert!(grew("cairn_raft_commit_index", &[]));
    assert!(grew("cairn_raft_applied_index", &[]));
    assert!(grew("cairn_raft_snapshot_index", &[]));
    assert!(grew("cairn_raft_proposals_total", &[]));
    assert!(grew("cairn_raft_snapshot_builds_total", &[]));
    assert!(grew(
        "cairn_grpc_requests_total",
        &["method=\"cairn.v1.KV/Put\"", "code=\"OK\""]
    ));
    assert!(grew(
        "cairn_grpc_request_duration_seconds_count",
        &["method=\"cairn.v1.KV/Put\""]
    ));
    assert!(grew(
        "cairn_wal_durable_seconds_count",
        &["write=\"append\""]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_to_five_and_back_under_load_then_transfer_leadership() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let load = Load::start(eps.clone(), "grow-");
    for _ in 0..2 {
        let id = cluster.add_node().unwrap();
        let join = vec!["--join".to_string(), eps.join(",")];
        cluster.spawn(id, &join).unwrap();
        wait_caught_up(&eps, id).await;
        let out = change(&eps, &["member", "promote", &id.to_string()]).await;
        assert!(voters(&out).contains(&id), "{out:?}");
    }
    assert_eq!(
        voters(&member_list(&eps).await),
        BTreeSet::from([1, 2, 3, 4, 5])
    );
    let status = ctl(&eps, &["status"]).await.unwrap();
    assert_eq!(status.code, 0, "{status:?}");
    for id in 1..=5 {
        assert_eq!(member(&status.json, id)["reachable"], true);
    }

    for id in [5u64, 4] {
        let out = change(&eps, &["member", "remove", &id.to_string()]).await;
        assert!(!voters(&out).contains(&id), "{out:?}");
        cluster.stop(id).await.unwrap();
    }
    let list = member_list(&eps).await;
    assert_eq!(voters(&list), BTreeSet::from([1, 2, 3]));
    assert_eq!(list.json["members"].as_array().unwrap().len(), 3);

    let old = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let out = ctl(&eps, &["leader", "transfer"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let new = out.json["leader"].as_u64().unwrap();
    assert_ne!(new, old);
    assert_eq!(cluster.leader(Duration::from_secs(10)).await.unwrap(), new);
    let out = ctl(&eps, &["leader", "transfer", &old.to_string()])
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cluster.leader(Duration::from_secs(10)).await.unwrap(), old);

    let (written, failed) = load.finish().await;
    assert_eq!(failed, 0, "writes failed beyond the client's retries");
    assert!(written.len() > 10, "load made too little progress");
    let client = Client::connect(eps).unwrap();
    let stored = client.range_all("grow-").await.unwrap();
    assert_eq!(stored.len(), written.len());
    for (kv, (key, rev)) in stored.iter().zip(&written) {
        assert_eq!((kv.key.as_slice(), kv.mod_revision), (key.as_bytes(), *rev));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_member_is_replaced_by_a_new_empty_one() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let client = Client::connect(eps.clone()).unwrap();
    for i in 0..50 {
        client.put(format!("r{i:03}"), "v").await.unwrap();
    }
    let victim = if cluster.leader(Duration::from_secs(5)).await.unwrap() == 3 {
        2
    } else {
        3
    };
    cluster.kill(victim);
    let id = cluster.add_node().unwrap();
    let live: Vec<String> = (1..=3)
        .filter(|i| *i != victim)
        .map(|i| cluster.node(i).client_addr.clone())
        .collect();
    cluster
        .spawn(id, &["--join".to_string(), live.join(",")])
        .unwrap();
    wait_caught_up(&live, id).await;
    let out = change(
        &live,
        &["member", "replace", &victim.to_string(), &id.to_string()],
    )
    .await;
    let want: BTreeSet<u64> = (1..=3).filter(|i| *i != victim).chain([id]).collect();
    assert_eq!(voters(&out), want, "{out:?}");
    assert!(
        out.json["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != victim)
    );

    // The new member serves reads of data written before it existed, and new writes commit.
    let newcomer = Client::connect([cluster.node(id).client_addr.clone()]).unwrap();
    assert_eq!(newcomer.range_all("r").await.unwrap().len(), 50);
    newcomer.put("after-replace", "ok").await.unwrap();
    let status = ctl(&live, &["status"]).await.unwrap();
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(member(&status.json, id)["reachable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_membership_requests_are_refused_and_change_nothing() {
    let mut cluster = Cluster::start(3).await.unwrap();
    let eps = cluster.endpoints();
    let before = voters(&member_list(&eps).await);

    let out = ctl(&eps, &["member", "remove", "9"]).await.unwrap();
    assert_eq!(
        (out.code, out.error_kind()),
        (4, Some("not_found")),
        "{out:?}"
    );

    // A learner whose process never started cannot catch up: promotion is refused.
    let (peer, client_addr) = (free_addr().unwrap(), free_addr().unwrap());
    let out = ctl(
        &eps,
        &[
            "member",
            "add",
            "7",
            "--peer-addr",
            &peer,
            "--client-addr",
            &client_addr,
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let out = ctl(&eps, &["member", "promote", "7"]).await.unwrap();
    assert_eq!(
        (out.code, out.error_kind()),
        (5, Some("learner_behind")),
        "{out:?}"
    );
    assert_eq!(voters(&member_list(&eps).await), before);
    let out = change(&eps, &["member", "remove", "7"]).await;
    assert_eq!(out.json["members"].as_array().unwrap().len(), 3);

    // A dead voter: transfer to it and removing a live voter (losing quorum) are refused.
    let leader = cluster.leader(Duration::from_secs(5)).await.unwrap();
    let dead = (1..=3).find(|i| *i != leader).unwrap();
    let other = (1..=3).find(|i| *i != leader && *i != dead).unwrap();
    cluster.kill(dead);
    wait_until(
        Duration::from_secs(20),
        "leader to miss the dead node",
        || async {
            let s = ctl(&eps, &["status"]).await.ok()?;
            (member(&s.json, dead)["last_ack_ms"].as_u64()? > 2500).then_some(())
        },
    )
    .await
    .unwrap();
    let out = ctl(&eps, &["leader", "transfer", &dead.to_string()])
        .await
        .unwrap();
    assert_eq!(
        (out.code, out.error_kind()),
        (5, Some("unreachable")),
        "{out:?}"
    );
    let out = ctl(&eps, &["member", "remove", &other.to_string()])
        .await
        .unwrap();
    assert_eq!(
        (out.code, out.error_kind()),
        (5, Some("quorum_at_risk")),
        "{out:?}"
    );
    assert_eq!(
        cluster.leader(Duration::from_secs(5)).await.unwrap(),
        leader
    );
    assert_eq!(voters(&member_list(&eps).await), before);

    // With a majority down, status says why there is no usable leader.
    cluster.kill(other);
    let out = wait_until(
        Duration::from_secs(20),
        "status to report no quorum",
        || async {
            let out = ctl(&eps, &["status"]).await.ok()?;
            (out.code == 3).then_some(out)
        },
    )
    .await
    .unwrap();
    let err = out.json["error"].as_str().unwrap();
    assert!(
        err.contains("no quorum") || err.contains("no leader"),
        "{err}"
    );
}

/// server/src/server.rs's MAX_STREAMS_PER_CONNECTION.
const MAX_STREAMS_PER_CONNECTION: usize = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_holds_a_bounded_number_of_streams() {
    let cluster = Cluster::start(1).await.unwrap();
    // One channel is one HTTP/2 connection.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.node(1).client_addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let open = || {
        let mut health = HealthClient::new(channel.clone());
        async move {
            let req = HealthCheckRequest {
                service: String::new(),
            };
            health.watch(req).await.map(|r| r.into_inner())
        }
    };
    let mut streams = Vec::new();
    for i in 0..MAX_STREAMS_PER_CONNECTION {
        let stream = tokio::time::timeout(Duration::from_secs(10), open())
            .await
            .unwrap_or_else(|_| panic!("stream {i} within the limit did not open"));
        streams.push(stream.unwrap());
    }
    // The server told the client its limit: one more stream waits for a free slot. (A
    // negative: nothing can signal it, so the wait is bounded and generous.)
    let waiting = tokio::spawn(open());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "a stream beyond the limit was opened"
    );
    // Closing one lets it in.
    streams.pop();
    let opened = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting stream opens once another closes")
        .unwrap();
    assert!(opened.is_ok(), "{opened:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_connections() {
    use tokio::io::AsyncReadExt;
    const CAP: usize = 4;
    let opts = ClusterOptions {
        extra_args: vec!["--max-connections-per-address".into(), CAP.to_string()],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(1, opts).await.unwrap();
    let addr = cluster.node(1).client_addr.clone();
    // Open connections until the node closes one as it arrives. An admitted connection gets
    // the server's HTTP/2 settings first; a refused one reads EOF.
    let mut held = Vec::new();
    let refused_at = loop {
        assert!(
            held.len() <= CAP,
            "{} connections admitted, cap {CAP}",
            held.len()
        );
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break held.len(),
            Ok(Ok(_)) => held.push(conn),
            Err(_) => panic!("neither settings nor a close within 10 s"),
        }
    };
    // The harness's own client may hold a connection or two of the cap.
    assert!(
        (1..=CAP).contains(&refused_at),
        "refused after {refused_at}"
    );
    // Closing connections frees their places: a client gets through again.
    drop(held);
    let c = Client::connect([addr]).unwrap();
    c.put("after", "cap").await.unwrap();
}
