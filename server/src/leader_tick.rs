//! The loop the leader's background duties share (lease expiry, retention, naming the
//! cluster): wake on a timer, end when the node stops, and act only while this node leads:
//! followers would forward their proposals, and every node doing so would multiply the work.

use std::time::Duration;

use cairn_raft::Proposer;
use cairn_storage::StateMachineStore;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

pub struct Ticker {
    tick: Interval,
    stop: watch::Receiver<bool>,
}

impl Ticker {
    pub fn new(period: Duration, stop: watch::Receiver<bool>) -> Self {
        let mut tick = tokio::time::interval(period);
        // A slow duty delays the next tick instead of bunching the missed ones together.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { tick, stop }
    }

    /// Waits for the next tick: false once the node is stopping.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.tick.tick() => true,
            _ = self.stop.wait_for(|s| *s) => false,
        }
    }
}

/// Whether this node is the leader now (it would propose locally, not forward).
pub fn leads(proposer: &Proposer<StateMachineStore>) -> bool {
    matches!(proposer.route(), Ok(None))
}
