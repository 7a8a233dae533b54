//! `cairn bench --workload checkpoint`: checkpoint save+load throughput. N closed-loop tasks,
//! each on its own workflow, save a realistic JSON agent state of `--checkpoint-bytes` and
//! load it back (verifying the bytes), for the measured duration. One JSON line reports the
//! raw payload throughput (MB/s of checkpoints saved and loaded back), save, load and
//! round-trip latency percentiles, and the compression ratio the cluster achieved (raw over
//! stored bytes of every save). The bench workflows and their checkpoints are deleted after.

use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::{Client, CreateWorkflow, Error, SaveOptions, Target};
use cairn_testdata::agent_state;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::args::BenchArgs;
use super::latency::{histogram, num};

const NAMESPACE: &str = "bench-ckpt";
/// Distinct payloads per task: consecutive saves differ, as a real agent's would.
const VARIANTS: u64 = 4;

fn workflow_id(task: usize) -> String {
    format!("bench-ckpt-{task:04}")
}

struct TaskResult {
    round_trip: Histogram<u64>,
    save: Histogram<u64>,
    load: Histogram<u64>,
    ops: u64,
    raw: u64,
    stored: u64,
    errors: u64,
    first_error: Option<String>,
    finished: Instant,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

async fn prepare(client: &Client, tasks: usize) -> Result<(), Error> {
    for t in 0..tasks {
        let id = workflow_id(t);
        let created = client
            .create_workflow(
                CreateWorkflow::new()
                    .id(&id)
                    .namespace(NAMESPACE)
                    .upsert(true),
            )
            .await?;
        if created.workflow.status == "PENDING" {
            client
                .transition(&id, Target::event("start"), None, "bench", "")
                .await?;
        }
    }
    Ok(())
}

async fn save_and_load(
    client: &Client,
    workflow: &str,
    payload: &[u8],
) -> Result<(Duration, Duration, u64), Error> {
    let started = Instant::now();
    let saved = client
        .save_checkpoint(
            workflow,
            payload.to_vec(),
            SaveOptions::new().label("bench"),
        )
        .await?;
    let save = started.elapsed();
    let (_, loaded) = client.load_checkpoint(workflow, &saved.id, false).await?;
    if loaded != payload {
        return Err(Error::DataLoss(format!(
            "{workflow}/{}: loaded bytes differ",
            saved.id
        )));
    }
    Ok((save, started.elapsed() - save, saved.stored_size))
}

async fn task(
    client: Client,
    index: usize,
    size: usize,
    measure_start: Instant,
    end: Instant,
) -> anyhow::Result<TaskResult> {
    let workflow = workflow_id(index);
    let payloads: Vec<Vec<u8>> = (0..VARIANTS)
        .map(|v| agent_state(size, index as u64 * VARIANTS + v))
        .collect();
    let mut r = TaskResult {
        round_trip: histogram()?,
        save: histogram()?,
        load: histogram()?,
        ops: 0,
        raw: 0,
        stored: 0,
        errors: 0,
        first_error: None,
        finished: Instant::now(),
    };
    let mut n = 0usize;
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let payload = &payloads[n % payloads.len()];
        n += 1;
        let result = save_and_load(&client, &workflow, payload).await;
        if started < measure_start {
            continue;
        }
        match result {
            Ok((save, load, stored)) => {
                r.ops += 1;
                r.raw += payload.len() as u64;
                r.stored += stored;
                r.save.saturating_record(us(save));
                r.load.saturating_record(us(load));
                r.round_trip.saturating_record(us(save + load));
            }
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    r.finished = Instant::now();
    Ok(r)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.checkpoint_bytes == 0 {
        bail!("--checkpoint-bytes must be at least 1");
    }
    let shared = args.endpoints.connect()?;
    prepare(&shared, args.clients)
        .await
        .context("preparing workflows")?;
    let measure_start = Instant::now() + Duration::from_secs(args.warmup_secs);
    let end = measure_start + Duration::from_secs(args.duration_secs);
    let mut handles = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let client = if args.client_per_task {
            args.endpoints.connect()?
        } else {
            shared.clone()
        };
        handles.push(tokio::spawn(task(
            client,
            i,
            args.checkpoint_bytes,
            measure_start,
            end,
        )));
    }
    let (mut round_trip, mut save, mut load) = (histogram()?, histogram()?, histogram()?);
    let (mut ops, mut raw, mut stored, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut last_finish = measure_start;
    for h in handles {
        let r = h.await.context("bench task panicked")??;
        round_trip.add(&r.round_trip)?;
        save.add(&r.save)?;
        load.add(&r.load)?;
        ops += r.ops;
        raw += r.raw;
        stored += r.stored;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
        last_finish = last_finish.max(r.finished);
    }
    if let Some(e) = &first_error {
        eprintln!("cairn bench: {errors} failed operations; first error: {e}");
    }
    // Checkpoints accumulate fast at these rates: deleting the workflows deletes them.
    for t in 0..args.clients {
        if let Err(e) = shared.delete_workflow(&workflow_id(t), true).await {
            eprintln!("cairn bench: cleanup of {}: {e}", workflow_id(t));
        }
    }

    let elapsed = last_finish
        .saturating_duration_since(measure_start)
        .as_secs_f64();
    let rate = |x: f64| if elapsed > 0.0 { x / elapsed } else { 0.0 };
    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    let round = |x: f64| num((x * 10.0).round() / 10.0);
    let ms = |h: &Histogram<u64>, q: f64| {
        if h.is_empty() {
            "null".to_string()
        } else {
            num(h.value_at_quantile(q) as f64 / 1000.0)
        }
    };
    let ratio = if stored > 0 {
        num((raw as f64 / stored as f64 * 100.0).round() / 100.0)
    } else {
        "null".to_string()
    };
    // Written by hand to keep the field order stable.
    println!(
        "{{\"bench\":\"checkpoint\",\"clients\":{},\"duration_s\":{},\"checkpoint_bytes\":{},\
         \"ops\":{ops},\"errors\":{errors},\"ops_per_s\":{},\"save_load_mb_per_s\":{},\
         \"compression_ratio\":{ratio},\"p50_ms\":{},\"p99_ms\":{},\"save_p99_ms\":{},\
         \"load_p99_ms\":{},\"max_ms\":{}}}",
        args.clients,
        args.duration_secs,
        args.checkpoint_bytes,
        round(rate(ops as f64)),
        round(rate(mb(raw))),
        ms(&round_trip, 0.5),
        ms(&round_trip, 0.99),
        ms(&save, 0.99),
        ms(&load, 0.99),
        ms(&round_trip, 1.0),
    );
    Ok(())
}
