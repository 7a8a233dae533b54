//! Coordination settings of a node (flags, env, and the `[coord]` table of the TOML file): the
//! lease TTLs it accepts and how long a blocking lock acquire or campaign may wait. Checked by
//! the node before proposing; the state machine only enforces its own wider bounds, so nodes
//! of one cluster should agree on these.

use std::time::Duration;

use anyhow::bail;
use cairn_model::coord::command::{MAX_TTL_MS, MIN_TTL_MS};
use serde::Deserialize;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct CoordArgs {
    /// Shortest lease TTL accepted, in ms (default 1000).
    #[arg(long, env = "CAIRN_MIN_LEASE_TTL_MS")]
    pub min_lease_ttl_ms: Option<u64>,
    /// Longest lease TTL accepted, in ms (default 3600000 = 1 h).
    #[arg(long, env = "CAIRN_MAX_LEASE_TTL_MS")]
    pub max_lease_ttl_ms: Option<u64>,
    /// Longest wait of a blocking lock acquire or campaign, in ms (default 600000 = 10 min).
    #[arg(long, env = "CAIRN_MAX_LOCK_WAIT_MS")]
    pub max_lock_wait_ms: Option<u64>,
}

/// The `[coord]` table: the flags' names.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct CoordFile {
    min_lease_ttl_ms: Option<u64>,
    max_lease_ttl_ms: Option<u64>,
    max_lock_wait_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordConfig {
    pub min_ttl_ms: u64,
    pub max_ttl_ms: u64,
    pub max_wait: Duration,
}

impl Default for CoordConfig {
    fn default() -> Self {
        Self {
            min_ttl_ms: 1000,
            max_ttl_ms: 3_600_000,
            max_wait: Duration::from_secs(600),
        }
    }
}

impl CoordConfig {
    pub fn resolve(args: &CoordArgs, file: Option<CoordFile>) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let mut c = CoordConfig::default();
        if let Some(v) = args.min_lease_ttl_ms.or(file.min_lease_ttl_ms) {
            c.min_ttl_ms = v;
        }
        if let Some(v) = args.max_lease_ttl_ms.or(file.max_lease_ttl_ms) {
            c.max_ttl_ms = v;
        }
        if let Some(v) = args.max_lock_wait_ms.or(file.max_lock_wait_ms) {
            c.max_wait = Duration::from_millis(v);
        }
        if c.min_ttl_ms < MIN_TTL_MS || c.max_ttl_ms > MAX_TTL_MS || c.min_ttl_ms > c.max_ttl_ms {
            bail!(
                "lease TTL bounds must satisfy {MIN_TTL_MS} <= --min-lease-ttl-ms <= \
                 --max-lease-ttl-ms <= {MAX_TTL_MS}"
            );
        }
        if c.max_wait.is_zero() {
            bail!("--max-lock-wait-ms must be positive");
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn flags_override_file_and_bad_bounds_are_refused() {
        let file: CoordFile =
            toml::from_str("min_lease_ttl_ms = 50\nmax_lock_wait_ms = 7\n").unwrap();
        let args = CoordArgs {
            min_lease_ttl_ms: Some(200),
            ..Default::default()
        };
        let c = CoordConfig::resolve(&args, Some(file)).unwrap();
        assert_eq!(
            (c.min_ttl_ms, c.max_ttl_ms, c.max_wait),
            (200, 3_600_000, Duration::from_millis(7))
        );
        for bad in [
            CoordArgs {
                min_lease_ttl_ms: Some(0),
                ..Default::default()
            },
            CoordArgs {
                min_lease_ttl_ms: Some(5000),
                max_lease_ttl_ms: Some(4000),
                ..Default::default()
            },
            CoordArgs {
                max_lease_ttl_ms: Some(MAX_TTL_MS + 1),
                ..Default::default()
            },
            CoordArgs {
                max_lock_wait_ms: Some(0),
                ..Default::default()
            },
        ] {
            assert!(CoordConfig::resolve(&bad, None).is_err(), "{bad:?}");
        }
        assert!(toml::from_str::<CoordFile>("bogus = 1").is_err());
    }
}
