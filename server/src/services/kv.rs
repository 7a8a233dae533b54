//! The KV service: maps requests to replicated commands, and serves reads from the local
//! state machine after a read index (linearizable) or directly (serializable). A write's key
//! and value are checked by the gateway (`Request::check_input`, as on the leader for a
//! forwarded write), a read's key here. Writes may carry a fence (a lock token or election
//! term) that the state machine checks.

use cairn_api::v1::kv_server::Kv;
use cairn_api::v1::{
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, TxnRequest, TxnResponse,
};
use cairn_model::txn::KeyRange;
use cairn_model::{Command, Response};
use cairn_storage::KvReader;
use tonic::Status;

use super::coord;
use super::gateway::{Gateway, unexpected};
use super::kv_convert::key_value;
use crate::auth::caller;
use crate::config::Limits;
use crate::status;

/// Page size when a Range request does not set one.
const DEFAULT_RANGE_LIMIT: u32 = 1000;

pub struct KvService {
    gateway: Gateway,
    reader: KvReader,
    limits: Limits,
}

impl KvService {
    pub fn new(gateway: Gateway, reader: KvReader, limits: Limits) -> Self {
        Self {
            gateway,
            reader,
            limits,
        }
    }

    fn check_key(&self, key: &[u8]) -> Result<(), Status> {
        if key.is_empty() {
            return Err(status::invalid("key must not be empty"));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(status::too_large(
                "key",
                key.len(),
                self.limits.max_key_bytes,
            ));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn put(
        &self,
        req: tonic::Request<PutRequest>,
    ) -> Result<tonic::Response<PutResponse>, Status> {
        let r = req.into_inner();
        let fence = coord::fence(r.fence)?;
        let command = Command::Put {
            key: r.key,
            value: r.value,
            expected_revision: r.expected_revision,
        };
        match self
            .gateway
            .propose_fenced(r.header, fence, command)
            .await?
        {
            Response::Put { revision } => Ok(self.gateway.reply(PutResponse { revision })),
            other => Err(unexpected(other).into()),
        }
    }

    async fn get(
        &self,
        req: tonic::Request<GetRequest>,
    ) -> Result<tonic::Response<GetResponse>, Status> {
        let r = req.into_inner();
        self.check_key(&r.key)?;
        caller::check_read(&KeyRange::single(r.key.clone())).map_err(status::auth_error)?;
        self.gateway.before_read(r.serializable).await?;
        let revision = self.reader.applied_index();
        let kv = self
            .reader
            .get(&r.key)
            .map_err(status::storage_error)?
            .map(|rec| key_value(r.key, rec));
        Ok(self.gateway.reply(GetResponse { kv, revision }))
    }

    async fn delete(
        &self,
        req: tonic::Request<DeleteRequest>,
    ) -> Result<tonic::Response<DeleteResponse>, Status> {
        let r = req.into_inner();
        let fence = coord::fence(r.fence)?;
        let command = Command::Delete {
            key: r.key,
            expected_revision: r.expected_revision,
        };
        match self
            .gateway
            .propose_fenced(r.header, fence, command)
            .await?
        {
            Response::Delete { revision, deleted } => {
                Ok(self.gateway.reply(DeleteResponse { revision, deleted }))
            }
            other => Err(unexpected(other).into()),
        }
    }

    async fn range(
        &self,
        req: tonic::Request<RangeRequest>,
    ) -> Result<tonic::Response<RangeResponse>, Status> {
        let r = req.into_inner();
        if r.prefix.len() > self.limits.max_key_bytes {
            return Err(status::too_large(
                "prefix",
                r.prefix.len(),
                self.limits.max_key_bytes,
            ));
        }
        if r.limit > self.limits.max_range_limit {
            return Err(status::invalid(format!(
                "limit {} exceeds the maximum {}",
                r.limit, self.limits.max_range_limit
            )));
        }
        let limit = if r.limit == 0 {
            DEFAULT_RANGE_LIMIT
        } else {
            r.limit
        };
        caller::check_read(&KeyRange::prefix(r.prefix.clone())).map_err(status::auth_error)?;
        self.gateway.before_read(r.serializable).await?;
        let revision = self.reader.applied_index();
        let (rows, more) = self
            .reader
            .range(&r.prefix, &r.start_after, limit as usize)
            .map_err(status::storage_error)?;
        let next_key = if more {
            rows.last().map(|(k, _)| k.clone()).unwrap_or_default()
        } else {
            Vec::new()
        };
        let kvs = rows.into_iter().map(|(k, rec)| key_value(k, rec)).collect();
        Ok(self.gateway.reply(RangeResponse {
            kvs,
            next_key,
            revision,
        }))
    }

    async fn txn(
        &self,
        req: tonic::Request<TxnRequest>,
    ) -> Result<tonic::Response<TxnResponse>, Status> {
        let mut r = req.into_inner();
        let fence = coord::fence(r.fence.take())?;
        let command = Command::Txn(super::kv_convert::command(&mut r)?);
        match self
            .gateway
            .propose_fenced(r.header, fence, command)
            .await?
        {
            Response::Txn { revision, reply } => Ok(self
                .gateway
                .reply(super::kv_convert::response(reply, revision)?)),
            other => Err(unexpected(other).into()),
        }
    }
}
