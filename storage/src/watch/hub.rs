//! `EventHub`: the node's recent change history, shared by every watcher.
//!
//! A ring of the last revisions that changed something, bounded by count, bytes and age, plus
//! the node's current revision. Watchers pull from it at their own pace (each keeps its own
//! position), so apply never waits for a watcher and memory never grows with their number; a
//! watcher whose position falls out of the ring gets `Compacted`. Revisions at or below
//! `compacted` are unknown here: the ring starts empty at the revision the state machine had
//! applied when the node opened it (a restart loses the history), is trimmed from the front,
//! and is cleared when a snapshot is installed (the entries it skips were never applied
//! here).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::event::RevisionEvents;

/// How much history a node keeps for watchers to resume from. A node-local choice: it does
/// not affect replicated state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most revisions (with changes) kept.
    pub max_revisions: usize,
    /// Revisions older than this are dropped (checked when new ones arrive).
    pub max_age: Duration,
    /// Approximate memory budget of the kept changes.
    pub max_bytes: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            max_revisions: 100_000,
            max_age: Duration::from_secs(3600),
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The answer to "what comes from revision `from` on".
#[derive(Debug)]
pub enum HistoryRead {
    /// The changed revisions from `from` on (up to the caller's bounds), and `through`: every
    /// revision up to it has been accounted for (returned, or changed nothing).
    Ready {
        batches: Vec<Arc<RevisionEvents>>,
        through: u64,
        /// Changed revisions at or after `from` still in the ring, including those returned:
        /// how far behind the reader is.
        backlog: usize,
    },
    /// Revisions before `from` and at or below `compacted` are no longer known here.
    Compacted { compacted: u64, current: u64 },
}

struct Kept {
    at: Instant,
    bytes: usize,
    events: Arc<RevisionEvents>,
}

struct Ring {
    limits: HistoryLimits,
    kept: VecDeque<Kept>,
    bytes: usize,
    /// Every revision above this is known (kept, or changed nothing).
    compacted: u64,
    /// The last applied revision.
    current: u64,
}

impl Ring {
    fn trim(&mut self, now: Instant) {
        while let Some(front) = self.kept.front() {
            let over = self.kept.len() > self.limits.max_revisions
                || self.bytes > self.limits.max_bytes
                || now.saturating_duration_since(front.at) > self.limits.max_age;
            if !over {
                break;
            }
            if let Some(old) = self.kept.pop_front() {
                self.bytes -= old.bytes;
                self.compacted = old.events.revision;
            }
        }
    }
}

pub struct EventHub {
    ring: Mutex<Ring>,
    /// The current revision, for waking watchers.
    notify: watch::Sender<u64>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.lock();
        f.debug_struct("EventHub")
            .field("compacted", &r.compacted)
            .field("current", &r.current)
            .field("kept", &r.kept.len())
            .finish()
    }
}

impl EventHub {
    /// An empty history at `applied`: revisions after it will be published.
    pub fn new(applied: u64, limits: HistoryLimits) -> Self {
        Self {
            ring: Mutex::new(Ring {
                limits,
                kept: VecDeque::new(),
                bytes: 0,
                compacted: applied,
                current: applied,
            }),
            notify: watch::channel(applied).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Every mutation leaves the ring consistent before it can panic.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last applied revision.
    pub fn current(&self) -> u64 {
        self.lock().current
    }

    /// (compacted, current): revisions in `compacted+1..=current` can be read.
    pub fn window(&self) -> (u64, u64) {
        let r = self.lock();
        (r.compacted, r.current)
    }

    /// Wakes on every new revision.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Appends the changes of one committed batch, which applied everything up to `through`.
    pub(crate) fn publish(&self, through: u64, groups: Vec<RevisionEvents>) {
        self.publish_at(Instant::now(), through, groups);
    }

    fn publish_at(&self, now: Instant, through: u64, groups: Vec<RevisionEvents>) {
        {
            let mut r = self.lock();
            for g in groups {
                // Revisions only grow; anything else is a bug upstream, and keeping it would
                // break every reader's ordering.
                if g.revision <= r.current || g.revision > through {
                    tracing::error!(
                        revision = g.revision,
                        current = r.current,
                        "out-of-order watch event dropped"
                    );
                    continue;
                }
                let bytes = g.approx_bytes();
                r.bytes += bytes;
                r.current = g.revision;
                r.kept.push_back(Kept {
                    at: now,
                    bytes,
                    events: Arc::new(g),
                });
            }
            r.current = r.current.max(through);
            r.trim(now);
        }
        self.notify.send_replace(through);
    }

    /// Drops history at and below `floor` (a replicated `Compact`): watchers resuming from
    /// there get `Compacted`.
    pub(crate) fn compact(&self, floor: u64) {
        let mut r = self.lock();
        while r.kept.front().is_some_and(|k| k.events.revision <= floor) {
            if let Some(old) = r.kept.pop_front() {
                r.bytes -= old.bytes;
            }
        }
        r.compacted = r.compacted.max(floor.min(r.current));
    }

    /// A snapshot at `at` replaced the state: the revisions it covers never passed through
    /// here, so history restarts empty at `at`.
    pub(crate) fn reset(&self, at: u64) {
        {
            let mut r = self.lock();
            r.kept.clear();
            r.bytes = 0;
            r.compacted = at;
            r.current = at;
        }
        self.notify.send_replace(at);
    }

    /// The changed revisions from `from` on: at most `max_revisions` of them, and no more once
    /// `max_bytes` is reached (but always a whole first revision).
    pub fn read(&self, from: u64, max_revisions: usize, max_bytes: usize) -> HistoryRead {
        let r = self.lock();
        let from = from.max(1);
        if from <= r.compacted {
            return HistoryRead::Compacted {
                compacted: r.compacted,
                current: r.current,
            };
        }
        let start = r.kept.partition_point(|k| k.events.revision < from);
        let backlog = r.kept.len() - start;
        let mut batches = Vec::new();
        let mut bytes = 0;
        for k in r.kept.range(start..) {
            if batches.len() >= max_revisions.max(1) || (!batches.is_empty() && bytes >= max_bytes)
            {
                break;
            }
            bytes += k.bytes;
            batches.push(k.events.clone());
        }
        let through = if batches.len() == backlog {
            r.current
        } else {
            batches.last().map_or(r.current, |b| b.revision)
        };
        HistoryRead::Ready {
            batches,
            through,
            backlog,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use cairn_model::KvRecord;

    use super::*;
    use crate::watch::Change;

    fn group(revision: u64, value_len: usize) -> RevisionEvents {
        RevisionEvents {
            revision,
            changes: vec![Change::KvPut {
                key: b"k".to_vec(),
                record: KvRecord {
                    value: vec![0; value_len],
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                    lease: 0,
                },
                prev: None,
            }],
        }
    }

    fn ready(r: HistoryRead) -> (Vec<u64>, u64, usize) {
        match r {
            HistoryRead::Ready {
                batches,
                through,
                backlog,
            } => (
                batches.iter().map(|b| b.revision).collect(),
                through,
                backlog,
            ),
            HistoryRead::Compacted { .. } => panic!("unexpected compacted"),
        }
    }

    fn limits(n: usize) -> HistoryLimits {
        HistoryLimits {
            max_revisions: n,
            ..HistoryLimits::default()
        }
    }

    #[test]
    fn reads_in_order_and_accounts_for_revisions_without_changes() {
        let hub = EventHub::new(10, limits(100));
        hub.publish(13, vec![group(11, 1), group(13, 1)]);
        hub.publish(15, vec![]);
        assert_eq!(ready(hub.read(11, 10, usize::MAX)), (vec![11, 13], 15, 2));
        assert_eq!(ready(hub.read(12, 10, usize::MAX)), (vec![13], 15, 1));
        assert_eq!(ready(hub.read(14, 10, usize::MAX)), (vec![], 15, 0));
        // A position in the future: nothing yet, and nothing skipped.
        assert_eq!(ready(hub.read(20, 10, usize::MAX)), (vec![], 15, 0));
        // Bounded reads stop at the last revision returned.
        assert_eq!(ready(hub.read(11, 1, usize::MAX)), (vec![11], 11, 2));
        assert_eq!(hub.current(), 15);
    }

    #[test]
    fn before_the_window_is_compacted_never_skipped() {
        let hub = EventHub::new(10, limits(3));
        assert!(matches!(
            hub.read(10, 10, usize::MAX),
            HistoryRead::Compacted {
                compacted: 10,
                current: 10
            }
        ));
        for rev in 11..=15 {
            hub.publish(rev, vec![group(rev, 1)]);
        }
        // 11 and 12 were trimmed: a reader that still needs 12 must not start at 13.
        assert_eq!(hub.window(), (12, 15));
        assert!(matches!(
            hub.read(12, 10, usize::MAX),
            HistoryRead::Compacted {
                compacted: 12,
                current: 15
            }
        ));
        assert_eq!(
            ready(hub.read(13, 10, usize::MAX)),
            (vec![13, 14, 15], 15, 3)
        );
    }

    #[test]
    fn trims_by_bytes_and_age() {
        let hub = EventHub::new(
            0,
            HistoryLimits {
                max_revisions: 100,
                max_age: Duration::from_secs(10),
                max_bytes: 3000,
            },
        );
        let t0 = Instant::now();
        hub.publish_at(t0, 1, vec![group(1, 1000)]);
        hub.publish_at(t0, 2, vec![group(2, 1000)]);
        hub.publish_at(t0, 3, vec![group(3, 1000)]);
        assert_eq!(hub.window().0, 1, "the third kilobyte pushed the first out");
        hub.publish_at(t0 + Duration::from_secs(11), 4, vec![group(4, 1)]);
        assert_eq!(hub.window(), (3, 4), "older than the age limit");
        // The byte bound of a read stops after the revision that reaches it.
        let hub = EventHub::new(0, limits(100));
        for rev in 1..=3 {
            hub.publish(rev, vec![group(rev, 1000)]);
        }
        assert_eq!(ready(hub.read(1, 10, 1)).0, vec![1]);
        assert_eq!(ready(hub.read(1, 10, 1500)).0, vec![1, 2]);
    }

    #[test]
    fn reset_forgets_history_and_wakes_watchers() {
        let hub = EventHub::new(0, limits(100));
        let mut rx = hub.subscribe();
        hub.publish(2, vec![group(1, 1), group(2, 1)]);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 2);
        hub.reset(50);
        assert_eq!(*rx.borrow_and_update(), 50);
        assert!(matches!(
            hub.read(3, 10, usize::MAX),
            HistoryRead::Compacted {
                compacted: 50,
                current: 50
            }
        ));
        assert_eq!(ready(hub.read(51, 10, usize::MAX)), (vec![], 50, 0));
    }

    #[test]
    fn out_of_order_groups_are_dropped() {
        let hub = EventHub::new(5, limits(100));
        hub.publish(7, vec![group(4, 1), group(6, 1), group(6, 1), group(9, 1)]);
        assert_eq!(ready(hub.read(6, 10, usize::MAX)), (vec![6], 7, 1));
    }
}
