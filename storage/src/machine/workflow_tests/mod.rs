//! Workflow apply semantics: definitions and versions, legal transitions, optimistic
//! concurrency, history, indexes behind list/count, tasks and their graph, delete and purge.
//! Rejections must leave the state byte-identical.

use std::collections::BTreeMap;

use cairn_model::command::{Command, CommandError, Response};
use cairn_model::workflow::command::{
    CreateWorkflow, TaskSpec, TransitionWorkflow, UpdateWorkflow, UpsertTasks,
};
use cairn_model::workflow::query::{ListQuery, SortBy};
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{
    Definition, Target, TaskError, TaskStatus, Transition, WorkflowCommand, WorkflowError,
    WorkflowReply,
};

use crate::StateMachineStore;
use crate::keyspace::Space;
use crate::test_util::{Dump, normal, req, temp_store};

mod lifecycle;
mod limits;
mod tasks;

/// Applies commands one entry each, numbering entries after the store's applied index.
struct Harness {
    sm: StateMachineStore,
    _dir: tempfile::TempDir,
    next: u64,
}

impl Harness {
    async fn new() -> Self {
        let (dir, _log, sm) = temp_store().await;
        Self {
            sm,
            _dir: dir,
            next: 1,
        }
    }

    fn apply(&mut self, cmd: WorkflowCommand) -> Result<WorkflowReply, WorkflowError> {
        let index = self.next;
        self.next += 1;
        let time = 1000 * index;
        let r = self
            .sm
            .apply_batch(&[normal(index, req(Command::Workflow(cmd), time, None))])
            .unwrap();
        match r.into_iter().next().unwrap() {
            Response::Workflow { revision, reply } => {
                assert_eq!(revision, index);
                Ok(reply)
            }
            Response::Rejected(CommandError::Workflow(e)) => Err(e),
            other => panic!("unexpected response {other:?}"),
        }
    }

    fn create(&mut self, id: &str, def: &str, labels: &[(&str, &str)]) -> WorkflowReply {
        self.apply(create_cmd(id, def, labels)).unwrap()
    }

    fn transition(
        &mut self,
        id: &str,
        target: Target,
        expected: Option<u64>,
    ) -> Result<WorkflowReply, WorkflowError> {
        self.apply(WorkflowCommand::Transition(TransitionWorkflow {
            id: id.into(),
            target,
            expected_version: expected,
            actor: "tester".into(),
            reason: "because".into(),
        }))
    }

    /// Workflow-space contents only (bookkeeping such as last_applied moves on rejections).
    fn workflow_state(&self) -> Dump {
        self.sm
            .dump()
            .into_iter()
            .filter(|(space, _, _)| {
                ![
                    Space::Meta as u8,
                    Space::Sessions as u8,
                    Space::SessionExpiry as u8,
                ]
                .contains(space)
            })
            .collect()
    }
}

fn create_cmd(id: &str, def: &str, labels: &[(&str, &str)]) -> WorkflowCommand {
    WorkflowCommand::Create(Box::new(CreateWorkflow {
        id: Some(id.into()),
        namespace: "ns".into(),
        definition: def.into(),
        definition_version: None,
        metadata: r#"{"a":1}"#.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        owner_id: "runtime-1".into(),
        routing_strategy: "semantic".into(),
        max_concurrent: 4,
        total_tasks: 3,
        upsert: false,
        actor: "tester".into(),
    }))
}

fn status(s: &str) -> Target {
    Target::Status(s.into())
}

fn ev(s: &str) -> Target {
    Target::Event(s.into())
}

fn version_of(r: &WorkflowReply) -> u64 {
    match r {
        WorkflowReply::Workflow { workflow, .. } => workflow.version,
        other => panic!("not a workflow reply: {other:?}"),
    }
}

fn spec(id: &str, status: Option<TaskStatus>, deps: &[&str]) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        status,
        dependencies: (!deps.is_empty()).then(|| deps.iter().map(|d| d.to_string()).collect()),
        ..TaskSpec::default()
    }
}

fn upsert(wf: &str, tasks: Vec<TaskSpec>) -> WorkflowCommand {
    WorkflowCommand::UpsertTasks(Box::new(UpsertTasks {
        workflow_id: wf.into(),
        tasks,
    }))
}

#[tokio::test]
async fn create_transition_and_history() {
    let mut h = Harness::new().await;
    let r = h.create("wf1", "default", &[]);
    assert_eq!(version_of(&r), 1);
    assert!(matches!(r, WorkflowReply::Workflow { created: true, .. }));
    assert_eq!(
        h.apply(create_cmd("wf1", "default", &[])),
        Err(WorkflowError::AlreadyExists("wf1".into()))
    );
    assert_eq!(
        version_of(&h.transition("wf1", ev("start"), Some(1)).unwrap()),
        2
    );
    assert_eq!(
        version_of(&h.transition("wf1", status("PAUSED"), None).unwrap()),
        3
    );
    h.transition("wf1", ev("resume"), Some(3)).unwrap();
    h.transition("wf1", ev("finish"), Some(4)).unwrap();

    let rec = h.sm.workflow_reader().workflow("wf1").unwrap().unwrap();
    assert_eq!(rec.status, "COMPLETED");
    assert_eq!(rec.version, 5);
    assert_eq!(rec.started_ms, Some(3000));
    assert_eq!(rec.finished_ms, Some(6000));
    let history = h.sm.workflow_reader().history("wf1", 1, 100).unwrap();
    let steps: Vec<_> = history
        .events
        .iter()
        .map(|e| {
            (
                e.version,
                e.kind,
                e.from.as_str(),
                e.to.as_str(),
                e.event.as_str(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, HistoryKind::Created, "", "PENDING", ""),
            (2, HistoryKind::Transition, "PENDING", "RUNNING", "start"),
            (3, HistoryKind::Transition, "RUNNING", "PAUSED", ""),
            (4, HistoryKind::Transition, "PAUSED", "RUNNING", "resume"),
            (5, HistoryKind::Transition, "RUNNING", "COMPLETED", "finish"),
        ]
    );
    assert!(history.events.iter().all(|e| e.actor == "tester"));
    assert_eq!(history.next_version, None);
    let page = h.sm.workflow_reader().history("wf1", 2, 2).unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.next_version, Some(4));
}

#[tokio::test]
async fn rejections_name_the_reason_and_write_nothing() {
    let mut h = Harness::new().await;
    h.create("wf1", "default", &[]);
    let before = h.workflow_state();
    match h.transition("wf1", status("COMPLETED"), None) {
        Err(WorkflowError::IllegalTransition { id, error }) => {
            assert_eq!(id, "wf1");
            assert_eq!(error.current, "PENDING");
            assert_eq!(error.allowed, vec!["RUNNING", "CANCELLED"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.transition("wf1", ev("start"), Some(7)),
        Err(WorkflowError::VersionConflict {
            id: "wf1".into(),
            expected: 7,
            current: 1
        })
    );
    assert_eq!(
        h.transition("nope", ev("start"), None),
        Err(WorkflowError::NotFound("nope".into()))
    );
    assert!(matches!(
        h.apply(create_cmd("wf2", "no-such-def", &[])),
        Err(WorkflowError::UnknownDefinition { .. })
    ));
    assert_eq!(
        h.apply(WorkflowCommand::Delete {
            id: "wf1".into(),
            force: false
        }),
        Err(WorkflowError::NotTerminal {
            id: "wf1".into(),
            status: "PENDING".into()
        })
    );
    let tasks = |specs: Vec<TaskSpec>| {
        WorkflowCommand::UpsertTasks(Box::new(UpsertTasks {
            workflow_id: "wf1".into(),
            tasks: specs,
        }))
    };
    let task = |id: &str, deps: &[&str]| TaskSpec {
        id: id.into(),
        dependencies: Some(deps.iter().map(|d| d.to_string()).collect()),
        ..TaskSpec::default()
    };
    // A cycle anywhere rejects the whole batch, including its valid tasks.
    assert!(matches!(
        h.apply(tasks(vec![
            task("a", &[]),
            task("b", &["c"]),
            task("c", &["b"])
        ])),
        Err(WorkflowError::Task {
            error: TaskError::Cycle(_),
            ..
        })
    ));
    assert!(matches!(
        h.apply(tasks(vec![task("a", &["ghost"])])),
        Err(WorkflowError::Task {
            error: TaskError::UnknownDependency { .. },
            ..
        })
    ));
    let patch = |p: &str| {
        WorkflowCommand::Update(Box::new(UpdateWorkflow {
            id: "wf1".into(),
            metadata_patch: Some(p.into()),
            ..UpdateWorkflow::default()
        }))
    };
    let huge = format!(r#"{{"blob":"{}"}}"#, "x".repeat(1024 * 1024));
    assert!(matches!(
        h.apply(patch(&huge)),
        Err(WorkflowError::Limit(_))
    ));
    assert_eq!(before, h.workflow_state());
}

#[tokio::test]
async fn definitions_are_versioned_and_workflows_keep_theirs() {
    let mut h = Harness::new().await;
    let edge = |from: &str, to: &str| Transition {
        from: from.into(),
        to: to.into(),
        event: None,
    };
    // Seed 004's code-generation graph, with its validation-failure loop.
    let mut def = Definition {
        name: "codegen".into(),
        states: [
            "CREATED",
            "ANALYZING",
            "VALIDATION_FAILED",
            "GENERATING_CODE",
            "DONE",
        ]
        .map(String::from)
        .to_vec(),
        initial: "CREATED".into(),
        terminal: vec!["DONE".into()],
        transitions: vec![
            edge("CREATED", "ANALYZING"),
            edge("ANALYZING", "VALIDATION_FAILED"),
            edge("VALIDATION_FAILED", "GENERATING_CODE"),
            edge("ANALYZING", "GENERATING_CODE"),
            edge("GENERATING_CODE", "DONE"),
        ],
    };
    let reg =
        |h: &mut Harness, d: &Definition| h.apply(WorkflowCommand::RegisterDefinition(d.clone()));
    let v1 = WorkflowReply::Definition {
        name: "codegen".into(),
        version: 1,
        created: true,
    };
    assert_eq!(reg(&mut h, &def), Ok(v1));
    assert!(matches!(
        reg(&mut h, &def),
        Ok(WorkflowReply::Definition {
            version: 1,
            created: false,
            ..
        })
    ));
    h.create("old", "codegen", &[]);
    def.transitions.push(edge("CREATED", "DONE"));
    assert!(matches!(
        reg(&mut h, &def),
        Ok(WorkflowReply::Definition {
            version: 2,
            created: true,
            ..
        })
    ));
    h.create("new", "codegen", &[]);
    // The shortcut exists only in version 2.
    assert!(matches!(
        h.transition("old", status("DONE"), None),
        Err(WorkflowError::IllegalTransition { .. })
    ));
    h.transition("new", status("DONE"), None).unwrap();
    h.transition("old", status("ANALYZING"), None).unwrap();
    h.transition("old", status("VALIDATION_FAILED"), None)
        .unwrap();
    h.transition("old", status("GENERATING_CODE"), None)
        .unwrap();

    def.terminal.push("CREATED".into());
    assert!(matches!(
        reg(&mut h, &def),
        Err(WorkflowError::InvalidDefinition(_))
    ));
    let reader = h.sm.workflow_reader();
    assert_eq!(reader.definition("codegen", None).unwrap().unwrap().0, 2);
    assert_eq!(reader.definition("default", None).unwrap().unwrap().0, 1);
    let names: Vec<_> = reader
        .definitions()
        .unwrap()
        .into_iter()
        .map(|(v, d)| (d.name, v))
        .collect();
    assert_eq!(names, vec![("codegen".into(), 2), ("default".into(), 1)]);
}

#[tokio::test]
async fn list_and_count_use_indexes_with_filters_and_cursors() {
    let mut h = Harness::new().await;
    for i in 0..10 {
        let team = if i % 2 == 0 { "red" } else { "blue" };
        h.create(&format!("w{i}"), "default", &[("team", team)]);
    }
    for i in [1, 3, 5] {
        h.transition(&format!("w{i}"), ev("start"), None).unwrap();
    }
    h.transition("w5", ev("finish"), None).unwrap();
    let reader = h.sm.workflow_reader();
    let q = |statuses: &[&str]| ListQuery {
        namespace: "ns".into(),
        statuses: statuses.iter().map(|s| s.to_string()).collect(),
        ..ListQuery::default()
    };
    let ids = |page: &cairn_model::workflow::query::ListPage| {
        page.workflows
            .iter()
            .map(|w| w.id.clone())
            .collect::<Vec<_>>()
    };
    // "Active" = PENDING | RUNNING, by creation time across both statuses.
    let active = q(&["PENDING", "RUNNING"]);
    let page = reader.list(&active).unwrap();
    assert_eq!(
        ids(&page),
        ["w0", "w1", "w2", "w3", "w4", "w6", "w7", "w8", "w9"]
    );
    assert_eq!(reader.count(&active).unwrap(), 9);
    assert_eq!(reader.count(&q(&["COMPLETED"])).unwrap(), 1);
    assert_eq!(reader.count(&q(&[])).unwrap(), 10);

    // Pages of 4, forwards then backwards, cover everything once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = reader
            .list(&ListQuery {
                limit: 4,
                cursor: cursor.clone(),
                ..active.clone()
            })
            .unwrap();
        seen.extend(ids(&page));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids(&reader.list(&active).unwrap()));
    let desc = reader
        .list(&ListQuery {
            descending: true,
            limit: 3,
            ..active.clone()
        })
        .unwrap();
    assert_eq!(ids(&desc), ["w9", "w8", "w7"]);
    let desc2 = reader
        .list(&ListQuery {
            descending: true,
            limit: 3,
            cursor: desc.next_cursor.clone(),
            ..active.clone()
        })
        .unwrap();
    assert_eq!(ids(&desc2), ["w6", "w4", "w3"]);

    // Labels filter; sort by last change puts the transitioned ones last.
    let red_running = ListQuery {
        labels: BTreeMap::from([("team".to_string(), "blue".to_string())]),
        sort: SortBy::Updated,
        ..q(&["RUNNING", "PENDING"])
    };
    assert_eq!(
        ids(&reader.list(&red_running).unwrap()),
        ["w7", "w9", "w1", "w3"]
    );
    assert_eq!(reader.count(&red_running).unwrap(), 4);
    assert!(matches!(
        reader.list(&ListQuery {
            cursor: Some(vec![1, 2]),
            ..active
        }),
        Err(crate::StorageError::InvalidCursor)
    ));
}

#[tokio::test]
async fn update_patches_metadata_and_labels() {
    let mut h = Harness::new().await;
    h.create("wf", "default", &[("a", "1"), ("b", "2")]);
    let r = h
        .apply(WorkflowCommand::Update(Box::new(UpdateWorkflow {
            id: "wf".into(),
            expected_version: Some(1),
            metadata_patch: Some(r#"{"a":null,"b":{"c":2}}"#.into()),
            set_labels: BTreeMap::from([("c".into(), "3".into())]),
            remove_labels: vec!["a".into()],
            total_tasks: Some(9),
            ..UpdateWorkflow::default()
        })))
        .unwrap();
    assert_eq!(version_of(&r), 2);
    let rec = h.sm.workflow_reader().workflow("wf").unwrap().unwrap();
    assert_eq!(rec.metadata, r#"{"b":{"c":2}}"#);
    assert_eq!(rec.labels.keys().collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(rec.total_tasks, 9);
    assert_eq!(rec.status, "PENDING");

    let mut upsert = create_cmd("wf", "default", &[]);
    if let WorkflowCommand::Create(c) = &mut upsert {
        c.upsert = true;
        c.metadata = r#"{"fresh":true}"#.into();
    }
    assert!(matches!(
        h.apply(upsert),
        Ok(WorkflowReply::Workflow { created: false, .. })
    ));
    let rec = h.sm.workflow_reader().workflow("wf").unwrap().unwrap();
    assert_eq!(
        (rec.version, rec.metadata.as_str()),
        (3, r#"{"fresh":true}"#)
    );
}
