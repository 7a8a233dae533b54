//! The cluster's members as the run knows them. A replacement changes the member set in the
//! middle of a run (a voter's id leaves for good, a new id joins), so everything that
//! addresses nodes (the nemesis, the status sampler, the clients, the settling checks) asks
//! the roster instead of assuming ids `1..=n`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_client::{Client, ClientConfig};
use std::time::Duration;
use tokio::sync::watch;

use crate::Cluster;

#[derive(Clone, Debug)]
struct Entry {
    client_addr: String,
    /// A learner is sampled but neither faulted nor used by clients until it is a voter.
    voter: bool,
    /// Restarts so far: the invariant sampler does not compare a process with its
    /// predecessor.
    epoch: u64,
}

pub struct Roster {
    nodes: Mutex<BTreeMap<u64, Entry>>,
    /// Bumped whenever the voter set changes; clients rebuild on the new endpoints.
    version: watch::Sender<u64>,
}

impl Roster {
    /// Every node of a freshly started cluster, each a voter.
    pub fn new(cluster: &Cluster) -> Self {
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                let e = Entry {
                    client_addr: n.client_addr.clone(),
                    voter: true,
                    epoch: 0,
                };
                (n.id, e)
            })
            .collect();
        Self {
            nodes: Mutex::new(nodes),
            version: watch::Sender::new(0),
        }
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The voters, in id order.
    pub fn voters(&self) -> Vec<u64> {
        self.nodes()
            .iter()
            .filter(|(_, e)| e.voter)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The voters' client endpoints.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes()
            .values()
            .filter(|e| e.voter)
            .map(|e| e.client_addr.clone())
            .collect()
    }

    /// How many times the voter set changed so far.
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Resolves on the next change of the voter set.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Every member, learners included, as (id, client address, epoch).
    pub fn sampled(&self) -> Vec<(u64, String, u64)> {
        self.nodes()
            .iter()
            .map(|(id, e)| (*id, e.client_addr.clone(), e.epoch))
            .collect()
    }

    /// Node `id`'s restarts so far; None once it left the cluster.
    pub fn epoch(&self, id: u64) -> Option<u64> {
        self.nodes().get(&id).map(|e| e.epoch)
    }

    pub fn restarted(&self, id: u64) {
        if let Some(e) = self.nodes().get_mut(&id) {
            e.epoch += 1;
        }
    }

    /// Node `id` joined as a learner.
    pub fn joined(&self, id: u64, client_addr: String) {
        self.nodes().insert(
            id,
            Entry {
                client_addr,
                voter: false,
                epoch: 0,
            },
        );
    }

    /// Voter `old` left the cluster and learner `new` took its place.
    pub fn replaced(&self, old: u64, new: u64) {
        {
            let mut nodes = self.nodes();
            nodes.remove(&old);
            if let Some(e) = nodes.get_mut(&new) {
                e.voter = true;
            }
        }
        self.version.send_modify(|v| *v += 1);
    }
}

/// A client that follows the voter set: rebuilt on the current voters' endpoints when the set
/// changed since it was built. A client only learns endpoints it was not given from a leader
/// hint; after a few replacements the ones it was given may all be gone.
pub struct RosterClient {
    roster: Arc<Roster>,
    version: u64,
    client: Client,
}

impl RosterClient {
    pub fn new(roster: Arc<Roster>) -> anyhow::Result<Self> {
        let version = roster.version();
        let client = client_on(roster.endpoints())?;
        Ok(Self {
            roster,
            version,
            client,
        })
    }

    /// The client to use for the next operation (call it between operations: a rebuilt
    /// client is a new idempotency identity).
    pub fn get(&mut self) -> Client {
        let now = self.roster.version();
        if now != self.version
            && let Ok(c) = client_on(self.roster.endpoints())
        {
            self.client = c;
            self.version = now;
        }
        self.client.clone()
    }
}

/// A workload client on `endpoints`.
pub(crate) fn client_on(endpoints: Vec<String>) -> anyhow::Result<Client> {
    let config = ClientConfig {
        retry_deadline: Duration::from_secs(3),
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        ..ClientConfig::default()
    };
    Ok(Client::with_config(endpoints, config)?)
}

#[cfg(test)]
mod tests {
    use super::{Entry, Roster};

    #[test]
    fn a_replacement_swaps_the_voter_and_bumps_the_version() {
        let entry = |addr: &str| Entry {
            client_addr: addr.into(),
            voter: true,
            epoch: 0,
        };
        let roster = Roster {
            nodes: std::sync::Mutex::new([(1, entry("a")), (2, entry("b"))].into()),
            version: tokio::sync::watch::Sender::new(0),
        };
        roster.joined(3, "c".into());
        assert_eq!(roster.voters(), vec![1, 2], "a learner is no voter yet");
        assert_eq!(roster.sampled().len(), 3, "but it is sampled");
        roster.restarted(2);
        assert_eq!(roster.epoch(2), Some(1));
        roster.replaced(2, 3);
        assert_eq!(roster.voters(), vec![1, 3]);
        assert_eq!(roster.endpoints(), vec!["a", "c"]);
        assert_eq!((roster.version(), roster.epoch(2)), (1, None));
    }
}
