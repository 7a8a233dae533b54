//! The election service: campaign (wait in line until elected, up to a timeout), the current
//! leader, a stream of every leadership change, resign, and proclaim. An election is a lock
//! whose holder is the leader; its term is the revision that elected it, a fencing token for
//! the leader's writes.

use cairn_api::v1 as pb;
use cairn_api::v1::elections_server::Elections;
use cairn_model::coord::{CoordCommand, CoordReply};
use cairn_model::txn::KeyRange;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use super::waiter::{Ask, Asked, Grant, Kind};
use super::{Coord, check_name, check_owner, check_value, holder_pb, invalid, read_names};
use crate::error::Error;
use crate::status;

type Reply<T> = Result<tonic::Response<T>, Status>;

/// Changes buffered per observer; a slow observer holds back only its own stream.
const OBSERVE_BUFFER: usize = 16;

pub struct ElectionService {
    coord: Coord,
}

impl ElectionService {
    pub fn new(coord: Coord) -> Self {
        Self { coord }
    }
}

fn unexpected(r: CoordReply) -> Status {
    status::internal(format!("unexpected election reply: {r:?}"))
}

fn elected(g: Grant) -> pb::CampaignResponse {
    pb::CampaignResponse {
        term: g.token,
        lease_id: g.lease,
        // The term is the revision of the entry that elected the candidate.
        revision: g.token,
    }
}

#[tonic::async_trait]
impl Elections for ElectionService {
    async fn campaign(&self, req: Request<pb::CampaignRequest>) -> Reply<pb::CampaignResponse> {
        use pb::campaign_request::Lease;
        let r = req.into_inner();
        let started = Instant::now();
        check_name(&r.election)?;
        check_owner(&r.candidate)?;
        check_value(&r.value)?;
        let (lease_id, ttl_ms) = match r.lease {
            Some(Lease::LeaseId(id)) => (Some(id), None),
            Some(Lease::TtlMs(ttl)) => (None, Some(ttl)),
            None => (None, None),
        };
        let choice = self.coord.lease_choice(lease_id, ttl_ms)?;
        // A campaign always waits; 0 asks for the longest wait this node allows.
        let wait = match r.wait_timeout_ms {
            0 => self.coord.config.max_wait,
            ms => self.coord.check_wait(ms)?,
        };
        let ask = Ask {
            kind: Kind::Election,
            name: r.election,
            owner: r.candidate,
            value: r.value,
            choice,
        };
        let grant = match self.coord.ask(r.header, &ask, true).await? {
            Asked::Granted(g) => g,
            Asked::Queued { lease, revision } => {
                self.coord
                    .wait_for_grant(&ask, lease, revision, started + wait)
                    .await?
            }
            Asked::Busy { .. } => return Err(status::internal("campaign answered busy")),
        };
        Ok(self.coord.gateway.reply(elected(grant)))
    }

    async fn leader(&self, req: Request<pb::LeaderRequest>) -> Reply<pb::LeaderResponse> {
        let r = req.into_inner();
        check_name(&r.election)?;
        read_names(KeyRange::single(r.election.as_bytes().to_vec()))?;
        self.coord.gateway.before_read(r.serializable).await?;
        let revision = self.coord.hub.current();
        let rec = self.coord.read(|c| c.election(&r.election))?;
        let (leader, candidates) = match rec {
            Some(rec) => (
                rec.holder.map(holder_pb),
                rec.waiters.into_iter().map(holder_pb).collect(),
            ),
            None => (None, Vec::new()),
        };
        Ok(self.coord.gateway.reply(pb::LeaderResponse {
            leader,
            candidates,
            revision,
        }))
    }

    type ObserveStream = ReceiverStream<Result<pb::ObserveResponse, Status>>;

    async fn observe(&self, req: Request<pb::ObserveRequest>) -> Reply<Self::ObserveStream> {
        let name = req.into_inner().election;
        check_name(&name)?;
        read_names(KeyRange::single(name.as_bytes().to_vec()))?;
        // The first answer is linearizable; later ones follow this node's applied order.
        self.coord.gateway.before_read(false).await?;
        let (tx, rx) = mpsc::channel(OBSERVE_BUFFER);
        let coord = self.coord.clone();
        let mut applied = coord.hub.subscribe();
        tokio::spawn(async move {
            // (leader, term, value) last sent; None before the first answer.
            let mut last = None;
            loop {
                let revision = *applied.borrow_and_update();
                let leader = match coord.read(|c| c.election(&name)) {
                    Ok(rec) => rec.and_then(|r| r.holder),
                    Err(s) => {
                        let _ = tx.send(Err(s)).await;
                        return;
                    }
                };
                let seen = leader
                    .as_ref()
                    .map(|h| (h.owner.clone(), h.token, h.value.clone()));
                if last.as_ref() != Some(&seen) {
                    let change = pb::ObserveResponse {
                        leader: leader.map(holder_pb),
                        revision,
                    };
                    if tx.send(Ok(change)).await.is_err() {
                        return;
                    }
                    last = Some(seen);
                }
                tokio::select! {
                    changed = applied.changed() => {
                        if changed.is_err() {
                            let stopping = Error::Unavailable("node is stopping".into());
                            let _ = tx.send(Err(stopping.into())).await;
                            return;
                        }
                    }
                    // The observer went away.
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(self.coord.gateway.reply(ReceiverStream::new(rx)))
    }

    async fn resign(&self, req: Request<pb::ResignRequest>) -> Reply<pb::ResignResponse> {
        let r = req.into_inner();
        check_name(&r.election)?;
        check_owner(&r.candidate)?;
        let command = CoordCommand::Resign {
            election: r.election,
            candidate: r.candidate,
            term: r.term,
        };
        match self.coord.propose(r.header, None, command).await? {
            (revision, CoordReply::Released { next }) => {
                Ok(self.coord.gateway.reply(pb::ResignResponse {
                    next: next.map(holder_pb),
                    revision,
                }))
            }
            // A withdrawn candidacy (term 0).
            (revision, CoordReply::WaitCancelled) => {
                Ok(self.coord.gateway.reply(pb::ResignResponse {
                    next: None,
                    revision,
                }))
            }
            (_, other) => Err(unexpected(other)),
        }
    }

    async fn proclaim(&self, req: Request<pb::ProclaimRequest>) -> Reply<pb::ProclaimResponse> {
        let r = req.into_inner();
        check_name(&r.election)?;
        check_owner(&r.candidate)?;
        check_value(&r.value)?;
        if r.term == 0 {
            return Err(invalid("term must be positive"));
        }
        let command = CoordCommand::Proclaim {
            election: r.election,
            candidate: r.candidate,
            term: r.term,
            value: r.value,
        };
        match self.coord.propose(r.header, None, command).await? {
            (revision, CoordReply::Proclaimed { term }) => Ok(self
                .coord
                .gateway
                .reply(pb::ProclaimResponse { term, revision })),
            (_, other) => Err(unexpected(other)),
        }
    }
}
