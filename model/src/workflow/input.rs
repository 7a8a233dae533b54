//! The workflow part of `Request::check_input` (see `crate::input`): ids, text sizes, labels,
//! metadata and task JSON, definitions. The workflow service checks the same while it maps a
//! request to its command; this is the check every proposed command meets, forwarded or not.

use std::collections::BTreeSet;

use super::command::{
    AdoptWorkflow, ClaimTask, CreateWorkflow, FinishTask, MAX_TASKS_PER_UPSERT, RunOutcome,
    TransitionWorkflow, UpdateWorkflow, UpsertTasks, WorkflowCommand, WorkflowError,
};
use super::definition::Target;
use super::limits::RecordLimits;
use super::task::{MAX_ATTEMPTS, MAX_RETRY_DELAY_MS};
use super::vars::{MAX_KEEP_VERSIONS, MAX_VARS_PER_UPDATE, UpdateVars, VarScope};
use crate::input::{
    InputError, MAX_REASON, MAX_SHORT_TEXT, check_metadata, count, id, internal, invalid, limit,
    size, text,
};

impl WorkflowCommand {
    /// This command's part of `Request::check_input`, against the node's record limits.
    pub fn check_input(&self, limits: &RecordLimits) -> Result<(), InputError> {
        match self {
            WorkflowCommand::RegisterDefinition(d) => d
                .validate()
                .map(|_| ())
                .map_err(|e| InputError::Workflow(WorkflowError::InvalidDefinition(e))),
            WorkflowCommand::Create(c) => check_create(limits, c),
            WorkflowCommand::Transition(t) => check_transition(t),
            WorkflowCommand::Update(u) => check_update(limits, u),
            WorkflowCommand::Delete { id: wf, .. } => id("id", wf),
            WorkflowCommand::Purge { .. } => Err(internal("workflow.purge")),
            WorkflowCommand::UpsertTasks(u) => check_upsert(limits, u),
            WorkflowCommand::CompactHistory { id: wf, keep_last } => {
                id("workflow_id", wf)?;
                if *keep_last == 0 {
                    return Err(invalid("keep_last", "must be at least 1"));
                }
                Ok(())
            }
            WorkflowCommand::SetNamespaceLimits { namespace, .. } => id("namespace", namespace),
            WorkflowCommand::ClaimTask(c) => check_claim(c),
            WorkflowCommand::FinishTask(f) => check_finish(limits, f),
            WorkflowCommand::Adopt(a) => check_adopt(a),
            WorkflowCommand::UpdateVars(u) => check_vars(limits, u),
            WorkflowCommand::RollbackVars(r) => {
                check_scope(&r.scope)?;
                positive("to_version", r.to_version)?;
                text("actor", &r.actor, MAX_SHORT_TEXT)?;
                text("reason", &r.reason, MAX_REASON)
            }
        }
    }
}

pub(crate) fn check_create(limits: &RecordLimits, c: &CreateWorkflow) -> Result<(), InputError> {
    if let Some(wf) = &c.id {
        id("id", wf)?;
    }
    id("definition", &c.definition)?;
    limits.check_labels(&c.labels).map_err(limit)?;
    text("owner_id", &c.owner_id, MAX_SHORT_TEXT)?;
    text("routing_strategy", &c.routing_strategy, MAX_SHORT_TEXT)?;
    text("actor", &c.actor, MAX_SHORT_TEXT)?;
    id("namespace", &c.namespace)?;
    check_metadata(limits, &c.metadata)
}

pub(crate) fn check_transition(t: &TransitionWorkflow) -> Result<(), InputError> {
    id("id", &t.id)?;
    match &t.target {
        Target::Status(s) => id("status", s)?,
        Target::Event(e) => id("event", e)?,
    }
    text("actor", &t.actor, MAX_SHORT_TEXT)?;
    text("reason", &t.reason, MAX_REASON)
}

pub(crate) fn check_update(limits: &RecordLimits, u: &UpdateWorkflow) -> Result<(), InputError> {
    id("id", &u.id)?;
    // The patch must be an object: a non-object merge patch would replace the whole metadata
    // with a non-object. The merged result is size-checked again by the machine.
    if let Some(patch) = &u.metadata_patch {
        check_metadata(limits, patch)?;
    }
    limits.check_labels(&u.set_labels).map_err(limit)?;
    for key in &u.remove_labels {
        id("remove_labels", key)?;
    }
    for (field, v) in [
        ("owner_id", &u.owner_id),
        ("routing_strategy", &u.routing_strategy),
    ] {
        if let Some(v) = v {
            text(field, v, MAX_SHORT_TEXT)?;
        }
    }
    text("actor", &u.actor, MAX_SHORT_TEXT)?;
    text("reason", &u.reason, MAX_REASON)
}

pub(crate) fn check_upsert(limits: &RecordLimits, u: &UpsertTasks) -> Result<(), InputError> {
    id("workflow_id", &u.workflow_id)?;
    if u.tasks.is_empty() {
        return Err(InputError::Empty {
            field: "tasks".into(),
        });
    }
    count("tasks in one upsert", u.tasks.len(), MAX_TASKS_PER_UPSERT)?;
    let mut seen = BTreeSet::new();
    for t in &u.tasks {
        id("task id", &t.id)?;
        if !seen.insert(t.id.as_str()) {
            return Err(InputError::Workflow(WorkflowError::DuplicateTask(
                t.id.clone(),
            )));
        }
        for (field, v) in [
            ("name", &t.name),
            ("kind", &t.kind),
            ("agent_id", &t.agent_id),
        ] {
            if let Some(v) = v {
                text(field, v, MAX_SHORT_TEXT)?;
            }
        }
        for dep in t.dependencies.iter().flatten() {
            id("dependency", dep)?;
        }
        if let Some(r) = &t.retry {
            if r.max_attempts == 0 || r.max_attempts > MAX_ATTEMPTS {
                return Err(invalid(
                    "retry.max_attempts",
                    &format!("must be 1-{MAX_ATTEMPTS}"),
                ));
            }
            if r.backoff_ms > MAX_RETRY_DELAY_MS {
                return Err(invalid(
                    "retry.backoff_ms",
                    &format!("must be at most {MAX_RETRY_DELAY_MS}"),
                ));
            }
        }
        for (field, v) in [
            ("input", &t.input),
            ("output", &t.output),
            ("error", &t.error),
        ] {
            json_field(limits, field, v.as_deref())?;
        }
    }
    Ok(())
}

/// Most task kinds one claim may name.
pub const MAX_CLAIM_KINDS: usize = 64;

fn check_claim(c: &ClaimTask) -> Result<(), InputError> {
    id("namespace", &c.namespace)?;
    if let Some(wf) = &c.workflow_id {
        id("workflow_id", wf)?;
    }
    count("kinds", c.kinds.len(), MAX_CLAIM_KINDS)?;
    for k in &c.kinds {
        text("kinds", k, MAX_SHORT_TEXT)?;
    }
    non_empty("agent_id", &c.agent_id)?;
    text("agent_id", &c.agent_id, MAX_SHORT_TEXT)?;
    positive("lease", c.lease)
}

fn check_finish(limits: &RecordLimits, f: &FinishTask) -> Result<(), InputError> {
    id("workflow_id", &f.workflow_id)?;
    id("task_id", &f.task_id)?;
    positive("claim", f.claim)?;
    match &f.outcome {
        RunOutcome::Completed { output } => json_field(limits, "output", Some(output)),
        RunOutcome::Failed { error } => json_field(limits, "error", Some(error)),
    }
}

fn check_adopt(a: &AdoptWorkflow) -> Result<(), InputError> {
    id("id", &a.id)?;
    non_empty("owner_id", &a.owner_id)?;
    text("owner_id", &a.owner_id, MAX_SHORT_TEXT)?;
    positive("lease", a.lease)?;
    text("reason", &a.reason, MAX_REASON)
}

fn check_scope(scope: &VarScope) -> Result<(), InputError> {
    match scope {
        VarScope::Workflow(w) => id("scope.workflow", w),
        VarScope::Namespace(n) => id("scope.namespace", n),
    }
}

pub(crate) fn check_vars(limits: &RecordLimits, u: &UpdateVars) -> Result<(), InputError> {
    check_scope(&u.scope)?;
    if u.set.is_empty()
        && u.delete.is_empty()
        && u.immutable.is_empty()
        && u.keep_versions.is_none()
    {
        return Err(InputError::Empty {
            field: "set, delete, immutable or keep_versions".into(),
        });
    }
    count(
        "variables in one update",
        u.set.len() + u.delete.len() + u.immutable.len(),
        MAX_VARS_PER_UPDATE,
    )?;
    let mut total = 0usize;
    for (k, v) in &u.set {
        id("variable name", k)?;
        json_field(limits, "variable value", Some(v))?;
        if v.is_empty() {
            return Err(InputError::Empty {
                field: format!("value of {k}"),
            });
        }
        total += k.len() + v.len();
    }
    size("variables in one update", total, limits.max_metadata_bytes)?;
    for k in u.delete.iter().chain(&u.immutable) {
        id("variable name", k)?;
        if u.delete.contains(k) && u.set.contains_key(k) {
            return Err(invalid("delete", "a key is both set and deleted"));
        }
    }
    if let Some(keep) = u.keep_versions
        && !(1..=MAX_KEEP_VERSIONS).contains(&keep)
    {
        return Err(invalid(
            "keep_versions",
            &format!("must be 1-{MAX_KEEP_VERSIONS}"),
        ));
    }
    text("actor", &u.actor, MAX_SHORT_TEXT)?;
    text("reason", &u.reason, MAX_REASON)
}

fn non_empty(field: &str, v: &str) -> Result<(), InputError> {
    if v.is_empty() {
        return Err(InputError::Empty {
            field: field.into(),
        });
    }
    Ok(())
}

fn positive(field: &str, v: u64) -> Result<(), InputError> {
    if v == 0 {
        return Err(invalid(field, "must be positive"));
    }
    Ok(())
}

/// A task JSON field: any JSON value within the metadata limit; empty clears the field.
fn json_field(limits: &RecordLimits, field: &str, v: Option<&str>) -> Result<(), InputError> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    size(field, v.len(), limits.max_metadata_bytes)?;
    serde_json::from_str::<serde::de::IgnoredAny>(v)
        .map(|_| ())
        .map_err(|e| {
            InputError::Workflow(WorkflowError::InvalidJson {
                field: field.into(),
                message: e.to_string(),
            })
        })
}
