//! The deterministic apply: turns one committed entry into writes inside the batch's sled
//! transaction plus a typed `Response`. A pure function of (state, entry): no clock, no
//! randomness, no I/O outside the state machine's own trees. One file per domain; this module
//! dispatches commands to them. The per-batch context and transaction helpers they share are
//! in `batch`, below every domain, so no domain depends on this dispatch.

mod alarm;
mod auth;
mod batch;
mod checkpoint;
mod checkpoint_store;
mod claim;
mod coord;
mod incarnation;
mod kv;
mod lease_store;
mod namespace_store;
mod ownership;
mod session;
mod session_cache;
mod step;
mod task;
mod txn;
pub(crate) mod vars;
mod workflow;
mod workflow_store;

pub(crate) use batch::{BatchCtx, MachineConfig, encode};
pub(crate) use checkpoint_store::CheckpointDir;

use cairn_model::command::{Command, CommandError, Request, Response};
use cairn_raft::types::Entry;
use openraft::EntryPayload;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees, meta_key};
use batch::TxResult;

/// Writes what the run kept in memory (client sessions). Call once, after its last entry.
pub(crate) fn finish_run(ctx: &mut BatchCtx<'_>) -> TxResult<()> {
    session::flush(ctx)
}

/// Whether applying `entry` on top of the transaction's current state would prune.
pub(crate) fn prune_due(ctx: &BatchCtx<'_>, entry: &Entry, now_ms: u64) -> TxResult<bool> {
    match &entry.payload {
        EntryPayload::Normal(_) => session::prune_due(ctx, now_ms),
        _ => Ok(false),
    }
}

/// The machine time at each entry: the running max of command times, starting from the
/// clock committed before `entries` (see `meta_key::CLOCK`). Independent of batching.
pub(crate) fn entry_times(clock: u64, entries: &[Entry]) -> Vec<u64> {
    let mut now = clock;
    entries
        .iter()
        .map(|e| {
            if let EntryPayload::Normal(req) = &e.payload {
                now = now.max(req.time_ms);
            }
            now
        })
        .collect()
}

/// Outside any transaction: if applying `entry` on the committed state prunes, the expired
/// keys it will delete.
pub(crate) fn prescan_expired(
    trees: &Trees,
    config: MachineConfig,
    entry: &Entry,
    now_ms: u64,
) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
    match &entry.payload {
        EntryPayload::Normal(_) => session::prescan(trees, config, now_ms),
        _ => Ok(None),
    }
}

/// Apply one entry. The entry's log index is its revision.
pub(crate) fn apply_entry(
    ctx: &mut BatchCtx<'_>,
    entry: &Entry,
    now_ms: u64,
) -> TxResult<Response> {
    let revision = entry.log_id.index();
    ctx.events.begin(revision);
    match &entry.payload {
        EntryPayload::Normal(req) => apply_request(ctx, revision, req, now_ms),
        EntryPayload::Blank => Ok(Response::Empty { revision }),
        EntryPayload::Membership(m) => {
            incarnation::forget_non_members(ctx, m)?;
            Ok(Response::Empty { revision })
        }
    }
}

fn apply_request(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    req: &Request,
    now_ms: u64,
) -> TxResult<Response> {
    session::prune_expired(ctx, now_ms)?;

    let mut client = None;
    if let Some(s) = &req.session {
        match session::check(ctx, s)? {
            // A retry: answer as the first time (or refuse a forgotten one), write nothing.
            session::Seen::Replay(first) | session::Seen::Stale(first) => return Ok(first),
            session::Seen::New => client = Some(s),
        }
    }

    let mut denied = auth::check(ctx, req)?.map(CommandError::from);
    if denied.is_none() {
        denied = alarm::check(ctx, &req.command)?;
    }
    let stale = match (&denied, &req.fence) {
        (None, Some(fence)) => coord::check_fence(ctx, fence)?,
        _ => None,
    };
    let response = if let Some(e) = denied {
        // The user may no longer do this (see `auth`), or the cluster is out of space (see
        // `alarm`): refuse the write.
        Response::Rejected(e)
    } else if let Some(e) = stale {
        // The sender no longer holds its lock (or leads its election): refuse the write.
        Response::Rejected(e.into())
    } else {
        match &req.command {
            Command::Put {
                key,
                value,
                expected_revision,
            } => kv::put(ctx, revision, key, value, *expected_revision)?,
            Command::Delete {
                key,
                expected_revision,
            } => kv::delete(ctx, revision, key, *expected_revision)?,
            Command::Workflow(cmd) => workflow::apply(ctx, revision, now_ms, cmd)?,
            Command::Checkpoint(cmd) => checkpoint::apply(ctx, revision, now_ms, cmd)?,
            Command::Coord(cmd) => coord::apply(ctx, revision, now_ms, cmd)?,
            Command::Txn(cmd) => txn::apply(ctx, revision, cmd)?,
            Command::Compact { revision: target } => kv::compact(ctx, revision, *target)?,
            Command::SetClusterId { id } => {
                let meta = ctx.tx.tree(Space::Meta);
                if meta.get(meta_key::CLUSTER_ID)?.is_none() && *id != 0 {
                    meta.insert(meta_key::CLUSTER_ID, &id.to_be_bytes()[..])?;
                }
                Response::Empty { revision }
            }
            Command::Auth(cmd) => auth::apply(ctx, revision, cmd)?,
            Command::SetRecordLimits(limits) => {
                let meta = ctx.tx.tree(Space::Meta);
                meta.insert(meta_key::RECORD_LIMITS, encode(limits)?)?;
                Response::Empty { revision }
            }
            Command::SetQuota { backend_bytes } => {
                let meta = ctx.tx.tree(Space::Meta);
                meta.insert(meta_key::QUOTA, &backend_bytes.to_be_bytes()[..])?;
                Response::Empty { revision }
            }
            Command::Alarm(cmd) => alarm::apply(ctx, revision, cmd)?,
            Command::RecordIncarnation { node, incarnation } => {
                incarnation::record(ctx, *node, *incarnation)?;
                Response::Empty { revision }
            }
            Command::Steps(steps) => step::apply(ctx, revision, now_ms, steps)?,
        }
    };

    if let Some(s) = client {
        session::record(ctx, s, now_ms, &response)?;
    }
    Ok(response)
}

#[cfg(test)]
mod alarm_tests;
#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod batching_props;
#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod claim_tests;
#[cfg(test)]
mod coord_tests;
#[cfg(test)]
mod incarnation_tests;
#[cfg(test)]
mod namespace_tests;
#[cfg(test)]
mod step_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
#[cfg(test)]
mod vars_tests;
#[cfg(test)]
mod workflow_tests;
