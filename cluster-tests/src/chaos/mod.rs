//! The chaos driver: a cluster in its own network, KV, workflow, fenced-lock, checkpoint,
//! task-claim and versioned-variable clients plus a watcher recording every operation, a nemesis injecting seeded faults until
//! the run's time is up, then every checker over the history. The `chaos` binary and the
//! short chaos test both run [`run`].

pub mod check;
pub mod checkpoints;
pub mod claims;
pub mod history;
pub mod nemesis;
mod replacement;
pub mod report;
pub mod rng;
pub mod roster;
mod sampler;
mod settle;
pub mod steps;
pub mod vars;
pub mod workload;

pub use nemesis::Scenario;
pub use report::Report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_client::Definition;
use serde_json::json;
use tokio::task::JoinHandle;

use self::check::Anomaly;
use self::history::Recorder;
use self::roster::{Roster, RosterClient, client_on};
use self::workload::{LOCK, LOCK_DATA, WatchLog};
use crate::linearizability::{KvModel, Verdict, WorkflowModel, check as linearizable};
use crate::net::Net;
use crate::{Cluster, ClusterOptions};

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// How long faults are injected (setup and checking come on top).
    pub duration: Duration,
    pub scenarios: Vec<Scenario>,
    pub nodes: usize,
    /// Time budget of the linearizability search; running out is a failure.
    pub checker_budget: Duration,
    /// Keep the run's directory even when it passes.
    pub keep: bool,
    /// Environment for every node (a negative control arms a bug through FAILPOINTS).
    pub node_env: Vec<(String, String)>,
    /// Lease TTL of the lock workload.
    pub lock_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            duration: Duration::from_secs(60),
            scenarios: Scenario::ALL.to_vec(),
            nodes: 3,
            checker_budget: Duration::from_secs(120),
            keep: false,
            node_env: Vec::new(),
            lock_ttl: Duration::from_secs(2),
        }
    }
}

/// Creates the network and runs [`run`] inside it.
pub fn run_blocking(cfg: Config) -> anyhow::Result<Report> {
    let net = Net::new(cfg.nodes)?;
    let inner = net.clone();
    net.block_on(async move { run(inner, cfg).await })?
}

/// Snapshot every 2,000 entries and keep 500 behind it (defaults 100,000 and 1,000): a run
/// then builds snapshots and purges the log all along, so a node killed, paused or cut off
/// for a few seconds, and every replacement, catches up through a snapshot install while
/// faults go on, instead of replaying a log that is never purged.
/// Writers of the atomic-steps workload (also their client ids in the history).
const STEP_WRITERS: std::ops::Range<u64> = 60..62;
const NODE_ARGS: [&str; 4] = ["--snapshot-logs", "2000", "--keep-logs", "500"];

/// Runs one chaos run in `net` (call from inside its hub, see [`Net::block_on`]).
pub async fn run(net: Arc<Net>, cfg: Config) -> anyhow::Result<Report> {
    let opts = ClusterOptions {
        extra_args: NODE_ARGS.iter().map(|a| a.to_string()).collect(),
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start_in(net.clone(), cfg.nodes, opts).await?;
    let n = cfg.nodes as u64;
    if !cfg.node_env.is_empty() {
        for id in 1..=n {
            cluster.kill(id);
            cluster.node_mut(id).env = cfg.node_env.clone();
            cluster.spawn(id, &[])?;
        }
        cluster.leader(Duration::from_secs(30)).await?;
    }
    let dir = cluster.dir().to_path_buf();
    std::fs::write(
        dir.join("config.json"),
        json!({"seed": cfg.seed, "duration_s": cfg.duration.as_secs(), "nodes": cfg.nodes,
               "scenarios": cfg.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>(),
               "node_env": cfg.node_env})
        .to_string(),
    )?;
    let rec = Arc::new(Recorder::create(&dir.join("history.jsonl"))?);
    let roster = Arc::new(Roster::new(&cluster));
    let setup = client_on(roster.endpoints())?;
    let def = Definition::new("pingpong", ["PING", "PONG"], "PING", Vec::<String>::new())
        .transition("PING", "PONG")
        .transition("PONG", "PING");
    setup.register_definition(&def).await?;
    checkpoints::create_workflows(&setup, "pingpong").await?;
    for id in STEP_WRITERS {
        steps::create(&setup, id).await?;
    }
    rec.wrote("start");
    let from = setup.put("chaos/start", "start").await?;
    rec.acked("chaos/start", "start", from);

    let stop = Arc::new(AtomicBool::new(false));
    let watch_log = Arc::new(Mutex::new(WatchLog::default()));
    let watch_task = tokio::spawn(workload::watcher(roster.clone(), from, watch_log.clone()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sampler::run(
        roster.clone(),
        rec.clone(),
        samples.clone(),
        stop.clone(),
    ));
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for id in 0..3 {
        let c = RosterClient::new(roster.clone())?;
        tasks.push(tokio::spawn(workload::kv_worker(
            id,
            c,
            rec.clone(),
            stop.clone(),
        )));
    }
    for id in 10..12 {
        let c = RosterClient::new(roster.clone())?;
        tasks.push(tokio::spawn(workload::workflow_racer(
            id,
            c,
            rec.clone(),
            stop.clone(),
        )));
    }
    for id in 20..23 {
        let c = RosterClient::new(roster.clone())?;
        let ttl = cfg.lock_ttl;
        tasks.push(tokio::spawn(workload::lock_worker(
            id,
            c,
            rec.clone(),
            stop.clone(),
            ttl,
        )));
    }
    for id in 30..32 {
        let c = RosterClient::new(roster.clone())?;
        tasks.push(tokio::spawn(checkpoints::worker(
            id,
            c,
            rec.clone(),
            stop.clone(),
        )));
    }

    let claim_log = Arc::new(claims::ClaimLog::default());
    tasks.push(tokio::spawn(claims::feeder(
        40,
        RosterClient::new(roster.clone())?,
        rec.clone(),
        claim_log.clone(),
        stop.clone(),
    )));
    for id in 41..44 {
        tasks.push(tokio::spawn(claims::worker(
            id,
            RosterClient::new(roster.clone())?,
            rec.clone(),
            claim_log.clone(),
            stop.clone(),
        )));
    }

    let vars_log = Arc::new(vars::VarsLog::default());
    for id in 50..52 {
        tasks.push(tokio::spawn(vars::writer(
            id,
            RosterClient::new(roster.clone())?,
            rec.clone(),
            vars_log.clone(),
            stop.clone(),
        )));
    }

    let step_log = Arc::new(steps::StepLog::default());
    for id in STEP_WRITERS {
        tasks.push(tokio::spawn(steps::writer(
            id,
            RosterClient::new(roster.clone())?,
            rec.clone(),
            step_log.clone(),
            stop.clone(),
        )));
    }

    let started = Instant::now();
    let schedule = std::fs::File::create(dir.join("schedule.jsonl"))?;
    let mut nem = nemesis::Nemesis::new(
        &mut cluster,
        net.clone(),
        cfg.seed,
        rec.clone(),
        roster.clone(),
        schedule,
    )?;
    let mut anomalies: Vec<Anomaly> = Vec::new();
    while started.elapsed() < cfg.duration && !cfg.scenarios.is_empty() {
        let scenario = *nem.rng.pick(&cfg.scenarios);
        if let Err(e) = nem.round(scenario).await {
            anomalies.push(Anomaly::new("harness", format!("{scenario:?}: {e:#}")));
            break;
        }
        let gap = nem.rng.millis(300, 1200);
        tokio::time::sleep(gap).await;
    }
    // Leave nothing cut, stopped or paused, then stop the clients.
    let _ = net.heal();
    for id in 1..=nem.cluster.nodes.len() as u64 {
        nem.cluster.pause(id, false);
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .is_err()
        {
            anomalies.push(Anomaly::new(
                "liveness",
                "a client did not finish within 60 s",
            ));
        }
    }
    nem.recover().await;
    let faults = std::mem::take(&mut nem.faults);
    let recoveries = std::mem::take(&mut nem.recoveries);
    anomalies.append(&mut nem.anomalies);
    drop(nem);
    let duration = started.elapsed();
    let _ = sampler.await;

    let voters = roster.voters();
    let store = settle::converge(&cluster, &roster, &mut anomalies).await;
    let delivered = settle::wait_watch(&watch_log, &store, &mut anomalies).await;
    watch_task.abort();
    let reader = client_on(roster.endpoints())?;
    let stored = checkpoints::read_back(&reader, &mut anomalies).await;
    checkpoints::compare_replicas(&cluster, &voters, &stored, &mut anomalies).await;
    let claimed_tasks = claims::read_back(&reader, &claim_log, &mut anomalies).await;
    let var_versions = vars::check(&reader, &vars_log, &mut anomalies).await;
    let steps = steps::check(&reader, STEP_WRITERS, &step_log, &mut anomalies).await;

    // Checking.
    let check_started = Instant::now();
    let kv = std::mem::take(&mut *rec.kv.lock().unwrap_or_else(|p| p.into_inner()));
    let wf = std::mem::take(&mut *rec.workflow.lock().unwrap_or_else(|p| p.into_inner()));
    let budget = cfg.checker_budget;
    let (kv_verdict, wf_verdict, kv_len, wf_len) = tokio::task::spawn_blocking(move || {
        let k = linearizable(&KvModel, &kv, |i| i.key().to_string(), budget);
        let w = linearizable(
            &WorkflowModel::pingpong(),
            &wf,
            |i| i.id().to_string(),
            budget,
        );
        (k, w, kv.len(), wf.len())
    })
    .await?;
    let lin = match (&kv_verdict, &wf_verdict) {
        (Verdict::Ok, Verdict::Ok) => "ok".to_string(),
        (Verdict::Ok, v) => format!("workflow {v:?}"),
        (v, _) => format!("kv {v:?}"),
    };
    let log = std::mem::take(&mut *watch_log.lock().unwrap_or_else(|p| p.into_inner()));
    let watch_text: String = log.records.iter().map(|r| format!("{r:?}\n")).collect();
    let _ = std::fs::write(dir.join("watch.txt"), watch_text);
    let acked = rec
        .acked_puts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let written = rec
        .written
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let fenced = rec.fenced.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let lost = check::watch::lost_writes(&acked, &store);
    let lost_count = lost.len() as u64;
    anomalies.extend(lost);
    anomalies.extend(check::watch::check(
        &log.records,
        delivered,
        &acked,
        &written,
        &store,
    ));
    anomalies.extend(check::lock::check(&log.records, LOCK, LOCK_DATA, &fenced));
    let saves = std::mem::take(
        &mut *rec
            .checkpoint_saves
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    let loads = std::mem::take(
        &mut *rec
            .checkpoint_loads
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    anomalies.extend(check::checkpoint::check(&saves, &loads, &stored));
    let runs = std::mem::take(&mut *claim_log.runs.lock().unwrap_or_else(|p| p.into_inner()));
    let created = claim_log
        .created
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    anomalies.extend(check::claims::check(&created, &claimed_tasks, &runs));
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    anomalies.extend(check::raft::check(&samples));
    let checker_time = check_started.elapsed();

    rec.flush();
    let counts = rec.counts.lock().unwrap_or_else(|p| p.into_inner());
    let mut report = Report {
        seed: cfg.seed,
        nodes: cfg.nodes,
        scenarios: cfg.scenarios.iter().map(|s| s.name().to_string()).collect(),
        duration,
        faults,
        ops_ok: counts.ok,
        ops_failed: counts.fail,
        ops_indeterminate: counts.indeterminate,
        ops_checked: (kv_len + wf_len) as u64,
        fenced_writes: fenced.iter().filter(|w| w.revision.is_some()).count() as u64,
        fenced_refused: fenced.iter().filter(|w| w.stale.is_some()).count() as u64,
        watch_events: log.records.len() as u64,
        checkpoints_acked: saves.iter().filter(|s| s.saved.is_some()).count() as u64,
        checkpoints_checked: stored.len() as u64,
        claim_runs: runs.len() as u64,
        claim_finished: runs
            .iter()
            .filter(|r| r.finish == check::claims::Finish::Acked)
            .count() as u64,
        claim_abandoned: runs
            .iter()
            .filter(|r| r.finish == check::claims::Finish::Abandoned)
            .count() as u64,
        claim_tasks_checked: claimed_tasks.len() as u64,
        var_versions,
        steps,
        members: voters,
        status_samples: samples.len() as u64,
        checker_time,
        linearizability: lin,
        anomalies,
        lost_acked_writes: lost_count,
        recovery_max: recoveries.iter().max().copied(),
        recovery_mean: (!recoveries.is_empty())
            .then(|| recoveries.iter().sum::<Duration>() / recoveries.len() as u32),
        kept: None,
    };
    drop(counts);
    if !report.passed() || cfg.keep {
        report.kept = Some(cluster.keep().display().to_string());
    }
    let _ = std::fs::write(dir.join("report.json"), report.json().to_string());
    Ok(report)
}
