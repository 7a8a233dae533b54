//! etcd's Election service (`v3electionpb.Election`), with clientv3's Election recipe run
//! server-side (see `recipes`): a candidacy is the key `name/<lease hex>` holding the
//! candidate's value, the leader is the oldest key under `name/`, and the leader key's
//! create revision is its term (`LeaderKey.rev`). Observe streams each new leader or value.

use std::pin::Pin;

use cairn_api::etcd::v3electionpb::election_server::Election;
use cairn_api::etcd::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::header::{Headers, to_i64};
use super::kv_convert::key_value;
use super::lock::{lease_id, name_arg};
use super::recipes::{Recipes, prefix_of};
use super::reply::{Reply, answer};
use crate::error::{Error, EtcdError};
use crate::status::{self, EtcdCall};

pub struct ElectionService {
    recipes: Recipes,
    headers: Headers,
}

impl ElectionService {
    pub fn new(recipes: Recipes, headers: Headers) -> Self {
        Self { recipes, headers }
    }
}

/// The leader key of a request: its key and term (create revision).
fn leader_arg(leader: Option<LeaderKey>) -> Result<(Vec<u8>, u64), EtcdError> {
    let l = leader.ok_or(EtcdError::LeaderNotProvided)?;
    name_arg(&l.key)?;
    let rev = u64::try_from(l.rev).map_err(|_| EtcdError::NegativeLeaderRev)?;
    Ok((l.key, rev))
}

/// Whether the caller may read the election's keys (its name is their prefix, as in etcd).
fn read_prefix(name: &[u8]) -> Result<(), Error> {
    let range = cairn_model::txn::KeyRange::prefix(prefix_of(name));
    crate::auth::caller::check_read(&range).map_err(|e| cairn_model::CommandError::from(e).into())
}

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(&self, req: Request<CampaignRequest>) -> Reply<CampaignResponse> {
        answer(EtcdCall::Recipe, async {
            let r = req.into_inner();
            name_arg(&r.name)?;
            let lease = lease_id(r.lease)?;
            let owned = self
                .recipes
                .acquire(&prefix_of(&r.name), lease, &r.value, true)
                .await?;
            Ok(CampaignResponse {
                header: Some(self.headers.at(owned.revision)),
                leader: Some(LeaderKey {
                    name: r.name,
                    key: owned.key,
                    rev: to_i64(owned.create_revision),
                    lease: r.lease,
                }),
            })
        })
        .await
    }

    async fn proclaim(&self, req: Request<ProclaimRequest>) -> Reply<ProclaimResponse> {
        answer(EtcdCall::Recipe, async {
            let r = req.into_inner();
            let (key, rev) = leader_arg(r.leader)?;
            let revision = self.recipes.proclaim(&key, rev, &r.value).await?;
            Ok(ProclaimResponse {
                header: Some(self.headers.at(revision)),
            })
        })
        .await
    }

    async fn leader(&self, req: Request<LeaderRequest>) -> Reply<LeaderResponse> {
        answer(EtcdCall::Recipe, async {
            let r = req.into_inner();
            name_arg(&r.name)?;
            read_prefix(&r.name)?;
            let store = self.recipes.store();
            store.gateway.before_read(false).await?;
            let (leader, revision) = self.recipes.owner(&prefix_of(&r.name))?;
            let kv = leader.ok_or(EtcdError::ElectionNoLeader)?;
            Ok(LeaderResponse {
                header: Some(self.headers.at(revision)),
                kv: Some(key_value(kv)),
            })
        })
        .await
    }

    type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send>>;

    async fn observe(&self, req: Request<LeaderRequest>) -> Reply<Self::ObserveStream> {
        let r = req.into_inner();
        let started: Result<(), Error> = async {
            name_arg(&r.name)?;
            read_prefix(&r.name)?;
            self.recipes.store().gateway.before_read(false).await
        }
        .await;
        started.map_err(|e| status::etcd(e, EtcdCall::Recipe))?;
        // Errors end the stream, in etcd's words.
        let failed = |e: Error| Err(status::etcd(e, EtcdCall::Recipe));
        let prefix = prefix_of(&r.name);
        let recipes = self.recipes.clone();
        let headers = self.headers.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            // The last leader sent, by key and mod revision (a proclaim changes the latter).
            let mut last: Option<(Vec<u8>, u64)> = None;
            loop {
                let (leader, revision) = match recipes.owner(&prefix) {
                    Ok(found) => found,
                    Err(e) => {
                        let _ = tx.send(failed(e)).await;
                        return;
                    }
                };
                if let Some(kv) = leader {
                    let id = (kv.key.clone(), kv.record.mod_revision);
                    if last.as_ref() != Some(&id) {
                        last = Some(id);
                        let resp = LeaderResponse {
                            header: Some(headers.at(revision)),
                            kv: Some(key_value(kv)),
                        };
                        if tx.send(Ok(resp)).await.is_err() {
                            return;
                        }
                    }
                }
                tokio::select! {
                    changed = recipes.store().changed_after(revision) => {
                        if let Err(e) = changed {
                            let _ = tx.send(failed(e)).await;
                            return;
                        }
                    }
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn resign(&self, req: Request<ResignRequest>) -> Reply<ResignResponse> {
        answer(EtcdCall::Recipe, async {
            let r = req.into_inner();
            let (key, rev) = leader_arg(r.leader)?;
            // Like clientv3: resigning a leadership already lost is not an error.
            let revision = self.recipes.release(&key, rev).await?;
            Ok(ResignResponse {
                header: Some(self.headers.at(revision)),
            })
        })
        .await
    }
}
