//! etcd's KV service (`etcdserverpb.KV`) over Cairn's replicated transactions: Put,
//! DeleteRange and Txn are one `Txn` command each (one log entry, one revision); Range reads
//! the local state machine after a read index (or at once when serializable), at the current
//! revision or a past one inside the watch history; Compact is a replicated command.

use cairn_model::txn::{OpReply, TxnCommand};
use cairn_model::{Command, Response};
use etcd_client::proto::{
    PbCompactionRequest, PbCompactionResponse, PbDeleteRequest, PbDeleteResponse, PbKvService,
    PbPutRequest, PbPutResponse, PbRangeRequest, PbRangeResponse, PbRangeStreamResponse,
    PbTxnRequest, PbTxnResponse,
};
use tonic::{Request, Status};

use super::header::Headers;
use super::kv_convert::{self as convert, Convert};
use super::reply::{Reply, answer, unsupported};
use super::store::EtcdStore;
use crate::config::Limits;
use crate::error::{Error, EtcdError};
use crate::services::gateway::unexpected;
use crate::status::EtcdCall;

pub struct EtcdKv {
    store: EtcdStore,
    headers: Headers,
    limits: Limits,
}

impl EtcdKv {
    pub fn new(store: EtcdStore, headers: Headers, limits: Limits) -> Self {
        Self {
            store,
            headers,
            limits,
        }
    }

    fn convert(&self) -> Convert<'_> {
        Convert {
            limits: &self.limits,
        }
    }
}

#[tonic::async_trait]
impl PbKvService for EtcdKv {
    async fn range(&self, req: Request<PbRangeRequest>) -> Reply<PbRangeResponse> {
        answer(EtcdCall::Kv, async {
            let r = req.into_inner();
            let serializable = r.serializable;
            let (spec, revision) = self.convert().range_request(r)?;
            let (reply, current) = self.store.range(&spec, revision, serializable).await?;
            Ok(convert::range_response(&self.headers, current, reply))
        })
        .await
    }

    type RangeStreamStream = futures::stream::Empty<Result<PbRangeStreamResponse, Status>>;

    async fn range_stream(&self, _req: Request<PbRangeRequest>) -> Reply<Self::RangeStreamStream> {
        unsupported(
            "RangeStream (etcd 3.6+)",
            "use Range with limit and a start key",
        )
    }

    async fn put(&self, req: Request<PbPutRequest>) -> Reply<PbPutResponse> {
        answer(EtcdCall::Kv, async {
            let op = self.convert().put(req.into_inner())?;
            let (revision, mut reply) = self.store.txn(TxnCommand::put(op)).await?;
            match reply.responses.pop() {
                Some(OpReply::Put { prev }) => {
                    Ok(convert::put_response(&self.headers, revision, prev))
                }
                other => Err(Error::Internal(format!("put answered {other:?}"))),
            }
        })
        .await
    }

    async fn delete_range(&self, req: Request<PbDeleteRequest>) -> Reply<PbDeleteResponse> {
        answer(EtcdCall::Kv, async {
            let op = self.convert().delete(req.into_inner())?;
            let cmd = TxnCommand {
                compare: Vec::new(),
                success: vec![op],
                failure: Vec::new(),
            };
            let (revision, mut reply) = self.store.txn(cmd).await?;
            match reply.responses.pop() {
                Some(OpReply::DeleteRange { deleted, prev }) => Ok(convert::delete_response(
                    &self.headers,
                    revision,
                    deleted,
                    prev,
                )),
                other => Err(Error::Internal(format!("delete answered {other:?}"))),
            }
        })
        .await
    }

    async fn txn(&self, req: Request<PbTxnRequest>) -> Reply<PbTxnResponse> {
        answer(EtcdCall::Kv, async {
            let cmd = self.convert().txn(req.into_inner())?;
            let (revision, reply) = self.store.txn(cmd).await?;
            Ok(convert::txn_response(&self.headers, revision, reply))
        })
        .await
    }

    async fn compact(&self, req: Request<PbCompactionRequest>) -> Reply<PbCompactionResponse> {
        answer(EtcdCall::Kv, async {
            let r = req.into_inner();
            let revision = u64::try_from(r.revision).map_err(|_| EtcdError::NegativeRevision)?;
            // `physical` needs no wait: apply drops the history before it answers.
            match self
                .store
                .gateway
                .propose(None, Command::Compact { revision })
                .await?
            {
                Response::Compacted { revision } => Ok(PbCompactionResponse {
                    header: Some(self.headers.at(revision)),
                }),
                other => Err(unexpected(other)),
            }
        })
        .await
    }
}
