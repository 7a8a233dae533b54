//! The `kv` domain: put and delete with optional compare-and-set on the key's mod-revision.

use cairn_raft::command::{CommandError, KvRecord, Response};

use super::{BatchCtx, TxResult, decode, encode};
use crate::keyspace::Space;
use crate::watch::Change;

fn load(ctx: &BatchCtx<'_>, key: &[u8]) -> TxResult<Option<KvRecord>> {
    match ctx.tx.tree(Space::Kv).get(key)? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

/// `None` if the write may proceed, else the rejection. An absent key has revision 0.
fn check_expected(existing: Option<&KvRecord>, expected: Option<u64>) -> Option<Response> {
    let expected = expected?;
    let current = existing.map_or(0, |r| r.mod_revision);
    (expected != current).then_some(Response::Rejected(CommandError::RevisionMismatch {
        expected,
        current,
    }))
}

pub(super) fn put(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    key: &[u8],
    value: &[u8],
    expected_revision: Option<u64>,
) -> TxResult<Response> {
    let existing = load(ctx, key)?;
    if let Some(rejected) = check_expected(existing.as_ref(), expected_revision) {
        return Ok(rejected);
    }
    let record = KvRecord {
        value: value.to_vec(),
        create_revision: existing.as_ref().map_or(revision, |r| r.create_revision),
        mod_revision: revision,
        version: existing.as_ref().map_or(1, |r| r.version + 1),
    };
    ctx.tx.tree(Space::Kv).insert(key, encode(&record)?)?;
    ctx.events.push(Change::KvPut {
        key: key.to_vec(),
        record,
        prev: existing,
    });
    Ok(Response::Put { revision })
}

pub(super) fn delete(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    key: &[u8],
    expected_revision: Option<u64>,
) -> TxResult<Response> {
    let existing = load(ctx, key)?;
    if let Some(rejected) = check_expected(existing.as_ref(), expected_revision) {
        return Ok(rejected);
    }
    let deleted = existing.is_some();
    if let Some(prev) = existing {
        ctx.tx.tree(Space::Kv).remove(key)?;
        ctx.events.push(Change::KvDelete {
            key: key.to_vec(),
            prev,
        });
    }
    Ok(Response::Delete { revision, deleted })
}
