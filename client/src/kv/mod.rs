//! The key-value API: put/get/delete with optional compare-and-set, and prefix ranges with
//! continuation, and compare-and-swap transactions over several keys (`txn`). Keys and values are bytes; anything `Into<Vec<u8>>` (`&str`, `String`,
//! `Vec<u8>`, `&[u8]`) is accepted.

mod txn;
mod types;

use cairn_api::v1::kv_client::KvClient;
use cairn_api::v1::{self as pb, DeleteRequest, GetRequest, PutRequest, RangeRequest};
use tonic::Status;

pub use txn::{CompareOp, CompareTarget, Txn, TxnOp};
pub use types::*;

use crate::client::{Client, MAX_RESPONSE_BYTES, request};
use crate::error::{Error, Result};
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

impl Client {
    pub(crate) fn kv(channel: tonic::transport::Channel) -> KvClient<tonic::transport::Channel> {
        KvClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// Sets `key` to `value`. Returns the write's revision.
    pub async fn put(&self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<u64> {
        self.put_inner(key.into(), value.into(), None, None).await
    }

    /// Sets `key` to `value` only if the key's `mod_revision` is `expected_revision`
    /// (0 = the key must not exist). Fails with [`Error::RevisionMismatch`] otherwise.
    pub async fn put_if(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        expected_revision: u64,
    ) -> Result<u64> {
        self.put_inner(key.into(), value.into(), Some(expected_revision), None)
            .await
    }

    pub(crate) async fn put_inner(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        expected_revision: Option<u64>,
        fence: Option<pb::Fence>,
    ) -> Result<u64> {
        // One header for the logical write, captured before the loop: every retry reuses it.
        let msg = PutRequest {
            header: Some(self.next_header()),
            key,
            value,
            expected_revision,
            fence,
        };
        match self.send_write(WriteOp::Put(msg)).await? {
            WriteOutcome::Put { revision } => Ok(revision),
            _ => Err(mismatched_reply()),
        }
    }

    /// Reads `key` linearizably. `Ok(None)` when it does not exist.
    pub async fn get(&self, key: impl Into<Vec<u8>>) -> Result<Option<KeyValue>> {
        self.get_inner(key.into(), false).await
    }

    /// Reads `key` from whichever node answers, without a leader round trip: faster, but may
    /// miss the most recent writes.
    pub async fn get_serializable(&self, key: impl Into<Vec<u8>>) -> Result<Option<KeyValue>> {
        self.get_inner(key.into(), true).await
    }

    async fn get_inner(&self, key: Vec<u8>, serializable: bool) -> Result<Option<KeyValue>> {
        let msg = GetRequest { key, serializable };
        let resp = self
            .call("get", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::kv(ch).get(req).await }
            })
            .await?;
        Ok(resp.kv.map(KeyValue::from))
    }

    /// Deletes `key`. Deleting a missing key is not an error: `deleted` is then false.
    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> Result<DeleteResult> {
        self.delete_inner(key.into(), None, None).await
    }

    /// Deletes `key` only if its `mod_revision` is `expected_revision`; fails with
    /// [`Error::RevisionMismatch`] otherwise.
    pub async fn delete_if(
        &self,
        key: impl Into<Vec<u8>>,
        expected_revision: u64,
    ) -> Result<DeleteResult> {
        self.delete_inner(key.into(), Some(expected_revision), None)
            .await
    }

    pub(crate) async fn delete_inner(
        &self,
        key: Vec<u8>,
        expected_revision: Option<u64>,
        fence: Option<pb::Fence>,
    ) -> Result<DeleteResult> {
        let msg = DeleteRequest {
            header: Some(self.next_header()),
            key,
            expected_revision,
            fence,
        };
        match self.send_write(WriteOp::Delete(msg)).await? {
            WriteOutcome::Delete(d) => Ok(d),
            _ => Err(mismatched_reply()),
        }
    }

    /// One page of keys starting with `prefix`, strictly after `start_after` (empty = from
    /// the first key), at most `limit` keys (0 = the server's default page size). Linearizable.
    pub async fn range(
        &self,
        prefix: impl Into<Vec<u8>>,
        start_after: impl AsRef<[u8]>,
        limit: u32,
    ) -> Result<RangePage> {
        let msg = RangeRequest {
            prefix: prefix.into(),
            start_after: start_after.as_ref().to_vec(),
            limit,
            serializable: false,
        };
        self.range_page(&msg).await
    }

    async fn range_page(&self, msg: &RangeRequest) -> Result<RangePage> {
        let resp = self
            .call("range", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::kv(ch).range(req).await }
            })
            .await?;
        Ok(RangePage {
            kvs: resp.kvs.into_iter().map(KeyValue::from).collect(),
            next_key: Some(resp.next_key).filter(|k| !k.is_empty()),
            revision: resp.revision,
        })
    }

    /// Every key starting with `prefix`, following continuations page by page. Each page is
    /// linearizable on its own, but pages may be read at different revisions: a concurrent
    /// writer can be seen partially.
    pub async fn range_all(&self, prefix: impl Into<Vec<u8>>) -> Result<Vec<KeyValue>> {
        let mut msg = RangeRequest {
            prefix: prefix.into(),
            start_after: Vec::new(),
            limit: 0,
            serializable: false,
        };
        let mut all = Vec::new();
        loop {
            let page = self.range_page(&msg).await?;
            all.extend(page.kvs);
            match page.next_key {
                // Guard against a server bug looping us forever on the same page.
                Some(next) if next <= msg.start_after => {
                    return Err(Error::Rpc(Status::internal(
                        "range continuation did not advance",
                    )));
                }
                Some(next) => msg.start_after = next,
                None => return Ok(all),
            }
        }
    }
}
