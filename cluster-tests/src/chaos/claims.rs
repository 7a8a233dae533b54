//! The claim workload: a feeder adds small workflows of tasks (a retry policy on each) to
//! [`NAMESPACE`]; workers, each under its own lease kept alive by its heartbeat, claim the
//! oldest ready task, run it briefly and finish it with an output naming the worker and the
//! claim. Now and then a worker "dies" holding a run: it stops its heartbeat and walks away
//! (as after kill -9), then comes back under a new lease; the cluster must hand that run out
//! again once the old lease ends. After healing and once every lease has ended, every task is
//! read back for `check::claims`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{ClaimOptions, Client, CreateWorkflow, Error, RunResult, TaskFilter, TaskSpec};
use serde_json::json;

use super::check::Anomaly;
use super::check::claims::{Finish, Run, TaskState};
use super::history::{Outcome, Recorder};
use super::rng::Rng;
use super::roster::RosterClient;
use super::workload::definite;
use crate::wait_until;

pub const NAMESPACE: &str = "chaos-claims";
/// The workers' lease TTL: a dead worker's runs come back after about this long.
const WORKER_TTL: Duration = Duration::from_secs(2);
/// How long a run takes.
const RUN: Duration = Duration::from_millis(40);
/// The feeder's pace: about what the workers finish, so the queue neither dries up nor grows
/// without bound on 2 cores.
const FEED_EVERY: Duration = Duration::from_millis(600);
const TASKS: usize = 4;
/// One claimed run in this many is abandoned by a "dying" worker.
const DIE_ONE_IN: u64 = 15;

/// What the workers and the feeder saw.
#[derive(Default)]
pub struct ClaimLog {
    /// Workflows whose task upsert was acknowledged, with their task ids.
    pub created: Mutex<BTreeMap<String, Vec<String>>>,
    pub runs: Mutex<Vec<Run>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Adds a workflow of [`TASKS`] tasks (the last depends on the others) every [`FEED_EVERY`].
pub async fn feeder(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    log: Arc<ClaimLog>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let client = clients.get();
        let wf = format!("chaos-claim-{n:05}");
        let ids: Vec<String> = (0..TASKS).map(|t| format!("t{t}")).collect();
        let created = client
            .create_workflow(CreateWorkflow::new().id(&wf).namespace(NAMESPACE))
            .await;
        if matches!(created, Ok(_) | Err(Error::AlreadyExists(_))) {
            let specs = ids.iter().enumerate().map(|(i, t)| {
                let mut spec = TaskSpec::new(t.as_str()).retry(50, Duration::ZERO);
                if i + 1 == TASKS {
                    spec = spec.depends_on(ids[..i].iter().cloned());
                }
                spec
            });
            rec.invoke(id, "claims", &format!("feed {wf}"));
            match client.upsert_tasks(&wf, specs).await {
                Ok(r) => {
                    rec.complete(id, "claims", Outcome::Ok, &r.revision);
                    lock(&log.created).insert(wf, ids);
                }
                Err(e) => {
                    let outcome = if definite(&e) {
                        Outcome::Fail
                    } else {
                        Outcome::Indeterminate
                    };
                    rec.complete(id, "claims", outcome, &e);
                }
            }
        }
        tokio::time::sleep(FEED_EVERY).await;
    }
}

/// Claims and runs tasks until `stop`, each life under a new lease; see the module doc.
pub async fn worker(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    log: Arc<ClaimLog>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(0xc1a1 ^ id);
    let mut life = 0u64;
    while !stop.load(Ordering::Relaxed) {
        life += 1;
        let agent = format!("worker-{id}-{life}");
        let client = clients.get();
        let Ok(lease) = client.grant_lease(WORKER_TTL).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let heartbeat = client.keep_alive(&lease);
        let mut revoke = true;
        while !stop.load(Ordering::Relaxed) && !heartbeat.is_lost() {
            let opts = ClaimOptions::new().namespace(NAMESPACE);
            let task = match client.claim_task(&agent, lease.id, opts).await {
                Ok(c) => c.task,
                Err(Error::LeaseNotFound(_)) => break,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(task) = task else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let mut run = Run {
                worker: agent.clone(),
                workflow: task.workflow_id.clone(),
                task: task.id.clone(),
                claim: task.claim,
                finish: Finish::Unknown,
            };
            if rng.below(DIE_ONE_IN) == 0 {
                // Dies holding the run: no finish, no revoke, no more heartbeats.
                run.finish = Finish::Abandoned;
                rec.note("worker-died", json!({"worker": agent, "claim": task.claim}));
                lock(&log.runs).push(run);
                revoke = false;
                break;
            }
            tokio::time::sleep(RUN).await;
            let output = json!({"agent": agent, "claim": task.claim});
            let op = format!(
                "finish {}/{} claim {}",
                task.workflow_id, task.id, task.claim
            );
            rec.invoke(id, "claims", &op);
            run.finish = match client
                .finish_task(
                    &task.workflow_id,
                    &task.id,
                    task.claim,
                    RunResult::Completed(output),
                )
                .await
            {
                Ok(r) => {
                    rec.complete(id, "claims", Outcome::Ok, &r);
                    Finish::Acked
                }
                Err(e) if definite(&e) => {
                    rec.complete(id, "claims", Outcome::Fail, &e);
                    Finish::Refused(e.to_string())
                }
                Err(e) => {
                    rec.complete(id, "claims", Outcome::Indeterminate, &e);
                    Finish::Unknown
                }
            };
            lock(&log.runs).push(run);
        }
        if revoke {
            // Best effort: an unrevoked lease ends by itself one TTL later.
            let _ = client.revoke_lease(lease.id).await;
        }
        drop(heartbeat);
    }
}

/// After healing: waits until no task of the workload is RUNNING (every lease has ended by
/// then), then reads every task back (of the workflows whose upsert was acknowledged or
/// whose tasks a worker claimed). A task still RUNNING at the deadline is read back as
/// it is, for the checker to report.
pub async fn read_back(
    client: &Client,
    log: &ClaimLog,
    anomalies: &mut Vec<Anomaly>,
) -> Vec<TaskState> {
    // The acknowledged ones, and any a worker claimed from: an upsert whose outcome was
    // unknown may have been applied, and its tasks run.
    let mut workflows: std::collections::BTreeSet<String> =
        lock(&log.created).keys().cloned().collect();
    workflows.extend(lock(&log.runs).iter().map(|r| r.workflow.clone()));
    let read = || async {
        let mut out = Vec::new();
        for wf in &workflows {
            let tasks = client.tasks(wf, &TaskFilter::default()).await.ok()?;
            out.extend(tasks.into_iter().map(|t| TaskState {
                workflow: t.workflow_id.clone(),
                task: t.id.clone(),
                status: t.status.as_str().to_string(),
                claim: t.claim,
                finished_by:
                    t.output.as_ref().and_then(|o| {
                        Some((o["agent"].as_str()?.to_string(), o["claim"].as_u64()?))
                    }),
            }));
        }
        Some(out)
    };
    // Lease time may stand still for up to a clock step after one is undone.
    let deadline = WORKER_TTL * 10 + super::nemesis::MAX_CLOCK_STEP;
    let settled = wait_until(deadline, "every claimed run to end", || async {
        read()
            .await
            .filter(|ts| ts.iter().all(|t| t.status != "RUNNING"))
    })
    .await;
    match settled {
        Ok(tasks) => tasks,
        Err(_) => match read().await {
            Some(tasks) => tasks,
            None => {
                anomalies.push(Anomaly::new(
                    "harness",
                    "could not read the claim workload's tasks back",
                ));
                Vec::new()
            }
        },
    }
}
