//! Conversions from the replicated workflow records to their protobuf messages.

use cairn_api::v1 as pb;
use cairn_model::workflow::command::TaskRef;
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{
    Definition, HistoryEvent, Progress, TaskRecord, WorkflowRecord, WorkflowRef,
};

pub fn definition(version: u32, d: Definition) -> pb::VersionedDefinition {
    pb::VersionedDefinition {
        version,
        definition: Some(pb::WorkflowDefinition {
            name: d.name,
            states: d.states,
            initial: d.initial,
            terminal: d.terminal,
            transitions: d
                .transitions
                .into_iter()
                .map(|t| pb::WorkflowTransition {
                    from: t.from,
                    to: t.to,
                    event: t.event,
                })
                .collect(),
        }),
    }
}

pub fn workflow(w: WorkflowRecord) -> pb::Workflow {
    pb::Workflow {
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
        metadata: w.metadata,
        labels: w.labels,
        owner_id: w.owner_id,
        routing_strategy: w.routing_strategy,
        max_concurrent: w.max_concurrent,
        total_tasks: w.total_tasks,
        owner_lease: w.owner_lease,
        owner_epoch: w.owner_epoch,
        orphaned_ms: w.orphaned_ms,
    }
}

pub fn workflow_ref(r: WorkflowRef) -> pb::WorkflowRef {
    pb::WorkflowRef {
        id: r.id,
        status: r.status,
        version: r.version,
        revision: r.revision,
    }
}

/// Progress of `w` from its tasks; a running workflow's duration runs up to `now_ms`.
pub fn progress(w: &WorkflowRecord, tasks: &[TaskRecord], now_ms: u64) -> pb::WorkflowProgress {
    let p = Progress::of(tasks);
    pb::WorkflowProgress {
        total: p.total,
        pending: p.pending,
        running: p.running,
        completed: p.completed,
        failed: p.failed,
        skipped: p.skipped,
        cancelled: p.cancelled,
        success_rate: p.success_rate(),
        duration_ms: w.finished_ms.unwrap_or(now_ms).saturating_sub(w.created_ms),
    }
}

pub fn task(t: TaskRecord) -> pb::Task {
    pb::Task {
        workflow_id: t.workflow_id,
        id: t.id,
        name: t.name,
        kind: t.kind,
        status: t.status.as_str().to_string(),
        agent_id: t.agent_id,
        dependencies: t.dependencies,
        input: t.input,
        output: t.output,
        error: t.error,
        attempts: t.attempts,
        version: t.version,
        mod_revision: t.mod_revision,
        created_ms: t.created_ms,
        updated_ms: t.updated_ms,
        started_ms: t.started_ms,
        finished_ms: t.finished_ms,
        lease_id: t.lease,
        claim: t.claim,
        retry: Some(pb::RetryPolicy {
            max_attempts: t.retry.max_attempts,
            backoff_ms: t.retry.backoff_ms,
        }),
        ready_ms: t.ready_ms,
    }
}

pub fn task_ref(t: TaskRef) -> pb::TaskRef {
    pb::TaskRef {
        id: t.id,
        status: t.status.as_str().to_string(),
        version: t.version,
        attempts: t.attempts,
    }
}

pub fn history_event(e: HistoryEvent) -> pb::HistoryEvent {
    let kind = match e.kind {
        HistoryKind::Created => pb::HistoryKind::Created,
        HistoryKind::Transition => pb::HistoryKind::Transition,
        HistoryKind::Updated => pb::HistoryKind::Updated,
        HistoryKind::Rollback => pb::HistoryKind::Rollback,
        HistoryKind::Orphaned => pb::HistoryKind::Orphaned,
        HistoryKind::Adopted => pb::HistoryKind::Adopted,
    };
    pb::HistoryEvent {
        version: e.version,
        revision: e.revision,
        time_ms: e.time_ms,
        kind: kind as i32,
        from: e.from,
        to: e.to,
        event: e.event,
        actor: e.actor,
        reason: e.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::workflow::TaskStatus;

    fn record() -> WorkflowRecord {
        WorkflowRecord {
            id: "w".into(),
            namespace: "default".into(),
            definition: "default".into(),
            definition_version: 1,
            status: "RUNNING".into(),
            version: 2,
            create_revision: 5,
            mod_revision: 6,
            created_ms: 1_000,
            updated_ms: 1_500,
            started_ms: Some(1_500),
            finished_ms: None,
            metadata: "{}".into(),
            labels: Default::default(),
            owner_id: String::new(),
            routing_strategy: String::new(),
            max_concurrent: 0,
            total_tasks: 0,
            history_floor: 0,
            owner_lease: 0,
            owner_epoch: 0,
            orphaned_ms: None,
        }
    }

    fn task_with(id: &str, status: TaskStatus) -> TaskRecord {
        TaskRecord {
            workflow_id: "w".into(),
            id: id.into(),
            name: String::new(),
            kind: String::new(),
            status,
            agent_id: String::new(),
            dependencies: vec![],
            input: String::new(),
            output: String::new(),
            error: String::new(),
            attempts: 1,
            version: 1,
            mod_revision: 7,
            created_ms: 1_000,
            updated_ms: 1_000,
            started_ms: None,
            finished_ms: None,
            lease: 0,
            claim: 0,
            retry: Default::default(),
            ready_ms: 0,
        }
    }

    #[test]
    fn progress_counts_tasks_and_measures_duration() {
        let tasks = [
            task_with("a", TaskStatus::Completed),
            task_with("b", TaskStatus::Completed),
            task_with("c", TaskStatus::Failed),
            task_with("d", TaskStatus::Pending),
        ];
        let mut w = record();
        let p = progress(&w, &tasks, 4_000);
        assert_eq!((p.total, p.completed, p.failed, p.pending), (4, 2, 1, 1));
        assert_eq!(p.success_rate, Some(2.0 / 3.0));
        assert_eq!(p.duration_ms, 3_000, "running: up to now");
        w.finished_ms = Some(2_500);
        assert_eq!(progress(&w, &[], 9_000).duration_ms, 1_500, "finished");
        assert_eq!(progress(&w, &[], 9_000).success_rate, None);
    }
}
