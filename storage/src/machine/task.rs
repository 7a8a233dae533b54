//! The `task` domain: bulk upsert of a workflow's task records, all or nothing. The whole
//! batch is checked against the task status machine, the dependency graph (known tasks, no
//! cycle) and the start rule (dependencies completed) before anything is written.

use std::collections::{BTreeMap, BTreeSet};

use cairn_model::workflow::command::{TaskRef, TaskSpec, UpsertTasks};
use cairn_model::workflow::names::is_valid_id;
use cairn_model::workflow::task::{RetryPolicy, check_can_start, check_graph, check_transition};
use cairn_model::workflow::{TaskRecord, TaskStatus, WorkflowError, WorkflowReply};

use super::batch::{BatchCtx, TxResult};
use super::claim;
use super::workflow_store as store;
use crate::claim_queue;

/// A decision: the reply to give, or why the upsert is refused. Its own alias, as `coord`
/// and `checkpoint` have: naming `workflow`'s would make this module depend back on
/// `workflow`, which calls it.
type Outcome = Result<WorkflowReply, WorkflowError>;

pub(super) fn upsert(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    u: &UpsertTasks,
) -> TxResult<Outcome> {
    let wf_id = &u.workflow_id;
    let Some(wf) = store::workflow(ctx, wf_id)? else {
        return Ok(Err(WorkflowError::NotFound(wf_id.clone())));
    };
    let def = match store::definition(ctx, &wf.definition, Some(wf.definition_version))? {
        Some((_, d)) => d,
        None => {
            return Ok(Err(WorkflowError::UnknownDefinition {
                name: wf.definition.clone(),
                version: Some(wf.definition_version),
            }));
        }
    };
    if def.is_terminal(&wf.status) {
        return Ok(Err(WorkflowError::Terminal {
            id: wf_id.clone(),
            status: wf.status,
        }));
    }

    let mut seen = BTreeSet::new();
    for spec in &u.tasks {
        if !is_valid_id(&spec.id) {
            return Ok(Err(WorkflowError::InvalidId(spec.id.clone())));
        }
        if !seen.insert(spec.id.as_str()) {
            return Ok(Err(WorkflowError::DuplicateTask(spec.id.clone())));
        }
    }

    // The workflow's tasks as they will be after this upsert.
    let dir = store::task_dir(ctx, wf_id)?;
    let mut all: BTreeMap<String, TaskRecord> = BTreeMap::new();
    for id in &dir {
        if let Some(t) = store::task(ctx, wf_id, id)? {
            all.insert(id.clone(), t);
        }
    }
    // Upserts never touch a terminal workflow's tasks (refused above).
    let queued_before = claim_queue::queued_keys(&wf, false, all.values());
    // Claimed runs this upsert ends: their leases let go of them.
    let mut unbind = Vec::new();
    let before: BTreeMap<String, TaskStatus> =
        all.iter().map(|(id, t)| (id.clone(), t.status)).collect();
    let mut changed = Vec::with_capacity(u.tasks.len());
    for spec in &u.tasks {
        let existing = all.get(&spec.id);
        if let Some(expected) = spec.expected_version {
            let current = existing.map_or(0, |t| t.version);
            if expected != current {
                return Ok(Err(WorkflowError::TaskVersionConflict {
                    workflow_id: wf_id.clone(),
                    task_id: spec.id.clone(),
                    expected,
                    current,
                }));
            }
        }
        let rec = match next_record(wf_id, existing, spec, revision, now_ms) {
            Ok(r) => r,
            Err(error) => {
                return Ok(Err(WorkflowError::Task {
                    id: wf_id.clone(),
                    error,
                }));
            }
        };
        if let Some(old) = existing.filter(|o| o.lease != 0 && rec.lease == 0) {
            unbind.push(old.clone());
        }
        changed.push(rec.id.clone());
        all.insert(rec.id.clone(), rec);
    }

    let tasks: Vec<TaskRecord> = all.values().cloned().collect();
    if let Err(error) = check_graph(&tasks) {
        return Ok(Err(WorkflowError::Task {
            id: wf_id.clone(),
            error,
        }));
    }
    for spec in &u.tasks {
        // Only a move into RUNNING must wait for dependencies.
        let (Some(rec), Some(TaskStatus::Running)) = (all.get(&spec.id), spec.status) else {
            continue;
        };
        let was_running = before.get(&spec.id) == Some(&TaskStatus::Running);
        if !was_running && let Err(error) = check_can_start(rec, &tasks) {
            return Ok(Err(WorkflowError::Task {
                id: wf_id.clone(),
                error,
            }));
        }
    }

    let queued_after = claim_queue::queued_keys(&wf, false, all.values());
    store::sync_claims(ctx, &queued_before, &queued_after);
    for old in &unbind {
        claim::unbind(ctx, old)?;
    }
    let mut refs = Vec::with_capacity(changed.len());
    for id in &changed {
        if let Some(rec) = all.get(id) {
            store::put_task(ctx, rec)?;
            refs.push(TaskRef {
                id: rec.id.clone(),
                status: rec.status,
                version: rec.version,
                attempts: rec.attempts,
            });
        }
    }
    if changed.iter().any(|id| dir.binary_search(id).is_err()) {
        let new_dir: Vec<String> = all.keys().cloned().collect();
        store::put_task_dir(ctx, wf_id, &new_dir)?;
    }
    Ok(Ok(WorkflowReply::Tasks {
        workflow_id: wf_id.clone(),
        tasks: refs,
    }))
}

/// The record `spec` produces from `existing` (None: a new task, which starts PENDING and
/// may only be created in a status PENDING can move to).
fn next_record(
    workflow_id: &str,
    existing: Option<&TaskRecord>,
    spec: &TaskSpec,
    revision: u64,
    now_ms: u64,
) -> Result<TaskRecord, cairn_model::workflow::TaskError> {
    let mut rec = existing.cloned().unwrap_or_else(|| TaskRecord {
        workflow_id: workflow_id.to_string(),
        id: spec.id.clone(),
        name: String::new(),
        kind: String::new(),
        status: TaskStatus::Pending,
        agent_id: String::new(),
        dependencies: Vec::new(),
        input: String::new(),
        output: String::new(),
        error: String::new(),
        attempts: 0,
        version: 0,
        mod_revision: revision,
        created_ms: now_ms,
        updated_ms: now_ms,
        started_ms: None,
        finished_ms: None,
        lease: 0,
        claim: 0,
        retry: RetryPolicy::default(),
        ready_ms: 0,
    });
    if let Some(to) = spec.status
        && (existing.is_none() && to != TaskStatus::Pending
            || existing.is_some_and(|e| e.status != to))
    {
        check_transition(&spec.id, rec.status, to)?;
        match to {
            TaskStatus::Running => {
                rec.attempts += 1;
                rec.started_ms = Some(now_ms);
                rec.finished_ms = None;
            }
            TaskStatus::Pending => {
                // A retry: the next run is a new attempt.
                rec.finished_ms = None;
            }
            TaskStatus::Completed
            | TaskStatus::Failed
            | TaskStatus::Skipped
            | TaskStatus::Cancelled => rec.finished_ms = Some(now_ms),
        }
        rec.status = to;
        // A status set by an upsert, not by a claim: any claimed run is over (the caller
        // unbinds it from its lease), and its token must never match again, even if the
        // task is moved back to RUNNING (the old worker's finish is refused as stale).
        rec.lease = 0;
        rec.claim = 0;
    }
    if let Some(retry) = spec.retry {
        rec.retry = retry;
    }
    let set = |field: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            field.clone_from(v);
        }
    };
    set(&mut rec.name, &spec.name);
    set(&mut rec.kind, &spec.kind);
    set(&mut rec.agent_id, &spec.agent_id);
    set(&mut rec.input, &spec.input);
    set(&mut rec.output, &spec.output);
    set(&mut rec.error, &spec.error);
    if let Some(deps) = &spec.dependencies {
        let mut deps = deps.clone();
        deps.sort();
        deps.dedup();
        rec.dependencies = deps;
    }
    rec.version += 1;
    rec.mod_revision = revision;
    rec.updated_ms = now_ms;
    Ok(rec)
}
