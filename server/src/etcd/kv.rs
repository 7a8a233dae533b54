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
use tonic::{Request, Response as TonicResponse, Status};

use super::header::Headers;
use super::kv_convert::{self as convert, Convert};
use super::store::EtcdStore;
use crate::config::Limits;
use crate::services::gateway::unexpected;
use crate::status;

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

type Reply<T> = Result<TonicResponse<T>, Status>;

#[tonic::async_trait]
impl PbKvService for EtcdKv {
    async fn range(&self, req: Request<PbRangeRequest>) -> Reply<PbRangeResponse> {
        let r = req.into_inner();
        let serializable = r.serializable;
        let (spec, revision) = self.convert().range_request(r)?;
        let (reply, current) = self.store.range(&spec, revision, serializable).await?;
        Ok(TonicResponse::new(convert::range_response(
            &self.headers,
            current,
            reply,
        )))
    }

    type RangeStreamStream = futures::stream::Empty<Result<PbRangeStreamResponse, Status>>;

    async fn range_stream(&self, _req: Request<PbRangeRequest>) -> Reply<Self::RangeStreamStream> {
        Err(Status::unimplemented(
            "RangeStream (etcd 3.6+) is not served; use Range with limit and a start key",
        ))
    }

    async fn put(&self, req: Request<PbPutRequest>) -> Reply<PbPutResponse> {
        let op = self.convert().put(req.into_inner())?;
        let (revision, mut reply) = self.store.txn(TxnCommand::put(op)).await?;
        match reply.responses.pop() {
            Some(OpReply::Put { prev }) => Ok(TonicResponse::new(convert::put_response(
                &self.headers,
                revision,
                prev,
            ))),
            other => Err(status::internal(format!("put answered {other:?}"))),
        }
    }

    async fn delete_range(&self, req: Request<PbDeleteRequest>) -> Reply<PbDeleteResponse> {
        let op = self.convert().delete(req.into_inner())?;
        let cmd = TxnCommand {
            compare: Vec::new(),
            success: vec![op],
            failure: Vec::new(),
        };
        let (revision, mut reply) = self.store.txn(cmd).await?;
        match reply.responses.pop() {
            Some(OpReply::DeleteRange { deleted, prev }) => Ok(TonicResponse::new(
                convert::delete_response(&self.headers, revision, deleted, prev),
            )),
            other => Err(status::internal(format!("delete answered {other:?}"))),
        }
    }

    async fn txn(&self, req: Request<PbTxnRequest>) -> Reply<PbTxnResponse> {
        let cmd = self.convert().txn(req.into_inner())?;
        let (revision, reply) = self.store.txn(cmd).await?;
        Ok(TonicResponse::new(convert::txn_response(
            &self.headers,
            revision,
            reply,
        )))
    }

    async fn compact(&self, req: Request<PbCompactionRequest>) -> Reply<PbCompactionResponse> {
        let r = req.into_inner();
        let revision = u64::try_from(r.revision)
            .map_err(|_| Status::invalid_argument("etcdserver: revision must not be negative"))?;
        // `physical` needs no wait: apply drops the history before it answers.
        match self
            .store
            .gateway
            .propose(None, Command::Compact { revision })
            .await?
        {
            Response::Compacted { revision } => Ok(TonicResponse::new(PbCompactionResponse {
                header: Some(self.headers.at(revision)),
            })),
            other => Err(unexpected(other)),
        }
    }
}
