//! Keeping a lease alive in the background: renewals over one keep-alive stream (reopened on
//! another node when it breaks), every third of the TTL. The keeper reports the lease lost as
//! soon as the cluster answers that it no longer exists, or when no renewal has succeeded for
//! a whole TTL: past that point the lease may have ended, and a holder must assume it has.

use std::time::Duration;

use cairn_api::meta;
use cairn_api::v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{Client, with_token};
use crate::endpoints::Node;
use crate::retry::Backoff;

/// Shortest interval between renewals, whatever the TTL.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// A running keep-alive of one lease. Stops (the lease then ends after its TTL) when dropped.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    lost: watch::Receiver<bool>,
    task: AbortHandle,
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaseKeeper {
    /// Keeps lease `id` alive; it is known to be valid until `valid_until`. The first renewal
    /// is due a third of the TTL from now, so a lock held briefly costs no renewal at all.
    pub(crate) fn start(client: Client, id: u64, ttl: Duration, valid_until: Instant) -> Self {
        let (tx, lost) = watch::channel(false);
        let task = tokio::spawn(run(client, id, ttl, valid_until, tx)).abort_handle();
        Self { lost, task }
    }

    pub(crate) fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }
}

/// How one keep-alive stream ended.
enum Ended {
    /// The cluster says the lease is gone.
    LeaseGone,
    /// The stream failed; retry elsewhere (on the named leader, if any).
    Broken { leader: Option<String> },
}

async fn run(
    client: Client,
    id: u64,
    ttl: Duration,
    mut valid_until: Instant,
    lost: watch::Sender<bool>,
) {
    let every = (ttl / 3).max(MIN_INTERVAL);
    let cfg = client.config().clone();
    let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
    let mut first_renewal = Instant::now() + every;
    loop {
        if Instant::now() >= valid_until {
            tracing::debug!(lease = id, "lease not renewed within its TTL: lost");
            break;
        }
        let (idx, node) = client.inner.endpoints.pick();
        let ended = stream(
            &client,
            &node,
            id,
            ttl,
            every,
            first_renewal,
            &mut valid_until,
        )
        .await;
        match ended {
            Ended::LeaseGone => {
                tracing::debug!(lease = id, "lease ended");
                break;
            }
            Ended::Broken { leader } => {
                client.inner.endpoints.on_failure(idx, leader.as_deref());
                let pause = backoff
                    .next_delay(&mut rand::rng())
                    .min(valid_until.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
                // After a failure, renew at once on the new stream.
                first_renewal = Instant::now();
            }
        }
    }
    let _ = lost.send(true);
}

/// Renews over one stream until it breaks or the lease is gone; moves `valid_until` forward
/// to (send time of each successful renewal) + TTL.
async fn stream(
    client: &Client,
    node: &Node,
    id: u64,
    ttl: Duration,
    every: Duration,
    first_renewal: Instant,
    valid_until: &mut Instant,
) -> Ended {
    let timeout = client.config().request_timeout;
    tokio::time::sleep_until(first_renewal.min(*valid_until)).await;
    let (tx, rx) = mpsc::channel(1);
    if tx.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
        return Ended::Broken { leader: None };
    }
    let mut sent = Instant::now();
    let mut rpc = Client::leases_rpc(node.channel());
    let opened = tokio::time::timeout(timeout, async {
        let token = client.login_token(node, timeout).await?;
        rpc.keep_alive(with_token(ReceiverStream::new(rx), token))
            .await
    })
    .await;
    let mut answers = match opened {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(s)) => return broken(client, &s),
        Err(_) => return Ended::Broken { leader: None },
    };
    loop {
        let left = valid_until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(timeout.min(left), answers.message()).await {
            Ok(Ok(Some(answer))) => match answer.lease {
                Some(_) => *valid_until = sent + ttl,
                None => return Ended::LeaseGone,
            },
            Ok(Ok(None)) | Err(_) => return Ended::Broken { leader: None },
            Ok(Err(s)) => return broken(client, &s),
        }
        tokio::time::sleep(every).await;
        sent = Instant::now();
        if tx.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
            return Ended::Broken { leader: None };
        }
    }
}

fn broken(client: &Client, s: &tonic::Status) -> Ended {
    // An expired token is forgotten, so the next stream logs in again.
    client.token_refused(s);
    let leader = s
        .metadata()
        .get(meta::LEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ended::Broken { leader }
}

/// A lease kept alive in the background (see [`Client::keep_alive`]). Dropping it stops the
/// renewals; the lease then ends one TTL after the last one.
#[derive(Debug)]
pub struct KeepAlive {
    id: u64,
    keeper: LeaseKeeper,
}

impl KeepAlive {
    pub fn lease_id(&self) -> u64 {
        self.id
    }

    /// Whether the lease is lost: the cluster says it ended, or no renewal succeeded for a
    /// whole TTL.
    pub fn is_lost(&self) -> bool {
        *self.keeper.lost.borrow()
    }

    /// Resolves once the lease is lost.
    pub async fn lost(&self) {
        let mut rx = self.keeper.lost();
        let _ = rx.wait_for(|l| *l).await;
    }
}

impl Client {
    /// Keeps `lease` alive in the background until the returned handle is dropped. The lease
    /// is taken as valid for `lease.remaining` from now.
    pub fn keep_alive(&self, lease: &crate::LeaseInfo) -> KeepAlive {
        KeepAlive {
            id: lease.id,
            keeper: LeaseKeeper::start(
                self.clone(),
                lease.id,
                lease.ttl,
                Instant::now() + lease.remaining.min(lease.ttl),
            ),
        }
    }
}
