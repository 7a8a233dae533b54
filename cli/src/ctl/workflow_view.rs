//! How `cairn ctl workflow` shows workflows, tasks and history events: JSON objects for
//! `--json` and table rows for people.

use cairn_client::{HistoryEvent, Task, Workflow};
use serde_json::{Value, json};

use super::output::{table, time_ms};

pub(super) fn workflow_json(w: &Workflow) -> Value {
    json!({
        "id": w.id,
        "namespace": w.namespace,
        "definition": w.definition,
        "definition_version": w.definition_version,
        "status": w.status,
        "version": w.version,
        "create_revision": w.create_revision,
        "mod_revision": w.mod_revision,
        "created_ms": w.created_ms,
        "updated_ms": w.updated_ms,
        "started_ms": w.started_ms,
        "finished_ms": w.finished_ms,
        "metadata": w.metadata,
        "labels": w.labels,
        "owner_id": w.owner_id,
        "owner_lease": w.owner_lease,
        "owner_epoch": w.owner_epoch,
        "orphaned_ms": w.orphaned_ms,
    })
}

pub(super) fn task_json(t: &Task) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "status": t.status.as_str(),
        "attempts": t.attempts,
        "dependencies": t.dependencies,
        "version": t.version,
        "agent_id": t.agent_id,
        "lease_id": t.lease_id,
        "claim": t.claim,
        "ready_ms": t.ready_ms,
        "input": t.input,
        "output": t.output,
        "error": t.error,
    })
}

pub(super) fn event_json(e: &HistoryEvent) -> Value {
    json!({
        "version": e.version,
        "revision": e.revision,
        "time_ms": e.time_ms,
        "kind": e.kind.as_str(),
        "from": e.from,
        "to": e.to,
        "event": e.event,
        "actor": e.actor,
        "reason": e.reason,
    })
}

pub(super) fn workflow_rows(ws: &[Workflow]) -> String {
    let rows: Vec<Vec<String>> = ws
        .iter()
        .map(|w| {
            vec![
                w.id.clone(),
                w.status.clone(),
                w.version.to_string(),
                format!("{}@{}", w.definition, w.definition_version),
                w.namespace.clone(),
                time_ms(w.updated_ms),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATUS",
            "VERSION",
            "DEFINITION",
            "NAMESPACE",
            "UPDATED",
        ],
        &rows,
    )
}
