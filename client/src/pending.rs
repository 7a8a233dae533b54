//! Writes whose outcome is unknown. When every retry of a write failed transiently, the write
//! may or may not have been applied; the caller gets [`Error::OutcomeUnknown`] holding a
//! [`PendingWrite`], and [`Client::resume`] sends it again with its original idempotency key,
//! so the cluster applies it at most once (within its dedup window, 10 minutes by default).

use cairn_api::v1::{DeleteRequest, PutRequest};

use crate::client::{Client, request};
use crate::error::{Error, Result};
use crate::kv::DeleteResult;

#[derive(Debug, Clone)]
pub(crate) enum WriteOp {
    Put(PutRequest),
    Delete(DeleteRequest),
}

/// A write that may or may not have been applied. Resume it with [`Client::resume`].
#[derive(Debug, Clone)]
pub struct PendingWrite {
    pub(crate) op: WriteOp,
    /// The last failure seen before the retries ran out.
    pub cause: String,
}

/// What a resumed write returns: the same as the original call would have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Put { revision: u64 },
    Delete(DeleteResult),
}

impl PendingWrite {
    /// The idempotency key `(client_id, sequence)` every attempt of this write carries.
    pub fn idempotency_key(&self) -> (&str, u64) {
        let header = match &self.op {
            WriteOp::Put(r) => r.header.as_ref(),
            WriteOp::Delete(r) => r.header.as_ref(),
        };
        header.map_or(("", 0), |h| (h.client_id.as_str(), h.sequence))
    }
}

/// Turns "retries exhausted" into [`Error::OutcomeUnknown`]: an attempt may have been applied
/// even though no answer came back. Definite answers (invalid input, revision mismatch, ...)
/// pass through unchanged.
pub(crate) fn outcome_unknown(e: Error, op: impl FnOnce() -> WriteOp) -> Error {
    let cause = match e {
        Error::Unavailable(cause) => cause,
        Error::Timeout => "timed out".to_string(),
        Error::Rpc(s) if matches!(s.code(), tonic::Code::Internal | tonic::Code::Unknown) => {
            s.message().to_string()
        }
        other => return other,
    };
    Error::OutcomeUnknown(Box::new(PendingWrite { op: op(), cause }))
}

impl Client {
    /// Sends a write whose outcome was unknown again, with its original idempotency key: if
    /// the first attempt was applied, this returns that attempt's result instead of applying
    /// the write twice.
    pub async fn resume(&self, pending: PendingWrite) -> Result<WriteOutcome> {
        self.send_write(pending.op).await
    }

    /// Sends one logical write (retrying with its header unchanged); exhausted retries
    /// become [`Error::OutcomeUnknown`].
    pub(crate) async fn send_write(&self, op: WriteOp) -> Result<WriteOutcome> {
        match op {
            WriteOp::Put(msg) => self
                .call("put", |ch, t| {
                    let req = request(msg.clone(), t);
                    async move { Self::kv(ch).put(req).await }
                })
                .await
                .map(|r| WriteOutcome::Put {
                    revision: r.revision,
                })
                .map_err(|e| outcome_unknown(e, || WriteOp::Put(msg))),
            WriteOp::Delete(msg) => self
                .call("delete", |ch, t| {
                    let req = request(msg.clone(), t);
                    async move { Self::kv(ch).delete(req).await }
                })
                .await
                .map(|r| {
                    WriteOutcome::Delete(DeleteResult {
                        revision: r.revision,
                        deleted: r.deleted,
                    })
                })
                .map_err(|e| outcome_unknown(e, || WriteOp::Delete(msg))),
        }
    }
}
