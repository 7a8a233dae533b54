//! Namespaces: `SetNamespaceLimits` (root, through the auth needs of its command),
//! `GetNamespaceQuota` (readers of the namespace), `ListNamespaces` (those the caller may
//! read), and the namespace scope of lists and counts. The trait methods in `mod.rs` call
//! these.

use cairn_api::v1 as pb;
use cairn_model::workflow::query::ListQuery;
use cairn_model::workflow::quota::{NamespaceLimits, NamespaceQuota};
use cairn_model::workflow::{WorkflowCommand, WorkflowReply};
use tonic::Status;

use super::{Reply, WorkflowService, unexpected_reply};
use crate::auth::caller;
use crate::services::fields;
use crate::status;

fn to_pb(namespace: String, q: NamespaceQuota) -> pb::NamespaceQuota {
    pb::NamespaceQuota {
        namespace,
        limits: Some(pb::NamespaceLimits {
            max_workflows: q.limits.max_workflows,
            max_checkpoint_bytes: q.limits.max_checkpoint_bytes,
        }),
        usage: Some(pb::NamespaceUsage {
            workflows: q.usage.workflows,
            checkpoint_bytes: q.usage.checkpoint_bytes,
        }),
    }
}

impl WorkflowService {
    pub(super) async fn set_namespace_limits_impl(
        &self,
        r: pb::SetNamespaceLimitsRequest,
    ) -> Reply<pb::SetNamespaceLimitsResponse> {
        fields::id("namespace", &r.namespace)?;
        let limits = r.limits.unwrap_or_default();
        let command = WorkflowCommand::SetNamespaceLimits {
            namespace: r.namespace,
            limits: NamespaceLimits {
                max_workflows: limits.max_workflows,
                max_checkpoint_bytes: limits.max_checkpoint_bytes,
            },
        };
        match self.propose(r.header, None, command).await? {
            (revision, WorkflowReply::NamespaceLimitsSet { namespace, quota }) => {
                Ok(self.gateway.reply(pb::SetNamespaceLimitsResponse {
                    quota: Some(to_pb(namespace, quota)),
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    /// Narrows a list or count to what the caller may read: its one namespace (refused if
    /// not readable), or with `all` every readable namespace that holds workflows. Call
    /// after the read index, so the namespaces are current.
    pub(super) fn scope(&self, q: &mut ListQuery, all: bool) -> Result<(), Status> {
        if !all {
            return caller::check_namespace_read(&q.namespace);
        }
        let names = self
            .reader
            .namespace_quotas()
            .map_err(status::storage_error)?
            .into_iter()
            .filter(|(name, quota)| {
                quota.usage.workflows > 0 && caller::check_namespace_read(name).is_ok()
            })
            .map(|(name, _)| name)
            .collect();
        q.across = Some(names);
        Ok(())
    }

    pub(super) async fn list_namespaces_impl(
        &self,
        r: pb::ListNamespacesRequest,
    ) -> Reply<pb::ListNamespacesResponse> {
        self.gateway.before_read(r.serializable).await?;
        let revision = self.reader.applied_index();
        let namespaces = self
            .reader
            .namespace_quotas()
            .map_err(status::storage_error)?
            .into_iter()
            .filter(|(name, _)| caller::check_namespace_read(name).is_ok())
            .map(|(name, quota)| to_pb(name, quota))
            .collect();
        Ok(self.gateway.reply(pb::ListNamespacesResponse {
            namespaces,
            revision,
        }))
    }

    pub(super) async fn get_namespace_quota_impl(
        &self,
        r: pb::GetNamespaceQuotaRequest,
    ) -> Reply<pb::GetNamespaceQuotaResponse> {
        fields::id("namespace", &r.namespace)?;
        caller::check_namespace_read(&r.namespace)?;
        self.gateway.before_read(r.serializable).await?;
        let revision = self.reader.applied_index();
        let quota = self
            .reader
            .namespace_quota(&r.namespace)
            .map_err(status::storage_error)?;
        Ok(self.gateway.reply(pb::GetNamespaceQuotaResponse {
            quota: Some(to_pb(r.namespace, quota)),
            revision,
        }))
    }
}
