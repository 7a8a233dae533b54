//! How an etcd RPC answers: its body works on the server's typed [`Error`], and the etcd map
//! (`status::etcd`) words a failure for the RPC's family, so no RPC builds a status itself.

use std::future::Future;

use tonic::{Response, Status};

use crate::error::Error;
use crate::status::{self, EtcdCall};

pub type Reply<T> = Result<Response<T>, Status>;

/// Runs an RPC's body and answers with its value, or its error in etcd's words for `call`.
pub async fn answer<T>(call: EtcdCall, body: impl Future<Output = Result<T, Error>>) -> Reply<T> {
    body.await
        .map(Response::new)
        .map_err(|e| status::etcd(e, call))
}

/// An RPC Cairn does not serve, with what to use instead.
pub fn unsupported<T>(rpc: &'static str, instead: &'static str) -> Reply<T> {
    Err(status::etcd(
        Error::Unsupported { rpc, instead },
        EtcdCall::Kv,
    ))
}
