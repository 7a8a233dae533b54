//! Forwarded writes travel to the leader in batches. Under load a follower forwards many
//! client writes at once, and one peer call per write made the leader, the busiest node, run
//! an HTTP/2 stream, a decode and an encode per write on top of the client's own call (etcd
//! clients spread writes over all members, so two thirds of them arrive at followers).
//!
//! A write goes out at once when fewer than [`MAX_IN_FLIGHT`] batches are in flight, so a lone
//! write waits for nothing; writes that queue behind them share the next `ForwardBatch` call.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::error::ForwardError;
use cairn_model::command::{Request, Response};

/// Batches in flight per follower. A write queued behind the limit waits most of a call (a
/// leader commit plus the peer hop), so the limit is above the few to a dozen requests a
/// client keeps at one member (with 4, 16 etcd clients queued ~0.5 ms per forwarded write);
/// heavier load still queues and shares calls.
pub const MAX_IN_FLIGHT: usize = 16;
/// Most writes per call (only small writes are batched, see [`BATCHED_MAX_BYTES`], so a call
/// stays far below the peer message limit).
pub const MAX_BATCH: usize = 256;
/// Writes larger than this (checkpoint chunks) are forwarded one per call.
pub const BATCHED_MAX_BYTES: usize = 64 * 1024;

pub type Outcome = Result<Response, ForwardError>;

struct Pending {
    req: Request,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    queue: Vec<Pending>,
    senders: usize,
}

/// The queue of writes waiting to be forwarded, shared by a node's proposers.
#[derive(Clone, Default)]
pub struct ForwardQueue {
    state: Arc<Mutex<State>>,
}

impl ForwardQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section is a push or a drain: a panic cannot leave it half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `req`. Returns where its outcome will arrive, and whether the caller must start
    /// a sender (fewer than [`MAX_IN_FLIGHT`] run; a started sender counts itself out in
    /// [`next_batch`](Self::next_batch) when the queue is empty).
    pub fn push(&self, req: Request) -> (oneshot::Receiver<Outcome>, bool) {
        let (reply, rx) = oneshot::channel();
        let mut state = self.state();
        state.queue.push(Pending { req, reply });
        let start = state.senders < MAX_IN_FLIGHT;
        if start {
            state.senders += 1;
        }
        (rx, start)
    }

    /// The next batch for a sender loop, oldest first; `None` ends the loop (and counts it
    /// out) when nothing is queued.
    pub fn next_batch(&self) -> Option<Batch> {
        let mut state = self.state();
        if state.queue.is_empty() {
            state.senders -= 1;
            return None;
        }
        let n = state.queue.len().min(MAX_BATCH);
        let (requests, replies) = state.queue.drain(..n).map(|p| (p.req, p.reply)).unzip();
        Some(Batch { requests, replies })
    }
}

/// Writes taken off the queue together, and where each one's outcome goes.
pub struct Batch {
    pub requests: Vec<Request>,
    replies: Vec<oneshot::Sender<Outcome>>,
}

impl Batch {
    /// Hands each write its outcome; a reply list of the wrong length fails them all (the
    /// leader answered something else than this batch).
    pub fn answer(self, outcomes: Result<Vec<Outcome>, ForwardError>) {
        let n = self.replies.len();
        let outcomes = match outcomes {
            Ok(o) if o.len() == n => o,
            Ok(o) => vec![
                Err(ForwardError::Unavailable {
                    reason: format!("leader answered {} of {n} forwarded writes", o.len()),
                    leader: None,
                });
                n
            ],
            Err(e) => vec![Err(e); n],
        };
        for (reply, outcome) in self.replies.into_iter().zip(outcomes) {
            // The caller may have given up (its request was cancelled): nothing to tell.
            let _ = reply.send(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::command::Command;

    fn req(i: u64) -> Request {
        Request {
            session: None,
            time_ms: i,
            fence: None,
            auth: None,
            command: Command::Compact { revision: i },
        }
    }

    #[tokio::test]
    async fn queued_writes_share_batches_and_get_their_own_outcomes() {
        let q = ForwardQueue::default();
        let mut waits = Vec::new();
        let mut started = 0;
        // More writes than senders, so some must queue.
        let n = MAX_IN_FLIGHT + 6;
        for i in 0..n as u64 {
            let (rx, start) = q.push(req(i));
            started += usize::from(start);
            waits.push(rx);
        }
        // Only MAX_IN_FLIGHT senders start; the rest wait in the queue for them.
        assert_eq!(started, MAX_IN_FLIGHT);
        let batch = q.next_batch().unwrap();
        assert_eq!(batch.requests.len(), n);
        let outcomes = batch
            .requests
            .iter()
            .map(|r| {
                Ok(Response::Put {
                    revision: r.time_ms,
                })
            })
            .collect();
        batch.answer(Ok(outcomes));
        for (i, rx) in waits.into_iter().enumerate() {
            assert_eq!(rx.await.unwrap(), Ok(Response::Put { revision: i as u64 }));
        }
        for _ in 0..MAX_IN_FLIGHT {
            assert!(q.next_batch().is_none());
        }
        // Every sender counted out: the next write starts one again.
        assert!(q.push(req(0)).1);
    }

    #[tokio::test]
    async fn a_short_answer_fails_the_whole_batch() {
        let q = ForwardQueue::default();
        let (a, _) = q.push(req(1));
        let (b, _) = q.push(req(2));
        q.next_batch()
            .unwrap()
            .answer(Ok(vec![Ok(Response::Put { revision: 1 })]));
        assert!(matches!(
            a.await.unwrap(),
            Err(ForwardError::Unavailable { .. })
        ));
        assert!(matches!(
            b.await.unwrap(),
            Err(ForwardError::Unavailable { .. })
        ));
    }
}
