//! The `kv` domain: every write of a key goes through [`write`] and [`remove`], which keep
//! the record, the in-run key overlay (see `kv_keys`), the key's lease attachment and the
//! watch event in step. Cairn's own Put/Delete (compare-and-set on mod-revision) and
//! compaction live here; etcd transactions in `txn`.

use cairn_model::KvRecord;
use cairn_model::command::{CommandError, Response};
use cairn_model::txn::{KeyRange, KvError};

use super::batch::{BatchCtx, TxResult, abort, encode, get};
use super::lease_store::{attach_key, detach_key};
use crate::keyspace::{Space, meta_key};
use crate::watch::Change;

pub(super) fn load(ctx: &BatchCtx<'_>, key: &[u8]) -> TxResult<Option<KvRecord>> {
    get(ctx, Space::Kv, key)
}

/// The keys in `range` as this run sees them, in order.
pub(super) fn keys_in(ctx: &BatchCtx<'_>, range: &KeyRange) -> Vec<Vec<u8>> {
    if range.is_single() {
        // No index walk for the common case; the caller reads the record anyway.
        return vec![range.key.clone()];
    }
    ctx.kv_keys.range(range, &ctx.kv_written.borrow())
}

/// Writes `key` at `revision` (its version and create revision follow `existing`) and moves
/// its lease attachment. The caller has checked that `lease` exists.
pub(super) fn write(
    ctx: &BatchCtx<'_>,
    revision: u64,
    key: &[u8],
    value: Vec<u8>,
    lease: u64,
    existing: Option<KvRecord>,
) -> TxResult<KvRecord> {
    let record = KvRecord {
        value,
        create_revision: existing.as_ref().map_or(revision, |r| r.create_revision),
        mod_revision: revision,
        version: existing.as_ref().map_or(1, |r| r.version + 1),
        lease,
    };
    let old_lease = existing.as_ref().map_or(0, |r| r.lease);
    if old_lease != lease {
        if old_lease != 0 {
            detach_key(ctx, old_lease, key)?;
        }
        if lease != 0 {
            attach_key(ctx, lease, key)?;
        }
    }
    ctx.tx.tree(Space::Kv).insert(key, encode(&record)?)?;
    ctx.kv_written.borrow_mut().insert(key.to_vec(), true);
    ctx.events.push(Change::KvPut {
        key: key.to_vec(),
        record: record.clone(),
        prev: existing,
    });
    Ok(record)
}

/// Removes `key` (whose record is `prev`). `detach`: also drop it from its lease's
/// attachments (false when the lease itself is ending).
pub(super) fn remove(ctx: &BatchCtx<'_>, key: &[u8], prev: KvRecord, detach: bool) -> TxResult<()> {
    if detach && prev.lease != 0 {
        detach_key(ctx, prev.lease, key)?;
    }
    ctx.tx.tree(Space::Kv).remove(key)?;
    ctx.kv_written.borrow_mut().insert(key.to_vec(), false);
    ctx.events.push(Change::KvDelete {
        key: key.to_vec(),
        prev,
    });
    Ok(())
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
    ctx: &BatchCtx<'_>,
    revision: u64,
    key: &[u8],
    value: &[u8],
    expected_revision: Option<u64>,
) -> TxResult<Response> {
    let existing = load(ctx, key)?;
    if let Some(rejected) = check_expected(existing.as_ref(), expected_revision) {
        return Ok(rejected);
    }
    // A plain put detaches the key from any lease, as an etcd put without a lease does.
    write(ctx, revision, key, value.to_vec(), 0, existing)?;
    Ok(Response::Put { revision })
}

pub(super) fn delete(
    ctx: &BatchCtx<'_>,
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
        remove(ctx, key, prev, true)?;
    }
    Ok(Response::Delete { revision, deleted })
}

/// Sets the replicated compaction floor to `target` and has every node drop its watch
/// history up to it. Like etcd: not beyond the current revision, and only forward.
pub(super) fn compact(ctx: &BatchCtx<'_>, revision: u64, target: u64) -> TxResult<Response> {
    let meta = ctx.tx.tree(Space::Meta);
    let floor = match meta.get(meta_key::COMPACTED)? {
        Some(b) => crate::keyspace::decode_u64(&b, "compaction floor").or_else(abort)?,
        None => 0,
    };
    if target > revision {
        return Ok(Response::Rejected(
            KvError::FutureRevision {
                requested: target,
                current: revision,
            }
            .into(),
        ));
    }
    if target <= floor {
        return Ok(Response::Rejected(
            KvError::Compacted {
                requested: target,
                compacted: floor,
            }
            .into(),
        ));
    }
    meta.insert(meta_key::COMPACTED, &target.to_be_bytes()[..])?;
    ctx.compact_to.set(Some(target));
    Ok(Response::Compacted { revision })
}
