//! The etcd v3 workloads of `cairn bench --api etcd`: the same closed loop as Cairn's own
//! workloads, driven through the `etcd-client` crate, so one generator measures Cairn and a
//! real etcd alike (scripts/bench-etcd runs both and prints the ratios).

use std::fmt::Write as _;

use etcd_client::{Client, Compare, CompareOp, LockOptions, Txn, TxnOp, TxnOpResponse};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::workloads::{Op, Outcome};

pub async fn connect(
    endpoints: &[String],
    tls: Option<&cairn_client::TlsOptions>,
    credentials: Option<&cairn_client::Credentials>,
) -> Result<Client, etcd_client::Error> {
    let options = crate::endpoints_arg::etcd_options(tls, credentials);
    Client::connect(endpoints, Some(options)).await
}

fn key(buf: &mut String, prefix: &str, n: u64) {
    buf.clear();
    // Writing into a String cannot fail.
    let _ = write!(buf, "{prefix}/{n:012}");
}

/// Puts of random keys.
pub struct Put {
    client: Client,
    rng: SmallRng,
    keys: u64,
    key: String,
    value: Vec<u8>,
}

impl Put {
    pub fn new(client: Client, keys: u64, value_size: usize) -> Self {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let mut value = vec![0u8; value_size];
        rng.fill(&mut value[..]);
        Self {
            client,
            rng,
            keys,
            key: String::new(),
            value,
        }
    }
}

impl Op for Put {
    type Error = etcd_client::Error;
    async fn run(&mut self) -> Result<Outcome, Self::Error> {
        key(&mut self.key, "bench", self.rng.random_range(0..self.keys));
        self.client
            .put(self.key.as_bytes(), self.value.clone(), None)
            .await?;
        Ok(Outcome::Done)
    }
}

/// Writes keys `bench/0..n` (for the get workload), `concurrency` at a time.
pub async fn prefill(
    client: &Client,
    n: u64,
    value_size: usize,
    concurrency: usize,
) -> Result<(), etcd_client::Error> {
    let value = vec![b'v'; value_size];
    let mut next = 0;
    while next < n {
        let batch: Vec<_> = (next..n.min(next + concurrency as u64))
            .map(|i| {
                let mut c = client.clone();
                let value = value.clone();
                async move {
                    let mut k = String::new();
                    key(&mut k, "bench", i);
                    c.put(k, value, None).await.map(|_| ())
                }
            })
            .collect();
        next += batch.len() as u64;
        for r in futures::future::join_all(batch).await {
            r?;
        }
    }
    Ok(())
}

/// Linearizable gets of random prefilled keys.
pub struct Get {
    client: Client,
    rng: SmallRng,
    keys: u64,
    key: String,
}

impl Get {
    pub fn new(client: Client, keys: u64) -> Self {
        Self {
            client,
            rng: SmallRng::from_rng(&mut rand::rng()),
            keys,
            key: String::new(),
        }
    }
}

impl Op for Get {
    type Error = etcd_client::Error;
    async fn run(&mut self) -> Result<Outcome, Self::Error> {
        key(&mut self.key, "bench", self.rng.random_range(0..self.keys));
        self.client.get(self.key.as_bytes(), None).await?;
        Ok(Outcome::Done)
    }
}

/// Compare-and-swap on hot keys: one Txn per op, "if mod_revision is what I last saw, put,
/// else read the current one". A lost race is a conflict (counted, not an op); the task then
/// knows the current revision for its next try.
pub struct Cas {
    client: Client,
    rng: SmallRng,
    keys: u64,
    seen: Vec<i64>,
    key: String,
}

impl Cas {
    pub fn new(client: Client, keys: u64) -> Self {
        Self {
            client,
            rng: SmallRng::from_rng(&mut rand::rng()),
            keys,
            seen: vec![0; usize::try_from(keys).unwrap_or(0)],
            key: String::new(),
        }
    }
}

impl Op for Cas {
    type Error = etcd_client::Error;
    async fn run(&mut self) -> Result<Outcome, Self::Error> {
        let n = self.rng.random_range(0..self.keys);
        key(&mut self.key, "cas", n);
        let slot = usize::try_from(n).unwrap_or(0);
        let expected = self.seen.get(slot).copied().unwrap_or(0);
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(
                self.key.as_bytes(),
                CompareOp::Equal,
                expected,
            )])
            .and_then(vec![TxnOp::put(self.key.as_bytes(), "x", None)])
            .or_else(vec![TxnOp::get(self.key.as_bytes(), None)]);
        let resp = self.client.txn(txn).await?;
        let now = if resp.succeeded() {
            resp.header().map_or(0, |h| h.revision())
        } else {
            match resp.op_responses().first() {
                Some(TxnOpResponse::Get(g)) => g.kvs().first().map_or(0, |kv| kv.mod_revision()),
                _ => 0,
            }
        };
        if let Some(s) = self.seen.get_mut(slot) {
            *s = now;
        }
        Ok(if resp.succeeded() {
            Outcome::Done
        } else {
            Outcome::Conflict
        })
    }
}

/// Lock then unlock a random name, under the task's own lease.
pub struct LockCycle {
    client: Client,
    rng: SmallRng,
    names: u64,
    lease: i64,
    name: String,
}

impl LockCycle {
    /// Grants the task's lease (long enough for any run; the bench never keeps it alive).
    pub async fn new(mut client: Client, names: u64) -> Result<Self, etcd_client::Error> {
        let lease = client.lease_grant(3600, None).await?.id();
        Ok(Self {
            client,
            rng: SmallRng::from_rng(&mut rand::rng()),
            names,
            lease,
            name: String::new(),
        })
    }
}

impl Op for LockCycle {
    type Error = etcd_client::Error;
    async fn run(&mut self) -> Result<Outcome, Self::Error> {
        key(&mut self.name, "lock", self.rng.random_range(0..self.names));
        let held = self
            .client
            .lock(
                self.name.as_bytes(),
                Some(LockOptions::new().with_lease(self.lease)),
            )
            .await?;
        self.client.unlock(held.key()).await?;
        Ok(Outcome::Done)
    }
}
