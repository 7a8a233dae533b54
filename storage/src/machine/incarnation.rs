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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use cairn_model::command::Command;
    use cairn_raft::TypeConfig;
    use openraft::testing::membership_ent;

    use crate::test_util::{membership, normal, req, temp_store};

    fn record(node: u64, incarnation: u64, index: u64) -> cairn_raft::types::Entry {
        normal(
            index,
            req(Command::RecordIncarnation { node, incarnation }, 1000, None),
        )
    }

    #[tokio::test]
    async fn the_first_record_stands_until_the_member_leaves() {
        let (_d, _log, sm) = temp_store().await;
        let reader = sm.reader();
        sm.apply_batch(&[
            membership(1),
            record(2, 5, 2),
            record(2, 6, 3),
            record(3, 7, 4),
        ])
        .unwrap();
        assert_eq!(
            reader.incarnation_of(2).unwrap(),
            Some(5),
            "a second record is ignored"
        );
        assert_eq!(reader.incarnation_of(3).unwrap(), Some(7));
        // Node 2 leaves: its record goes, so it may join again later with a new directory.
        let without_2 = membership_ent::<TypeConfig>(1, 1, 5, vec![BTreeSet::from([1, 3])]);
        sm.apply_batch(&[without_2, record(2, 6, 6)]).unwrap();
        assert_eq!(reader.incarnation_of(2).unwrap(), Some(6));
        assert_eq!(reader.incarnation_of(3).unwrap(), Some(7));
    }
}
