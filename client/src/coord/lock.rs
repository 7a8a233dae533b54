//! Distributed locks: [`Client::lock`] / [`Client::try_lock`] return a [`LockGuard`] that keeps
//! the lock's lease alive in the background, reports loss of the lock promptly, carries the
//! fencing token for writes, and releases the lock when dropped.

use std::time::Duration;

use cairn_api::v1 as pb;
use tokio::sync::watch;
use tokio::time::Instant;

use super::keeper::LeaseKeeper;
use super::types::{CoordOutcome, Fence, LockState};
use super::write::LeaseSpec;
use crate::client::{Client, request};
use crate::error::{Error, Result};
use crate::pending::mismatched_reply;

/// Each blocking acquire asks the cluster to wait at most this long; waiting longer (or
/// forever) repeats it. Below the default server maximum (10 min).
const WAIT_CHUNK: Duration = Duration::from_secs(60);

/// How to acquire a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOptions {
    /// TTL of the lease made for the lock (default 10 s): if this client stops renewing it
    /// (crash, pause, partition), the lock is released this long after the last renewal.
    pub ttl: Duration,
    /// Bind the lock to this existing lease instead; the caller keeps that lease alive, and
    /// dropping the guard releases only the lock.
    pub lease: Option<u64>,
    /// Longest wait in line; `None` waits until granted.
    pub wait: Option<Duration>,
    /// The owner id (default: unique per acquire). Locks are not re-entrant: one owner asking
    /// again for a lock it holds gets the same grant (same token), and one release frees it.
    pub owner: Option<String>,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            lease: None,
            wait: None,
            owner: None,
        }
    }
}

impl LockOptions {
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
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// A held lock. Dropping it releases the lock (best effort, in the background); call
/// [`LockGuard::release`] to learn the outcome.
#[derive(Debug)]
pub struct LockGuard {
    client: Client,
    name: String,
    owner: String,
    token: u64,
    lease_id: u64,
    /// The lease was made for this lock: the guard keeps it alive, and releasing revokes it
    /// (which releases the lock in the same step).
    keeper: Option<LeaseKeeper>,
    lost: watch::Receiver<bool>,
    /// Keeps `lost` open when no keeper reports into it (a caller's own lease).
    _never: Option<watch::Sender<bool>>,
    released: bool,
}

impl LockGuard {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The fencing token: strictly larger for every grant of this lock.
    pub fn token(&self) -> u64 {
        self.token
    }

    pub fn lease_id(&self) -> u64 {
        self.lease_id
    }

    /// The fence for writes made under this lock ([`Client::fenced`]).
    pub fn fence(&self) -> Fence {
        Fence::lock(&self.name, self.token)
    }

    /// Whether the lock may have been lost: its lease ended, or could not be renewed for a
    /// whole TTL. Always false for a lock on the caller's own lease.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves once the lock is lost (never, for a lock on the caller's own lease).
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// A channel that turns true when the lock is lost.
    pub fn lost_watch(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Releases the lock now. [`Error::NotHolder`] or [`Error::LeaseNotFound`] mean it had
    /// been lost already.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        self.keeper = None;
        release(
            &self.client,
            &self.name,
            &self.owner,
            self.token,
            self.own_lease(),
        )
        .await
    }

    fn own_lease(&self) -> Option<u64> {
        self.keeper.as_ref().map(|_| self.lease_id)
    }
}

async fn release(
    client: &Client,
    name: &str,
    owner: &str,
    token: u64,
    own_lease: Option<u64>,
) -> Result<()> {
    match own_lease {
        Some(lease) => client.revoke_lease(lease).await.map(drop),
        None => client.release_lock(name, owner, token).await.map(drop),
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let own_lease = self.own_lease();
        self.keeper = None;
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (client, name, owner, token) = (
            self.client.clone(),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.owner),
            self.token,
        );
        rt.spawn(async move {
            if let Err(e) = release(&client, &name, &owner, token, own_lease).await {
                tracing::debug!(lock = %name, "release on drop: {e}");
            }
        });
    }
}

impl Client {
    /// Acquires lock `name`, waiting in line (FIFO) as long as `opts.wait` allows
    /// ([`Error::WaitTimeout`] then).
    pub async fn lock(&self, name: &str, opts: LockOptions) -> Result<LockGuard> {
        let owner = self.owner_id(&opts);
        let lease = spec(&opts);
        // A wait too long to represent is no different from waiting forever.
        let deadline = opts.wait.and_then(|w| Instant::now().checked_add(w));
        loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_CHUNK),
                None => WAIT_CHUNK,
            };
            let started = Instant::now();
            match self
                .acquire_lock(name, &owner, lease, wait.max(Duration::from_millis(1)))
                .await
            {
                Ok(CoordOutcome::Acquired { token, lease_id }) => {
                    return Ok(self.guard(name, owner, token, lease_id, &opts, started));
                }
                Ok(_) => return Err(mismatched_reply()),
                Err(Error::WaitTimeout) if deadline.is_none_or(|d| Instant::now() < d) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Acquires lock `name` if nobody holds it; `Ok(None)` when someone does.
    pub async fn try_lock(&self, name: &str, opts: LockOptions) -> Result<Option<LockGuard>> {
        let owner = self.owner_id(&opts);
        let started = Instant::now();
        match self
            .acquire_lock(name, &owner, spec(&opts), Duration::ZERO)
            .await?
        {
            CoordOutcome::Acquired { token, lease_id } => Ok(Some(
                self.guard(name, owner, token, lease_id, &opts, started),
            )),
            CoordOutcome::Busy(_) => Ok(None),
            _ => Err(mismatched_reply()),
        }
    }

    fn owner_id(&self, opts: &LockOptions) -> String {
        opts.owner
            .clone()
            .unwrap_or_else(|| format!("{}/{:016x}", self.client_id(), rand::random::<u64>()))
    }

    fn guard(
        &self,
        name: &str,
        owner: String,
        token: u64,
        lease_id: u64,
        opts: &LockOptions,
        asked_at: Instant,
    ) -> LockGuard {
        let (keeper, lost, never) = match opts.lease {
            Some(_) => {
                let (tx, rx) = watch::channel(false);
                (None, rx, Some(tx))
            }
            None => {
                // The lease was made no earlier than we asked, and while we waited in line the
                // node renewed it at least every third of its TTL.
                let valid = (asked_at + opts.ttl).max(Instant::now() + opts.ttl - opts.ttl / 3);
                let keeper = LeaseKeeper::start(self.clone(), lease_id, opts.ttl, valid);
                let lost = keeper.lost();
                (Some(keeper), lost, None)
            }
        };
        LockGuard {
            client: self.clone(),
            name: name.to_string(),
            owner,
            token,
            lease_id,
            keeper,
            lost,
            _never: never,
            released: false,
        }
    }

    /// Lock `name`'s holder and waiters; `Ok(None)` when nobody holds or waits for it.
    pub async fn lock_state(&self, name: &str) -> Result<Option<LockState>> {
        let msg = pb::LockHolderRequest {
            name: name.to_string(),
            serializable: false,
        };
        let r = self
            .call("lock_holder", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::locks_rpc(ch).holder(req).await }
            })
            .await?;
        Ok(r.lock.map(LockState::from))
    }

    /// Up to `limit` locks whose names start with `prefix` (0 = the server's page size), in
    /// name order.
    pub async fn locks(&self, prefix: &str, limit: u32) -> Result<Vec<LockState>> {
        let msg = pb::ListLocksRequest {
            prefix: prefix.to_string(),
            limit,
            serializable: false,
        };
        let r = self
            .call("list_locks", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::locks_rpc(ch).list(req).await }
            })
            .await?;
        Ok(r.locks.into_iter().map(LockState::from).collect())
    }
}

fn spec(opts: &LockOptions) -> LeaseSpec {
    match opts.lease {
        Some(id) => LeaseSpec::Existing(id),
        None => LeaseSpec::New(opts.ttl),
    }
}
