//! Worker and orchestrator liveness on a 3-node cluster, end to end.
//!
//! Workers are `cairn bench --workload claim` processes, each under its own lease: 8 of them
//! run the 400 tasks of 100 workflows while two more each sit on one claimed task and are
//! killed with SIGKILL. The cluster itself hands those two tasks back out once the dead
//! workers' leases end: every task is completed, each task was claimed once (twice for the
//! two lost ones), the retries started after the kill and within the lease TTL + 1 s of it,
//! and a dead worker's claim is refused afterwards.
//!
//! An orchestrator owns 10 workflows under its lease; when its renewals stop (as when its
//! process dies) they are orphaned, listed by `cairn ctl workflow orphans`, adopted by
//! another orchestrator, and the first one's late fenced write is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_client::{
    Client, CreateWorkflow, Error, Fence, ListOptions, RunResult, Target, Task, TaskFilter,
    TaskSpec, TaskStatus, VarScope, VarUpdate,
};
use cairn_cluster_tests::ops::{CairnProc, ctl};
use cairn_cluster_tests::wait_until;
use cairn_cluster_tests::{Cluster, now_ms};
use serde_json::json;

const NAMESPACE: &str = "work";
const WORKFLOWS: usize = 100;
const TASKS: usize = 4;
/// The workers' lease TTL.
const TTL_MS: u64 = 2_000;
const LOST: &str = "worker lost";

fn worker(cluster: &Cluster, agent: &str, task_ms: u64) -> CairnProc {
    let args: Vec<String> = [
        "bench",
        "--endpoints",
        &cluster.endpoints().join(","),
        "--workload",
        "claim",
        "--no-prepare",
        "--namespace",
        NAMESPACE,
        "--clients",
        "1",
        "--agent",
        agent,
        "--task-ms",
        &task_ms.to_string(),
        "--lease-ttl-ms",
        &TTL_MS.to_string(),
        "--warmup-secs",
        "0",
        "--duration-secs",
        "600",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    CairnProc::spawn(&args, &cluster.dir().join(format!("{agent}.log"))).unwrap()
}

async fn all_tasks(c: &Client) -> Vec<Task> {
    let mut out = Vec::new();
    for w in 0..WORKFLOWS {
        out.extend(
            c.tasks(&format!("wf-{w:03}"), &TaskFilter::default())
                .await
                .unwrap(),
        );
    }
    out
}

fn agent_of(t: &Task) -> String {
    t.output
        .as_ref()
        .and_then(|o| o["agent"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_every_task_once_and_lost_runs_are_retried_after_kill9() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let c = Client::connect(cluster.endpoints()).unwrap();
    for w in 0..WORKFLOWS {
        let id = format!("wf-{w:03}");
        c.create_workflow(CreateWorkflow::new().id(&id).namespace(NAMESPACE))
            .await
            .unwrap();
        let tasks = (0..TASKS).map(|t| TaskSpec::new(format!("t{t}")).retry(3, Duration::ZERO));
        c.upsert_tasks(&id, tasks).await.unwrap();
    }

    // Two victims claim first and sit on their task far longer than the test runs.
    let mut victims = [
        worker(&cluster, "victim-a", 600_000),
        worker(&cluster, "victim-b", 600_000),
    ];
    let held: BTreeMap<String, Task> =
        wait_until(Duration::from_secs(30), "victims' claims", || {
            let c = c.clone();
            async move {
                let running: BTreeMap<String, Task> = all_tasks(&c)
                    .await
                    .into_iter()
                    .filter(|t| t.status == TaskStatus::Running && t.agent_id.starts_with("victim"))
                    .map(|t| (t.agent_id.clone(), t))
                    .collect();
                (running.len() == 2).then_some(running)
            }
        })
        .await
        .unwrap();
    let mut workers: Vec<CairnProc> = (0..8)
        .map(|n| worker(&cluster, &format!("w{n}"), 20))
        .collect();
    // Let the healthy workers get going, then kill -9 the victims mid-run.
    wait_until(Duration::from_secs(30), "first completions", || {
        let c = c.clone();
        async move {
            let done = all_tasks(&c)
                .await
                .iter()
                .filter(|t| t.status == TaskStatus::Completed)
                .count();
            (done >= 20).then_some(())
        }
    })
    .await
    .unwrap();
    for v in &mut victims {
        v.kill();
    }
    let killed_ms = now_ms();

    let tasks = wait_until(Duration::from_secs(120), "every task completed", || {
        let c = c.clone();
        async move {
            let tasks = all_tasks(&c).await;
            tasks
                .iter()
                .all(|t| t.status == TaskStatus::Completed)
                .then_some(tasks)
        }
    })
    .await
    .unwrap();
    assert!(
        workers.iter_mut().all(CairnProc::is_running),
        "a worker died"
    );
    assert_eq!(tasks.len(), WORKFLOWS * TASKS);

    let lost: Vec<(String, String)> = held
        .values()
        .map(|t| (t.workflow_id.clone(), t.id.clone()))
        .collect();
    for t in &tasks {
        let key = (t.workflow_id.clone(), t.id.clone());
        let agent = agent_of(t);
        assert!(agent.starts_with('w'), "{key:?} completed by {agent:?}");
        // The completing run's claim is the task's last claim: exactly one run finished it.
        assert_eq!(t.output.as_ref().unwrap()["claim"], t.claim, "{key:?}");
        if lost.contains(&key) {
            assert_eq!(
                t.attempts, 2,
                "{key:?}: claimed by a victim, then once more"
            );
            assert_eq!(t.error.as_ref().and_then(|e| e.as_str()), Some(LOST));
            let started = t.started_ms.unwrap();
            eprintln!(
                "{key:?} lost with its worker, restarted {} ms after the kill",
                started.saturating_sub(killed_ms)
            );
            // Never two runs at once: the retry started after the victim died...
            assert!(started >= killed_ms, "{key:?} restarted before the kill");
            // ...and within the lease TTL + 1 s of it.
            assert!(
                started <= killed_ms + TTL_MS + 1_000,
                "{key:?} restarted {} ms after the kill",
                started - killed_ms
            );
        } else {
            assert_eq!(t.attempts, 1, "{key:?} was claimed more than once");
            assert!(t.error.is_none(), "{key:?}: {:?}", t.error);
        }
    }
    // A dead worker's run cannot be finished any more.
    for t in held.values() {
        let late = c
            .finish_task(
                &t.workflow_id,
                &t.id,
                t.claim,
                RunResult::Completed(serde_json::json!({"agent": "zombie"})),
            )
            .await;
        assert!(matches!(late, Err(Error::StaleClaim(_))), "{late:?}");
    }
    drop(workers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_workflows_are_adopted_and_the_old_owner_is_fenced_out() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();
    let ids: Vec<String> = (0..10).map(|i| format!("job-{i}")).collect();

    let lease_a = c.grant_lease(Duration::from_millis(TTL_MS)).await.unwrap();
    let alive_a = c.keep_alive(&lease_a);
    let mut epoch_a = BTreeMap::new();
    for id in &ids {
        c.create_workflow(CreateWorkflow::new().id(id).namespace("orch"))
            .await
            .unwrap();
        let a = c
            .adopt_workflow(id, "orch-a", lease_a.id, "")
            .await
            .unwrap();
        epoch_a.insert(id.clone(), a.epoch);
    }
    // orch-a's fenced writes go through while it lives.
    for id in &ids {
        c.fenced(&Fence::owner(id, epoch_a[id]))
            .transition(id, Target::event("start"), None, "orch-a", "")
            .await
            .unwrap();
    }
    // A second orchestrator cannot take them meanwhile.
    let lease_b = c.grant_lease(Duration::from_secs(30)).await.unwrap();
    let _alive_b = c.keep_alive(&lease_b);
    let taken = c.adopt_workflow(&ids[0], "orch-b", lease_b.id, "").await;
    assert!(matches!(taken, Err(Error::Owned(_))), "{taken:?}");

    // orch-a dies: its renewals stop.
    drop(alive_a);
    let died_ms = now_ms();
    let orphans = wait_until(Duration::from_secs(15), "10 orphans", || {
        let c = c.clone();
        async move {
            let page = c
                .list_workflows(&ListOptions::new().namespace("orch").orphaned_only())
                .await
                .unwrap();
            (page.workflows.len() == 10).then_some(page.workflows)
        }
    })
    .await
    .unwrap();
    for w in &orphans {
        let at = w.orphaned_ms.unwrap();
        assert!(at <= died_ms + TTL_MS + 1_000, "{} orphaned late", w.id);
        assert_eq!((w.owner_id.as_str(), w.owner_lease), ("orch-a", 0));
        assert_eq!(w.status, "RUNNING");
    }
    let listed = ctl(&eps, &["workflow", "orphans", "--namespace", "orch"])
        .await
        .unwrap();
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(
        listed.json["workflows"].as_array().unwrap().len(),
        10,
        "{listed:?}"
    );

    for id in &ids {
        let a = c
            .adopt_workflow(id, "orch-b", lease_b.id, "orch-a is gone")
            .await
            .unwrap();
        assert_eq!(a.previous_owner, "orch-a");
        assert!(a.epoch > epoch_a[id]);
        // orch-a's late write, fenced with its old epoch, is refused and changes nothing.
        let before = c.workflow(id, false).await.unwrap().unwrap().workflow;
        let late = c
            .fenced(&Fence::owner(id, epoch_a[id]))
            .transition(id, Target::event("finish"), None, "orch-a", "")
            .await;
        assert!(
            matches!(late, Err(Error::StaleFence { current }) if current == a.epoch),
            "{late:?}"
        );
        let after = c.workflow(id, false).await.unwrap().unwrap().workflow;
        assert_eq!(before, after);
        let scope = VarScope::Workflow(id.clone());
        let late_vars = c
            .fenced(&Fence::owner(id, epoch_a[id]))
            .update_vars(&scope, VarUpdate::new().set("owner", json!("orch-a")))
            .await;
        assert!(
            matches!(late_vars, Err(Error::StaleFence { .. })),
            "{late_vars:?}"
        );
        assert!(c.vars(&scope, None).await.unwrap().is_none());
        // orch-b's own fenced writes work.
        c.fenced(&Fence::owner(id, a.epoch))
            .transition(id, Target::event("finish"), None, "orch-b", "")
            .await
            .unwrap();
        c.fenced(&Fence::owner(id, a.epoch))
            .update_vars(&scope, VarUpdate::new().set("owner", json!("orch-b")))
            .await
            .unwrap();
    }
    let none = c
        .list_workflows(&ListOptions::new().namespace("orch").orphaned_only())
        .await
        .unwrap();
    assert!(none.workflows.is_empty());
    let history = c.history_all(&ids[0]).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "adopted",
            "transition",
            "orphaned",
            "adopted",
            "transition"
        ]
    );
}
