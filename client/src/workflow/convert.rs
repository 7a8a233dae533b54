//! Conversions between the generated protobuf messages and the client's plain workflow types.
//! Server answers that do not parse (bad JSON, an unknown status) become [`Error::Rpc`] with
//! an Internal status: they mean a server bug or a version mismatch, not bad caller input.

use cairn_api::v1 as pb;
use serde_json::Value;
use tonic::Status;

use super::options::*;
use super::types::*;
use crate::error::{Error, Result};

pub(crate) fn bad_reply(what: impl std::fmt::Display) -> Error {
    Error::Rpc(Status::internal(format!("malformed server reply: {what}")))
}

/// JSON text from the server; empty means unset.
pub(crate) fn json_opt(field: &str, text: &str) -> Result<Option<Value>> {
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| bad_reply(format_args!("{field} is not JSON: {e}")))
}

/// The version to ask for after a page that began at `from` and said `next` (None: the
/// last page). A continuation that does not advance is a server bug that would loop forever.
pub(crate) fn next_version(what: &str, from: u64, next: Option<u64>) -> Result<Option<u64>> {
    match next {
        Some(n) if n <= from => Err(bad_reply(format_args!(
            "{what} continuation did not advance"
        ))),
        other => Ok(other),
    }
}

/// A value to send as JSON text.
pub(crate) fn json_text(field: &str, value: &Value) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::InvalidArgument(format!("{field} cannot be serialized: {e}")))
}

pub(crate) fn task_status(s: &str) -> Result<TaskStatus> {
    s.parse().map_err(bad_reply)
}

pub(crate) fn definition_to_pb(d: &Definition) -> pb::WorkflowDefinition {
    pb::WorkflowDefinition {
        name: d.name.clone(),
        states: d.states.clone(),
        initial: d.initial.clone(),
        terminal: d.terminal.clone(),
        transitions: d
            .transitions
            .iter()
            .map(|t| pb::WorkflowTransition {
                from: t.from.clone(),
                to: t.to.clone(),
                event: t.event.clone(),
            })
            .collect(),
    }
}

fn definition_from_pb(d: pb::WorkflowDefinition) -> Definition {
    Definition {
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
    }
}

pub(crate) fn versioned_definition(v: pb::VersionedDefinition) -> Result<VersionedDefinition> {
    let definition = v
        .definition
        .ok_or_else(|| bad_reply("definition missing"))?;
    Ok(VersionedDefinition {
        version: v.version,
        definition: definition_from_pb(definition),
    })
}

impl From<pb::RegisterDefinitionResponse> for RegisteredDefinition {
    fn from(r: pb::RegisterDefinitionResponse) -> Self {
        Self {
            name: r.name,
            version: r.version,
            created: r.created,
            unreachable: r.unreachable,
            dead_ends: r.dead_ends,
            revision: r.revision,
        }
    }
}

pub(crate) fn workflow_ref(r: Option<pb::WorkflowRef>) -> Result<WorkflowRef> {
    let r = r.ok_or_else(|| bad_reply("workflow missing"))?;
    Ok(WorkflowRef {
        id: r.id,
        status: r.status,
        version: r.version,
        revision: r.revision,
    })
}

pub(crate) fn workflow(w: pb::Workflow) -> Result<Workflow> {
    let metadata =
        json_opt("metadata", &w.metadata)?.unwrap_or_else(|| Value::Object(<_>::default()));
    Ok(Workflow {
        id: w.id,
        namespace: w.namespace,
        definition: w.definition,
        definition_version: w.definition_version,
        status: w.status,
        version: w.version,
        create_revision: w.create_revision,
        mod_revision: w.mod_revision,
        created_ms: w.created_ms,
        updated_ms: w.updated_ms,
        started_ms: w.started_ms,
        finished_ms: w.finished_ms,
        metadata,
        labels: w.labels,
        owner_id: w.owner_id,
        routing_strategy: w.routing_strategy,
        max_concurrent: w.max_concurrent,
        total_tasks: w.total_tasks,
        owner_lease: w.owner_lease,
        owner_epoch: w.owner_epoch,
        orphaned_ms: w.orphaned_ms,
    })
}

pub(crate) fn progress(p: Option<pb::WorkflowProgress>) -> Progress {
    let p = p.unwrap_or_default();
    Progress {
        total: p.total,
        pending: p.pending,
        running: p.running,
        completed: p.completed,
        failed: p.failed,
        skipped: p.skipped,
        cancelled: p.cancelled,
        success_rate: p.success_rate,
        duration_ms: p.duration_ms,
    }
}

pub(crate) fn task(t: pb::Task) -> Result<Task> {
    Ok(Task {
        status: task_status(&t.status)?,
        input: json_opt("input", &t.input)?,
        output: json_opt("output", &t.output)?,
        error: json_opt("error", &t.error)?,
        workflow_id: t.workflow_id,
        id: t.id,
        name: t.name,
        kind: t.kind,
        agent_id: t.agent_id,
        dependencies: t.dependencies,
        attempts: t.attempts,
        version: t.version,
        mod_revision: t.mod_revision,
        created_ms: t.created_ms,
        updated_ms: t.updated_ms,
        started_ms: t.started_ms,
        finished_ms: t.finished_ms,
        lease_id: t.lease_id,
        claim: t.claim,
        retry: t.retry.map_or_else(RetryPolicy::default, |r| RetryPolicy {
            max_attempts: r.max_attempts,
            backoff_ms: r.backoff_ms,
        }),
        ready_ms: t.ready_ms,
    })
}

pub(crate) fn task_spec_to_pb(s: TaskSpec) -> Result<pb::TaskSpec> {
    let json = |field: &str, v: &Option<Value>| v.as_ref().map(|v| json_text(field, v)).transpose();
    Ok(pb::TaskSpec {
        input: json("input", &s.input)?,
        output: json("output", &s.output)?,
        error: json("error", &s.error)?,
        id: s.id,
        name: s.name,
        kind: s.kind,
        status: s.status.map(|s| s.as_str().to_string()),
        agent_id: s.agent_id,
        dependencies: s.dependencies.map(|ids| pb::TaskDependencies { ids }),
        expected_version: s.expected_version,
        retry: s.retry.map(|r| pb::RetryPolicy {
            max_attempts: r.max_attempts,
            backoff_ms: r.backoff_ms,
        }),
    })
}

fn one_task_ref(t: pb::TaskRef) -> Result<TaskRef> {
    Ok(TaskRef {
        status: task_status(&t.status)?,
        id: t.id,
        version: t.version,
        attempts: t.attempts,
    })
}

pub(crate) fn task_ref(t: Option<pb::TaskRef>) -> Result<TaskRef> {
    one_task_ref(t.ok_or_else(|| bad_reply("no task"))?)
}

pub(crate) fn claimed(r: pb::ClaimTaskResponse) -> Result<Claimed> {
    Ok(Claimed {
        task: r.task.map(task).transpose()?,
        next_ready_ms: r.next_ready_ms,
        revision: r.revision,
    })
}

pub(crate) fn upserted_tasks(r: pb::UpsertTasksResponse) -> Result<UpsertedTasks> {
    let tasks = r
        .tasks
        .into_iter()
        .map(one_task_ref)
        .collect::<Result<Vec<_>>>()?;
    Ok(UpsertedTasks {
        workflow_id: r.workflow_id,
        tasks,
        revision: r.revision,
    })
}

pub(crate) fn history_event(e: pb::HistoryEvent) -> Result<HistoryEvent> {
    let kind = match pb::HistoryKind::try_from(e.kind) {
        Ok(pb::HistoryKind::Created) => HistoryKind::Created,
        Ok(pb::HistoryKind::Transition) => HistoryKind::Transition,
        Ok(pb::HistoryKind::Updated) => HistoryKind::Updated,
        Ok(pb::HistoryKind::Rollback) => HistoryKind::Rollback,
        Ok(pb::HistoryKind::Orphaned) => HistoryKind::Orphaned,
        Ok(pb::HistoryKind::Adopted) => HistoryKind::Adopted,
        Ok(pb::HistoryKind::Unspecified) | Err(_) => {
            return Err(bad_reply(format_args!("unknown history kind {}", e.kind)));
        }
    };
    Ok(HistoryEvent {
        version: e.version,
        revision: e.revision,
        time_ms: e.time_ms,
        kind,
        from: e.from,
        to: e.to,
        event: Some(e.event).filter(|s| !s.is_empty()),
        actor: e.actor,
        reason: e.reason,
    })
}

pub(crate) fn list_request(o: &ListOptions) -> pb::ListWorkflowsRequest {
    pb::ListWorkflowsRequest {
        namespace: o.namespace.clone().unwrap_or_default(),
        statuses: o.statuses.clone(),
        definition: o.definition.clone(),
        labels: o.labels.clone(),
        sort: match o.sort {
            SortBy::Created => pb::WorkflowSort::Created,
            SortBy::Updated => pb::WorkflowSort::Updated,
        } as i32,
        descending: o.descending,
        limit: o.limit,
        cursor: o.cursor.clone().unwrap_or_default(),
        with_count: o.with_count,
        orphaned_only: o.orphaned_only,
        with_progress: o.with_progress,
        all_namespaces: o.all_namespaces,
        serializable: o.serializable,
    }
}

pub(crate) fn count_request(o: &ListOptions) -> pb::CountWorkflowsRequest {
    pb::CountWorkflowsRequest {
        namespace: o.namespace.clone().unwrap_or_default(),
        statuses: o.statuses.clone(),
        definition: o.definition.clone(),
        labels: o.labels.clone(),
        serializable: o.serializable,
        all_namespaces: o.all_namespaces,
        orphaned_only: o.orphaned_only,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn task_json_fields_and_status() {
        let t = task(pb::Task {
            id: "a".into(),
            status: "RUNNING".into(),
            input: r#"{"x":1}"#.into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(t.status, TaskStatus::Running);
        assert_eq!(t.input, Some(serde_json::json!({"x": 1})));
        assert_eq!(t.output, None);
        let bad = task(pb::Task {
            status: "running".into(),
            ..Default::default()
        });
        assert!(matches!(bad, Err(Error::Rpc(s)) if s.code() == tonic::Code::Internal));
    }

    #[test]
    fn spec_round_trip_and_empty_metadata() {
        let s = task_spec_to_pb(
            TaskSpec::new("b")
                .depends_on(["a"])
                .status(TaskStatus::Completed)
                .output(serde_json::json!({"ok": true})),
        )
        .unwrap();
        assert_eq!(s.status.as_deref(), Some("COMPLETED"));
        assert_eq!(s.dependencies.unwrap().ids, vec!["a"]);
        assert_eq!(s.output.as_deref(), Some(r#"{"ok":true}"#));
        assert!(s.input.is_none());
        let w = workflow(pb::Workflow::default()).unwrap();
        assert_eq!(w.metadata, serde_json::json!({}));
    }

    #[test]
    fn unknown_history_kind_is_a_bad_reply() {
        let e = history_event(pb::HistoryEvent {
            kind: 42,
            ..Default::default()
        });
        assert!(matches!(e, Err(Error::Rpc(_))));
        let ok = history_event(pb::HistoryEvent {
            kind: pb::HistoryKind::Transition as i32,
            event: "pause".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.kind, HistoryKind::Transition);
        assert_eq!(ok.event.as_deref(), Some("pause"));
    }

    #[test]
    fn shared_types_are_the_models() {
        // The same types, not copies: a model value is a client value.
        let status: crate::TaskStatus = cairn_model::workflow::TaskStatus::Running;
        let kind: crate::HistoryKind = cairn_model::workflow::record::HistoryKind::Rollback;
        let sort: crate::SortBy = cairn_model::workflow::query::SortBy::Updated;
        let r: crate::WorkflowRef = cairn_model::workflow::WorkflowRef {
            id: "w".into(),
            status: "RUNNING".into(),
            version: 2,
            revision: 9,
        };
        assert_eq!(
            (status, kind, sort, r.version),
            (
                TaskStatus::Running,
                HistoryKind::Rollback,
                SortBy::Updated,
                2
            )
        );
        // What the client's copies did: wire names, padding, parse errors, the default sort.
        assert_eq!(format!("[{:<9}]", TaskStatus::Running), "[RUNNING  ]");
        assert_eq!(format!("[{:>10}]", HistoryKind::Transition), "[transition]");
        assert_eq!(SortBy::default(), SortBy::Created);
        match task_status("running") {
            Err(Error::Rpc(s)) => assert_eq!(
                s.message(),
                r#"malformed server reply: unknown task status "running""#
            ),
            other => panic!("{other:?}"),
        }
        let wf = workflow_ref(Some(pb::WorkflowRef {
            id: "w".into(),
            status: "RUNNING".into(),
            version: 2,
            revision: 9,
        }))
        .unwrap();
        assert_eq!(wf, r);
    }
}
