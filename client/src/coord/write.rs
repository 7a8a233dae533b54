//! Coordination writes on the shared write path ([`Client::send_write`]: one idempotency
//! header per logical write, retries, [`crate::Error::OutcomeUnknown`] and resume), and the
//! plain lease/lock/election calls the guards are built from.
//!
//! A blocking acquire or campaign may legitimately take its whole wait timeout, so its
//! attempts get that much longer, and a retried attempt only asks for the wait that is left.

use std::time::Duration;

use cairn_api::v1 as pb;
use cairn_api::v1::elections_client::ElectionsClient;
use cairn_api::v1::leases_client::LeasesClient;
use cairn_api::v1::locks_client::LocksClient;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::types::{CoordOutcome, Holder, LeaseInfo};
use crate::client::{Client, MAX_RESPONSE_BYTES, request};
use crate::error::{Error, Result};
use crate::pending::{WriteOutcome, mismatched_reply, outcome_unknown};
use crate::write_op::{CoordWrite, WriteOp};

/// Which lease a lock or candidacy binds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseSpec {
    Existing(u64),
    New(Duration),
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lease_info(l: Option<pb::Lease>) -> Result<LeaseInfo> {
    l.map(LeaseInfo::from_pb)
        .ok_or_else(|| Error::Rpc(tonic::Status::internal("answer without its lease")))
}

/// The wait left before `deadline`, never 0 (0 would mean "try once" or "the maximum").
fn wait_left(deadline: Instant) -> u64 {
    millis(deadline.saturating_duration_since(Instant::now())).max(1)
}

impl Client {
    pub(crate) fn leases_rpc(ch: Channel) -> LeasesClient<Channel> {
        LeasesClient::new(ch).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    pub(crate) fn locks_rpc(ch: Channel) -> LocksClient<Channel> {
        LocksClient::new(ch).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    pub(crate) fn elections_rpc(ch: Channel) -> ElectionsClient<Channel> {
        ElectionsClient::new(ch).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    async fn coord(&self, w: CoordWrite) -> Result<CoordOutcome> {
        match self.send_write(WriteOp::Coord(w)).await? {
            WriteOutcome::Coord(o) => Ok(o),
            _ => Err(mismatched_reply()),
        }
    }

    /// The RPC of one coordination write (see [`Client::send_write`]).
    pub(crate) async fn dispatch_coord(&self, w: CoordWrite) -> Result<WriteOutcome> {
        let cfg = self.config().clone();
        let (per_try, budget) = (cfg.request_timeout, cfg.retry_deadline);
        macro_rules! unary {
            ($name:literal, $m:expr, $client:ident, $rpc:ident, $wrap:path) => {{
                let m = $m;
                self.call_with($name, per_try, budget, |ch, t| {
                    let req = request(m.clone(), t);
                    async move { Self::$client(ch).$rpc(req).await }
                })
                .await
                .map_err(|e| outcome_unknown(e, || WriteOp::Coord($wrap(m))))?
            }};
        }
        let outcome = match w {
            CoordWrite::Grant(m) => {
                let r = unary!("grant_lease", m, leases_rpc, grant, CoordWrite::Grant);
                CoordOutcome::Lease(lease_info(r.lease)?)
            }
            CoordWrite::Revoke(m) => {
                let r = unary!("revoke_lease", m, leases_rpc, revoke, CoordWrite::Revoke);
                CoordOutcome::Revoked {
                    revision: r.revision,
                }
            }
            CoordWrite::Release(m) => {
                let r = unary!("release_lock", m, locks_rpc, release, CoordWrite::Release);
                CoordOutcome::Released {
                    next: r.next.map(Holder::from),
                    revision: r.revision,
                }
            }
            CoordWrite::Refresh(m) => {
                let r = unary!("refresh_lock", m, locks_rpc, refresh, CoordWrite::Refresh);
                CoordOutcome::Lease(lease_info(r.lease)?)
            }
            CoordWrite::Resign(m) => {
                let r = unary!("resign", m, elections_rpc, resign, CoordWrite::Resign);
                CoordOutcome::Released {
                    next: r.next.map(Holder::from),
                    revision: r.revision,
                }
            }
            CoordWrite::Proclaim(m) => {
                let r = unary!("proclaim", m, elections_rpc, proclaim, CoordWrite::Proclaim);
                CoordOutcome::Proclaimed {
                    term: r.term,
                    revision: r.revision,
                }
            }
            CoordWrite::Acquire(m) => {
                let wait = Duration::from_millis(m.wait_timeout_ms);
                let deadline = Instant::now() + wait;
                let r = self
                    .call_with("acquire_lock", per_try + wait, budget + wait, |ch, t| {
                        let mut attempt = m.clone();
                        if attempt.wait_timeout_ms > 0 {
                            attempt.wait_timeout_ms = wait_left(deadline);
                        }
                        let req = request(attempt, t);
                        async move { Self::locks_rpc(ch).acquire(req).await }
                    })
                    .await
                    .map_err(|e| outcome_unknown(e, || WriteOp::Coord(CoordWrite::Acquire(m))))?;
                match r.holder {
                    Some(h) if !r.acquired => CoordOutcome::Busy(h.into()),
                    _ => CoordOutcome::Acquired {
                        token: r.token,
                        lease_id: r.lease_id,
                    },
                }
            }
            CoordWrite::Campaign(m) => {
                let wait = Duration::from_millis(m.wait_timeout_ms);
                let deadline = Instant::now() + wait;
                let r = self
                    .call_with("campaign", per_try + wait, budget + wait, |ch, t| {
                        let mut attempt = m.clone();
                        attempt.wait_timeout_ms = wait_left(deadline);
                        let req = request(attempt, t);
                        async move { Self::elections_rpc(ch).campaign(req).await }
                    })
                    .await
                    .map_err(|e| outcome_unknown(e, || WriteOp::Coord(CoordWrite::Campaign(m))))?;
                CoordOutcome::Elected {
                    term: r.term,
                    lease_id: r.lease_id,
                }
            }
        };
        Ok(WriteOutcome::Coord(outcome))
    }

    /// Grants a lease with this TTL (within the cluster's bounds, 1 s - 1 h by default). It
    /// lives until revoked or until it is not kept alive for `ttl`
    /// (see [`Client::keep_alive`]).
    pub async fn grant_lease(&self, ttl: Duration) -> Result<LeaseInfo> {
        let msg = pb::LeaseGrantRequest {
            header: Some(self.next_header()),
            ttl_ms: millis(ttl),
            id: 0,
        };
        match self.coord(CoordWrite::Grant(msg)).await? {
            CoordOutcome::Lease(l) => Ok(l),
            _ => Err(mismatched_reply()),
        }
    }

    /// Ends lease `id` now, releasing every lock and leadership it holds (the next in line
    /// gets each) and leaving every line it waits in. [`Error::LeaseNotFound`] if it is gone.
    pub async fn revoke_lease(&self, id: u64) -> Result<u64> {
        let msg = pb::LeaseRevokeRequest {
            header: Some(self.next_header()),
            id,
        };
        match self.coord(CoordWrite::Revoke(msg)).await? {
            CoordOutcome::Revoked { revision } => Ok(revision),
            _ => Err(mismatched_reply()),
        }
    }

    /// Asks for lock `name` as `owner`. `wait` zero tries once.
    pub(crate) async fn acquire_lock(
        &self,
        name: &str,
        owner: &str,
        lease: LeaseSpec,
        wait: Duration,
    ) -> Result<CoordOutcome> {
        use pb::acquire_lock_request::Lease;
        let msg = pb::AcquireLockRequest {
            header: Some(self.next_header()),
            name: name.to_string(),
            owner: owner.to_string(),
            lease: Some(match lease {
                LeaseSpec::Existing(id) => Lease::LeaseId(id),
                LeaseSpec::New(ttl) => Lease::TtlMs(millis(ttl)),
            }),
            wait_timeout_ms: millis(wait),
        };
        self.coord(CoordWrite::Acquire(msg)).await
    }

    /// Campaigns in `election` as `candidate` and waits up to `wait` (at least 1 ms).
    pub(crate) async fn campaign_once(
        &self,
        election: &str,
        candidate: &str,
        value: &[u8],
        lease: LeaseSpec,
        wait: Duration,
    ) -> Result<(u64, u64)> {
        use pb::campaign_request::Lease;
        let msg = pb::CampaignRequest {
            header: Some(self.next_header()),
            election: election.to_string(),
            candidate: candidate.to_string(),
            value: value.to_vec(),
            lease: Some(match lease {
                LeaseSpec::Existing(id) => Lease::LeaseId(id),
                LeaseSpec::New(ttl) => Lease::TtlMs(millis(ttl)),
            }),
            wait_timeout_ms: millis(wait).max(1),
        };
        match self.coord(CoordWrite::Campaign(msg)).await? {
            CoordOutcome::Elected { term, lease_id } => Ok((term, lease_id)),
            _ => Err(mismatched_reply()),
        }
    }

    /// Releases lock `name` held by `owner` with `token`; returns who holds it now.
    /// [`Error::NotHolder`] if that is not (or no longer) the case.
    pub async fn release_lock(
        &self,
        name: &str,
        owner: &str,
        token: u64,
    ) -> Result<Option<Holder>> {
        let msg = pb::ReleaseLockRequest {
            header: Some(self.next_header()),
            name: name.to_string(),
            owner: owner.to_string(),
            token,
        };
        match self.coord(CoordWrite::Release(msg)).await? {
            CoordOutcome::Released { next, .. } => Ok(next),
            _ => Err(mismatched_reply()),
        }
    }

    /// Renews the lease of lock `name` if `owner` still holds it with `token`.
    pub async fn refresh_lock(&self, name: &str, owner: &str, token: u64) -> Result<LeaseInfo> {
        let msg = pb::RefreshLockRequest {
            header: Some(self.next_header()),
            name: name.to_string(),
            owner: owner.to_string(),
            token,
        };
        match self.coord(CoordWrite::Refresh(msg)).await? {
            CoordOutcome::Lease(l) => Ok(l),
            _ => Err(mismatched_reply()),
        }
    }

    /// Ends `candidate`'s leadership of `election` in `term` (the next candidate in line is
    /// elected), or with term 0 withdraws its candidacy while it waits.
    pub async fn resign(
        &self,
        election: &str,
        candidate: &str,
        term: u64,
    ) -> Result<Option<Holder>> {
        let msg = pb::ResignRequest {
            header: Some(self.next_header()),
            election: election.to_string(),
            candidate: candidate.to_string(),
            term,
        };
        match self.coord(CoordWrite::Resign(msg)).await? {
            CoordOutcome::Released { next, .. } => Ok(next),
            _ => Err(mismatched_reply()),
        }
    }

    /// Sets the leader's value, if `candidate` leads `election` in `term`.
    pub async fn proclaim(
        &self,
        election: &str,
        candidate: &str,
        term: u64,
        value: impl Into<Vec<u8>>,
    ) -> Result<u64> {
        let msg = pb::ProclaimRequest {
            header: Some(self.next_header()),
            election: election.to_string(),
            candidate: candidate.to_string(),
            term,
            value: value.into(),
        };
        match self.coord(CoordWrite::Proclaim(msg)).await? {
            CoordOutcome::Proclaimed { revision, .. } => Ok(revision),
            _ => Err(mismatched_reply()),
        }
    }
}
