//! Leader election: [`Client::campaign`] waits until elected and returns a [`Leadership`]
//! that keeps its lease alive, knows when it stopped leading, carries the term as a fence, and
//! resigns when dropped. [`Client::observe`] follows every change of an election's leader.

use std::time::Duration;

use cairn_api::v1 as pb;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tonic::Streaming;

use super::keeper::LeaseKeeper;
use super::types::{Fence, Holder, LeaderChange, LeaderState};
use super::write::LeaseSpec;
use crate::client::{Client, request};
use crate::error::{Disposition, Error, Result, classify};
use crate::retry::Backoff;

/// Each campaign asks the cluster to wait at most this long; waiting longer repeats it.
const WAIT_CHUNK: Duration = Duration::from_secs(60);

/// How to campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignOptions {
    /// TTL of the lease made for the candidacy (default 10 s): a leader that stops renewing
    /// it (crash, pause, partition) is replaced this long after its last renewal.
    pub ttl: Duration,
    /// Bind the candidacy to this existing lease instead (the caller keeps it alive).
    pub lease: Option<u64>,
    /// Longest wait to be elected; `None` waits until elected.
    pub wait: Option<Duration>,
}

impl Default for CampaignOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            lease: None,
            wait: None,
        }
    }
}

impl CampaignOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    pub fn lease(mut self, lease_id: u64) -> Self {
        self.lease = Some(lease_id);
        self
    }
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }
}

/// This candidate leads an election in one term. Dropping it resigns (best effort, in the
/// background).
#[derive(Debug)]
pub struct Leadership {
    client: Client,
    election: String,
    candidate: String,
    term: u64,
    lease_id: u64,
    /// The candidacy's own lease (kept alive here; resigning revokes it).
    keeper: Option<LeaseKeeper>,
    /// True once this term is over for sure or may be (lease lost, another leader seen).
    lost: watch::Receiver<bool>,
    monitor: AbortHandle,
    resigned: bool,
}

impl Leadership {
    pub fn election(&self) -> &str {
        &self.election
    }

    pub fn candidate(&self) -> &str {
        &self.candidate
    }

    /// The term: the fencing token of this leadership, larger for every new leader.
    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn lease_id(&self) -> u64 {
        self.lease_id
    }

    /// The fence for writes made as this leader ([`Client::fenced`]).
    pub fn fence(&self) -> Fence {
        Fence::election(&self.election, self.term)
    }

    /// False once the lease is lost (or could not be renewed for a whole TTL) or another
    /// leader (or term) was observed.
    pub fn is_leader(&self) -> bool {
        !*self.lost.borrow()
    }

    /// Resolves when this leadership is over (see [`Leadership::is_leader`]).
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// A new stream of the election's leader changes.
    pub fn changes(&self) -> ElectionObserver {
        self.client.observe(&self.election)
    }

    /// Sets the value the leader publishes (seen by [`Client::leader`] and observers).
    pub async fn proclaim(&self, value: impl Into<Vec<u8>>) -> Result<()> {
        self.client
            .proclaim(&self.election, &self.candidate, self.term, value)
            .await
            .map(drop)
    }

    /// Steps down now; the next candidate in line is elected.
    pub async fn resign(mut self) -> Result<()> {
        self.resigned = true;
        let own = self.keeper.take().map(|_| self.lease_id);
        resign(
            &self.client,
            &self.election,
            &self.candidate,
            self.term,
            own,
        )
        .await
    }
}

async fn resign(
    client: &Client,
    election: &str,
    candidate: &str,
    term: u64,
    own_lease: Option<u64>,
) -> Result<()> {
    match own_lease {
        // Revoking the candidacy's own lease ends the leadership in the same step.
        Some(lease) => client.revoke_lease(lease).await.map(drop),
        None => client.resign(election, candidate, term).await.map(drop),
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.monitor.abort();
        if self.resigned {
            return;
        }
        let own = self.keeper.take().map(|_| self.lease_id);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (client, election, candidate, term) = (
            self.client.clone(),
            std::mem::take(&mut self.election),
            std::mem::take(&mut self.candidate),
            self.term,
        );
        rt.spawn(async move {
            if let Err(e) = resign(&client, &election, &candidate, term, own).await {
                tracing::debug!(%election, "resign on drop: {e}");
            }
        });
    }
}

impl Client {
    /// Campaigns in `election` as `candidate` (unique per process) with `value`, and waits
    /// in line until elected (or `opts.wait` passes: [`Error::WaitTimeout`]).
    pub async fn campaign(
        &self,
        election: &str,
        candidate: &str,
        value: impl Into<Vec<u8>>,
        opts: CampaignOptions,
    ) -> Result<Leadership> {
        let value = value.into();
        let lease = match opts.lease {
            Some(id) => LeaseSpec::Existing(id),
            None => LeaseSpec::New(opts.ttl),
        };
        let deadline = opts.wait.and_then(|w| Instant::now().checked_add(w));
        let (asked_at, term, lease_id) = loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_CHUNK),
                None => WAIT_CHUNK,
            };
            let asked_at = Instant::now();
            match self
                .campaign_once(election, candidate, &value, lease, wait)
                .await
            {
                Ok((term, lease_id)) => break (asked_at, term, lease_id),
                Err(Error::WaitTimeout) if deadline.is_none_or(|d| Instant::now() < d) => {}
                Err(e) => return Err(e),
            }
        };
        let (lost_tx, lost) = watch::channel(false);
        let keeper = opts.lease.is_none().then(|| {
            // Made no earlier than we asked, renewed by the node every third of its TTL.
            let valid = (asked_at + opts.ttl).max(Instant::now() + opts.ttl - opts.ttl / 3);
            LeaseKeeper::start(self.clone(), lease_id, opts.ttl, valid)
        });
        let monitor = tokio::spawn(monitor(
            self.observe(election),
            keeper.as_ref().map(LeaseKeeper::lost),
            candidate.to_string(),
            term,
            lost_tx,
        ))
        .abort_handle();
        Ok(Leadership {
            client: self.clone(),
            election: election.to_string(),
            candidate: candidate.to_string(),
            term,
            lease_id,
            keeper,
            lost,
            monitor,
            resigned: false,
        })
    }

    /// The leader of `election` (if any) and the candidates in line.
    pub async fn leader(&self, election: &str) -> Result<LeaderState> {
        let msg = pb::LeaderRequest {
            election: election.to_string(),
            serializable: false,
        };
        let r = self
            .call("leader", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::elections_rpc(ch).leader(req).await }
            })
            .await?;
        Ok(LeaderState {
            leader: r.leader.map(Holder::from),
            candidates: r.candidates.into_iter().map(Holder::from).collect(),
            revision: r.revision,
        })
    }

    /// Follows `election`: the first change is the leadership now, then one per change.
    pub fn observe(&self, election: &str) -> ElectionObserver {
        ElectionObserver {
            client: self.clone(),
            election: election.to_string(),
            stream: None,
            last: None,
        }
    }
}

/// Ends the leadership when its lease is lost or another leader or term shows up.
async fn monitor(
    mut observer: ElectionObserver,
    lease_lost: Option<watch::Receiver<bool>>,
    candidate: String,
    term: u64,
    lost: watch::Sender<bool>,
) {
    let lease_gone = async move {
        match lease_lost {
            Some(mut rx) => {
                let _ = rx.wait_for(|l| *l).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lease_gone);
    loop {
        tokio::select! {
            _ = &mut lease_gone => break,
            change = observer.next() => match change {
                Ok(c) if c.leader.as_ref().is_some_and(|h| h.owner == candidate && h.token == term) => {}
                Ok(_) => break,
                // Only a final error gets here (the observer reconnects by itself); the
                // lease keeper still decides.
                Err(e) => {
                    tracing::debug!("leadership monitor: {e}");
                    (&mut lease_gone).await;
                    break;
                }
            },
        }
    }
    let _ = lost.send(true);
}

/// A stream of an election's leader changes; reconnects (to any node) by itself.
#[derive(Debug)]
pub struct ElectionObserver {
    client: Client,
    election: String,
    stream: Option<Streaming<pb::ObserveResponse>>,
    /// (leader, term, value) last returned, so a reconnect does not repeat it.
    last: Option<Option<(String, u64, Vec<u8>)>>,
}

impl ElectionObserver {
    /// The next change. Fails only when the cluster stays unreachable past the client's
    /// retry deadline, or refuses the election name.
    pub async fn next(&mut self) -> Result<LeaderChange> {
        let cfg = self.client.config().clone();
        let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
        loop {
            let stream = match &mut self.stream {
                Some(s) => s,
                None => {
                    let msg = pb::ObserveRequest {
                        election: self.election.clone(),
                    };
                    let s = self
                        .client
                        .call("observe", |ch, t| {
                            let req = request(msg.clone(), t);
                            async move { Client::elections_rpc(ch).observe(req).await }
                        })
                        .await?;
                    self.stream.insert(s)
                }
            };
            match stream.message().await {
                Ok(Some(m)) => {
                    let leader = m.leader.map(Holder::from);
                    let seen = leader
                        .as_ref()
                        .map(|h| (h.owner.clone(), h.token, h.value.clone()));
                    if self.last.as_ref() != Some(&seen) {
                        self.last = Some(seen);
                        return Ok(LeaderChange {
                            leader,
                            revision: m.revision,
                        });
                    }
                }
                Ok(None) => self.stream = None,
                Err(s) => {
                    self.stream = None;
                    if let Disposition::Fail(e) = classify(s) {
                        return Err(e);
                    }
                    let pause = backoff.next_delay(&mut rand::rng());
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}
