//! etcd's Lease service over Cairn's replicated leases: etcd's seconds and signed ids outside,
//! Cairn's milliseconds and unsigned ids inside. Grant, revoke and each keep-alive go through
//! the log (forwarded to the leader); TimeToLive and Leases are linearizable reads.

use cairn_model::coord::{Attachment, CoordCommand, CoordError, CoordReply};
use cairn_model::{Command, CommandError, Response as CairnResponse};
use cairn_raft::now_ms;
use cairn_storage::CoordReader;
use etcd_client::proto::{
    PbLeaseGrantRequest, PbLeaseGrantResponse, PbLeaseKeepAliveRequest, PbLeaseKeepAliveResponse,
    PbLeaseLeasesRequest, PbLeaseLeasesResponse, PbLeaseRevokeRequest, PbLeaseRevokeResponse,
    PbLeaseService, PbLeaseStatus, PbLeaseTimeToLiveRequest, PbLeaseTimeToLiveResponse,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::header::Headers;
use super::reply::{Reply, answer};
use crate::coord_config::CoordConfig;
use crate::error::{Error, EtcdError};
use crate::services::gateway::{Gateway, unexpected};
use crate::services::keep_alive;
use crate::status::{self, EtcdCall};

pub struct LeaseService {
    inner: Inner,
}

/// What a keep-alive stream's task needs too. Cheap to clone.
#[derive(Clone)]
struct Inner {
    gateway: Gateway,
    reader: CoordReader,
    config: CoordConfig,
    headers: Headers,
}

impl LeaseService {
    pub fn new(
        gateway: Gateway,
        reader: CoordReader,
        config: CoordConfig,
        headers: Headers,
    ) -> Self {
        Self {
            inner: Inner {
                gateway,
                reader,
                config,
                headers,
            },
        }
    }
}

/// An etcd lease id as Cairn's. Cairn's ids are unsigned; the same 64 bits, so an id above
/// i64::MAX (grantable only through Cairn's own API) is negative to etcd clients and still
/// finds its lease when they send it back.
fn cairn_id(id: i64) -> u64 {
    id as u64
}

/// A Cairn lease id as etcd's (see [`cairn_id`]).
fn etcd_id(id: u64) -> i64 {
    id as i64
}

/// Milliseconds as whole seconds, rounded up: a live lease never reads as 0 s left.
fn secs(ms: u64) -> i64 {
    i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// The TTL a grant asks for, in Cairn's milliseconds. As etcd does with its minimum TTL, a
/// shorter (or zero or negative) TTL is raised to the node's minimum, in whole seconds so the
/// TTL the answer reports is the one granted; a TTL above the node's maximum is refused.
fn grant_ttl_ms(ttl_secs: i64, config: &CoordConfig) -> Result<u64, EtcdError> {
    let asked = u64::try_from(ttl_secs).unwrap_or(0).saturating_mul(1000);
    if asked > config.max_ttl_ms {
        return Err(EtcdError::LeaseTtlTooLarge);
    }
    let min_whole = config.min_ttl_ms.div_ceil(1000).saturating_mul(1000);
    let min = if min_whole <= config.max_ttl_ms {
        min_whole
    } else {
        config.min_ttl_ms
    };
    Ok(asked.max(min))
}

impl Inner {
    /// Proposes a lease command.
    async fn propose(&self, command: CoordCommand) -> Result<(u64, CoordReply), Error> {
        match self.gateway.propose(None, Command::Coord(command)).await? {
            CairnResponse::Coord { revision, reply } => Ok((revision, reply)),
            other => Err(unexpected(other)),
        }
    }

    /// One keep-alive answer. A lease that no longer exists is answered with TTL 0, as etcd
    /// does; the stream goes on.
    async fn keep_alive_once(&self, id: i64) -> Result<PbLeaseKeepAliveResponse, Error> {
        match self
            .propose(CoordCommand::KeepAlive { id: cairn_id(id) })
            .await
        {
            Ok((revision, CoordReply::Lease { ttl_ms, .. })) => Ok(PbLeaseKeepAliveResponse {
                header: Some(self.headers.at(revision)),
                id,
                ttl: secs(ttl_ms),
            }),
            Ok((_, other)) => Err(Error::Internal(format!(
                "unexpected keep-alive reply: {other:?}"
            ))),
            Err(Error::Rejected(CommandError::Coord(CoordError::UnknownLease(_)))) => {
                Ok(PbLeaseKeepAliveResponse {
                    header: Some(self.headers.current()),
                    id,
                    ttl: 0,
                })
            }
            Err(e) => Err(e),
        }
    }
}

#[tonic::async_trait]
impl PbLeaseService for LeaseService {
    async fn lease_grant(&self, req: Request<PbLeaseGrantRequest>) -> Reply<PbLeaseGrantResponse> {
        answer(EtcdCall::Lease, async {
            let r = req.into_inner();
            if r.id < 0 {
                return Err(Error::invalid(
                    "cairn: a lease ID chosen by the client must be positive (0 lets the \
                     server choose)",
                ));
            }
            let ttl_ms = grant_ttl_ms(r.ttl, &self.inner.config)?;
            let command = CoordCommand::GrantLease {
                id: (r.id != 0).then_some(cairn_id(r.id)),
                ttl_ms,
            };
            match self.inner.propose(command).await? {
                (revision, CoordReply::Lease { id, ttl_ms, .. }) => Ok(PbLeaseGrantResponse {
                    header: Some(self.inner.headers.at(revision)),
                    id: etcd_id(id),
                    ttl: secs(ttl_ms),
                    error: String::new(),
                }),
                (_, other) => Err(Error::Internal(format!(
                    "unexpected grant reply: {other:?}"
                ))),
            }
        })
        .await
    }

    async fn lease_revoke(
        &self,
        req: Request<PbLeaseRevokeRequest>,
    ) -> Reply<PbLeaseRevokeResponse> {
        answer(EtcdCall::Lease, async {
            let id = req.into_inner().id;
            if id == 0 {
                return Err(EtcdError::LeaseNotFound.into());
            }
            let (revision, _) = self
                .inner
                .propose(CoordCommand::RevokeLease { id: cairn_id(id) })
                .await?;
            Ok(PbLeaseRevokeResponse {
                header: Some(self.inner.headers.at(revision)),
            })
        })
        .await
    }

    type LeaseKeepAliveStream = ReceiverStream<Result<PbLeaseKeepAliveResponse, Status>>;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<PbLeaseKeepAliveRequest>>,
    ) -> Reply<Self::LeaseKeepAliveStream> {
        let inner = self.inner.clone();
        let stream = keep_alive::serve(req.into_inner(), move |m: PbLeaseKeepAliveRequest| {
            let inner = inner.clone();
            async move {
                inner
                    .keep_alive_once(m.id)
                    .await
                    .map_err(|e| status::etcd(e, EtcdCall::Lease))
            }
        });
        Ok(Response::new(stream))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<PbLeaseTimeToLiveRequest>,
    ) -> Reply<PbLeaseTimeToLiveResponse> {
        answer(EtcdCall::Lease, self.time_to_live(req.into_inner())).await
    }

    async fn lease_leases(
        &self,
        _req: Request<PbLeaseLeasesRequest>,
    ) -> Reply<PbLeaseLeasesResponse> {
        answer(EtcdCall::Lease, async {
            self.inner.gateway.before_read(false).await?;
            let header = self.inner.headers.current();
            let leases = self.inner.reader.leases()?;
            Ok(PbLeaseLeasesResponse {
                header: Some(header),
                leases: leases
                    .iter()
                    .map(|l| PbLeaseStatus { id: etcd_id(l.id) })
                    .collect(),
            })
        })
        .await
    }
}

impl LeaseService {
    async fn time_to_live(
        &self,
        r: PbLeaseTimeToLiveRequest,
    ) -> Result<PbLeaseTimeToLiveResponse, Error> {
        self.inner.gateway.before_read(false).await?;
        let header = self.inner.headers.current();
        let lease = self.inner.reader.lease(cairn_id(r.id))?;
        // etcd answers an unknown (expired, revoked) lease with TTL -1, not an error.
        let resp = match lease {
            None => PbLeaseTimeToLiveResponse {
                header: Some(header),
                id: r.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Some(l) => PbLeaseTimeToLiveResponse {
                header: Some(header),
                id: r.id,
                // Expiry is in the leader's clock; clocks of one cluster agree closely enough
                // for a seconds-granular answer.
                ttl: secs(l.expires_ms.saturating_sub(now_ms())),
                granted_ttl: secs(l.ttl_ms),
                // etcd lists the attached keys only when asked.
                keys: if r.keys {
                    l.attached
                        .iter()
                        .filter_map(|a| match a {
                            Attachment::Key { key } => Some(key.clone()),
                            _ => None,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            },
        };
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CoordConfig {
        CoordConfig {
            min_ttl_ms: 1500,
            max_ttl_ms: 60_000,
            ..CoordConfig::default()
        }
    }

    #[test]
    fn grant_ttl_is_raised_to_the_minimum_and_capped() {
        let c = config();
        assert_eq!(grant_ttl_ms(10, &c).ok(), Some(10_000));
        // Below the minimum (1.5 s): the next whole second.
        assert_eq!(grant_ttl_ms(1, &c).ok(), Some(2000));
        assert_eq!(grant_ttl_ms(0, &c).ok(), Some(2000));
        assert_eq!(grant_ttl_ms(-5, &c).ok(), Some(2000));
        assert_eq!(grant_ttl_ms(60, &c).ok(), Some(60_000));
        // Its code and words: status::etcd's tests.
        assert_eq!(
            grant_ttl_ms(61, &c).err(),
            Some(EtcdError::LeaseTtlTooLarge)
        );
        assert!(grant_ttl_ms(i64::MAX, &c).is_err());
    }

    #[test]
    fn ids_round_trip_and_seconds_round_up() {
        assert_eq!(etcd_id(cairn_id(-3)), -3);
        assert_eq!(cairn_id(42), 42);
        assert_eq!(secs(0), 0);
        assert_eq!(secs(1), 1);
        assert_eq!(secs(1000), 1);
        assert_eq!(secs(1001), 2);
    }
}
