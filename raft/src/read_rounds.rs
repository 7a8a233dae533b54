//! Read-index rounds shared by concurrent linearizable reads. A read index costs a quorum
//! round trip (the leader confirming its leadership), or on a follower an RPC to the leader;
//! reads that arrive while one round runs wait for the next and share it. Linearizability
//! holds because every read is answered by a round that *started after it arrived*: that
//! round's index covers every write committed before the read began.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::ForwardError;

type Waiter = oneshot::Sender<Result<u64, ForwardError>>;

#[derive(Default)]
struct State {
    /// A task is running rounds; new waiters join the next one.
    running: bool,
    waiters: Vec<Waiter>,
}

#[derive(Clone, Default)]
pub(crate) struct ReadRounds {
    state: Arc<Mutex<State>>,
}

impl ReadRounds {
    /// The index from a round that starts after this call. `fetch` runs one round; it is
    /// called from a spawned task, so a caller that gives up does not strand the others.
    pub(crate) async fn index<F, Fut>(&self, fetch: F) -> Result<u64, ForwardError>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<u64, ForwardError>> + Send,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.waiters.push(tx);
            !std::mem::replace(&mut s.running, true)
        };
        if start {
            let state = self.state.clone();
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                        if s.waiters.is_empty() {
                            s.running = false;
                            return;
                        }
                        std::mem::take(&mut s.waiters)
                    };
                    // Taken before the round starts: every waiter in it arrived earlier.
                    let result = fetch().await;
                    for w in batch {
                        let _ = w.send(result.clone());
                    }
                }
            });
        }
        rx.await.unwrap_or_else(|_| {
            Err(ForwardError::Unavailable {
                reason: "read index round abandoned (node stopping)".into(),
                leader: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_reads_share_rounds_that_start_after_they_arrive() {
        let rounds = ReadRounds::default();
        let started = Arc::new(AtomicU64::new(0));
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let fetch = {
            let started = started.clone();
            move || {
                let started = started.clone();
                let mut gate = gate_rx.clone();
                async move {
                    // Each round returns its own number, once the gate opens.
                    let n = started.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = gate.wait_for(|open| *open).await;
                    Ok(n)
                }
            }
        };
        let first = tokio::spawn({
            let (r, f) = (rounds.clone(), fetch.clone());
            async move { r.index(f).await }
        });
        // Wait for round 1 to start, then queue more readers: they must get round 2.
        while started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (0..8)
            .map(|_| {
                let (r, f) = (rounds.clone(), fetch.clone());
                tokio::spawn(async move { r.index(f).await })
            })
            .collect();
        tokio::task::yield_now().await;
        gate_tx.send_replace(true);
        assert_eq!(first.await.unwrap().unwrap(), 1);
        for l in later {
            assert_eq!(l.await.unwrap().unwrap(), 2);
        }
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }
}
