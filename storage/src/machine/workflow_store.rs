//! Typed access to the workflow spaces inside an apply transaction: records, definitions,
//! history, tasks, and the index changes that keep every secondary key in step with its
//! record. Callers decide (and check) first, then call the writers here, so a rejection never
//! leaves a partial write behind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{Definition, HistoryEvent, TaskRecord, WorkflowRecord};

use super::batch::{BatchCtx, TxResult, abort, encode, get};
use super::{checkpoint_store, namespace_store};
use crate::claim_queue;
use crate::keyspace::Space;
use crate::watch::Change;
use crate::workflow_index::{self as index, IndexOp};
use crate::workflow_keys as keys;
use cairn_model::workflow::quota::QuotaResource;

use cairn_model::workflow::definition::DEFAULT_DEFINITION;

pub(super) fn workflow(ctx: &BatchCtx<'_>, id: &str) -> TxResult<Option<WorkflowRecord>> {
    get(ctx, Space::Workflows, id.as_bytes())
}

pub(super) fn latest_definition_version(ctx: &BatchCtx<'_>, name: &str) -> TxResult<Option<u32>> {
    match ctx
        .tx
        .tree(Space::Definitions)
        .get(keys::definition_latest(name))?
    {
        Some(b) => match <[u8; 4]>::try_from(b.as_ref()) {
            Ok(v) => Ok(Some(u32::from_be_bytes(v))),
            Err(_) => abort(crate::error::StorageError::CorruptRecord(format!(
                "latest version of definition {name} is not 4 bytes"
            ))),
        },
        None => Ok((name == DEFAULT_DEFINITION).then_some(1)),
    }
}

/// A definition by name and version (None = latest), with its version.
pub(super) fn definition(
    ctx: &mut BatchCtx<'_>,
    name: &str,
    version: Option<u32>,
) -> TxResult<Option<(u32, Arc<Definition>)>> {
    let Some(version) = (match version {
        Some(v) => Some(v),
        None => latest_definition_version(ctx, name)?,
    }) else {
        return Ok(None);
    };
    // A (name, version) never changes once registered, so the run may reuse a decoded one:
    // every transition needs its workflow's definition.
    if let Some(d) = ctx.definitions.get(name).and_then(|v| v.get(&version)) {
        return Ok(Some((version, d.clone())));
    }
    let found = match get(ctx, Space::Definitions, &keys::definition(name, version))? {
        Some(d) => Some(d),
        None => (name == DEFAULT_DEFINITION && version == 1).then(Definition::default_definition),
    };
    Ok(found.map(|d| {
        let d = Arc::new(d);
        ctx.definitions
            .entry(name.to_string())
            .or_default()
            .insert(version, d.clone());
        (version, d)
    }))
}

pub(super) fn put_definition(ctx: &BatchCtx<'_>, version: u32, def: &Definition) -> TxResult<()> {
    let t = ctx.tx.tree(Space::Definitions);
    t.insert(keys::definition(&def.name, version), encode(def)?)?;
    t.insert(
        keys::definition_latest(&def.name),
        version.to_be_bytes().to_vec(),
    )?;
    Ok(())
}

/// Writes `new` over `old` (None on create) and moves its index keys.
pub(super) fn put_workflow(
    ctx: &mut BatchCtx<'_>,
    old: Option<&WorkflowRecord>,
    new: &WorkflowRecord,
) -> TxResult<()> {
    // Only keys that differ move (a transition keeps the creation key, an update the status
    // key): no remove-then-reinsert of the same key.
    let new_keys = index::keys_of(new);
    let old_keys = old.map(index::keys_of).unwrap_or_default();
    for k in &old_keys {
        if !new_keys.contains(k) {
            ctx.index_ops.push(IndexOp::Remove(k.clone()));
        }
    }
    for k in new_keys {
        if !old_keys.contains(&k) {
            ctx.index_ops.push(IndexOp::Insert(k));
        }
    }
    if let Some(old) = old
        && old.status != new.status
    {
        let (was, is) = (is_terminal(ctx, old)?, is_terminal(ctx, new)?);
        if was != is {
            // Entering a terminal status takes its tasks out of the claim queue (leaving
            // one, by a checkpoint rollback, puts them back).
            let tasks = tasks_of(ctx, &new.id)?;
            let before = claim_queue::queued_keys(old, was, tasks.values());
            let after = claim_queue::queued_keys(new, is, tasks.values());
            sync_claims(ctx, &before, &after);
        }
    }
    ctx.tx
        .tree(Space::Workflows)
        .insert(new.id.as_bytes(), encode(new)?)?;
    ctx.events.push(Change::WorkflowPut {
        record: Box::new(new.clone()),
        prev_status: old.map(|o| o.status.clone()),
        history: None,
    });
    Ok(())
}

/// Removes a workflow with its index keys, history and tasks; returns how many tasks it had.
pub(super) fn remove_workflow(ctx: &mut BatchCtx<'_>, rec: &WorkflowRecord) -> TxResult<u32> {
    ctx.index_ops
        .extend(index::keys_of(rec).into_iter().map(IndexOp::Remove));
    let id = &rec.id;
    // Every change appended exactly one event numbered by the version it produced; those
    // below the floor were compacted already.
    let history = ctx.tx.tree(Space::History);
    for v in rec.history_floor.max(1)..=rec.version {
        history.remove(keys::history(id, v))?;
    }
    let terminal = is_terminal(ctx, rec)?;
    if !terminal {
        let queued = claim_queue::queued_keys(rec, false, tasks_of(ctx, id)?.values());
        sync_claims(ctx, &queued, &BTreeSet::new());
    }
    let dir = task_dir(ctx, id)?;
    let tasks = ctx.tx.tree(Space::Tasks);
    for t in &dir {
        tasks.remove(keys::task(id, t))?;
        ctx.events.push(Change::TaskDelete {
            workflow_id: id.clone(),
            task_id: t.clone(),
        });
    }
    ctx.tx.tree(Space::TaskDirs).remove(id.as_bytes())?;
    checkpoint_store::remove_all(ctx, rec)?;
    namespace_store::release(ctx, &rec.namespace, QuotaResource::Workflows, 1)?;
    ctx.tx.tree(Space::Workflows).remove(id.as_bytes())?;
    ctx.events.push(Change::WorkflowDelete {
        record: Box::new(rec.clone()),
    });
    Ok(u32::try_from(dir.len()).unwrap_or(u32::MAX))
}

pub(super) fn append_history(ctx: &BatchCtx<'_>, id: &str, event: &HistoryEvent) -> TxResult<()> {
    ctx.tx
        .tree(Space::History)
        .insert(keys::history(id, event.version), encode(event)?)?;
    ctx.events.attach_history(id, event);
    Ok(())
}

/// The ids of a workflow's tasks, sorted.
pub(super) fn task_dir(ctx: &BatchCtx<'_>, id: &str) -> TxResult<Vec<String>> {
    Ok(get(ctx, Space::TaskDirs, id.as_bytes())?.unwrap_or_default())
}

pub(super) fn put_task_dir(ctx: &BatchCtx<'_>, id: &str, dir: &[String]) -> TxResult<()> {
    ctx.tx
        .tree(Space::TaskDirs)
        .insert(id.as_bytes(), encode(dir)?)?;
    Ok(())
}

pub(super) fn task(
    ctx: &BatchCtx<'_>,
    workflow_id: &str,
    task_id: &str,
) -> TxResult<Option<TaskRecord>> {
    get(ctx, Space::Tasks, &keys::task(workflow_id, task_id))
}

pub(super) fn put_task(ctx: &BatchCtx<'_>, task: &TaskRecord) -> TxResult<()> {
    ctx.tx
        .tree(Space::Tasks)
        .insert(keys::task(&task.workflow_id, &task.id), encode(task)?)?;
    ctx.events.push(Change::TaskPut {
        record: Box::new(task.clone()),
    });
    Ok(())
}

/// Counts one change of the record: version, revision, time.
pub(super) fn bump(rec: &mut WorkflowRecord, revision: u64, now_ms: u64) {
    rec.version += 1;
    rec.mod_revision = revision;
    rec.updated_ms = now_ms;
}

/// The history event of the change `rec` just went through (see [`bump`]).
pub(super) fn event(
    rec: &WorkflowRecord,
    kind: HistoryKind,
    from: &str,
    actor: &str,
) -> HistoryEvent {
    HistoryEvent {
        version: rec.version,
        revision: rec.mod_revision,
        time_ms: rec.updated_ms,
        kind,
        from: from.to_string(),
        to: rec.status.clone(),
        event: String::new(),
        actor: actor.to_string(),
        reason: String::new(),
    }
}

/// Records that a workflow's queued tasks went from `before` to `after`.
pub(super) fn sync_claims(
    ctx: &BatchCtx<'_>,
    before: &BTreeSet<Vec<u8>>,
    after: &BTreeSet<Vec<u8>>,
) {
    let mut written = ctx.claims_written.borrow_mut();
    for k in before.difference(after) {
        written.insert(k.clone(), false);
    }
    for k in after.difference(before) {
        written.insert(k.clone(), true);
    }
}

/// A workflow's tasks by id.
pub(super) fn tasks_of(ctx: &BatchCtx<'_>, wf_id: &str) -> TxResult<BTreeMap<String, TaskRecord>> {
    let mut out = BTreeMap::new();
    for id in task_dir(ctx, wf_id)? {
        if let Some(t) = task(ctx, wf_id, &id)? {
            out.insert(id, t);
        }
    }
    Ok(out)
}

/// Whether the workflow is in a terminal status of its definition (an unknown definition
/// has none: the same answer `claim_queue::rebuild` gives).
pub(super) fn is_terminal(ctx: &mut BatchCtx<'_>, wf: &WorkflowRecord) -> TxResult<bool> {
    Ok(
        definition(ctx, &wf.definition, Some(wf.definition_version))?
            .is_some_and(|(_, d)| d.is_terminal(&wf.status)),
    )
}
