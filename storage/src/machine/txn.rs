//! etcd transactions. As etcd does, every compare on the chosen path (nested ones included)
//! is evaluated against the state before the transaction, then every put on that path is
//! checked (its lease exists; `ignore_*` needs the key), and only then are the operations
//! applied in order, each seeing the writes of those before it. A refused transaction writes
//! nothing, and the checks never abort the shared batch transaction.

use cairn_model::command::Response;
use cairn_model::txn::{
    Compare, KeyValue, KvError, OpReply, PutOp, RangeReply, RangeSpec, TxnCommand, TxnOp, TxnReply,
};

use super::batch::{BatchCtx, TxResult};
use super::kv::{keys_in, load, remove, write};
use super::lease_store::lease_exists;

pub(super) fn apply(ctx: &BatchCtx<'_>, revision: u64, cmd: &TxnCommand) -> TxResult<Response> {
    if let Err(e) = cmd.validate() {
        return Ok(Response::Rejected(e.into()));
    }
    let mut path = Vec::new();
    choose_path(ctx, cmd, &mut path)?;
    if let Err(e) = check_path(ctx, cmd, &mut path.iter().copied())? {
        return Ok(Response::Rejected(e.into()));
    }
    let reply = run(ctx, revision, cmd, &mut path.into_iter())?;
    Ok(Response::Txn { revision, reply })
}

/// Pre-order: whether each transaction on the path (this one, then the nested ones of the
/// branch it takes) takes its success branch.
fn choose_path(ctx: &BatchCtx<'_>, t: &TxnCommand, path: &mut Vec<bool>) -> TxResult<()> {
    let mut succeeded = true;
    for c in &t.compare {
        if !compare_holds(ctx, c)? {
            succeeded = false;
            break;
        }
    }
    path.push(succeeded);
    for op in branch(t, succeeded) {
        if let TxnOp::Txn(nested) = op {
            choose_path(ctx, nested, path)?;
        }
    }
    Ok(())
}

fn branch(t: &TxnCommand, succeeded: bool) -> &[TxnOp] {
    if succeeded { &t.success } else { &t.failure }
}

fn compare_holds(ctx: &BatchCtx<'_>, c: &Compare) -> TxResult<bool> {
    let mut any = false;
    for key in keys_in(ctx, &c.range) {
        if let Some(rec) = load(ctx, &key)? {
            any = true;
            if !c.holds(Some(&rec)) {
                return Ok(false);
            }
        }
    }
    Ok(any || c.holds(None))
}

fn check_path(
    ctx: &BatchCtx<'_>,
    t: &TxnCommand,
    path: &mut impl Iterator<Item = bool>,
) -> TxResult<Result<(), KvError>> {
    let succeeded = path.next().unwrap_or(false);
    for op in branch(t, succeeded) {
        let outcome = match op {
            TxnOp::Put(p) => check_put(ctx, p)?,
            TxnOp::Txn(nested) => check_path(ctx, nested, path)?,
            TxnOp::Range(_) | TxnOp::DeleteRange { .. } => Ok(()),
        };
        if outcome.is_err() {
            return Ok(outcome);
        }
    }
    Ok(Ok(()))
}

fn check_put(ctx: &BatchCtx<'_>, p: &PutOp) -> TxResult<Result<(), KvError>> {
    if (p.ignore_value || p.ignore_lease) && load(ctx, &p.key)?.is_none() {
        return Ok(Err(KvError::KeyNotFound));
    }
    if p.lease != 0 && !lease_exists(ctx, p.lease)? {
        return Ok(Err(KvError::LeaseNotFound(p.lease)));
    }
    Ok(Ok(()))
}

fn run(
    ctx: &BatchCtx<'_>,
    revision: u64,
    t: &TxnCommand,
    path: &mut impl Iterator<Item = bool>,
) -> TxResult<TxnReply> {
    let succeeded = path.next().unwrap_or(false);
    let mut responses = Vec::new();
    for op in branch(t, succeeded) {
        responses.push(match op {
            TxnOp::Range(spec) => OpReply::Range(range(ctx, spec)?),
            TxnOp::Put(p) => {
                let existing = load(ctx, &p.key)?;
                let value = match (&existing, p.ignore_value) {
                    (Some(e), true) => e.value.clone(),
                    _ => p.value.clone(),
                };
                let lease = match (&existing, p.ignore_lease) {
                    (Some(e), true) => e.lease,
                    _ => p.lease,
                };
                // Copy the old record only when the caller asked for it.
                let prev = match &existing {
                    Some(record) if p.prev_kv => Some(KeyValue {
                        key: p.key.clone(),
                        record: record.clone(),
                    }),
                    _ => None,
                };
                write(ctx, revision, &p.key, value, lease, existing)?;
                OpReply::Put { prev }
            }
            TxnOp::DeleteRange { range, prev_kv } => {
                let mut deleted = 0;
                let mut prev = Vec::new();
                for key in keys_in(ctx, range) {
                    let Some(record) = load(ctx, &key)? else {
                        continue;
                    };
                    deleted += 1;
                    if *prev_kv {
                        prev.push(KeyValue {
                            key: key.clone(),
                            record: record.clone(),
                        });
                    }
                    remove(ctx, &key, record, true)?;
                }
                OpReply::DeleteRange { deleted, prev }
            }
            TxnOp::Txn(nested) => OpReply::Txn(run(ctx, revision, nested, path)?),
        });
    }
    Ok(TxnReply {
        succeeded,
        responses,
    })
}

/// A range read inside the transaction, seeing its earlier writes.
fn range(ctx: &BatchCtx<'_>, spec: &RangeSpec) -> TxResult<RangeReply> {
    let keys = keys_in(ctx, &spec.range);
    let wanted = if spec.needs_all() {
        usize::MAX
    } else {
        spec.wanted()
    };
    // An index walk yields only existing keys; a single-key range names one that may not.
    let known_to_exist = !spec.range.is_single();
    let mut count = 0u64;
    let mut kvs = Vec::new();
    for key in keys {
        if kvs.len() < wanted {
            if let Some(record) = load(ctx, &key)? {
                count += 1;
                kvs.push(KeyValue { key, record });
            }
        } else if known_to_exist || load(ctx, &key)?.is_some() {
            count += 1;
        }
    }
    Ok(spec.finish(count, kvs))
}
