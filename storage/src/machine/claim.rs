//! Claimed task runs: a worker claims a ready task under its lease, finishes the run with the
//! claim's token, or loses it when the lease ends. A failed or lost run follows the task's
//! retry policy (PENDING again after a backoff while attempts remain, else FAILED). Also the
//! claim queue's upkeep is `workflow_store::sync_claims`.

use std::collections::BTreeMap;

use cairn_model::coord::Attachment;
use cairn_model::txn::KeyRange;
use cairn_model::workflow::command::{ClaimTask, FinishTask, RunOutcome, TaskRef};
use cairn_model::workflow::{TaskRecord, TaskStatus, WorkflowError, WorkflowRecord, WorkflowReply};

use super::batch::{BatchCtx, TxResult, abort};
use super::lease_store::{detach, lease, put_lease};
use super::workflow_store as store;
use crate::claim_queue;
use crate::error::StorageError;

type Outcome = Result<WorkflowReply, WorkflowError>;

/// Queue entries one claim examines at most (ready tasks it has to pass over: other kinds,
/// workflows at their concurrency limit): a bound on one entry's apply work.
pub(crate) const MAX_CLAIM_SCAN: usize = 256;

/// The error a lost run leaves on its task (task errors are JSON text).
pub const WORKER_LOST: &str = "\"worker lost\"";

/// Unbinds a run that ends other than by its worker or its lease (an upsert moved it).
pub(super) fn unbind(ctx: &BatchCtx<'_>, old: &TaskRecord) -> TxResult<()> {
    detach(ctx, old.lease, &attachment(old))
}

fn attachment(t: &TaskRecord) -> Attachment {
    Attachment::Task {
        workflow_id: t.workflow_id.clone(),
        task_id: t.id.clone(),
    }
}

pub(super) fn claim(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    c: &ClaimTask,
) -> TxResult<Outcome> {
    let Some(mut l) = lease(ctx, c.lease)? else {
        return Ok(Err(WorkflowError::UnknownLease(c.lease)));
    };
    let mut next_ready_ms: Option<u64> = None;
    let candidates: Vec<Vec<u8>> = match &c.workflow_id {
        Some(id) => {
            let Some(wf) = store::workflow(ctx, id)? else {
                return Ok(Err(WorkflowError::NotFound(id.clone())));
            };
            if wf.namespace != c.namespace {
                return Ok(Err(WorkflowError::WrongNamespace {
                    id: id.clone(),
                    requested: c.namespace.clone(),
                    actual: wf.namespace,
                }));
            }
            let terminal = store::is_terminal(ctx, &wf)?;
            let tasks = store::tasks_of(ctx, id)?;
            claim_queue::queued_keys(&wf, terminal, tasks.values())
                .into_iter()
                .collect()
        }
        None => {
            let prefix = claim_queue::prefix(&c.namespace);
            ctx.claim_keys.range_limit(
                &KeyRange::prefix(prefix),
                &ctx.claims_written.borrow(),
                MAX_CLAIM_SCAN,
            )
        }
    };
    // In (ready time, workflow, task) order, as both sources give them: the first that
    // qualifies is the oldest.
    let prefix_len = claim_queue::prefix(&c.namespace).len();
    let mut loaded: BTreeMap<String, (WorkflowRecord, BTreeMap<String, TaskRecord>)> =
        BTreeMap::new();
    let mut chosen = None;
    for key in candidates.iter().take(MAX_CLAIM_SCAN) {
        let Some((ready_ms, wf_id, task_id)) = claim_queue::parse(prefix_len, key) else {
            continue;
        };
        if ready_ms > now_ms {
            next_ready_ms = Some(ready_ms);
            break;
        }
        if !loaded.contains_key(wf_id) {
            let Some(wf) = store::workflow(ctx, wf_id)? else {
                continue;
            };
            let tasks = store::tasks_of(ctx, wf_id)?;
            loaded.insert(wf_id.to_string(), (wf, tasks));
        }
        let Some((wf, tasks)) = loaded.get(wf_id) else {
            continue;
        };
        let Some(task) = tasks.get(task_id) else {
            continue;
        };
        if !c.kinds.is_empty() && !c.kinds.contains(&task.kind) {
            continue;
        }
        let running = tasks
            .values()
            .filter(|t| t.status == TaskStatus::Running)
            .count();
        if wf.max_concurrent > 0 && running >= wf.max_concurrent as usize {
            continue;
        }
        chosen = Some((wf_id.to_string(), task_id.to_string()));
        break;
    }
    let Some(((wf, mut tasks), task_id)) =
        chosen.and_then(|(wf_id, task_id)| Some((loaded.remove(&wf_id)?, task_id)))
    else {
        return Ok(Ok(WorkflowReply::Claimed {
            task: None,
            next_ready_ms,
        }));
    };
    // Claimable, so the workflow is not terminal.
    let claimed = change_run(
        ctx,
        &wf,
        false,
        &mut tasks,
        &task_id,
        revision,
        now_ms,
        |t| {
            t.status = TaskStatus::Running;
            t.agent_id.clone_from(&c.agent_id);
            t.lease = c.lease;
            t.claim = revision;
            t.attempts += 1;
            t.started_ms = Some(now_ms);
            t.finished_ms = None;
        },
    )?;
    l.attached.insert(attachment(&claimed));
    put_lease(ctx, &l)?;
    Ok(Ok(WorkflowReply::Claimed {
        task: Some(Box::new(claimed)),
        next_ready_ms: None,
    }))
}

/// Changes task `task_id` of `wf` (one of `tasks`, all of the workflow's) by `change`, counts
/// the change (version, revision, time), records how it moved the workflow's queued tasks
/// and writes the task; returns the new record.
#[allow(clippy::too_many_arguments)]
fn change_run(
    ctx: &BatchCtx<'_>,
    wf: &WorkflowRecord,
    terminal: bool,
    tasks: &mut BTreeMap<String, TaskRecord>,
    task_id: &str,
    revision: u64,
    now_ms: u64,
    change: impl FnOnce(&mut TaskRecord),
) -> TxResult<TaskRecord> {
    let before = claim_queue::queued_keys(wf, terminal, tasks.values());
    let Some(t) = tasks.get_mut(task_id) else {
        return abort(StorageError::Internal(format!(
            "task {}/{task_id} vanished between its check and its change",
            wf.id
        )));
    };
    change(t);
    t.version += 1;
    t.mod_revision = revision;
    t.updated_ms = now_ms;
    let changed = t.clone();
    let after = claim_queue::queued_keys(wf, terminal, tasks.values());
    store::sync_claims(ctx, &before, &after);
    store::put_task(ctx, &changed)?;
    Ok(changed)
}

pub(super) fn finish(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    f: &FinishTask,
) -> TxResult<Outcome> {
    let Some(wf) = store::workflow(ctx, &f.workflow_id)? else {
        return Ok(Err(WorkflowError::NotFound(f.workflow_id.clone())));
    };
    let mut tasks = store::tasks_of(ctx, &f.workflow_id)?;
    let current = tasks.get(&f.task_id).map_or(0, |t| {
        if t.status == TaskStatus::Running {
            t.claim
        } else {
            0
        }
    });
    if current != f.claim {
        return Ok(Err(WorkflowError::StaleClaim {
            workflow_id: f.workflow_id.clone(),
            task_id: f.task_id.clone(),
            claim: f.claim,
            current,
        }));
    }
    // As for upserts: a terminal workflow's tasks do not change (its runs' results are
    // refused; a run lost with its lease still ends, see `lose`).
    if store::is_terminal(ctx, &wf)? {
        return Ok(Err(WorkflowError::Terminal {
            id: wf.id.clone(),
            status: wf.status.clone(),
        }));
    }
    let old_lease = tasks.get(&f.task_id).map_or(0, |t| t.lease);
    let done = change_run(
        ctx,
        &wf,
        false,
        &mut tasks,
        &f.task_id,
        revision,
        now_ms,
        |t| match &f.outcome {
            RunOutcome::Completed { output } => {
                t.status = TaskStatus::Completed;
                t.output.clone_from(output);
                t.finished_ms = Some(now_ms);
                t.lease = 0;
            }
            RunOutcome::Failed { error } => end_failed(t, error, now_ms),
        },
    )?;
    detach(ctx, old_lease, &attachment(&done))?;
    Ok(Ok(WorkflowReply::Tasks {
        workflow_id: f.workflow_id.clone(),
        tasks: vec![TaskRef {
            id: done.id.clone(),
            status: done.status,
            version: done.version,
            attempts: done.attempts,
        }],
    }))
}

/// Ends a failed run: PENDING after the policy's backoff while attempts remain, else FAILED.
fn end_failed(t: &mut TaskRecord, error: &str, now_ms: u64) {
    t.error = error.to_string();
    t.lease = 0;
    if t.retry.retries_after(t.attempts) {
        t.status = TaskStatus::Pending;
        t.ready_ms = now_ms.saturating_add(t.retry.delay_ms(t.attempts));
        t.finished_ms = None;
    } else {
        t.status = TaskStatus::Failed;
        t.finished_ms = Some(now_ms);
    }
}

/// Lease `lease_id` ended while holding this run: the run is lost. Nothing happens if the
/// task has moved on (finished, changed, re-claimed under another lease).
pub(super) fn lose(
    ctx: &mut BatchCtx<'_>,
    wf_id: &str,
    task_id: &str,
    lease_id: u64,
    revision: u64,
    now_ms: u64,
) -> TxResult<()> {
    let Some(wf) = store::workflow(ctx, wf_id)? else {
        return Ok(());
    };
    let mut tasks = store::tasks_of(ctx, wf_id)?;
    if !tasks
        .get(task_id)
        .is_some_and(|t| t.status == TaskStatus::Running && t.lease == lease_id)
    {
        return Ok(());
    }
    let terminal = store::is_terminal(ctx, &wf)?;
    change_run(
        ctx,
        &wf,
        terminal,
        &mut tasks,
        task_id,
        revision,
        now_ms,
        |t| end_failed(t, WORKER_LOST, now_ms),
    )?;
    Ok(())
}
