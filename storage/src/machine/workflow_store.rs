//! Typed access to the workflow spaces inside an apply transaction: records, definitions,
//! history, tasks, and the index changes that keep every secondary key in step with its
//! record. Callers decide (and check) first, then call the writers here, so a rejection never
//! leaves a partial write behind.

use std::sync::Arc;

use cairn_model::workflow::{Definition, HistoryEvent, TaskRecord, WorkflowRecord};

use super::batch::{BatchCtx, TxResult, abort, encode, get};
use super::{checkpoint_store, namespace_store};
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
