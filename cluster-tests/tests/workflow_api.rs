//! The workflow API surface on real 3-node clusters, complementing `workflow.rs`: definition
//! reports and reads, generated ids, upsert, merge-patch details, history paging, forced
//! delete, all-or-nothing task batches, task version conflicts, and a replayed request (same
//! idempotency key) applied once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cairn_api::v1 as pb;
use cairn_api::v1::workflows_client::WorkflowsClient;
use cairn_client::serde_json::json;
use cairn_client::{
    Client, CreateWorkflow, Definition, Error, Target, TaskFilter, TaskSpec, TaskStatus,
    UpdateWorkflow,
};
use cairn_cluster_tests::Cluster;

fn client(cluster: &Cluster) -> Client {
    Client::connect(cluster.endpoints()).expect("client")
}

/// Seed 004's code-generation graph: VALIDATION_FAILED loops back to GENERATING_CODE.
fn codegen() -> Definition {
    Definition::new(
        "codegen",
        [
            "CREATED",
            "ANALYZING",
            "ANALYZED",
            "GENERATING_CODE",
            "CODE_GENERATED",
            "VALIDATING",
            "VALIDATION_PASSED",
            "VALIDATION_FAILED",
            "MANUAL_REVIEW",
            "COMPLETED",
            "FAILED",
            "ORPHAN",
        ],
        "CREATED",
        ["COMPLETED", "FAILED"],
    )
    .transition("CREATED", "ANALYZING")
    .transition("ANALYZING", "ANALYZED")
    .transition_on("ANALYZING", "FAILED", "fail")
    .transition("ANALYZED", "GENERATING_CODE")
    .transition("GENERATING_CODE", "CODE_GENERATED")
    .transition("CODE_GENERATED", "VALIDATING")
    .transition("VALIDATING", "VALIDATION_PASSED")
    .transition("VALIDATING", "VALIDATION_FAILED")
    .transition("VALIDATION_FAILED", "GENERATING_CODE")
    .transition("VALIDATION_FAILED", "MANUAL_REVIEW")
    .transition("VALIDATION_PASSED", "COMPLETED")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_are_validated_versioned_and_pinned_by_running_workflows() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client(&cluster);

    let reg = c.register_definition(&codegen()).await.unwrap();
    assert_eq!((reg.version, reg.created), (1, true));
    assert_eq!(reg.unreachable, ["ORPHAN"]);
    assert_eq!(reg.dead_ends, ["MANUAL_REVIEW", "ORPHAN"]);
    let again = c.register_definition(&codegen()).await.unwrap();
    assert_eq!(
        (again.version, again.created),
        (1, false),
        "identical: no-op"
    );

    let v1 = c
        .create_workflow(CreateWorkflow::new().id("gen-1").definition("codegen"))
        .await
        .unwrap()
        .workflow;
    assert_eq!(v1.status, "CREATED");

    // Version 2 adds MANUAL_REVIEW -> GENERATING_CODE; gen-1 keeps version 1's graph.
    let v2 = codegen().transition("MANUAL_REVIEW", "GENERATING_CODE");
    let reg2 = c.register_definition(&v2).await.unwrap();
    assert_eq!((reg2.version, reg2.created), (2, true));
    assert_eq!(reg2.dead_ends, ["ORPHAN"]);
    let gen2 = c
        .create_workflow(CreateWorkflow::new().id("gen-2").definition("codegen"))
        .await
        .unwrap();
    let d1 = c.workflow("gen-1", false).await.unwrap().unwrap().workflow;
    let d2 = c.workflow("gen-2", false).await.unwrap().unwrap().workflow;
    assert_eq!((d1.definition_version, d2.definition_version), (1, 2));
    assert_eq!(gen2.workflow.status, "CREATED");

    let latest = c.definition("codegen", None).await.unwrap().unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.definition, v2);
    assert_eq!(
        c.definition("codegen", Some(1))
            .await
            .unwrap()
            .unwrap()
            .definition,
        codegen()
    );
    assert!(c.definition("codegen", Some(3)).await.unwrap().is_none());
    let names: Vec<String> = c
        .definitions()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.definition.name)
        .collect();
    assert_eq!(names, ["codegen", "default"]);

    // Invalid: terminal state with an outgoing edge; unknown initial.
    let bad = codegen().transition("COMPLETED", "CREATED");
    assert!(matches!(
        c.register_definition(&bad).await,
        Err(Error::InvalidArgument(m)) if m.contains("terminal")
    ));
    let mut bad = codegen();
    bad.initial = "NOWHERE".into();
    assert!(matches!(
        c.register_definition(&bad).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.create_workflow(CreateWorkflow::new().definition("nope"))
            .await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_transitions_updates_history_and_delete() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client(&cluster);

    let gen_id = c
        .create_workflow(CreateWorkflow::new())
        .await
        .unwrap()
        .workflow
        .id;
    assert!(gen_id.starts_with("wf-"), "{gen_id}");

    let created = c
        .create_workflow(
            CreateWorkflow::new()
                .id("job-1")
                .namespace("team-a")
                .metadata(json!({"a": 1, "b": {"c": 2}}))
                .label("tier", "gold")
                .owner_id("runtime-7")
                .max_concurrent(3)
                .total_tasks(2)
                .actor("alice"),
        )
        .await
        .unwrap();
    assert!(created.created);
    let w = created.workflow;
    assert_eq!((w.status.as_str(), w.version), ("PENDING", 1));
    assert!(matches!(
        c.create_workflow(CreateWorkflow::new().id("job-1")).await,
        Err(Error::AlreadyExists(_))
    ));
    // Upsert replaces the data fields, never the status.
    let up = c
        .create_workflow(
            CreateWorkflow::new()
                .id("job-1")
                .namespace("team-a")
                .metadata(json!({"a": 1, "b": {"c": 2}}))
                .label("tier", "gold")
                .owner_id("runtime-7")
                .total_tasks(2)
                .upsert(true),
        )
        .await
        .unwrap();
    assert!(!up.created);
    assert_eq!(up.workflow.version, 2);

    // Illegal edge: typed, names current status and legal targets, changes nothing.
    match c
        .transition("job-1", Target::status("COMPLETED"), None, "bob", "")
        .await
    {
        Err(Error::IllegalTransition {
            current, allowed, ..
        }) => {
            assert_eq!(current, "PENDING");
            assert_eq!(allowed, ["RUNNING", "CANCELLED"]);
        }
        other => panic!("{other:?}"),
    }
    match c
        .transition("job-1", Target::event("start"), Some(1), "bob", "")
        .await
    {
        Err(Error::VersionConflict { current }) => assert_eq!(current, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.workflow("job-1", false)
            .await
            .unwrap()
            .unwrap()
            .workflow
            .version,
        2,
        "rejections change nothing"
    );

    let w = c
        .transition("job-1", Target::event("start"), Some(2), "bob", "go")
        .await
        .unwrap();
    assert_eq!((w.status.as_str(), w.version), ("RUNNING", 3));
    let w = c.pause_workflow("job-1").await.unwrap();
    assert_eq!(w.status, "PAUSED");
    let w = c.resume_workflow("job-1").await.unwrap();
    assert_eq!(w.status, "RUNNING");

    let w = c
        .update_workflow(
            "job-1",
            UpdateWorkflow::new()
                .expected_version(w.version)
                .metadata_patch(json!({"b": {"c": null, "d": 3}, "e": true}))
                .set_label("stage", "two")
                .remove_label("tier")
                .max_concurrent(5)
                .actor("carol")
                .reason("rebalance"),
        )
        .await
        .unwrap();
    assert_eq!(w.version, 6);
    let details = c.workflow("job-1", false).await.unwrap().unwrap();
    let rec = details.workflow;
    assert_eq!(rec.metadata, json!({"a": 1, "b": {"d": 3}, "e": true}));
    assert_eq!(
        rec.labels.into_iter().collect::<Vec<_>>(),
        [("stage".to_string(), "two".to_string())]
    );
    assert_eq!(
        (rec.namespace.as_str(), rec.owner_id.as_str()),
        ("team-a", "runtime-7")
    );
    assert_eq!((rec.max_concurrent, rec.total_tasks), (5, 2));
    assert!(rec.started_ms.is_some() && rec.finished_ms.is_none());
    assert!(matches!(
        c.update_workflow("job-1", UpdateWorkflow::new().expected_version(1))
            .await,
        Err(Error::VersionConflict { current: 6 })
    ));
    assert!(matches!(
        c.update_workflow("job-1", UpdateWorkflow::new().metadata_patch(json!([1, 2])))
            .await,
        Err(Error::InvalidArgument(_))
    ));

    // Not terminal: delete needs force.
    assert!(matches!(
        c.delete_workflow("job-1", false).await,
        Err(Error::FailedPrecondition(m)) if m.contains("RUNNING")
    ));
    let w = c
        .transition("job-1", Target::status("COMPLETED"), Some(6), "bob", "done")
        .await
        .unwrap();
    assert_eq!(w.version, 7);
    match c.pause_workflow("job-1").await {
        Err(Error::IllegalTransition { allowed, .. }) => assert!(allowed.is_empty()),
        other => panic!("{other:?}"),
    }

    // History: gap-free versions, from/to, event, actor, reason.
    let history = c.history_all("job-1").await.unwrap();
    let versions: Vec<u64> = history.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=7).collect::<Vec<_>>());
    let steps: Vec<(&str, &str, Option<&str>)> = history
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str(), e.event.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            ("", "PENDING", None),
            ("PENDING", "PENDING", None),
            ("PENDING", "RUNNING", Some("start")),
            ("RUNNING", "PAUSED", Some("pause")),
            ("PAUSED", "RUNNING", Some("resume")),
            ("RUNNING", "RUNNING", None),
            ("RUNNING", "COMPLETED", None),
        ]
    );
    assert_eq!(
        (history[0].actor.as_str(), history[5].reason.as_str()),
        ("alice", "rebalance")
    );
    assert!(history.windows(2).all(|w| w[0].revision < w[1].revision));
    let page = c.history("job-1", 3, 2).await.unwrap();
    assert_eq!(
        page.events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(page.next_version, Some(5));

    let deleted = c.delete_workflow("job-1", false).await.unwrap();
    assert_eq!(deleted.id, "job-1");
    assert!(c.workflow("job-1", false).await.unwrap().is_none());
    assert!(matches!(
        c.history("job-1", 1, 10).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        c.transition("job-1", Target::event("start"), None, "", "")
            .await,
        Err(Error::NotFound(_))
    ));
    // Forced delete of a running workflow.
    c.transition(&gen_id, Target::event("start"), None, "", "")
        .await
        .unwrap();
    c.delete_workflow(&gen_id, true).await.unwrap();
    assert!(c.workflow(&gen_id, false).await.unwrap().is_none());

    // Bad input never reaches the log.
    for bad in [
        CreateWorkflow::new().id("has space"),
        CreateWorkflow::new().metadata(json!("not an object")),
        CreateWorkflow::new().namespace("bad namespace"),
        (0..100).fold(CreateWorkflow::new(), |c, i| c.label(format!("k{i}"), "v")),
    ] {
        assert!(
            matches!(
                c.create_workflow(bad.clone()).await,
                Err(Error::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
}

/// Applies one raw upsert with the given task specs (for checks the typed client forbids).
async fn raw_upsert(
    cluster: &Cluster,
    workflow_id: &str,
    tasks: Vec<pb::TaskSpec>,
) -> tonic::Status {
    let mut raw = WorkflowsClient::connect(format!("http://{}", cluster.node(1).client_addr))
        .await
        .unwrap();
    raw.upsert_tasks(pb::UpsertTasksRequest {
        header: None,
        workflow_id: workflow_id.into(),
        tasks,
        fence: None,
    })
    .await
    .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_follow_dependencies_and_upserts_are_atomic() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client(&cluster);
    c.create_workflow(CreateWorkflow::new().id("dag"))
        .await
        .unwrap();
    let written = c
        .upsert_tasks(
            "dag",
            [
                TaskSpec::new("a")
                    .name("extract")
                    .input(json!({"src": "s3"})),
                TaskSpec::new("b").depends_on(["a"]),
                TaskSpec::new("c").depends_on(["a"]),
                TaskSpec::new("d").depends_on(["b", "c"]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(written.tasks.len(), 4);
    let ids = |ts: Vec<cairn_client::Task>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(c.ready_tasks("dag").await.unwrap()), ["a"]);

    // Cycle, unknown and self dependencies, duplicates: rejected, nothing written.
    for bad in [
        vec![TaskSpec::new("a").depends_on(["d"])],
        vec![TaskSpec::new("e").depends_on(["zz"])],
        vec![TaskSpec::new("e").depends_on(["e"])],
        vec![TaskSpec::new("e"), TaskSpec::new("e")],
    ] {
        assert!(
            matches!(
                c.upsert_tasks("dag", bad.clone()).await,
                Err(Error::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    let s = raw_upsert(
        &cluster,
        "dag",
        vec![pb::TaskSpec {
            id: "a".into(),
            status: Some("DONE".into()),
            ..Default::default()
        }],
    )
    .await;
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert_eq!(
        c.tasks("dag", &TaskFilter::default()).await.unwrap().len(),
        4
    );

    // b cannot start before a completed; in a batch with a valid change, neither applies.
    let e = c
        .upsert_tasks(
            "dag",
            [
                TaskSpec::new("a").status(TaskStatus::Running),
                TaskSpec::new("b").status(TaskStatus::Running),
            ],
        )
        .await;
    assert!(matches!(e, Err(Error::FailedPrecondition(m)) if m.contains("dependencies")));
    let running = c
        .tasks("dag", &TaskFilter::default().status(TaskStatus::Running))
        .await
        .unwrap();
    assert!(running.is_empty(), "all or nothing: {running:?}");

    // Run a, fail it, retry it: attempts count runs.
    c.upsert_tasks(
        "dag",
        [TaskSpec::new("a")
            .status(TaskStatus::Running)
            .agent_id("ag-1")],
    )
    .await
    .unwrap();
    c.upsert_tasks(
        "dag",
        [TaskSpec::new("a")
            .status(TaskStatus::Failed)
            .error(json!({"msg": "oom"}))],
    )
    .await
    .unwrap();
    match c
        .upsert_tasks("dag", [TaskSpec::new("a").status(TaskStatus::Completed)])
        .await
    {
        Err(Error::IllegalTransition {
            current, allowed, ..
        }) => {
            assert_eq!(current, "FAILED");
            assert_eq!(allowed, ["PENDING"]);
        }
        other => panic!("{other:?}"),
    }
    c.upsert_tasks("dag", [TaskSpec::new("a").status(TaskStatus::Pending)])
        .await
        .unwrap();
    let a = c
        .upsert_tasks("dag", [TaskSpec::new("a").status(TaskStatus::Running)])
        .await
        .unwrap()
        .tasks
        .remove(0);
    assert_eq!(a.attempts, 2);
    // Optimistic concurrency on tasks.
    assert!(matches!(
        c.upsert_tasks(
            "dag",
            [TaskSpec::new("a").status(TaskStatus::Completed).expected_version(a.version - 1)]
        )
        .await,
        Err(Error::VersionConflict { current }) if current == a.version
    ));
    c.upsert_tasks(
        "dag",
        [TaskSpec::new("a")
            .status(TaskStatus::Completed)
            .output(json!({"rows": 10}))
            .expected_version(a.version)],
    )
    .await
    .unwrap();
    assert_eq!(ids(c.ready_tasks("dag").await.unwrap()), ["b", "c"]);
    c.upsert_tasks(
        "dag",
        [
            TaskSpec::new("b").status(TaskStatus::Running),
            TaskSpec::new("c").status(TaskStatus::Running),
        ],
    )
    .await
    .unwrap();
    c.upsert_tasks(
        "dag",
        [
            TaskSpec::new("b").status(TaskStatus::Completed),
            TaskSpec::new("c").status(TaskStatus::Failed),
        ],
    )
    .await
    .unwrap();
    assert!(
        c.ready_tasks("dag").await.unwrap().is_empty(),
        "d waits on c"
    );

    let d = c.workflow("dag", true).await.unwrap().unwrap();
    let p = d.progress;
    assert_eq!((p.total, p.completed, p.failed, p.pending), (4, 2, 1, 1));
    assert_eq!(p.success_rate, Some(2.0 / 3.0));
    let a = d.tasks.iter().find(|t| t.id == "a").unwrap();
    assert_eq!(a.output, Some(json!({"rows": 10})));
    assert_eq!(a.input, Some(json!({"src": "s3"})));
    assert_eq!((a.name.as_str(), a.agent_id.as_str()), ("extract", "ag-1"));
    assert!(a.finished_ms.is_some());

    // A finished workflow's tasks are frozen.
    c.cancel_workflow("dag", "enough").await.unwrap();
    assert!(matches!(
        c.upsert_tasks("dag", [TaskSpec::new("d").status(TaskStatus::Skipped)]).await,
        Err(Error::FailedPrecondition(m)) if m.contains("CANCELLED")
    ));
    assert!(matches!(
        c.upsert_tasks("nope", [TaskSpec::new("x")]).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        c.tasks("nope", &TaskFilter::default()).await,
        Err(Error::NotFound(_))
    ));
}

/// A retried write (same idempotency key) is applied once: the second answer is the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_transition_is_applied_once() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client(&cluster);
    c.create_workflow(CreateWorkflow::new().id("once"))
        .await
        .unwrap();
    let mut raw = WorkflowsClient::connect(format!("http://{}", cluster.node(2).client_addr))
        .await
        .unwrap();
    let req = pb::TransitionWorkflowRequest {
        header: Some(pb::RequestHeader {
            client_id: "dup-test".into(),
            sequence: 1,
            first_incomplete: 1,
        }),
        id: "once".into(),
        target: Some(pb::transition_workflow_request::Target::Event(
            "start".into(),
        )),
        expected_version: None,
        actor: String::new(),
        reason: String::new(),
        fence: None,
    };
    let first = raw
        .transition_workflow(req.clone())
        .await
        .unwrap()
        .into_inner();
    let again = raw.transition_workflow(req).await.unwrap().into_inner();
    assert_eq!(first, again);
    let w = c.workflow("once", false).await.unwrap().unwrap().workflow;
    assert_eq!((w.status.as_str(), w.version), ("RUNNING", 2));
}
