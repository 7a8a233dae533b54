//! Coordination benchmarks.
//!
//! - `lock`: closed-loop acquire+release cycles over `--lock-names` lock names (random pick,
//!   so mostly uncontended). A cycle is two writes: the acquire (which grants the lock's own
//!   lease in the same entry) and the release (revoking that lease).
//! - `election-failover`: per round, a leader and a standby campaign in a fresh election; the
//!   leader then "crashes" (its renewals stop, it never resigns) and the time until the
//!   standby is elected is measured: the lease TTL plus the leader's expiry delay and commit.

use std::time::Duration;

use anyhow::{Context, bail};
use cairn_client::{CampaignOptions, Client, Error, LockOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::args::BenchArgs;
use super::latency::{histogram, num};
use super::workloads::{Op, Outcome};

/// TTL of each benchmark lock's lease: far longer than a cycle, so no renewal ever runs.
const LOCK_TTL: Duration = Duration::from_secs(10);
/// How long one cycle may wait for a lock that another task holds.
const LOCK_WAIT: Duration = Duration::from_secs(10);

pub struct LockCycle {
    client: Client,
    rng: SmallRng,
    names: u64,
    prefix: String,
}

impl LockCycle {
    pub fn new(client: Client, names: u64) -> Self {
        Self {
            client,
            rng: SmallRng::from_rng(&mut rand::rng()),
            names,
            // A run's locks never meet another run's leftovers.
            prefix: format!("bench-lock-{:08x}", rand::random::<u32>()),
        }
    }
}

impl Op for LockCycle {
    type Error = Error;
    async fn run(&mut self) -> Result<Outcome, Error> {
        let name = format!("{}-{}", self.prefix, self.rng.random_range(0..self.names));
        let opts = LockOptions::new().ttl(LOCK_TTL).wait(LOCK_WAIT);
        let guard = self.client.lock(&name, opts).await?;
        guard.release().await?;
        Ok(Outcome::Done)
    }
}

/// Runs the election failover rounds and prints one JSON line.
pub async fn election_failover(args: &BenchArgs) -> anyhow::Result<()> {
    if args.failover_rounds == 0 {
        bail!("--failover-rounds must be at least 1");
    }
    let client = args.endpoints.connect()?;
    let ttl = Duration::from_millis(args.lease_ttl_ms);
    let mut hist = histogram()?;
    for round in 0..args.failover_rounds {
        let took = failover_round(&client, ttl, round)
            .await
            .with_context(|| format!("failover round {round}"))?;
        hist.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }
    let ms = |us: u64| num(us as f64 / 1000.0);
    println!(
        "{{\"bench\":\"election-failover\",\"rounds\":{},\"ttl_ms\":{},\
         \"min_ms\":{},\"p50_ms\":{},\"max_ms\":{},\"over_ttl_max_ms\":{}}}",
        args.failover_rounds,
        args.lease_ttl_ms,
        ms(hist.min()),
        ms(hist.value_at_quantile(0.5)),
        ms(hist.max()),
        ms(hist.max().saturating_sub(args.lease_ttl_ms * 1000)),
    );
    Ok(())
}

async fn failover_round(client: &Client, ttl: Duration, round: u64) -> anyhow::Result<Duration> {
    let election = format!("bench-election-{:08x}-{round}", rand::random::<u32>());
    // The leader keeps its own lease alive, so the bench can stop it as a crash would.
    let lease = client.grant_lease(ttl).await?;
    let keep = client.keep_alive(&lease);
    let leader = client
        .campaign(
            &election,
            "leader",
            "l",
            CampaignOptions::new().lease(lease.id),
        )
        .await?;
    let standby = {
        let client = client.clone();
        let election = election.clone();
        tokio::spawn(async move {
            let opts = CampaignOptions::new()
                .ttl(ttl)
                .wait(ttl * 4 + Duration::from_secs(10));
            client.campaign(&election, "standby", "s", opts).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = client.leader(&election).await?;
        if state.candidates.iter().any(|c| c.owner == "standby") {
            break;
        }
        if Instant::now() > deadline {
            bail!("the standby never joined the line");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let crashed = Instant::now();
    drop(keep);
    // No resign: the leadership must end by its lease expiring, as after a crash.
    std::mem::forget(leader);
    let elected = standby.await.context("standby task")??;
    let took = crashed.elapsed();
    elected.resign().await?;
    Ok(took)
}
