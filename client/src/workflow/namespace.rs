//! Namespace limits: how many workflows and stored checkpoint bytes a namespace may hold,
//! and what it holds. A create or checkpoint save past a limit fails with
//! [`Error::ResourceExhausted`](crate::Error::ResourceExhausted) and writes nothing.

use cairn_api::v1 as pb;
pub use cairn_model::workflow::quota::{NamespaceLimits, NamespaceQuota, NamespaceUsage};

use crate::client::{Client, request};
use crate::error::{Error, Result};

fn from_pb(q: Option<pb::NamespaceQuota>) -> Result<NamespaceQuota> {
    let q =
        q.ok_or_else(|| Error::Rpc(tonic::Status::internal("reply without a namespace quota")))?;
    let limits = q.limits.unwrap_or_default();
    let usage = q.usage.unwrap_or_default();
    Ok(NamespaceQuota {
        limits: NamespaceLimits {
            max_workflows: limits.max_workflows,
            max_checkpoint_bytes: limits.max_checkpoint_bytes,
        },
        usage: NamespaceUsage {
            workflows: usage.workflows,
            checkpoint_bytes: usage.checkpoint_bytes,
        },
    })
}

impl Client {
    /// Replaces `namespace`'s limits (`NamespaceLimits::default()` removes them) and returns
    /// its limits and usage. Root only while auth is on. Safe to retry: setting the same
    /// limits twice changes nothing.
    pub async fn set_namespace_limits(
        &self,
        namespace: &str,
        limits: NamespaceLimits,
    ) -> Result<NamespaceQuota> {
        let msg = pb::SetNamespaceLimitsRequest {
            header: None,
            namespace: namespace.to_string(),
            limits: Some(pb::NamespaceLimits {
                max_workflows: limits.max_workflows,
                max_checkpoint_bytes: limits.max_checkpoint_bytes,
            }),
        };
        let resp = self
            .call("set_namespace_limits", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).set_namespace_limits(req).await }
            })
            .await?;
        from_pb(resp.quota)
    }

    /// Every namespace that holds something or has limits (those the caller may read), by
    /// name, with its limits and usage (linearizable).
    pub async fn namespaces(&self) -> Result<Vec<(String, NamespaceQuota)>> {
        let msg = pb::ListNamespacesRequest {
            serializable: false,
        };
        let resp = self
            .call("list_namespaces", |ch, t| {
                let req = request(msg, t);
                async move { Self::workflows(ch).list_namespaces(req).await }
            })
            .await?;
        resp.namespaces
            .into_iter()
            .map(|q| Ok((q.namespace.clone(), from_pb(Some(q))?)))
            .collect()
    }

    /// `namespace`'s limits and usage (linearizable).
    pub async fn namespace_quota(&self, namespace: &str) -> Result<NamespaceQuota> {
        let msg = pb::GetNamespaceQuotaRequest {
            namespace: namespace.to_string(),
            serializable: false,
        };
        let resp = self
            .call("get_namespace_quota", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).get_namespace_quota(req).await }
            })
            .await?;
        from_pb(resp.quota)
    }
}
