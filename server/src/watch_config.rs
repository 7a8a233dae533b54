//! Watch settings of a node (flags, env, and the `[watch]` table of the TOML file): how much
//! change history it keeps for watchers to resume from, and when a watcher is too slow.
//! Node-local: nodes of one cluster may differ.

use std::time::Duration;

use anyhow::bail;
use cairn_storage::watch::HistoryLimits;
use serde::Deserialize;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct WatchArgs {
    /// Changed revisions kept in memory for watchers to resume from (default 100000).
    #[arg(long, env = "CAIRN_WATCH_HISTORY_REVISIONS")]
    pub watch_history_revisions: Option<usize>,
    /// Seconds a change stays in that history (default 3600).
    #[arg(long, env = "CAIRN_WATCH_HISTORY_SECS")]
    pub watch_history_secs: Option<u64>,
    /// Memory budget of that history in MiB (default 256).
    #[arg(long, env = "CAIRN_WATCH_HISTORY_MB")]
    pub watch_history_mb: Option<usize>,
    /// Changed revisions a watcher may fall behind before it is cancelled as too slow
    /// (default 10000).
    #[arg(long, env = "CAIRN_WATCH_MAX_LAG")]
    pub watch_max_lag: Option<usize>,
}

/// The `[watch]` table: the flags' names without the `watch_` prefix.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct WatchFile {
    history_revisions: Option<usize>,
    history_secs: Option<u64>,
    history_mb: Option<usize>,
    max_lag: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    pub history: HistoryLimits,
    pub max_lag: usize,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            history: HistoryLimits::default(),
            max_lag: 10_000,
        }
    }
}

impl WatchConfig {
    pub fn resolve(args: &WatchArgs, file: Option<WatchFile>) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let mut c = WatchConfig::default();
        if let Some(n) = args.watch_history_revisions.or(file.history_revisions) {
            c.history.max_revisions = n;
        }
        if let Some(s) = args.watch_history_secs.or(file.history_secs) {
            c.history.max_age = Duration::from_secs(s);
        }
        if let Some(mb) = args.watch_history_mb.or(file.history_mb) {
            c.history.max_bytes = mb.saturating_mul(1024 * 1024);
        }
        if let Some(n) = args.watch_max_lag.or(file.max_lag) {
            c.max_lag = n;
        }
        if c.history.max_revisions == 0 || c.history.max_age.is_zero() || c.history.max_bytes == 0 {
            bail!("--watch-history-revisions, -secs and -mb must be positive");
        }
        if c.max_lag == 0 {
            bail!("--watch-max-lag must be positive");
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn flags_override_file_and_zero_is_refused() {
        let file: WatchFile = toml::from_str("history_revisions = 5\nmax_lag = 7\n").unwrap();
        let args = WatchArgs {
            watch_history_revisions: Some(9),
            ..Default::default()
        };
        let c = WatchConfig::resolve(&args, Some(file)).unwrap();
        assert_eq!((c.history.max_revisions, c.max_lag), (9, 7));
        assert_eq!(c.history.max_age, Duration::from_secs(3600));
        let zero = WatchArgs {
            watch_max_lag: Some(0),
            ..Default::default()
        };
        assert!(WatchConfig::resolve(&zero, None).is_err());
        assert!(toml::from_str::<WatchFile>("bogus = 1").is_err());
    }
}
