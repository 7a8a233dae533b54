//! [`Client`]: the shared handle, its idempotency identity, and the retry loop every RPC goes
//! through.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_api::v1::RequestHeader;
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Response, Status};

use crate::config::ClientConfig;
use crate::endpoints::{Endpoints, Node};
use crate::error::{Disposition, Error, Result, classify};
use crate::in_flight::InFlight;
use crate::login::SharedLogin;
use crate::retry::Backoff;

/// Responses larger than tonic's 4 MiB default are legitimate (a range page of large values);
/// the server bounds page sizes, this only keeps a broken peer from exhausting memory.
pub(crate) const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How much later than the client's own per-attempt timer the server's deadline is set.
const SERVER_DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// A handle to a Cairn cluster. Cloning is cheap (an `Arc`); clones share the connections,
/// the known leader and the idempotency identity, so one client can serve many tasks.
///
/// Every call goes to the preferred endpoint (the last one that answered, or the leader a node
/// named), and transient failures are retried with backoff until
/// [`ClientConfig::retry_deadline`]. Each logical write takes one `(client_id, sequence)` pair
/// and every retry of it reuses that pair, so the cluster applies it at most once.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) endpoints: Endpoints,
    client_id: String,
    sequence: AtomicU64,
    /// Sequences of writes not yet finished (including ones held by a `PendingWrite`). The
    /// smallest is sent as `first_incomplete`, so the cluster forgets replies below it.
    /// Shared, so a pending write's `SequenceHold` keeps only this set alive.
    pub(crate) in_flight: Arc<InFlight>,
    /// The login token, when `config.credentials` is set.
    login: SharedLogin,
}

impl Client {
    /// A client for the given endpoints (`host:port` or `http://host:port`) with default
    /// settings. No connection is made here: each endpoint's channel connects on first use, so
    /// this succeeds even while nodes are down. Fails only on malformed or missing endpoints.
    pub fn connect(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Result<Client> {
        Self::with_config(endpoints, ClientConfig::default())
    }

    /// Like [`Client::connect`], with explicit timeouts and backoff.
    pub fn with_config(
        endpoints: impl IntoIterator<Item = impl Into<String>>,
        config: ClientConfig,
    ) -> Result<Client> {
        let endpoints = Endpoints::new(endpoints, &config)?;
        // 128 random bits: collisions between clients would make the server treat one
        // client's write as another's retry.
        let client_id = format!("{:032x}", rand::random::<u128>());
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                endpoints,
                client_id,
                // Start at 1 so 0 can never be mistaken for "no sequence".
                sequence: AtomicU64::new(1),
                in_flight: Arc::default(),
                login: SharedLogin::default(),
            }),
        })
    }

    /// This client's idempotency identity (random per `Client`, shared by clones).
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The known endpoints, in index order (configured ones first, then leader hints).
    pub fn endpoints(&self) -> Vec<String> {
        self.inner.endpoints.addrs()
    }

    /// A fresh idempotency key for one logical write. The sequence counts as in flight until
    /// the write is finished (see `write_op::SequenceHold`).
    pub(crate) fn next_header(&self) -> RequestHeader {
        let mut in_flight = self.inner.in_flight.lock();
        // Allocated under the lock, so the smallest in-flight sequence is never one that a
        // concurrent caller has taken but not registered yet.
        let sequence = self.inner.sequence.fetch_add(1, Ordering::Relaxed);
        in_flight.insert(sequence);
        RequestHeader {
            client_id: self.inner.client_id.clone(),
            sequence,
            first_incomplete: in_flight.first().copied().unwrap_or(sequence),
        }
    }

    /// Runs `attempt` against the preferred endpoint until it succeeds, fails for good, or
    /// the retry deadline passes. `attempt` gets the endpoint's channel and the deadline to
    /// send to the server (see [`request`]); it must rebuild its request each time because
    /// tonic consumes it, and it must reuse any idempotency header captured outside.
    pub(crate) async fn call<T, F, Fut>(&self, op: &'static str, attempt: F) -> Result<T>
    where
        F: FnMut(Channel, Attempt) -> Fut,
        Fut: Future<Output = std::result::Result<Response<T>, Status>>,
    {
        let cfg = &self.inner.config;
        self.call_with(op, cfg.request_timeout, cfg.retry_deadline, attempt)
            .await
    }

    /// [`Client::call`] with its own per-attempt timeout and total budget, for calls whose
    /// duration grows with their size (checkpoint uploads and loads).
    pub(crate) async fn call_with<T, F, Fut>(
        &self,
        op: &'static str,
        request_timeout: Duration,
        retry_deadline: Duration,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Channel, Attempt) -> Fut,
        Fut: Future<Output = std::result::Result<Response<T>, Status>>,
    {
        let cfg = &self.inner.config;
        let deadline = Instant::now() + retry_deadline;
        let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
        let mut last_failure: Option<(String, bool)> = None;
        let mut just_redirected = false;
        let mut logged_in_again = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let per_try = request_timeout.min(remaining);
            let (idx, node) = self.inner.endpoints.pick();
            let status = match self.try_once(&node, per_try, &mut attempt).await {
                Ok((value, leader)) => {
                    // A follower that served us by forwarding names the leader: go there next
                    // time and save the extra hop.
                    match leader {
                        Some(hint) => self.inner.endpoints.on_leader_hint(idx, &hint),
                        None => self.inner.endpoints.on_success(idx),
                    }
                    return Ok(value);
                }
                Err(status) => status,
            };
            // An expired or revoked token: log in again, once, at once.
            if self.token_refused(&status) && !logged_in_again {
                logged_in_again = true;
                continue;
            }
            let (leader, timed_out, cause) = match classify(status) {
                Disposition::Fail(e) => return Err(e),
                Disposition::Retry {
                    leader,
                    timed_out,
                    cause,
                } => (leader, timed_out, cause),
            };
            let next = self.inner.endpoints.on_failure(idx, leader.as_deref());
            tracing::debug!(op, endpoint = node.addr(), %cause, leader = ?leader, "retrying");
            last_failure = Some((format!("{}: {cause}", node.addr()), timed_out));
            // A node that names the leader is usually right: go there at once, but only once
            // in a row, so two nodes pointing at each other still back off.
            if leader.is_some() && next != idx && !just_redirected {
                just_redirected = true;
                continue;
            }
            just_redirected = false;
            let delay = backoff.next_delay(&mut rand::rng());
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(delay.min(remaining)).await;
        }
        Err(match last_failure {
            Some((cause, false)) => Error::Unavailable(cause),
            Some((_, true)) | None => Error::Timeout,
        })
    }

    /// One attempt on one node, with no retry; transient failures become
    /// [`Error::Unavailable`] / [`Error::Timeout`] right away.
    pub(crate) async fn call_node<T, F, Fut>(&self, node: &Node, mut attempt: F) -> Result<T>
    where
        F: FnMut(Channel, Attempt) -> Fut,
        Fut: Future<Output = std::result::Result<Response<T>, Status>>,
    {
        let timeout = self.inner.config.request_timeout;
        let mut outcome = self.try_once(node, timeout, &mut attempt).await;
        if let Err(status) = &outcome
            && self.token_refused(status)
        {
            outcome = self.try_once(node, timeout, &mut attempt).await;
        }
        match outcome {
            Ok((value, _)) => Ok(value),
            Err(status) => Err(match classify(status) {
                Disposition::Fail(e) => e,
                Disposition::Retry {
                    timed_out: true, ..
                } => Error::Timeout,
                Disposition::Retry { cause, .. } => {
                    Error::Unavailable(format!("{}: {cause}", node.addr()))
                }
            }),
        }
    }
}

impl Client {
    /// The login token for a call through `node`, logging in there if there is none yet;
    /// `None` without credentials.
    pub(crate) async fn login_token(
        &self,
        node: &Node,
        timeout: Duration,
    ) -> std::result::Result<Option<AsciiMetadataValue>, Status> {
        match &self.inner.config.credentials {
            Some(creds) => Ok(Some(
                self.inner
                    .login
                    .token(creds, node.channel(), timeout)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Whether `status` refused the login token; if so, it is forgotten (the next attempt
    /// logs in again).
    pub(crate) fn token_refused(&self, status: &Status) -> bool {
        let refused = status.code() == tonic::Code::Unauthenticated
            && self.inner.config.credentials.is_some();
        if refused {
            self.inner.login.forget();
        }
        refused
    }

    async fn try_once<T, F, Fut>(
        &self,
        node: &Node,
        per_try: Duration,
        attempt: &mut F,
    ) -> std::result::Result<(T, Option<String>), Status>
    where
        F: FnMut(Channel, Attempt) -> Fut,
        Fut: Future<Output = std::result::Result<Response<T>, Status>>,
    {
        // The local timer is authoritative (it also covers connection setup and a login). The
        // server gets a slightly later deadline so it still drops abandoned work, but never
        // answers "timeout expired" (Cancelled) before our own timer fires with a clear
        // DeadlineExceeded.
        let timeout = per_try + SERVER_DEADLINE_MARGIN;
        let call = async {
            let token = self.login_token(node, timeout).await?;
            attempt(node.channel(), Attempt { timeout, token }).await
        };
        answer(per_try, tokio::time::timeout(per_try, call).await)
    }
}

/// One attempt's outcome: its value and the leader a follower named, or its failure.
fn answer<T>(
    per_try: Duration,
    outcome: std::result::Result<
        std::result::Result<Response<T>, Status>,
        tokio::time::error::Elapsed,
    >,
) -> std::result::Result<(T, Option<String>), Status> {
    match outcome {
        Ok(Ok(resp)) => {
            let leader = resp
                .metadata()
                .get(cairn_api::meta::LEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Ok((resp.into_inner(), leader))
        }
        Ok(Err(status)) => Err(status),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {per_try:?}"
        ))),
    }
}

/// What one attempt sends besides its message: the deadline for the server, and the login
/// token when the client logs in.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) timeout: Duration,
    token: Option<AsciiMetadataValue>,
}

/// A streaming call's request: `msg` with the login token, if any.
pub(crate) fn with_token<M>(msg: M, token: Option<AsciiMetadataValue>) -> tonic::Request<M> {
    let mut req = tonic::Request::new(msg);
    if let Some(token) = token {
        req.metadata_mut().insert("token", token);
    }
    req
}

/// Wraps a message in a request carrying the attempt's deadline, so the server (and a
/// follower forwarding to the leader) can give up when the client already has, and the login
/// token (etcd's `token` metadata).
pub(crate) fn request<M>(msg: M, attempt: Attempt) -> tonic::Request<M> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(attempt.timeout);
    if let Some(token) = attempt.token {
        req.metadata_mut().insert("token", token);
    }
    req
}
