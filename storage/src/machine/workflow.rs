//! The `workflow` domain: definitions, and workflow create / transition / update / delete /
//! purge. Every operation reads and decides first and writes last, so a rejection (returned
//! as `Response::Rejected`) writes nothing even though it shares the batch's transaction.

use std::collections::BTreeMap;

use cairn_model::command::Response;
use cairn_model::workflow::command::{
    CreateWorkflow, MAX_HISTORY_COMPACT, TransitionWorkflow, UpdateWorkflow,
};
use cairn_model::workflow::names::is_valid_id;
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{
    Definition, Target, WorkflowCommand, WorkflowError, WorkflowRecord, WorkflowReply, merge_patch,
};
use serde_json::Value;

use cairn_model::workflow::limits::RecordLimits;

use super::batch::{BatchCtx, TxResult, encode, record_limits};
use super::workflow_store::{self as store, bump, event};
use super::{claim, namespace_store, ownership, task, vars};
use crate::keyspace::Space;
use crate::workflow_keys as keys;
use cairn_model::workflow::quota::QuotaResource;
use cairn_model::workflow::vars::VarScope;

/// A decision: the reply to give, or why the command is refused.
type Outcome = Result<WorkflowReply, WorkflowError>;

pub(super) fn apply(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    cmd: &WorkflowCommand,
) -> TxResult<Response> {
    let outcome = match cmd {
        WorkflowCommand::RegisterDefinition(def) => register(ctx, def)?,
        WorkflowCommand::Create(c) => create(ctx, revision, now_ms, c)?,
        WorkflowCommand::Transition(t) => transition(ctx, revision, now_ms, t)?,
        WorkflowCommand::Update(u) => update(ctx, revision, now_ms, u)?,
        WorkflowCommand::Delete { id, force } => delete(ctx, id, *force)?,
        WorkflowCommand::Purge {
            ids,
            finished_before_ms,
        } => purge(ctx, ids, *finished_before_ms)?,
        WorkflowCommand::UpsertTasks(u) => task::upsert(ctx, revision, now_ms, u)?,
        WorkflowCommand::CompactHistory { id, keep_last } => compact_history(ctx, id, *keep_last)?,
        WorkflowCommand::SetNamespaceLimits { namespace, limits } => {
            let quota = namespace_store::set_limits(ctx, namespace, *limits)?;
            Ok(WorkflowReply::NamespaceLimitsSet {
                namespace: namespace.clone(),
                quota,
            })
        }
        WorkflowCommand::ClaimTask(c) => claim::claim(ctx, revision, now_ms, c)?,
        WorkflowCommand::FinishTask(f) => claim::finish(ctx, revision, now_ms, f)?,
        WorkflowCommand::Adopt(a) => ownership::adopt(ctx, revision, now_ms, a)?,
        WorkflowCommand::UpdateVars(u) => vars::update(ctx, revision, now_ms, u)?,
        WorkflowCommand::RollbackVars(r) => vars::rollback(ctx, revision, now_ms, r)?,
    };
    Ok(match outcome {
        Ok(reply) => Response::Workflow { revision, reply },
        Err(e) => Response::Rejected(e.into()),
    })
}

fn register(ctx: &mut BatchCtx<'_>, def: &Definition) -> TxResult<Outcome> {
    if let Err(e) = def.validate() {
        return Ok(Err(WorkflowError::InvalidDefinition(e)));
    }
    let latest = store::definition(ctx, &def.name, None)?;
    if let Some((version, current)) = &latest
        && **current == *def
    {
        return Ok(Ok(WorkflowReply::Definition {
            name: def.name.clone(),
            version: *version,
            created: false,
        }));
    }
    let version = latest.map_or(1, |(v, _)| v.saturating_add(1));
    store::put_definition(ctx, version, def)?;
    Ok(Ok(WorkflowReply::Definition {
        name: def.name.clone(),
        version,
        created: true,
    }))
}

/// Loads a workflow, checking it exists and (if asked) is at the expected version.
pub(super) fn load_at(
    ctx: &BatchCtx<'_>,
    id: &str,
    expected_version: Option<u64>,
) -> TxResult<Result<WorkflowRecord, WorkflowError>> {
    let Some(rec) = store::workflow(ctx, id)? else {
        return Ok(Err(WorkflowError::NotFound(id.to_string())));
    };
    if let Some(expected) = expected_version
        && expected != rec.version
    {
        return Ok(Err(WorkflowError::VersionConflict {
            id: id.to_string(),
            expected,
            current: rec.version,
        }));
    }
    Ok(Ok(rec))
}

/// The workflow's own definition version (running workflows keep theirs).
pub(super) fn definition_of(
    ctx: &mut BatchCtx<'_>,
    rec: &WorkflowRecord,
) -> TxResult<Result<std::sync::Arc<Definition>, WorkflowError>> {
    Ok(
        match store::definition(ctx, &rec.definition, Some(rec.definition_version))? {
            Some((_, d)) => Ok(d),
            None => Err(WorkflowError::UnknownDefinition {
                name: rec.definition.clone(),
                version: Some(rec.definition_version),
            }),
        },
    )
}

/// The id for a workflow created without one: `wf-<revision>` (unique per entry), with a
/// suffix in the unlikely case a client already took that name.
fn generated_id(ctx: &BatchCtx<'_>, revision: u64) -> TxResult<String> {
    let base = format!("wf-{revision:012}");
    let mut id = base.clone();
    let mut n = 0u32;
    while store::workflow(ctx, &id)?.is_some() {
        n += 1;
        id = format!("{base}-{n}");
    }
    Ok(id)
}

pub(super) fn create(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    c: &CreateWorkflow,
) -> TxResult<Outcome> {
    let id = match &c.id {
        Some(id) if !is_valid_id(id) => return Ok(Err(WorkflowError::InvalidId(id.clone()))),
        Some(id) => id.clone(),
        None => generated_id(ctx, revision)?,
    };
    if !is_valid_id(&c.namespace) {
        return Ok(Err(WorkflowError::InvalidId(c.namespace.clone())));
    }
    if let Err(e) = record_limits(ctx)?.check_labels(&c.labels) {
        return Ok(Err(WorkflowError::Limit(e)));
    }
    if let Some(existing) = store::workflow(ctx, &id)? {
        if !c.upsert {
            return Ok(Err(WorkflowError::AlreadyExists(id)));
        }
        // Upsert of an existing workflow: replace the data fields; status, namespace and
        // definition stay (status changes only by transition).
        let mut rec = existing.clone();
        rec.metadata = c.metadata.clone();
        rec.labels = c.labels.clone();
        rec.owner_id = c.owner_id.clone();
        rec.routing_strategy = c.routing_strategy.clone();
        rec.max_concurrent = c.max_concurrent;
        rec.total_tasks = c.total_tasks;
        bump(&mut rec, revision, now_ms);
        store::put_workflow(ctx, Some(&existing), &rec)?;
        let from = rec.status.clone();
        store::append_history(
            ctx,
            &id,
            &event(&rec, HistoryKind::Updated, &from, &c.actor),
        )?;
        return Ok(Ok(WorkflowReply::Workflow {
            workflow: rec.to_ref(),
            created: false,
        }));
    }
    let Some((definition_version, def)) =
        store::definition(ctx, &c.definition, c.definition_version)?
    else {
        return Ok(Err(WorkflowError::UnknownDefinition {
            name: c.definition.clone(),
            version: c.definition_version,
        }));
    };
    let rec = WorkflowRecord {
        id: id.clone(),
        namespace: c.namespace.clone(),
        definition: c.definition.clone(),
        definition_version,
        status: def.initial.clone(),
        version: 1,
        create_revision: revision,
        mod_revision: revision,
        created_ms: now_ms,
        updated_ms: now_ms,
        started_ms: None,
        finished_ms: def.is_terminal(&def.initial).then_some(now_ms),
        metadata: c.metadata.clone(),
        labels: c.labels.clone(),
        owner_id: c.owner_id.clone(),
        routing_strategy: c.routing_strategy.clone(),
        max_concurrent: c.max_concurrent,
        total_tasks: c.total_tasks,
        history_floor: 0,
        owner_lease: 0,
        owner_epoch: 0,
        orphaned_ms: None,
    };
    // Last check, first write: a full namespace refuses before anything is written.
    if let Err(e) = namespace_store::charge(ctx, &rec.namespace, QuotaResource::Workflows, 1)? {
        return Ok(Err(WorkflowError::NamespaceFull(e)));
    }
    store::put_workflow(ctx, None, &rec)?;
    store::append_history(ctx, &id, &event(&rec, HistoryKind::Created, "", &c.actor))?;
    Ok(Ok(WorkflowReply::Workflow {
        workflow: rec.to_ref(),
        created: true,
    }))
}

pub(super) fn transition(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    t: &TransitionWorkflow,
) -> TxResult<Outcome> {
    let old = match load_at(ctx, &t.id, t.expected_version)? {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let def = match definition_of(ctx, &old)? {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let to = match def.resolve(&old.status, &t.target) {
        Ok(to) => to,
        Err(error) => {
            return Ok(Err(WorkflowError::IllegalTransition {
                id: t.id.clone(),
                error,
            }));
        }
    };
    let mut rec = old.clone();
    rec.status = to;
    bump(&mut rec, revision, now_ms);
    if rec.started_ms.is_none() && old.status == def.initial {
        rec.started_ms = Some(now_ms);
    }
    if def.is_terminal(&rec.status) {
        rec.finished_ms = Some(now_ms);
    }
    store::put_workflow(ctx, Some(&old), &rec)?;
    let mut ev = event(&rec, HistoryKind::Transition, &old.status, &t.actor);
    ev.reason = t.reason.clone();
    if let Target::Event(name) = &t.target {
        ev.event = name.clone();
    }
    store::append_history(ctx, &t.id, &ev)?;
    Ok(Ok(WorkflowReply::Workflow {
        workflow: rec.to_ref(),
        created: false,
    }))
}

fn patched_metadata(
    limits: &RecordLimits,
    current: &str,
    patch: &str,
) -> Result<String, WorkflowError> {
    let invalid = |field: &str, e: serde_json::Error| WorkflowError::InvalidJson {
        field: field.to_string(),
        message: e.to_string(),
    };
    let mut doc: Value = serde_json::from_str(current).map_err(|e| invalid("metadata", e))?;
    let patch: Value = serde_json::from_str(patch).map_err(|e| invalid("metadata_patch", e))?;
    if !patch.is_object() {
        return Err(WorkflowError::Limit(
            cairn_model::workflow::limits::LimitError::MetadataNotObject(
                "a non-object merge patch".into(),
            ),
        ));
    }
    merge_patch::apply(&mut doc, &patch);
    limits
        .check_metadata_size(&doc)
        .map_err(WorkflowError::Limit)?;
    serde_json::to_string(&doc).map_err(|e| invalid("metadata", e))
}

pub(super) fn update(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    u: &UpdateWorkflow,
) -> TxResult<Outcome> {
    let old = match load_at(ctx, &u.id, u.expected_version)? {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut rec = old.clone();
    let limits = record_limits(ctx)?;
    if let Some(patch) = &u.metadata_patch {
        match patched_metadata(&limits, &old.metadata, patch) {
            Ok(m) => rec.metadata = m,
            Err(e) => return Ok(Err(e)),
        }
    }
    let mut labels: BTreeMap<String, String> = rec.labels;
    labels.extend(u.set_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    for k in &u.remove_labels {
        labels.remove(k);
    }
    if let Err(e) = limits.check_labels(&labels) {
        return Ok(Err(WorkflowError::Limit(e)));
    }
    rec.labels = labels;
    if let Some(v) = &u.owner_id {
        rec.owner_id = v.clone();
    }
    if let Some(v) = &u.routing_strategy {
        rec.routing_strategy = v.clone();
    }
    if let Some(v) = u.max_concurrent {
        rec.max_concurrent = v;
    }
    if let Some(v) = u.total_tasks {
        rec.total_tasks = v;
    }
    bump(&mut rec, revision, now_ms);
    store::put_workflow(ctx, Some(&old), &rec)?;
    let mut ev = event(&rec, HistoryKind::Updated, &old.status, &u.actor);
    ev.reason = u.reason.clone();
    store::append_history(ctx, &u.id, &ev)?;
    Ok(Ok(WorkflowReply::Workflow {
        workflow: rec.to_ref(),
        created: false,
    }))
}

fn delete(ctx: &mut BatchCtx<'_>, id: &str, force: bool) -> TxResult<Outcome> {
    let rec = match load_at(ctx, id, None)? {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    if !force {
        let def = match definition_of(ctx, &rec)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        if !def.is_terminal(&rec.status) {
            return Ok(Err(WorkflowError::NotTerminal {
                id: id.to_string(),
                status: rec.status,
            }));
        }
    }
    let tasks = store::remove_workflow(ctx, &rec)?;
    vars::remove(ctx, &VarScope::Workflow(rec.id.clone()), &rec.namespace)?;
    Ok(Ok(WorkflowReply::Deleted {
        id: id.to_string(),
        tasks,
    }))
}

/// Removes the workflow's oldest history events, keeping the last `keep_last` versions'.
/// The record keeps the floor, so removal needs no scan and reads know where history starts;
/// its version is unchanged (like a task change, compaction is not a workflow change).
fn compact_history(ctx: &mut BatchCtx<'_>, id: &str, keep_last: u64) -> TxResult<Outcome> {
    let mut rec = match load_at(ctx, id, None)? {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let from = rec.history_floor.max(1);
    let target = rec.version.saturating_sub(keep_last.max(1)) + 1;
    let floor = target.min(from + MAX_HISTORY_COMPACT).max(from);
    let history = ctx.tx.tree(Space::History);
    for v in from..floor {
        history.remove(keys::history(id, v))?;
    }
    if floor != from {
        rec.history_floor = floor;
        ctx.tx
            .tree(Space::Workflows)
            .insert(id.as_bytes(), encode(&rec)?)?;
    }
    Ok(Ok(WorkflowReply::HistoryCompacted {
        id: id.to_string(),
        floor,
        removed: floor - from,
    }))
}

/// Deletes each named workflow that still finished before the cutoff. The leader chose the
/// names from its own index; re-checking here keeps the outcome a function of the state.
fn purge(ctx: &mut BatchCtx<'_>, ids: &[String], finished_before_ms: u64) -> TxResult<Outcome> {
    let mut purged = Vec::new();
    for id in ids {
        if let Some(rec) = store::workflow(ctx, id)?
            && rec.finished_ms.is_some_and(|f| f < finished_before_ms)
        {
            store::remove_workflow(ctx, &rec)?;
            vars::remove(ctx, &VarScope::Workflow(rec.id.clone()), &rec.namespace)?;
            purged.push(id.clone());
        }
    }
    Ok(Ok(WorkflowReply::Purged { ids: purged }))
}
