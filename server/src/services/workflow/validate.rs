//! Input checks of the workflow service and the mapping of valid requests to replicated
//! commands. Everything here runs before anything is proposed, so bad input never costs a
//! log entry; the state machine re-checks whatever depends on state. These checks run on the
//! request's fields as it is mapped (defaults, canonical JSON); the command then meets the
//! same checks again in the gateway (`Request::check_input`, with the limits shared from
//! cairn-model), which is what a forwarded write meets on the leader.

use std::collections::{BTreeMap, BTreeSet};

use cairn_api::v1 as pb;
use cairn_model::input::{MAX_REASON, MAX_SHORT_TEXT};
use cairn_model::workflow::command::{
    CreateWorkflow, DEFAULT_NAMESPACE, MAX_TASKS_PER_UPSERT, TaskSpec, TransitionWorkflow,
    UpdateWorkflow, UpsertTasks,
};
use cairn_model::workflow::limits::RecordLimits;
use cairn_model::workflow::query::{ListQuery, SortBy};
use cairn_model::workflow::task::RetryPolicy;
use cairn_model::workflow::{Definition, Target, TaskStatus, Transition, WorkflowError};
use tonic::Status;

use crate::services::fields::{id, text};
use crate::status;

use cairn_model::workflow::definition::DEFAULT_DEFINITION;

/// `value` must be an identifier; the message names the field.
/// Empty means the default namespace.
pub fn namespace(ns: String) -> Result<String, Status> {
    if ns.is_empty() {
        return Ok(DEFAULT_NAMESPACE.to_string());
    }
    id("namespace", &ns)?;
    Ok(ns)
}

/// Metadata must be a JSON object within the limit; it is stored in canonical form (keys
/// sorted, no whitespace) so equal metadata is equal text on every replica and every read.
fn metadata(limits: &RecordLimits, text: &str) -> Result<String, Status> {
    if text.is_empty() {
        return Ok("{}".to_string());
    }
    let value = limits
        .parse_metadata(text.as_bytes())
        .map_err(|e| status::workflow_error(WorkflowError::Limit(e)))?;
    serde_json::to_string(&value).map_err(status::internal)
}

/// Task JSON fields: any JSON value, canonicalized; empty clears the field.
fn json_field(
    limits: &RecordLimits,
    field: &str,
    text: Option<String>,
) -> Result<Option<String>, Status> {
    let Some(text) = text else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(Some(text));
    }
    if text.len() > limits.max_metadata_bytes {
        return Err(status::too_large(
            field,
            text.len(),
            limits.max_metadata_bytes,
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        status::workflow_error(WorkflowError::InvalidJson {
            field: field.to_string(),
            message: e.to_string(),
        })
    })?;
    serde_json::to_string(&value)
        .map(Some)
        .map_err(status::internal)
}

fn labels(limits: &RecordLimits, labels: &BTreeMap<String, String>) -> Result<(), Status> {
    limits
        .check_labels(labels)
        .map_err(|e| status::workflow_error(WorkflowError::Limit(e)))
}

pub fn task_status(field: &str, s: &str) -> Result<TaskStatus, Status> {
    TaskStatus::parse(s).ok_or_else(|| {
        let all: Vec<&str> = TaskStatus::ALL.iter().map(|t| t.as_str()).collect();
        status::invalid(format!(
            "{field}: unknown task status {s:?}; use one of {}",
            all.join(", ")
        ))
    })
}

/// A definition from the wire, checked; the report lists unreachable states and dead ends.
pub fn definition(
    d: Option<pb::WorkflowDefinition>,
) -> Result<(Definition, cairn_model::workflow::DefinitionReport), Status> {
    let d = d.ok_or_else(|| status::invalid("definition is required"))?;
    let def = Definition {
        name: d.name,
        states: d.states,
        initial: d.initial,
        terminal: d.terminal,
        transitions: d
            .transitions
            .into_iter()
            .map(|t| Transition {
                from: t.from,
                to: t.to,
                event: t.event,
            })
            .collect(),
    };
    let report = def
        .validate()
        .map_err(|e| status::workflow_error(WorkflowError::InvalidDefinition(e)))?;
    Ok((def, report))
}

pub fn create(
    limits: &RecordLimits,
    r: pb::CreateWorkflowRequest,
) -> Result<CreateWorkflow, Status> {
    if !r.id.is_empty() {
        id("id", &r.id)?;
    }
    let definition = if r.definition.is_empty() {
        DEFAULT_DEFINITION.to_string()
    } else {
        id("definition", &r.definition)?;
        r.definition
    };
    labels(limits, &r.labels)?;
    text("owner_id", &r.owner_id, MAX_SHORT_TEXT)?;
    text("routing_strategy", &r.routing_strategy, MAX_SHORT_TEXT)?;
    text("actor", &r.actor, MAX_SHORT_TEXT)?;
    Ok(CreateWorkflow {
        id: Some(r.id).filter(|s| !s.is_empty()),
        namespace: namespace(r.namespace)?,
        definition,
        definition_version: r.definition_version,
        metadata: metadata(limits, &r.metadata)?,
        labels: r.labels,
        owner_id: r.owner_id,
        routing_strategy: r.routing_strategy,
        max_concurrent: r.max_concurrent,
        total_tasks: r.total_tasks,
        upsert: r.upsert,
        actor: r.actor,
    })
}

pub fn transition(r: pb::TransitionWorkflowRequest) -> Result<TransitionWorkflow, Status> {
    use pb::transition_workflow_request::Target as PbTarget;
    id("id", &r.id)?;
    let target = match r.target {
        Some(PbTarget::Status(s)) => {
            id("status", &s)?;
            Target::Status(s)
        }
        Some(PbTarget::Event(e)) => {
            id("event", &e)?;
            Target::Event(e)
        }
        None => return Err(status::invalid("a target status or event is required")),
    };
    text("actor", &r.actor, MAX_SHORT_TEXT)?;
    text("reason", &r.reason, MAX_REASON)?;
    Ok(TransitionWorkflow {
        id: r.id,
        target,
        expected_version: r.expected_version,
        actor: r.actor,
        reason: r.reason,
    })
}

pub fn update(
    limits: &RecordLimits,
    r: pb::UpdateWorkflowRequest,
) -> Result<UpdateWorkflow, Status> {
    id("id", &r.id)?;
    // The patch must be an object (a non-object merge patch would replace the whole metadata
    // with a non-object); the merged result is size-checked again by the machine.
    let metadata_patch = r
        .metadata_patch
        .map(|p| {
            let value = limits
                .parse_metadata(p.as_bytes())
                .map_err(|e| status::workflow_error(WorkflowError::Limit(e)))?;
            serde_json::to_string(&value).map_err(status::internal)
        })
        .transpose()?;
    labels(limits, &r.set_labels)?;
    for key in &r.remove_labels {
        id("remove_labels", key)?;
    }
    for (field, v) in [
        ("owner_id", &r.owner_id),
        ("routing_strategy", &r.routing_strategy),
    ] {
        if let Some(v) = v {
            text(field, v, MAX_SHORT_TEXT)?;
        }
    }
    text("actor", &r.actor, MAX_SHORT_TEXT)?;
    text("reason", &r.reason, MAX_REASON)?;
    Ok(UpdateWorkflow {
        id: r.id,
        expected_version: r.expected_version,
        metadata_patch,
        set_labels: r.set_labels,
        remove_labels: r.remove_labels,
        owner_id: r.owner_id,
        routing_strategy: r.routing_strategy,
        max_concurrent: r.max_concurrent,
        total_tasks: r.total_tasks,
        actor: r.actor,
        reason: r.reason,
    })
}

pub fn upsert_tasks(
    limits: &RecordLimits,
    r: pb::UpsertTasksRequest,
) -> Result<UpsertTasks, Status> {
    id("workflow_id", &r.workflow_id)?;
    if r.tasks.is_empty() {
        return Err(status::invalid("tasks must not be empty"));
    }
    if r.tasks.len() > MAX_TASKS_PER_UPSERT {
        return Err(status::invalid(format!(
            "{} tasks in one upsert; the limit is {MAX_TASKS_PER_UPSERT}",
            r.tasks.len()
        )));
    }
    let mut seen = BTreeSet::new();
    let mut tasks = Vec::with_capacity(r.tasks.len());
    for t in r.tasks {
        id("task id", &t.id)?;
        if !seen.insert(t.id.clone()) {
            return Err(status::workflow_error(WorkflowError::DuplicateTask(t.id)));
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
        let dependencies = match t.dependencies {
            Some(d) => {
                for dep in &d.ids {
                    id("dependency", dep)?;
                }
                Some(d.ids)
            }
            None => None,
        };
        tasks.push(TaskSpec {
            status: t
                .status
                .as_deref()
                .map(|s| task_status("status", s))
                .transpose()?,
            input: json_field(limits, "input", t.input)?,
            output: json_field(limits, "output", t.output)?,
            error: json_field(limits, "error", t.error)?,
            id: t.id,
            name: t.name,
            kind: t.kind,
            agent_id: t.agent_id,
            dependencies,
            expected_version: t.expected_version,
            retry: t.retry.map(|r| RetryPolicy {
                max_attempts: r.max_attempts,
                backoff_ms: r.backoff_ms,
            }),
        });
    }
    Ok(UpsertTasks {
        workflow_id: r.workflow_id,
        tasks,
    })
}

/// The filters of a list or count; `limit`/`cursor` are set by the caller for lists.
pub fn query(
    ns: String,
    statuses: Vec<String>,
    definition: Option<String>,
    labels: BTreeMap<String, String>,
) -> Result<ListQuery, Status> {
    for s in &statuses {
        id("statuses", s)?;
    }
    if let Some(d) = &definition {
        id("definition", d)?;
    }
    for key in labels.keys() {
        id("labels", key)?;
    }
    Ok(ListQuery {
        namespace: namespace(ns)?,
        statuses,
        definition,
        labels,
        orphaned_only: false,
        across: None,
        sort: SortBy::Created,
        descending: false,
        limit: 0,
        cursor: None,
    })
}

pub fn list(r: pb::ListWorkflowsRequest) -> Result<ListQuery, Status> {
    let sort = match pb::WorkflowSort::try_from(r.sort) {
        Ok(pb::WorkflowSort::Created) => SortBy::Created,
        Ok(pb::WorkflowSort::Updated) => SortBy::Updated,
        Err(_) => return Err(status::invalid(format!("unknown sort {}", r.sort))),
    };
    let mut q = query(r.namespace, r.statuses, r.definition, r.labels)?;
    q.orphaned_only = r.orphaned_only;
    q.sort = sort;
    q.descending = r.descending;
    q.limit = r.limit;
    q.cursor = Some(r.cursor).filter(|c| !c.is_empty());
    Ok(q)
}
