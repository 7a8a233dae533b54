//! The lock service: acquire (try once, or wait in a FIFO line up to a timeout), release by
//! holder and token, refresh (keep-alive of the held lock's lease), holder and queue
//! inspection, and listing by prefix.
//!
//! Locks are not re-entrant: asking again for a lock one holds returns the current grant (the
//! same token) and one release frees it.

use cairn_api::meta::{self, kind};
use cairn_api::v1 as pb;
use cairn_api::v1::locks_server::Locks;
use cairn_model::coord::{CoordCommand, CoordError, CoordReply, Fence};
use cairn_model::txn::KeyRange;
use tokio::time::Instant;
use tonic::{Request, Status};

use super::waiter::{Ask, Asked, Grant, Kind};
use super::{Coord, check_name, check_owner, holder_pb, invalid, lease_pb, lock_pb, read_names};
use crate::status;

type Reply<T> = Result<tonic::Response<T>, Status>;

/// Locks per List page when the request sets no limit, and the most per page.
const DEFAULT_LIST_LIMIT: u32 = 1000;
const MAX_LIST_LIMIT: u32 = 10_000;

pub struct LockService {
    coord: Coord,
}

impl LockService {
    pub fn new(coord: Coord) -> Self {
        Self { coord }
    }
}

fn not_holder(name: &str, owner: &str, token: u64) -> Status {
    status::coord_error(CoordError::NotHolder {
        name: name.to_string(),
        owner: owner.to_string(),
        token,
    })
}

fn check_holder_args(name: &str, owner: &str, token: u64) -> Result<(), Status> {
    check_name(name)?;
    check_owner(owner)?;
    if token == 0 {
        return Err(invalid("token must be positive"));
    }
    Ok(())
}

fn acquired(g: Grant) -> pb::AcquireLockResponse {
    pb::AcquireLockResponse {
        acquired: true,
        token: g.token,
        lease_id: g.lease,
        holder: None,
        // The token is the revision of the entry that granted the lock.
        revision: g.token,
    }
}

#[tonic::async_trait]
impl Locks for LockService {
    async fn acquire(
        &self,
        req: Request<pb::AcquireLockRequest>,
    ) -> Reply<pb::AcquireLockResponse> {
        use pb::acquire_lock_request::Lease;
        let r = req.into_inner();
        // The wait timeout bounds the whole call, proposal included.
        let started = Instant::now();
        check_name(&r.name)?;
        check_owner(&r.owner)?;
        let (lease_id, ttl_ms) = match r.lease {
            Some(Lease::LeaseId(id)) => (Some(id), None),
            Some(Lease::TtlMs(ttl)) => (None, Some(ttl)),
            None => (None, None),
        };
        let choice = self.coord.lease_choice(lease_id, ttl_ms)?;
        let wait = self.coord.check_wait(r.wait_timeout_ms)?;
        let ask = Ask {
            kind: Kind::Lock,
            name: r.name,
            owner: r.owner,
            value: Vec::new(),
            choice,
        };
        let answer = match self.coord.ask(r.header, &ask, !wait.is_zero()).await? {
            Asked::Granted(g) => acquired(g),
            Asked::Busy { holder, revision } => pb::AcquireLockResponse {
                acquired: false,
                token: 0,
                lease_id: 0,
                holder: Some(holder_pb(holder)),
                revision,
            },
            Asked::Queued { lease, revision } => acquired(
                self.coord
                    .wait_for_grant(&ask, lease, revision, started + wait)
                    .await?,
            ),
        };
        Ok(self.coord.gateway.reply(answer))
    }

    async fn release(
        &self,
        req: Request<pb::ReleaseLockRequest>,
    ) -> Reply<pb::ReleaseLockResponse> {
        let r = req.into_inner();
        check_holder_args(&r.name, &r.owner, r.token)?;
        let command = CoordCommand::Release {
            name: r.name,
            owner: r.owner,
            token: r.token,
        };
        match self.coord.propose(r.header, None, command).await? {
            (revision, CoordReply::Released { next }) => {
                Ok(self.coord.gateway.reply(pb::ReleaseLockResponse {
                    next: next.map(holder_pb),
                    revision,
                }))
            }
            (_, other) => Err(status::internal(format!(
                "unexpected release reply: {other:?}"
            ))),
        }
    }

    async fn refresh(
        &self,
        req: Request<pb::RefreshLockRequest>,
    ) -> Reply<pb::RefreshLockResponse> {
        let r = req.into_inner();
        check_holder_args(&r.name, &r.owner, r.token)?;
        self.coord.gateway.before_read(false).await?;
        let holder = self
            .coord
            .read(|c| c.lock(&r.name))?
            .and_then(|l| l.holder)
            .filter(|h| h.owner == r.owner && h.token == r.token)
            .ok_or_else(|| not_holder(&r.name, &r.owner, r.token))?;
        // The fence makes the renewal conditional on still holding the lock when it applies.
        let fence = Fence::Lock {
            name: r.name.clone(),
            token: r.token,
        };
        let renew = CoordCommand::KeepAlive { id: holder.lease };
        match self.coord.propose(r.header, Some(fence), renew).await {
            Ok((
                revision,
                CoordReply::Lease {
                    id,
                    ttl_ms,
                    expires_ms,
                },
            )) => Ok(self.coord.gateway.reply(pb::RefreshLockResponse {
                lease: Some(lease_pb(&cairn_model::coord::LeaseRecord {
                    id,
                    ttl_ms,
                    expires_ms,
                    granted_revision: 0,
                    attached: Default::default(),
                })),
                revision,
            })),
            Ok((_, other)) => Err(status::internal(format!(
                "unexpected refresh reply: {other:?}"
            ))),
            Err(s)
                if s.metadata()
                    .get(meta::ERROR_KIND)
                    .is_some_and(|k| k == kind::STALE_FENCE) =>
            {
                Err(not_holder(&r.name, &r.owner, r.token))
            }
            Err(s) => Err(s),
        }
    }

    async fn holder(&self, req: Request<pb::LockHolderRequest>) -> Reply<pb::LockHolderResponse> {
        let r = req.into_inner();
        check_name(&r.name)?;
        read_names(KeyRange::single(r.name.as_bytes().to_vec()))?;
        self.coord.gateway.before_read(r.serializable).await?;
        let revision = self.coord.hub.current();
        let lock = self.coord.read(|c| c.lock(&r.name))?.map(lock_pb);
        Ok(self
            .coord
            .gateway
            .reply(pb::LockHolderResponse { lock, revision }))
    }

    async fn list(&self, req: Request<pb::ListLocksRequest>) -> Reply<pb::ListLocksResponse> {
        let r = req.into_inner();
        if r.limit > MAX_LIST_LIMIT {
            return Err(invalid(format!(
                "limit {} exceeds the maximum {MAX_LIST_LIMIT}",
                r.limit
            )));
        }
        let limit = if r.limit == 0 {
            DEFAULT_LIST_LIMIT
        } else {
            r.limit
        };
        read_names(KeyRange::prefix(r.prefix.as_bytes().to_vec()))?;
        self.coord.gateway.before_read(r.serializable).await?;
        let revision = self.coord.hub.current();
        let locks = self.coord.read(|c| c.locks(&r.prefix, limit as usize))?;
        Ok(self.coord.gateway.reply(pb::ListLocksResponse {
            locks: locks.into_iter().map(lock_pb).collect(),
            revision,
        }))
    }
}
