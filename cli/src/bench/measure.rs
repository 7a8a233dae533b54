//! Running and reporting a closed-loop benchmark: [`closed_loop`] (one task: an operation,
//! wait for it, the next, timing those that start in the measured window) and
//! [`report_with`] (wait for the tasks, print the run's one JSON line).

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::args::{Api, BenchArgs};
use super::latency::{histogram, num};
use super::workloads::{Op, Outcome};
use anyhow::Context;

/// What one task measured.
pub struct TaskResult {
    hist: Histogram<u64>,
    ops: u64,
    conflicts: u64,
    errors: u64,
    first_error: Option<String>,
    finished: Instant,
}

pub type Tasks = Vec<tokio::task::JoinHandle<TaskResult>>;

/// [`report`] with the workload's fields made by `fields` from the conflict count.
pub async fn report_with(
    args: &BenchArgs,
    tasks: Tasks,
    measure_start: Instant,
    fields: impl FnOnce(u64) -> String,
) -> anyhow::Result<()> {
    let mut total = histogram()?;
    let (mut ops, mut conflicts, mut errors, mut first_error) = (0u64, 0u64, 0u64, None);
    let mut last_finish = measure_start;
    for task in tasks {
        let r = task.await.context("bench task panicked")?;
        total.add(&r.hist)?;
        ops += r.ops;
        conflicts += r.conflicts;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
        last_finish = last_finish.max(r.finished);
    }
    if let Some(e) = &first_error {
        eprintln!("cairn bench: {errors} failed operations; first error: {e}");
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
    let workload_fields = fields(conflicts);
    println!(
        "{{\"bench\":\"{}\",\"system\":{},\"api\":\"{}\",\"clients\":{},\"duration_s\":{},{workload_fields},\
         \"ops\":{},\"errors\":{},\"ops_per_s\":{},\
         \"p50_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{}}}",
        args.workload.name(),
        serde_json::Value::from(args.system.as_str()),
        match args.api {
            Api::Cairn => "cairn",
            Api::Etcd => "etcd",
        },
        args.clients,
        args.duration_secs,
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

/// One closed-loop task: an operation, wait for it, the next. Only operations that start
/// inside the measured window count; a conflict counts separately from a completed op.
pub async fn closed_loop(
    mut op: impl Op,
    mut hist: Histogram<u64>,
    measure_start: Instant,
    end: Instant,
) -> TaskResult {
    let (mut ops, mut conflicts, mut errors, mut first_error) = (0u64, 0u64, 0u64, None);
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let result = op.run().await;
        if started < measure_start {
            continue;
        }
        match result {
            Ok(Outcome::Done) => {
                ops += 1;
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                hist.saturating_record(us.max(1));
            }
            Ok(Outcome::Conflict) => conflicts += 1,
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
        conflicts,
        errors,
        first_error,
        finished: Instant::now(),
    }
}
