//! `cairn bench`: closed-loop benchmarks against a running cluster. N tasks each issue one
//! operation at a time (a put, a workflow transition, a list query; see `workloads`) for a
//! fixed duration after an unmeasured warmup, and record per-op latency; the result is one
//! JSON line on stdout, so runs are easy to collect and compare.

mod args;
mod checkpoint;
mod claims;
mod coord;
mod etcd;
mod latency;
mod measure;
mod steps;
mod watch;
mod workloads;

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

pub use args::BenchArgs;
use args::{Api, Workload};
use latency::histogram;
use measure::{Tasks, closed_loop, report_with};

/// Runs the benchmark and prints one JSON line.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.keys == 0 || args.duration_secs == 0 || args.workflows == 0 {
        bail!("--clients, --keys, --workflows and --duration-secs must be at least 1");
    }
    if args.workload == Workload::List && args.active > args.workflows {
        bail!("--active cannot exceed --workflows");
    }
    if args.workload == Workload::Watch {
        return watch::run(&args).await;
    }
    if args.workload == Workload::Checkpoint {
        return checkpoint::run(&args).await;
    }
    if args.workload == Workload::ElectionFailover {
        return coord::election_failover(&args).await;
    }
    if args.workload == Workload::Step {
        return steps::run(&args).await;
    }
    if args.workload == Workload::Lock && args.lock_names == 0 {
        bail!("--lock-names must be at least 1");
    }
    let (measure_start, tasks) = match args.api {
        Api::Cairn => spawn_cairn(&args).await?,
        Api::Etcd => spawn_etcd(&args).await?,
    };
    report(&args, tasks, measure_start).await
}

/// Starts the closed-loop tasks of a Cairn-API workload; returns when measuring starts.
async fn spawn_cairn(args: &BenchArgs) -> anyhow::Result<(Instant, Tasks)> {
    let shared = args.endpoints.connect()?;
    // Data the workload needs is prepared before the clock starts.
    let prepare_concurrency = args.clients.max(16);
    match args.workload {
        Workload::Get | Workload::Cas => {
            bail!("the {} workload runs with --api etcd", args.workload.name())
        }
        // Watch, checkpoint, election-failover and step returned above.
        Workload::Put
        | Workload::Watch
        | Workload::Checkpoint
        | Workload::Lock
        | Workload::ElectionFailover
        | Workload::Step => {}
        Workload::Transition => {
            workloads::prepare_flip_workflows(&shared, args.workflows, prepare_concurrency)
                .await
                .context("preparing workflows")?
        }
        Workload::List => {
            workloads::prepare_list(&shared, args.workflows, args.active, prepare_concurrency)
                .await
                .context("preparing workflows")?
        }
        Workload::Claim if !args.no_prepare => {
            claims::prepare(
                &shared,
                &args.namespace,
                args.workflows,
                args.tasks_per_workflow,
                prepare_concurrency,
            )
            .await?
        }
        Workload::Claim => {}
    }
    let mut claim_workers = Vec::new();
    if args.workload == Workload::Claim {
        for n in 0..args.clients {
            let client = if args.client_per_task {
                args.endpoints.connect()?
            } else {
                shared.clone()
            };
            let worker = claims::ClaimCycle::new(
                client,
                format!("{}-{n}", args.agent),
                Duration::from_millis(args.lease_ttl_ms),
                &args.namespace,
                Duration::from_millis(args.task_ms),
            )
            .await
            .context("granting a worker's lease")?;
            claim_workers.push(worker);
        }
    }
    let measure_start = Instant::now() + Duration::from_secs(args.warmup_secs);
    let end = measure_start + Duration::from_secs(args.duration_secs);

    let mut tasks = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let client = if args.client_per_task {
            args.endpoints.connect()?
        } else {
            shared.clone()
        };
        let hist = histogram()?;
        tasks.push(match args.workload {
            Workload::Claim => match claim_workers.pop() {
                Some(w) => tokio::spawn(closed_loop(w, hist, measure_start, end)),
                None => bail!("no claim worker left"),
            },
            Workload::Lock => tokio::spawn(closed_loop(
                coord::LockCycle::new(client, args.lock_names),
                hist,
                measure_start,
                end,
            )),
            Workload::Put
            | Workload::Watch
            | Workload::Checkpoint
            | Workload::ElectionFailover
            | Workload::Step
            | Workload::Get
            | Workload::Cas => tokio::spawn(closed_loop(
                workloads::Put::new(client, args.keys, args.value_size),
                hist,
                measure_start,
                end,
            )),
            Workload::Transition => tokio::spawn(closed_loop(
                workloads::Flip::new(client, args.workflows, args.expected_version),
                hist,
                measure_start,
                end,
            )),
            Workload::List => tokio::spawn(closed_loop(
                workloads::ListActive::new(client, args.active),
                hist,
                measure_start,
                end,
            )),
        });
    }

    Ok((measure_start, tasks))
}

/// Starts the closed-loop tasks of an etcd-API workload.
async fn spawn_etcd(args: &BenchArgs) -> anyhow::Result<(Instant, Tasks)> {
    let tls = args.endpoints.tls.options()?;
    let creds = args.endpoints.auth.credentials()?;
    let shared = etcd::connect(&args.endpoints.list, tls.as_ref(), creds.as_ref())
        .await
        .context("connecting to the etcd endpoints")?;
    if args.workload == Workload::Get {
        etcd::prefill(&shared, args.keys, args.value_size, args.clients.max(16))
            .await
            .context("prefilling keys")?;
    }
    let mut ops = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let client = if args.client_per_task {
            etcd::connect(&args.endpoints.list, tls.as_ref(), creds.as_ref()).await?
        } else {
            shared.clone()
        };
        ops.push(match args.workload {
            Workload::Put => EtcdOp::Put(etcd::Put::new(client, args.keys, args.value_size)),
            Workload::Get => EtcdOp::Get(etcd::Get::new(client, args.keys)),
            Workload::Cas => EtcdOp::Cas(etcd::Cas::new(client, args.keys)),
            Workload::Lock => EtcdOp::Lock(etcd::LockCycle::new(client, args.lock_names).await?),
            other => bail!(
                "--api etcd runs put, get, cas and lock, not {}",
                other.name()
            ),
        });
    }
    let measure_start = Instant::now() + Duration::from_secs(args.warmup_secs);
    let end = measure_start + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::with_capacity(args.clients);
    for op in ops {
        let hist = histogram()?;
        tasks.push(match op {
            EtcdOp::Put(op) => tokio::spawn(closed_loop(op, hist, measure_start, end)),
            EtcdOp::Get(op) => tokio::spawn(closed_loop(op, hist, measure_start, end)),
            EtcdOp::Cas(op) => tokio::spawn(closed_loop(op, hist, measure_start, end)),
            EtcdOp::Lock(op) => tokio::spawn(closed_loop(op, hist, measure_start, end)),
        });
    }
    Ok((measure_start, tasks))
}

enum EtcdOp {
    Put(etcd::Put),
    Get(etcd::Get),
    Cas(etcd::Cas),
    Lock(etcd::LockCycle),
}

/// Waits for the tasks and prints the run's JSON line.
async fn report(args: &BenchArgs, tasks: Tasks, measure_start: Instant) -> anyhow::Result<()> {
    report_with(args, tasks, measure_start, |conflicts| {
        workload_fields(args, conflicts)
    })
    .await
}

/// The JSON fields (after `duration_s`) that describe the workload's parameters.
fn workload_fields(args: &BenchArgs, conflicts: u64) -> String {
    // Written by hand to keep the field order stable (serde_json's map would sort keys).
    match args.workload {
        Workload::Lock => format!("\"lock_names\":{}", args.lock_names),
        Workload::Put
        | Workload::Watch
        | Workload::Checkpoint
        | Workload::ElectionFailover
        | Workload::Step => {
            format!("\"value_size\":{}", args.value_size)
        }
        Workload::Get => format!("\"keys\":{},\"value_size\":{}", args.keys, args.value_size),
        Workload::Cas => format!("\"keys\":{},\"conflicts\":{conflicts}", args.keys),
        Workload::Claim => format!(
            "\"namespace\":{},\"task_ms\":{},\"empty\":{conflicts}",
            serde_json::Value::from(args.namespace.as_str()),
            args.task_ms
        ),
        Workload::Transition => format!(
            "\"workflows\":{},\"expected_version\":{},\"conflicts\":{conflicts}",
            args.workflows, args.expected_version
        ),
        Workload::List => format!(
            "\"workflows\":{},\"active\":{}",
            args.workflows, args.active
        ),
    }
}
