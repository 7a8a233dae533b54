//! The lease service: grant, revoke, time-to-live, list, and the keep-alive stream (each
//! request renews one lease through the log and is answered in order, as etcd does).

use cairn_api::meta::{self, kind};
use cairn_api::v1 as pb;
use cairn_api::v1::leases_server::Leases;
use cairn_model::coord::{CoordCommand, CoordReply};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status, Streaming};

use super::{Coord, attachment_pb, invalid, lease_pb};
use crate::services::keep_alive;
use crate::status;

type Reply<T> = Result<tonic::Response<T>, Status>;

pub struct LeaseService {
    coord: Coord,
}

impl LeaseService {
    pub fn new(coord: Coord) -> Self {
        Self { coord }
    }
}

fn lease_answer(id: u64, ttl_ms: u64, expires_ms: u64) -> pb::Lease {
    lease_pb(&cairn_model::coord::LeaseRecord {
        id,
        ttl_ms,
        expires_ms,
        granted_revision: 0,
        attached: Default::default(),
    })
}

fn check_id(id: u64) -> Result<(), Status> {
    if id == 0 {
        Err(invalid("lease id must be positive"))
    } else {
        Ok(())
    }
}

fn unexpected(r: CoordReply) -> Status {
    status::internal(format!("unexpected lease reply: {r:?}"))
}

impl Coord {
    /// One keep-alive: the renewed lease, or None when it no longer exists.
    async fn keep_alive_once(&self, id: u64) -> Result<(u64, Option<pb::Lease>), Status> {
        match self
            .propose(None, None, CoordCommand::KeepAlive { id })
            .await
        {
            Ok((
                revision,
                CoordReply::Lease {
                    id,
                    ttl_ms,
                    expires_ms,
                },
            )) => Ok((revision, Some(lease_answer(id, ttl_ms, expires_ms)))),
            Ok((_, other)) => Err(unexpected(other)),
            // An ended lease is an answer, not a failure of the stream.
            Err(s)
                if s.metadata()
                    .get(meta::ERROR_KIND)
                    .is_some_and(|k| k == kind::UNKNOWN_LEASE) =>
            {
                Ok((self.hub.current(), None))
            }
            Err(s) => Err(s),
        }
    }
}

#[tonic::async_trait]
impl Leases for LeaseService {
    async fn grant(&self, req: Request<pb::LeaseGrantRequest>) -> Reply<pb::LeaseGrantResponse> {
        let r = req.into_inner();
        self.coord.check_ttl(r.ttl_ms)?;
        let command = CoordCommand::GrantLease {
            id: (r.id != 0).then_some(r.id),
            ttl_ms: r.ttl_ms,
        };
        match self.coord.propose(r.header, None, command).await? {
            (
                revision,
                CoordReply::Lease {
                    id,
                    ttl_ms,
                    expires_ms,
                },
            ) => Ok(self.coord.gateway.reply(pb::LeaseGrantResponse {
                lease: Some(lease_answer(id, ttl_ms, expires_ms)),
                revision,
            })),
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn revoke(&self, req: Request<pb::LeaseRevokeRequest>) -> Reply<pb::LeaseRevokeResponse> {
        let r = req.into_inner();
        check_id(r.id)?;
        match self
            .coord
            .propose(r.header, None, CoordCommand::RevokeLease { id: r.id })
            .await?
        {
            (revision, CoordReply::LeasesEnded { .. }) => Ok(self
                .coord
                .gateway
                .reply(pb::LeaseRevokeResponse { revision })),
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn time_to_live(
        &self,
        req: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Reply<pb::LeaseTimeToLiveResponse> {
        let r = req.into_inner();
        check_id(r.id)?;
        self.coord.gateway.before_read(r.serializable).await?;
        let revision = self.coord.hub.current();
        let lease = self.coord.read(|c| c.lease(r.id))?;
        Ok(self.coord.gateway.reply(pb::LeaseTimeToLiveResponse {
            attached: lease
                .as_ref()
                .map(|l| l.attached.iter().map(attachment_pb).collect())
                .unwrap_or_default(),
            lease: lease.as_ref().map(lease_pb),
            revision,
        }))
    }

    async fn list(&self, req: Request<pb::LeaseListRequest>) -> Reply<pb::LeaseListResponse> {
        let r = req.into_inner();
        self.coord.gateway.before_read(r.serializable).await?;
        let revision = self.coord.hub.current();
        let leases = self.coord.read(|c| c.leases())?;
        Ok(self.coord.gateway.reply(pb::LeaseListResponse {
            leases: leases.iter().map(lease_pb).collect(),
            revision,
        }))
    }

    type KeepAliveStream = ReceiverStream<Result<pb::LeaseKeepAliveResponse, Status>>;

    async fn keep_alive(
        &self,
        req: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Reply<Self::KeepAliveStream> {
        let coord = self.coord.clone();
        let stream = keep_alive::serve(req.into_inner(), move |m: pb::LeaseKeepAliveRequest| {
            let coord = coord.clone();
            async move {
                if m.id == 0 {
                    return Err(invalid("lease id must be positive"));
                }
                let (revision, lease) = coord.keep_alive_once(m.id).await?;
                Ok(pb::LeaseKeepAliveResponse {
                    id: m.id,
                    lease,
                    revision,
                })
            }
        });
        Ok(self.coord.gateway.reply(stream))
    }
}
