//! Atomic steps (`cairn_model::step`): each part is applied by its own domain, in order, and
//! the first refused part refuses the whole entry. A refusal before anything was written is
//! an ordinary rejection. One after earlier parts wrote cannot be undone inside the batch's
//! sled transaction (sled has no savepoints), so it aborts the transaction with
//! [`StorageError::StepRefused`]; the state machine then applies the run again with this
//! entry marked refused ([`BatchCtx::refused`]), where it writes nothing but its session
//! record, like any rejection. The outcome depends only on the state before the entry, so
//! every replica, under any batching, refuses the same entries with the same errors.

use cairn_model::command::{CommandError, Response};
use cairn_model::step::{Step, StepChange, StepPart, StepReply};

use super::batch::{BatchCtx, TxResult, abort};
use super::{checkpoint, coord, task, vars, workflow};
use crate::error::StorageError;

pub(super) fn apply(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    steps: &[Step],
) -> TxResult<Response> {
    if let Some(error) = ctx.refused.get(&revision) {
        return Ok(Response::Rejected(error.clone()));
    }
    let mut replies = Vec::with_capacity(steps.len());
    let mut wrote = false;
    for (i, step) in steps.iter().enumerate() {
        match apply_step(ctx, revision, now_ms, step, &mut wrote)? {
            Ok(reply) => replies.push(reply),
            Err((part, e)) => {
                let error = e.in_step(i, part);
                if !wrote {
                    return Ok(Response::Rejected(error));
                }
                return abort(StorageError::StepRefused {
                    revision,
                    error: Box::new(error),
                });
            }
        }
    }
    Ok(Response::Steps { revision, replies })
}

/// One step's parts in order; `wrote` becomes true once a part changed anything (a refused
/// part never does).
fn apply_step(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    step: &Step,
    wrote: &mut bool,
) -> TxResult<Result<StepReply, (StepPart, CommandError)>> {
    if let Some(fence) = &step.fence
        && let Some(e) = coord::check_fence(ctx, fence)?
    {
        return Ok(Err((StepPart::Fence, e.into())));
    }
    let mut reply = StepReply::default();
    if let Some(change) = &step.change {
        let outcome = match change {
            StepChange::Create(c) => workflow::create(ctx, revision, now_ms, c)?,
            StepChange::Transition(t) => workflow::transition(ctx, revision, now_ms, t)?,
            StepChange::Update(u) => workflow::update(ctx, revision, now_ms, u)?,
        };
        match outcome {
            Ok(r) => reply.change = Some(r),
            Err(e) => return Ok(Err((StepPart::Change, e.into()))),
        }
        *wrote = true;
    }
    if let Some(t) = &step.tasks {
        match task::upsert(ctx, revision, now_ms, t)? {
            Ok(r) => reply.tasks = Some(r),
            Err(e) => return Ok(Err((StepPart::Tasks, e.into()))),
        }
        *wrote = true;
    }
    if let Some(v) = &step.vars {
        match vars::update(ctx, revision, now_ms, v)? {
            Ok(r) => reply.vars = Some(r),
            Err(e) => return Ok(Err((StepPart::Vars, e.into()))),
        }
        *wrote = true;
    }
    if let Some(c) = &step.checkpoint {
        match checkpoint::save_checkpoint(ctx, revision, now_ms, c, None)? {
            Ok(r) => reply.checkpoint = Some(r),
            Err(e) => return Ok(Err((StepPart::Checkpoint, e.into()))),
        }
        *wrote = true;
    }
    Ok(Ok(reply))
}
