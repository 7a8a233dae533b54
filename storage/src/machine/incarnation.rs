//! Members' data-directory incarnations (`Command::RecordIncarnation`): the first record of a
//! member stands while it stays a member; a membership entry that drops a member drops its
//! record, so the same id can join again later with a new directory.

use std::collections::BTreeMap;

use cairn_raft::types::Membership;

use super::batch::{BatchCtx, TxResult, encode, get};
use crate::keyspace::{Space, meta_key};

type Records = BTreeMap<u64, u64>;

fn records(ctx: &BatchCtx<'_>) -> TxResult<Records> {
    Ok(get(ctx, Space::Meta, meta_key::INCARNATIONS)?.unwrap_or_default())
}

fn put(ctx: &BatchCtx<'_>, r: &Records) -> TxResult<()> {
    ctx.tx
        .tree(Space::Meta)
        .insert(meta_key::INCARNATIONS, encode(r)?)?;
    Ok(())
}

/// Records `incarnation` for `node` unless one is recorded (a different one is exactly what
/// a node that lost its data brings: it must not replace the first).
pub(super) fn record(ctx: &BatchCtx<'_>, node: u64, incarnation: u64) -> TxResult<()> {
    let mut r = records(ctx)?;
    if r.contains_key(&node) {
        return Ok(());
    }
    r.insert(node, incarnation);
    put(ctx, &r)
}

pub(super) fn forget_non_members(ctx: &BatchCtx<'_>, m: &Membership) -> TxResult<()> {
    let mut r = records(ctx)?;
    let before = r.len();
    r.retain(|node, _| m.nodes().any(|(id, _)| id == node));
    if r.len() != before {
        put(ctx, &r)?;
    }
    Ok(())
}
