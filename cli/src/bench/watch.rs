//! `cairn bench --workload watch`: how fast changes reach watchers.
//!
//! `--watch-mode latency` (default): `--watchers` watches on the bench prefix (spread over
//! the endpoints, so followers serve some) while puts are issued open-loop at `--rate` per
//! second. Each put's value carries its send time; a watcher receiving the event records
//! (receive - send), the end-to-end delay including the write's own commit, and
//! (receive - the writer's acknowledgement), which approximates commit -> delivery (clamped
//! at 0 when the event beats the reply).
//!
//! `--watch-mode consume`: writes `--events` puts, then one watcher replays them from the
//! node's history as fast as it can read: the events per second one watcher can consume.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::{Client, ClientConfig, WatchChange, WatchFilter, WatchItem, WatchOptions};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::args::{BenchArgs, WatchMode};
use super::latency::{histogram, num};

const PREFIX: &str = "bench-watch/";
/// Puts in flight at most (open loop: a slow cluster shows as missed rate, not as queueing).
const MAX_IN_FLIGHT: usize = 256;

fn us_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn ms(h: &Histogram<u64>, q: f64) -> String {
    if h.is_empty() {
        return "null".into();
    }
    num(h.value_at_quantile(q) as f64 / 1000.0)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match args.watch_mode {
        WatchMode::Latency => latency(args).await,
        WatchMode::Consume => consume(args).await,
    }
}

/// Parses `<seq>:<send µs>` from a bench value.
fn parse_value(v: &[u8]) -> Option<(usize, u64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (seq, sent) = s.split_once(':')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

async fn latency(args: &BenchArgs) -> anyhow::Result<()> {
    if args.watchers == 0 || args.rate == 0 {
        bail!("--watchers and --rate must be at least 1");
    }
    let endpoints = &args.endpoints.list;
    let writer = args.endpoints.connect()?;
    let base = Instant::now();
    let total = usize::try_from(args.rate * (args.warmup_secs + args.duration_secs) + 1)?;
    // Acknowledgement time of each put, µs since `base` (0: not yet acknowledged).
    let acks: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let measure_from = us_since(base) + args.warmup_secs * 1_000_000;

    let mut watchers = Vec::with_capacity(args.watchers);
    for i in 0..args.watchers {
        // Rotate the endpoint order so watchers spread over the nodes.
        let mut eps = endpoints.clone();
        let shift = i % eps.len().max(1);
        eps.rotate_left(shift);
        let client = Client::with_config(
            eps,
            ClientConfig {
                tls: args.endpoints.tls.options()?,
                credentials: args.endpoints.auth.credentials()?,
                ..Default::default()
            },
        )?;
        let mut stream = client.watch_with(
            WatchFilter::new().kv_prefix(PREFIX),
            0,
            WatchOptions {
                progress_notify: None,
                buffer: 1024,
            },
        );
        let acks = acks.clone();
        watchers.push(tokio::spawn(async move {
            let (mut e2e, mut from_ack) = (histogram()?, histogram()?);
            let mut events = 0u64;
            while let Some(item) = stream.recv().await {
                let WatchItem::Events { events: batch, .. } = item? else {
                    continue;
                };
                let now = us_since(base);
                for e in batch {
                    let WatchChange::KvPut { kv, .. } = e.change else {
                        continue;
                    };
                    let Some((seq, sent)) = parse_value(&kv.value) else {
                        continue;
                    };
                    if sent == u64::MAX {
                        // The end marker.
                        return anyhow::Ok((e2e, from_ack, events));
                    }
                    if sent < measure_from {
                        continue;
                    }
                    events += 1;
                    e2e.saturating_record(now.saturating_sub(sent).max(1));
                    let acked = acks.get(seq).map_or(0, |a| a.load(Ordering::Acquire));
                    let delay = if acked == 0 {
                        1
                    } else {
                        now.saturating_sub(acked).max(1)
                    };
                    from_ack.saturating_record(delay);
                }
            }
            bail!("watch ended")
        }));
    }
    // The watches connect during the warmup, which is not measured.
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let end = Instant::now() + Duration::from_secs(args.warmup_secs + args.duration_secs);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut skipped) = (0usize, 0u64);
    let errors = Arc::new(AtomicU64::new(0));
    while Instant::now() < end && sent < total {
        ticker.tick().await;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let seq = sent;
        sent += 1;
        let (c, acks, errors) = (writer.clone(), acks.clone(), errors.clone());
        tokio::spawn(async move {
            let value = format!("{seq}:{}", us_since(base));
            match c.put(format!("{PREFIX}{:06}", seq % 10_000), value).await {
                Ok(_) => acks[seq].store(us_since(base), Ordering::Release),
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(permit);
        });
    }
    // Wait for the puts in flight, then tell the watchers to stop.
    let _all = permits.acquire_many(MAX_IN_FLIGHT as u32).await?;
    writer
        .put(format!("{PREFIX}end"), format!("0:{}", u64::MAX))
        .await?;

    let (mut e2e, mut from_ack) = (histogram()?, histogram()?);
    let mut events = 0u64;
    for w in watchers {
        let (a, b, n) = tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .context("a watcher never saw the end marker")???;
        e2e.add(&a)?;
        from_ack.add(&b)?;
        events += n;
    }
    if skipped > 0 {
        eprintln!("cairn bench: {skipped} writes skipped ({MAX_IN_FLIGHT} already in flight)");
    }
    println!(
        "{{\"bench\":\"watch\",\"mode\":\"latency\",\"watchers\":{},\"rate\":{},\"duration_s\":{},\
         \"writes\":{},\"skipped\":{skipped},\"errors\":{},\"events\":{events},\
         \"p50_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{},\
         \"from_ack_p50_ms\":{},\"from_ack_p99_ms\":{}}}",
        args.watchers,
        args.rate,
        args.duration_secs,
        sent,
        errors.load(Ordering::Relaxed),
        ms(&e2e, 0.5),
        ms(&e2e, 0.99),
        ms(&e2e, 0.999),
        ms(&e2e, 1.0),
        ms(&from_ack, 0.5),
        ms(&from_ack, 0.99),
    );
    Ok(())
}

async fn consume(args: &BenchArgs) -> anyhow::Result<()> {
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    let client = args.endpoints.connect()?;
    let value = vec![b'x'; args.value_size];
    // Prefill concurrently; the first and last revisions bound the replay.
    let next = Arc::new(AtomicU64::new(0));
    let (first, last) = (
        Arc::new(AtomicU64::new(u64::MAX)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut fill = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (c, next, first, last, value) = (
            client.clone(),
            next.clone(),
            first.clone(),
            last.clone(),
            value.clone(),
        );
        let n = args.events;
        fill.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                let rev = c.put(format!("{PREFIX}{i:08}"), value.clone()).await?;
                first.fetch_min(rev, Ordering::Relaxed);
                last.fetch_max(rev, Ordering::Relaxed);
            }
        }));
    }
    for f in fill {
        f.await??;
    }
    let (first, last) = (first.load(Ordering::Relaxed), last.load(Ordering::Relaxed));
    let started = Instant::now();
    let mut stream = client.watch_with(
        WatchFilter::new().kv_prefix(PREFIX),
        first,
        WatchOptions {
            progress_notify: None,
            buffer: 1024,
        },
    );
    let mut events = 0u64;
    let mut reset = false;
    while let Some(item) = stream.recv().await {
        match item? {
            WatchItem::Events {
                revision,
                events: e,
            } => {
                events += e.len() as u64;
                if revision >= last {
                    break;
                }
            }
            WatchItem::Reset { .. } => {
                reset = true;
                break;
            }
            WatchItem::Progress { .. } => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if reset {
        bail!(
            "the history no longer holds the prefilled events; raise --watch-history-* or lower --events"
        );
    }
    println!(
        "{{\"bench\":\"watch\",\"mode\":\"consume\",\"events\":{events},\"value_size\":{},\
         \"elapsed_s\":{},\"events_per_s\":{}}}",
        args.value_size,
        num((elapsed * 1000.0).round() / 1000.0),
        num((events as f64 / elapsed).round()),
    );
    Ok(())
}
