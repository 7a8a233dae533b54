//! `cairn bench --workload step`: an orchestrator's step (flip a workflow's status, upsert
//! one of its tasks, set one of its variables, save a `--step-checkpoint-bytes` checkpoint)
//! over `--workflows` workflows, sent as one atomic `Steps.Apply` or as the four calls it
//! replaces. `--step-mode both` measures both in the same run, atomic first, one JSON line
//! each (`"mode"` tells them apart); an op is one whole step either way.

use std::time::Duration;

use anyhow::Context;
use cairn_client::{
    Client, Error, SaveOptions, Step, Target, TaskSpec, VarScope, VarUpdate, serde_json::json,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::args::BenchArgs;
use super::args::StepMode;
use super::latency::histogram;
use super::measure::{closed_loop, report_with};
use super::workloads::{FLIP, Op, Outcome, prepare_flip_workflows, workflow_id};

struct StepWork {
    client: Client,
    rng: SmallRng,
    workflows: u64,
    atomic: bool,
    n: u64,
    payload: Vec<u8>,
}

impl Op for StepWork {
    type Error = Error;
    async fn run(&mut self) -> Result<Outcome, Error> {
        let id = workflow_id(self.rng.random_range(0..self.workflows));
        self.n += 1;
        let task = TaskSpec::new("step").input(json!(self.n));
        let vars = VarUpdate::new().set("n", json!(self.n));
        let flip = Target::event(FLIP);
        if self.atomic {
            let step = Step::new(&id)
                .transition(flip, None)
                .tasks([task])
                .vars(vars)
                .checkpoint(self.payload.clone(), SaveOptions::new());
            self.client.step(step).await?;
        } else {
            self.client.transition(&id, flip, None, "", "").await?;
            self.client.upsert_tasks(&id, [task]).await?;
            self.client
                .update_vars(&VarScope::Workflow(id.clone()), vars)
                .await?;
            self.client
                .save_checkpoint(&id, self.payload.clone(), SaveOptions::new())
                .await?;
        }
        Ok(Outcome::Done)
    }
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let shared = args.endpoints.connect()?;
    prepare_flip_workflows(&shared, args.workflows, args.clients.max(16))
        .await
        .context("preparing workflows")?;
    let modes: &[bool] = match args.step_mode {
        StepMode::Atomic => &[true],
        StepMode::Separate => &[false],
        StepMode::Both => &[true, false],
    };
    let payload = vec![b'x'; args.step_checkpoint_bytes];
    for &atomic in modes {
        let measure_start = Instant::now() + Duration::from_secs(args.warmup_secs);
        let end = measure_start + Duration::from_secs(args.duration_secs);
        let mut tasks = Vec::with_capacity(args.clients);
        for _ in 0..args.clients {
            let client = if args.client_per_task {
                args.endpoints.connect()?
            } else {
                shared.clone()
            };
            let work = StepWork {
                client,
                rng: SmallRng::from_rng(&mut rand::rng()),
                workflows: args.workflows,
                atomic,
                n: 0,
                payload: payload.clone(),
            };
            tasks.push(tokio::spawn(closed_loop(
                work,
                histogram()?,
                measure_start,
                end,
            )));
        }
        let mode = if atomic { "atomic" } else { "separate" };
        report_with(args, tasks, measure_start, |_| {
            format!(
                "\"mode\":\"{mode}\",\"workflows\":{},\"checkpoint_bytes\":{}",
                args.workflows, args.step_checkpoint_bytes
            )
        })
        .await?;
    }
    Ok(())
}
