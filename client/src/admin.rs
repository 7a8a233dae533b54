//! Node status through the Admin service. Unlike KV calls these target one specific node and
//! are not retried elsewhere: the point is to learn about that node.

use cairn_api::v1::StatusRequest;
use cairn_api::v1::StatusResponse;
use cairn_api::v1::admin_client::AdminClient;

use crate::client::{Client, request};
use crate::error::{Error, Result};

impl Client {
    /// Status of the endpoint at `endpoint` (an index into [`Client::endpoints`]). One attempt,
    /// bounded by the request timeout.
    pub async fn status(&self, endpoint: usize) -> Result<StatusResponse> {
        let node =
            self.inner.endpoints.get(endpoint).ok_or_else(|| {
                Error::InvalidEndpoint(format!("no endpoint with index {endpoint}"))
            })?;
        self.call_node(&node, |ch, t| async move {
            AdminClient::new(ch)
                .status(request(StatusRequest {}, t))
                .await
        })
        .await
    }

    /// Status of every known endpoint, queried concurrently, as `(address, result)` in index
    /// order. A down node shows up as an error entry rather than failing the whole call.
    pub async fn status_all(&self) -> Vec<(String, Result<StatusResponse>)> {
        let addrs = self.endpoints();
        let mut tasks = tokio::task::JoinSet::new();
        for idx in 0..addrs.len() {
            let client = self.clone();
            tasks.spawn(async move { (idx, client.status(idx).await) });
        }
        let mut results: Vec<Option<Result<StatusResponse>>> = addrs.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((idx, res)) = joined
                && let Some(slot) = results.get_mut(idx)
            {
                *slot = Some(res);
            }
        }
        addrs
            .into_iter()
            .zip(results)
            .map(|(addr, res)| {
                // Only reachable if a status task panicked.
                let res = res.unwrap_or_else(|| {
                    Err(Error::Unavailable(format!("{addr}: status task failed")))
                });
                (addr, res)
            })
            .collect()
    }
}
