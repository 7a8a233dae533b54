//! The cluster's id: random, chosen once by the first leader and replicated (a restore picks
//! a new one for the cluster it seeds). Admin status and etcd response headers report it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_model::{Command, Request};
use cairn_raft::Proposer;
use cairn_storage::{KvReader, StateMachineStore};
use tokio::sync::watch;

use crate::leader_tick::{Ticker, leads};

/// Reads the replicated id; cached once set (it never changes afterwards).
#[derive(Clone)]
pub struct ClusterId {
    reader: KvReader,
    cached: Arc<AtomicU64>,
}

impl std::fmt::Debug for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterId({:x})", self.cached.load(Ordering::Relaxed))
    }
}

impl ClusterId {
    pub fn new(reader: KvReader) -> Self {
        Self {
            reader,
            cached: Arc::default(),
        }
    }

    /// The id, or 0 while none is applied here yet.
    pub fn get(&self) -> u64 {
        let c = self.cached.load(Ordering::Relaxed);
        if c != 0 {
            return c;
        }
        let id = self.reader.cluster_id().unwrap_or(0);
        self.cached.store(id, Ordering::Relaxed);
        id
    }
}

/// Until the cluster has an id: whenever this node leads, propose one. Only the first applied
/// proposal counts, so racing leaders are harmless.
pub fn spawn(
    id: ClusterId,
    proposer: Proposer<StateMachineStore>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // Short: a new cluster should be named right after its first election.
    let mut ticker = Ticker::new(Duration::from_millis(100), stop);
    tokio::spawn(async move {
        while id.get() == 0 && ticker.next().await {
            if leads(&proposer) {
                let command = Command::SetClusterId {
                    id: rand::random::<u64>().max(1),
                };
                let req = Request::from_node(command);
                if let Err(e) = proposer.write_local(req).await {
                    tracing::debug!(error = %e, "cluster id proposal failed; will retry");
                }
            }
        }
    })
}
