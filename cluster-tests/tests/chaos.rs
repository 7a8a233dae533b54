//! The chaos driver in the default suite: a short run across every scenario must pass every
//! checker, and a deliberately injected bug must be caught (a checker that passes everything
//! is broken). Longer runs: the `chaos` binary (see the README's Testing section).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_client::{Client, ClientConfig};
use cairn_cluster_tests::chaos::{Config, Scenario, run_blocking};
use cairn_cluster_tests::linearizability::{KvInput, KvModel, KvOutput, Operation, Verdict, check};
use cairn_cluster_tests::net::{Net, Partition, can_run};
use cairn_cluster_tests::{Cluster, ClusterOptions};

fn seed() -> u64 {
    std::env::var("CAIRN_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        })
}

#[test]
fn a_short_chaos_run_across_every_scenario_finds_no_anomaly() {
    if !can_run() {
        return;
    }
    let cfg = Config {
        seed: seed(),
        duration: Duration::from_secs(60),
        scenarios: Scenario::ALL.to_vec(),
        nodes: 3,
        ..Config::default()
    };
    eprintln!("chaos seed {} (rerun with CAIRN_CHAOS_SEED)", cfg.seed);
    let report = run_blocking(cfg).expect("the chaos run could not run");
    eprintln!("{}\n{}", report.text(), report.json());
    assert!(report.passed(), "{}", report.text());
    assert!(
        report.faults.values().sum::<u64>() >= 5,
        "{:?}",
        report.faults
    );
    assert!(report.ops_ok > 500, "{}", report.text());
    assert!(report.fenced_writes > 10, "{}", report.text());
    assert!(report.checkpoints_acked > 10, "{}", report.text());
}

/// A negative control: with the `stale-read` failpoint armed, a node answers linearizable
/// reads from its local state without a read index. Cut off from the majority while writes
/// go on there, it serves old values, and the checker must call the history illegal.
#[test]
fn stale_reads_from_a_partitioned_node_are_caught() {
    if !can_run() {
        return;
    }
    let net = Net::new(3).unwrap();
    let inner = net.clone();
    net.block_on(async move {
        let mut cluster = Cluster::start_in(inner.clone(), 3, ClusterOptions::default())
            .await
            .unwrap();
        let leader = cluster.leader(Duration::from_secs(20)).await.unwrap();
        let victim = leader % 3 + 1;
        cluster.kill(victim);
        cluster.node_mut(victim).env = vec![("FAILPOINTS".into(), "stale-read=return".into())];
        cluster.spawn(victim, &[]).unwrap();
        cluster.leader(Duration::from_secs(20)).await.unwrap();
        let config = ClientConfig {
            retry_deadline: Duration::from_secs(3),
            request_timeout: Duration::from_secs(1),
            ..ClientConfig::default()
        };
        let majority: Vec<String> = (1..=3)
            .filter(|i| *i != victim)
            .map(|i| cluster.node(i).client_addr.clone())
            .collect();
        let writer = Client::with_config(majority, config.clone()).unwrap();
        let reader =
            Client::with_config([cluster.node(victim).client_addr.clone()], config).unwrap();
        writer.put("neg/k", "v0").await.unwrap();
        cluster
            .wait_applied(victim, 1, Duration::from_secs(10))
            .await
            .unwrap();
        inner
            .partition(&Partition::Isolate { node: victim })
            .unwrap();
        let start = std::time::Instant::now();
        let t = || start.elapsed().as_micros() as u64;
        let mut history: Vec<Operation<KvInput, KvOutput>> = Vec::new();
        for i in 1..=20 {
            let value = format!("v{i}");
            let call = t();
            let rev = writer.put("neg/k", value.clone()).await.unwrap();
            history.push(Operation {
                client: 1,
                input: KvInput::Put {
                    key: "neg/k".into(),
                    value,
                },
                call,
                ret: Some(t()),
                output: Some(KvOutput::Put { revision: rev }),
            });
            let call = t();
            let read = reader.get("neg/k").await;
            let output = read.ok().map(|kv| {
                KvOutput::Get(kv.map(|kv| {
                    (
                        String::from_utf8_lossy(&kv.value).into_owned(),
                        kv.mod_revision,
                    )
                }))
            });
            history.push(Operation {
                client: 2,
                input: KvInput::Get {
                    key: "neg/k".into(),
                },
                call,
                ret: output.as_ref().map(|_| t()),
                output,
            });
        }
        inner.heal().unwrap();
        let answered = history
            .iter()
            .filter(|o| o.client == 2 && o.ret.is_some())
            .count();
        assert!(
            answered > 0,
            "the faulty node answered no read: {history:?}"
        );
        let verdict = check(
            &KvModel,
            &history,
            |i| i.key().to_string(),
            Duration::from_secs(30),
        );
        assert!(
            matches!(verdict, Verdict::Illegal { .. }),
            "stale reads passed the checker: {verdict:?}"
        );
    })
    .expect("run in the hub namespace");
}
