//! Following Raft's state without waking on every write.
//!
//! openraft publishes `Raft::metrics()` after every turn of its core loop, changed or not:
//! under load that is several times per write, and every task awaiting that watch wakes each
//! time (profiled: about 4% of a leader's CPU went to those wake-ups alone). Tasks that need
//! role changes at once but progress only eventually (health, gauges, the stop detector) wait
//! here instead: on the server-metrics watch, which openraft sends only when the role, leader,
//! vote or membership changes, or on a tick.

use std::time::Duration;

use cairn_raft::TypeConfig;
use openraft::RaftMetrics;
use openraft::alias::WatchReceiverOf;
use openraft::metrics::RaftServerMetrics;
use openraft::rt::WatchReceiver;
use tokio::time::{Interval, MissedTickBehavior};

use crate::raft_handle::CairnRaft;

pub struct RaftWatch {
    raft: CairnRaft,
    server: WatchReceiverOf<TypeConfig, RaftServerMetrics<TypeConfig>>,
    tick: Option<Interval>,
}

/// How often a sampled watch wakes besides role changes: the lag of readiness and gauges
/// behind applied progress.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

impl RaftWatch {
    /// Wakes on role changes and every [`SAMPLE_EVERY`].
    pub fn sampled(raft: &CairnRaft) -> Self {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Self::with_tick(raft, Some(tick))
    }

    /// Wakes on role changes only.
    pub fn role_changes(raft: &CairnRaft) -> Self {
        Self::with_tick(raft, None)
    }

    fn with_tick(raft: &CairnRaft, tick: Option<Interval>) -> Self {
        Self {
            raft: raft.clone(),
            server: raft.server_metrics(),
            tick,
        }
    }

    /// The latest full metrics (no wake-up registered).
    pub fn metrics(&self) -> RaftMetrics<TypeConfig> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// Waits for the next role change or tick. False once Raft's core has stopped (it owns
    /// the sender, so the channel closes with it).
    pub async fn next(&mut self) -> bool {
        match &mut self.tick {
            Some(tick) => tokio::select! {
                changed = self.server.changed() => changed.is_ok(),
                _ = tick.tick() => true,
            },
            None => self.server.changed().await.is_ok(),
        }
    }
}
