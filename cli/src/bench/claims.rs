//! `cairn bench --workload claim`: claim+complete cycles of workers. Each of `--clients`
//! workers holds its own lease (kept alive in the background, `--lease-ttl-ms`), claims the
//! oldest ready task of `--namespace`, "runs" it for `--task-ms`, and finishes it with an
//! output naming the worker and the claim (`{"agent": .., "claim": ..}`), so a checker can
//! tell which run completed each task. A claim that finds nothing ready counts as `empty`
//! and waits 10 ms.
//!
//! Unless `--no-prepare`, the run first creates `--workflows` workflows of
//! `--tasks-per-workflow` independent tasks (retry policy: 3 attempts, 100 ms backoff) in
//! the namespace. Cluster tests start several of these processes with `--no-prepare` as
//! workers that can be killed.

use std::time::Duration;

use anyhow::Context;
use cairn_client::{ClaimOptions, Client, CreateWorkflow, Error, KeepAlive, RunResult, TaskSpec};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::workloads::{Op, Outcome};

/// How long a worker waits after a claim found nothing ready.
const IDLE: Duration = Duration::from_millis(10);

/// Creates the workflows and tasks the workers claim.
pub async fn prepare(
    client: &Client,
    namespace: &str,
    workflows: u64,
    tasks_per_workflow: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let run = format!("{:08x}", rand::random::<u32>());
    futures::stream::iter(0..workflows)
        .map(|i| {
            let id = format!("bench-claim-{run}-{i:05}");
            async move {
                client
                    .create_workflow(CreateWorkflow::new().id(&id).namespace(namespace))
                    .await?;
                let tasks = (0..tasks_per_workflow).map(|t| {
                    TaskSpec::new(format!("t{t:04}"))
                        .kind("bench")
                        .retry(3, Duration::from_millis(100))
                });
                client.upsert_tasks(&id, tasks).await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await
        .context("preparing claimable tasks")?;
    Ok(())
}

pub struct ClaimCycle {
    client: Client,
    agent: String,
    lease: KeepAlive,
    namespace: String,
    task_time: Duration,
}

impl ClaimCycle {
    pub async fn new(
        client: Client,
        agent: String,
        lease_ttl: Duration,
        namespace: &str,
        task_time: Duration,
    ) -> Result<Self, Error> {
        let info = client.grant_lease(lease_ttl).await?;
        let lease = client.keep_alive(&info);
        Ok(Self {
            client,
            agent,
            lease,
            namespace: namespace.to_string(),
            task_time,
        })
    }
}

impl Op for ClaimCycle {
    type Error = Error;
    async fn run(&mut self) -> Result<Outcome, Error> {
        let opts = ClaimOptions::new().namespace(&self.namespace);
        let claimed = self
            .client
            .claim_task(&self.agent, self.lease.lease_id(), opts)
            .await?;
        let Some(task) = claimed.task else {
            tokio::time::sleep(IDLE).await;
            return Ok(Outcome::Conflict);
        };
        if !self.task_time.is_zero() {
            tokio::time::sleep(self.task_time).await;
        }
        let output = json!({ "agent": self.agent, "claim": task.claim });
        self.client
            .finish_task(
                &task.workflow_id,
                &task.id,
                task.claim,
                RunResult::Completed(output),
            )
            .await?;
        Ok(Outcome::Done)
    }
}
