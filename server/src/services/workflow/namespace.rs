//! Namespace limits: `SetNamespaceLimits` (root, through the auth needs of its command) and
//! `GetNamespaceQuota` (readers of the namespace). The trait methods in `mod.rs` call these.

use cairn_api::v1 as pb;
use cairn_model::workflow::quota::{NamespaceLimits, NamespaceQuota};
use cairn_model::workflow::{WorkflowCommand, WorkflowReply};

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
