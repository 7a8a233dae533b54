//! `cairn bench`: closed-loop put benchmark against a running cluster. N tasks each issue one
//! put at a time on random keys for a fixed duration (after a warmup that is not measured) and
//! record per-op latency; the result is one JSON line on stdout, so runs are easy to collect
//! and compare.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::Client;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

/// Latencies above this (60 s in microseconds) are clamped; far beyond the client's retry
/// deadline anyway.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Measure put throughput and latency against a running cluster.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    endpoints: crate::endpoints_arg::EndpointsArg,
    /// Concurrent closed-loop writers.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured duration in seconds (after warmup).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Size of the key space keys are drawn from uniformly.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Seconds of unmeasured load before measuring (connections, leader discovery, caches).
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Give every writer its own Client (own HTTP/2 connections) instead of sharing one.
    #[arg(long)]
    client_per_task: bool,
}

/// What one writer task measured.
struct TaskResult {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    finished: Instant,
}

/// Runs the benchmark and prints one JSON line.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.keys == 0 || args.duration_secs == 0 {
        bail!("--clients, --keys and --duration-secs must be at least 1");
    }
    let shared = Client::connect(args.endpoints.list.iter().cloned()).context("bad --endpoints")?;
    let measure_start = Instant::now() + Duration::from_secs(args.warmup_secs);
    let end = measure_start + Duration::from_secs(args.duration_secs);

    let mut tasks = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let client = if args.client_per_task {
            Client::connect(args.endpoints.list.iter().cloned())?
        } else {
            shared.clone()
        };
        let hist = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
        let (keys, value_size) = (args.keys, args.value_size);
        tasks.push(tokio::spawn(writer(
            client,
            hist,
            keys,
            value_size,
            measure_start,
            end,
        )));
    }

    let mut total = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    let (mut ops, mut errors, mut first_error) = (0u64, 0u64, None);
    let mut last_finish = measure_start;
    for task in tasks {
        let r = task.await.context("bench task panicked")?;
        total.add(&r.hist)?;
        ops += r.ops;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
        last_finish = last_finish.max(r.finished);
    }
    if let Some(e) = &first_error {
        eprintln!("cairn bench: {errors} failed puts; first error: {e}");
    }

    // Ops that started before `end` may finish after it; divide by the real span so the rate
    // is not inflated.
    let elapsed = last_finish
        .saturating_duration_since(measure_start)
        .as_secs_f64();
    let ops_per_s = if elapsed > 0.0 {
        ops as f64 / elapsed
    } else {
        0.0
    };
    let ms = |us: u64| num(us as f64 / 1000.0);
    let (p50, p99, p999, max) = if total.is_empty() {
        (0, 0, 0, 0)
    } else {
        (
            total.value_at_quantile(0.50),
            total.value_at_quantile(0.99),
            total.value_at_quantile(0.999),
            total.max(),
        )
    };
    // Written by hand to keep the field order stable (serde_json's map would sort keys).
    println!(
        "{{\"bench\":\"put\",\"clients\":{},\"duration_s\":{},\"value_size\":{},\
         \"ops\":{},\"errors\":{},\"ops_per_s\":{},\
         \"p50_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{}}}",
        args.clients,
        args.duration_secs,
        args.value_size,
        ops,
        errors,
        num((ops_per_s * 10.0).round() / 10.0),
        ms(p50),
        ms(p99),
        ms(p999),
        ms(max),
    );
    Ok(())
}

/// A JSON number (`null` if not finite, which JSON cannot express).
fn num(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}

/// One closed-loop writer: a put, wait for it, the next put. Only puts that start inside the
/// measured window count. The key buffer and value are reused; each put's own request
/// buffers are the only per-op allocations.
async fn writer(
    client: Client,
    mut hist: Histogram<u64>,
    keys: u64,
    value_size: usize,
    measure_start: Instant,
    end: Instant,
) -> TaskResult {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut value = vec![0u8; value_size];
    rng.fill(&mut value[..]);
    let mut key = String::with_capacity(32);
    let (mut ops, mut errors, mut first_error) = (0u64, 0u64, None);
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        key.clear();
        // Writing into a String cannot fail.
        let _ = write!(key, "bench/{:012}", rng.random_range(0..keys));
        let result = client.put(key.as_bytes(), value.as_slice()).await;
        if started < measure_start {
            continue;
        }
        match result {
            Ok(_) => {
                ops += 1;
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                hist.saturating_record(us.max(1));
            }
            Err(e) => {
                errors += 1;
                if first_error.is_none() {
                    first_error = Some(e.to_string());
                }
            }
        }
    }
    TaskResult {
        hist,
        ops,
        errors,
        first_error,
        finished: Instant::now(),
    }
}
