//! Per-namespace limits and usage inside an apply transaction. Callers check with
//! [`charge`] right before they write what it counts, after every other check, so a refusal
//! leaves nothing behind; removals [`release`] what they free.

use cairn_model::workflow::quota::{NamespaceFull, NamespaceLimits, NamespaceQuota, QuotaResource};

use super::batch::{BatchCtx, TxResult, encode, get};
use crate::keyspace::Space;

pub(super) fn quota(ctx: &BatchCtx<'_>, namespace: &str) -> TxResult<NamespaceQuota> {
    Ok(get(ctx, Space::Namespaces, namespace.as_bytes())?.unwrap_or_default())
}

/// Writes `q`, or removes the record when it holds nothing and limits nothing (namespaces
/// are free-form names; a used-up one leaves no trace).
fn put(ctx: &BatchCtx<'_>, namespace: &str, q: &NamespaceQuota) -> TxResult<()> {
    let tree = ctx.tx.tree(Space::Namespaces);
    if *q == NamespaceQuota::default() {
        tree.remove(namespace.as_bytes())?;
    } else {
        tree.insert(namespace.as_bytes(), encode(q)?)?;
    }
    Ok(())
}

fn usage_of(q: &mut NamespaceQuota, resource: QuotaResource) -> &mut u64 {
    match resource {
        QuotaResource::Workflows => &mut q.usage.workflows,
        QuotaResource::CheckpointBytes => &mut q.usage.checkpoint_bytes,
    }
}

/// Counts `more` of `resource` against the namespace, unless that would pass its limit.
pub(super) fn charge(
    ctx: &BatchCtx<'_>,
    namespace: &str,
    resource: QuotaResource,
    more: u64,
) -> TxResult<Result<(), NamespaceFull>> {
    let mut q = quota(ctx, namespace)?;
    if let Err(e) = q.admit(namespace, resource, more) {
        return Ok(Err(e));
    }
    let used = usage_of(&mut q, resource);
    *used = used.saturating_add(more);
    put(ctx, namespace, &q)?;
    Ok(Ok(()))
}

/// Whether `more` would fit, without counting it (a chunk of an upload in progress).
pub(super) fn admits(
    ctx: &BatchCtx<'_>,
    namespace: &str,
    resource: QuotaResource,
    more: u64,
) -> TxResult<Result<(), NamespaceFull>> {
    Ok(quota(ctx, namespace)?.admit(namespace, resource, more))
}

pub(super) fn release(
    ctx: &BatchCtx<'_>,
    namespace: &str,
    resource: QuotaResource,
    less: u64,
) -> TxResult<()> {
    if less == 0 {
        return Ok(());
    }
    let mut q = quota(ctx, namespace)?;
    let used = usage_of(&mut q, resource);
    *used = used.saturating_sub(less);
    put(ctx, namespace, &q)
}

pub(super) fn set_limits(
    ctx: &BatchCtx<'_>,
    namespace: &str,
    limits: NamespaceLimits,
) -> TxResult<NamespaceQuota> {
    let mut q = quota(ctx, namespace)?;
    q.limits = limits;
    put(ctx, namespace, &q)?;
    Ok(q)
}
