//! Typed access to lease records inside an apply transaction: reading and writing a lease and
//! binding or unbinding what it carries (keys, lock holders, candidates). Below `kv`, `txn`
//! and `coord`: a key write moves its lease attachment here, and lease expiry (in `coord`)
//! may then remove keys through `kv` without `kv` depending back on `coord`.

use cairn_model::coord::{Attachment, LeaseRecord};

use super::batch::{BatchCtx, TxResult, decode, encode};
use crate::keyspace::Space;

pub(super) fn lease_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(super) fn lease(ctx: &BatchCtx<'_>, id: u64) -> TxResult<Option<LeaseRecord>> {
    match ctx.tx.tree(Space::Leases).get(lease_key(id))? {
        Some(b) => Ok(Some(decode(&b)?)),
        None => Ok(None),
    }
}

pub(super) fn put_lease(ctx: &BatchCtx<'_>, l: &LeaseRecord) -> TxResult<()> {
    ctx.tx
        .tree(Space::Leases)
        .insert(&lease_key(l.id)[..], encode(l)?)?;
    Ok(())
}

pub(super) fn lease_exists(ctx: &BatchCtx<'_>, id: u64) -> TxResult<bool> {
    Ok(ctx.tx.tree(Space::Leases).get(lease_key(id))?.is_some())
}

/// Binds `key` to lease `id` (which the caller has checked exists).
pub(super) fn attach_key(ctx: &BatchCtx<'_>, id: u64, key: &[u8]) -> TxResult<()> {
    if let Some(mut l) = lease(ctx, id)?
        && l.attached.insert(Attachment::Key { key: key.to_vec() })
    {
        put_lease(ctx, &l)?;
    }
    Ok(())
}

pub(super) fn detach_key(ctx: &BatchCtx<'_>, id: u64, key: &[u8]) -> TxResult<()> {
    detach(ctx, id, &Attachment::Key { key: key.to_vec() })
}

pub(super) fn detach(ctx: &BatchCtx<'_>, lease_id: u64, attachment: &Attachment) -> TxResult<()> {
    if let Some(mut l) = lease(ctx, lease_id)?
        && l.attached.remove(attachment)
    {
        put_lease(ctx, &l)?;
    }
    Ok(())
}
