//! Per-namespace limits (how many workflows, how many stored checkpoint bytes) and the usage
//! apply keeps beside them. Both are replicated state: an operator sets the limits
//! ([`WorkflowCommand::SetNamespaceLimits`](super::WorkflowCommand::SetNamespaceLimits)),
//! and every replica counts usage in the same apply that creates or removes what it counts,
//! so every replica refuses the same entry.

use serde::{Deserialize, Serialize};

/// What an operator allows a namespace. `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceLimits {
    pub max_workflows: Option<u64>,
    /// Committed checkpoint payload bytes as stored (after compression), summed over the
    /// namespace's workflows. Chunks of an upload count once it is committed; while it is in
    /// progress a chunk that would already exceed the limit is refused.
    pub max_checkpoint_bytes: Option<u64>,
}

impl NamespaceLimits {
    pub fn is_unlimited(&self) -> bool {
        self.max_workflows.is_none() && self.max_checkpoint_bytes.is_none()
    }
}

/// What a namespace holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceUsage {
    pub workflows: u64,
    pub checkpoint_bytes: u64,
}

/// One namespace's limits and usage: one record, so a create reads and writes one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceQuota {
    pub limits: NamespaceLimits,
    pub usage: NamespaceUsage,
}

/// Which limit a namespace reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuotaResource {
    Workflows,
    CheckpointBytes,
}

impl std::fmt::Display for QuotaResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuotaResource::Workflows => "workflows",
            QuotaResource::CheckpointBytes => "checkpoint bytes",
        })
    }
}

/// A namespace is full: the request would take it past one of its limits. Nothing was
/// written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "namespace {namespace} is full: {used} {resource} used, {requested} more requested, limit {limit}"
)]
pub struct NamespaceFull {
    pub namespace: String,
    pub resource: QuotaResource,
    pub limit: u64,
    pub used: u64,
    pub requested: u64,
}

impl NamespaceQuota {
    /// Whether `more` of `resource` fits under the limit (usage at or over a lowered limit
    /// refuses every increase, and never anything that frees space).
    pub fn admit(
        &self,
        namespace: &str,
        resource: QuotaResource,
        more: u64,
    ) -> Result<(), NamespaceFull> {
        let (limit, used) = match resource {
            QuotaResource::Workflows => (self.limits.max_workflows, self.usage.workflows),
            QuotaResource::CheckpointBytes => (
                self.limits.max_checkpoint_bytes,
                self.usage.checkpoint_bytes,
            ),
        };
        match limit {
            Some(limit) if used.saturating_add(more) > limit => Err(NamespaceFull {
                namespace: namespace.to_string(),
                resource,
                limit,
                used,
                requested: more,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(max_workflows: Option<u64>, workflows: u64) -> NamespaceQuota {
        NamespaceQuota {
            limits: NamespaceLimits {
                max_workflows,
                max_checkpoint_bytes: Some(100),
            },
            usage: NamespaceUsage {
                workflows,
                checkpoint_bytes: 60,
            },
        }
    }

    #[test]
    fn admits_up_to_the_limit_and_no_further() {
        assert!(
            quota(Some(2), 1)
                .admit("n", QuotaResource::Workflows, 1)
                .is_ok()
        );
        let full = quota(Some(2), 2).admit("n", QuotaResource::Workflows, 1);
        assert_eq!(
            full,
            Err(NamespaceFull {
                namespace: "n".into(),
                resource: QuotaResource::Workflows,
                limit: 2,
                used: 2,
                requested: 1,
            })
        );
        assert!(
            quota(None, 1000)
                .admit("n", QuotaResource::Workflows, 1)
                .is_ok()
        );
        let q = quota(None, 0);
        assert!(q.admit("n", QuotaResource::CheckpointBytes, 40).is_ok());
        assert!(q.admit("n", QuotaResource::CheckpointBytes, 41).is_err());
        // Over a lowered limit: nothing more, not even zero-sized growth past it.
        assert!(
            quota(Some(1), 3)
                .admit("n", QuotaResource::Workflows, 0)
                .is_err()
        );
        assert!(
            q.admit("n", QuotaResource::CheckpointBytes, u64::MAX)
                .is_err()
        );
    }
}
