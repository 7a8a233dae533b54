//! The atomic-steps workload: each writer owns one workflow and repeatedly applies one step to
//! it — a transition (pause or resume, at the version read), a variables CAS writing the step
//! number `n`, a task upsert carrying `n`, and a checkpoint of `{"n": n}` — as one
//! `Steps.Apply`. All or nothing means the workflow's transitions, its variable versions and
//! its checkpoints pair up one to one at equal revisions, with `n` counting them, whatever
//! faults hit in between (an unknown outcome applied all or none of its parts). After healing
//! the checker reads the three histories back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{
    Client, CreateWorkflow, HistoryKind, SaveOptions, Step, Target, TaskFilter, TaskSpec, VarScope,
    VarUpdate,
};
use serde_json::json;

use super::check::Anomaly;
use super::history::{Outcome, Recorder};
use super::roster::RosterClient;
use super::workload::definite;

const PACE: Duration = Duration::from_millis(200);

fn workflow(id: u64) -> String {
    format!("chaos-step-{id}")
}

/// Acknowledged steps: (workflow, n, revision).
#[derive(Default)]
pub struct StepLog {
    pub acked: Mutex<Vec<(String, u64, u64)>>,
}

/// Creates and starts writer `id`'s workflow (default definition: RUNNING <-> PAUSED).
pub async fn create(client: &Client, id: u64) -> cairn_client::Result<()> {
    let wf = workflow(id);
    client
        .create_workflow(CreateWorkflow::new().id(&wf).namespace("chaos-steps"))
        .await?;
    client
        .transition(&wf, Target::event("start"), None, "setup", "")
        .await?;
    Ok(())
}

pub async fn writer(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    log: Arc<StepLog>,
    stop: Arc<AtomicBool>,
) {
    let wf = workflow(id);
    let scope = VarScope::Workflow(wf.clone());
    while !stop.load(Ordering::Relaxed) {
        let client = clients.get();
        let (Ok(Some(now)), Ok(vars)) = (
            client.workflow(&wf, false).await,
            client.vars(&scope, None).await,
        ) else {
            tokio::time::sleep(PACE).await;
            continue;
        };
        let now = now.workflow;
        let (version, n) = vars.map_or((0, 0), |v| (v.version, v.version));
        let n = n + 1;
        let event = if now.status == "RUNNING" {
            "pause"
        } else {
            "resume"
        };
        let step = Step::new(&wf)
            .transition(Target::event(event), Some(now.version))
            .tasks([TaskSpec::new("step").input(json!(n))])
            .vars(
                VarUpdate::new()
                    .set("n", json!(n))
                    .expected_version(version)
                    .keep_versions(100_000),
            )
            .checkpoint(
                json!({ "n": n }).to_string(),
                SaveOptions::new().label(format!("n{n}")),
            );
        rec.invoke(
            id,
            "step",
            &format!("{wf} n {n} ({event} at {})", now.version),
        );
        match client.apply_steps([step]).await {
            Ok(applied) => {
                rec.complete(id, "step", Outcome::Ok, &applied.revision);
                log.acked.lock().unwrap_or_else(|p| p.into_inner()).push((
                    wf.clone(),
                    n,
                    applied.revision,
                ));
            }
            Err(e) if definite(&e) => {
                rec.complete(id, "step", Outcome::Fail, &e);
            }
            Err(e) => {
                rec.complete(id, "step", Outcome::Indeterminate, &e);
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// After healing, for each writer's workflow: the transitions after setup, the variable
/// versions and the checkpoints pair up one to one at equal revisions, the k-th writing
/// `n == k`; the task holds the last `n`; every acknowledged step is one of them. Returns how
/// many steps were checked.
pub async fn check(
    client: &Client,
    writers: std::ops::Range<u64>,
    log: &StepLog,
    anomalies: &mut Vec<Anomaly>,
) -> u64 {
    let mut checked = 0;
    for id in writers {
        let wf = workflow(id);
        let read = async {
            let history = client.history_all(&wf).await?;
            let vars = client.var_history(&VarScope::Workflow(wf.clone())).await?;
            let ckpts = client.list_all_checkpoints(&wf).await?;
            let tasks = client.tasks(&wf, &TaskFilter::default()).await?;
            Ok::<_, cairn_client::Error>((history, vars, ckpts, tasks))
        };
        let (history, vars, ckpts, tasks) = match read.await {
            Ok(r) => r,
            Err(e) => {
                anomalies.push(Anomaly::new("harness", format!("reading {wf}: {e}")));
                continue;
            }
        };
        // The first transition is setup's start.
        let transitions: Vec<u64> = history
            .iter()
            .filter(|e| e.kind == HistoryKind::Transition)
            .skip(1)
            .map(|e| e.revision)
            .collect();
        let var_revisions: Vec<u64> = vars.iter().map(|v| v.revision).collect();
        let ckpt_revisions: Vec<u64> = ckpts.iter().map(|c| c.revision).collect();
        if transitions != var_revisions || var_revisions != ckpt_revisions {
            anomalies.push(Anomaly::new(
                "steps-torn",
                format!(
                    "{wf}: transitions at {transitions:?}, variable versions at \
                     {var_revisions:?}, checkpoints at {ckpt_revisions:?}"
                ),
            ));
        }
        for (k, v) in vars.iter().enumerate() {
            let n = v
                .changes
                .get("n")
                .and_then(|c| c.value.as_ref())
                .and_then(|n| n.as_u64());
            if n != Some(k as u64 + 1) {
                anomalies.push(Anomaly::new(
                    "steps-lost-update",
                    format!("{wf}: variable version {} wrote n = {n:?}", v.version),
                ));
            }
        }
        let task_n = tasks
            .iter()
            .find(|t| t.id == "step")
            .and_then(|t| t.input.as_ref())
            .and_then(|i| i.as_u64());
        if task_n != vars.last().map(|v| v.version) {
            anomalies.push(Anomaly::new(
                "steps-torn",
                format!(
                    "{wf}: task n {task_n:?} after {} variable versions",
                    vars.len()
                ),
            ));
        }
        for (w, n, revision) in log.acked.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if *w == wf
                && vars.get((*n as usize).wrapping_sub(1)).map(|v| v.revision) != Some(*revision)
            {
                anomalies.push(Anomaly::new(
                    "steps-lost-write",
                    format!("{wf}: acknowledged step n {n} at revision {revision} is not there"),
                ));
            }
        }
        checked += vars.len() as u64;
    }
    checked
}
