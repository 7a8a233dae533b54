//! Workflow layer on real 3-node clusters, through the client crate: definitions, legal
//! transitions, optimistic concurrency under a 64-client race, history, tasks with
//! dependencies, list queries, delete, retention, and typed errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cairn_client::serde_json::json;
use cairn_client::{
    Client, CreateWorkflow, Definition, Error, HistoryKind, ListOptions, SortBy, Target,
    TaskFilter, TaskSpec, TaskStatus, UpdateWorkflow,
};
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};

fn client_for(cluster: &Cluster, ids: &[u64]) -> Client {
    let eps: Vec<String> = ids
        .iter()
        .map(|i| cluster.node(*i).client_addr.clone())
        .collect();
    Client::connect(eps).expect("client")
}

/// Seed 004's code-generation graph, including its validation-failure loop.
fn codegen() -> Definition {
    Definition::new(
        "codegen",
        [
            "CREATED",
            "ANALYZING",
            "VALIDATION_FAILED",
            "GENERATING_CODE",
            "DONE",
            "ABANDONED",
        ],
        "CREATED",
        ["DONE", "ABANDONED"],
    )
    .transition_on("CREATED", "ANALYZING", "analyze")
    .transition("ANALYZING", "VALIDATION_FAILED")
    .transition("ANALYZING", "GENERATING_CODE")
    .transition("VALIDATION_FAILED", "GENERATING_CODE")
    .transition("VALIDATION_FAILED", "ABANDONED")
    .transition_on("GENERATING_CODE", "DONE", "finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rules_and_history_through_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);

    let reg = c.register_definition(&codegen()).await.unwrap();
    assert_eq!((reg.version, reg.created), (1, true));
    assert_eq!(
        c.register_definition(&codegen()).await.unwrap().version,
        1,
        "an identical definition is not a new version"
    );
    let created = c
        .create_workflow(
            CreateWorkflow::new()
                .id("gen-1")
                .namespace("team-a")
                .definition("codegen")
                .metadata(json!({"repo": "cairn", "attempt": 1}))
                .label("priority", "high")
                .owner_id("runtime-7")
                .routing_strategy("semantic")
                .max_concurrent(4)
                .total_tasks(3)
                .actor("orchestrator"),
        )
        .await
        .unwrap();
    assert_eq!(created.workflow.status, "CREATED");
    assert_eq!(created.workflow.version, 1);

    // A changed definition is version 2; the running workflow keeps version 1.
    let v2 = c
        .register_definition(&codegen().transition("CREATED", "DONE"))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    match c
        .transition("gen-1", Target::status("DONE"), None, "me", "skip ahead")
        .await
    {
        Err(Error::IllegalTransition {
            current, allowed, ..
        }) => {
            assert_eq!(current, "CREATED");
            assert_eq!(allowed, vec!["ANALYZING"]);
        }
        other => panic!("expected IllegalTransition, got {other:?}"),
    }

    let r = c
        .transition("gen-1", Target::event("analyze"), Some(1), "me", "go")
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.version), ("ANALYZING", 2));
    match c
        .transition(
            "gen-1",
            Target::status("VALIDATION_FAILED"),
            Some(1),
            "me",
            "",
        )
        .await
    {
        Err(Error::VersionConflict { current }) => assert_eq!(current, 2),
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    for (target, version) in [("VALIDATION_FAILED", 2), ("GENERATING_CODE", 3)] {
        c.transition(
            "gen-1",
            Target::status(target),
            Some(version),
            "agent",
            "loop",
        )
        .await
        .unwrap();
    }
    c.update_workflow(
        "gen-1",
        UpdateWorkflow::new()
            .expected_version(4)
            .metadata_patch(json!({"attempt": 2, "repo": null})),
    )
    .await
    .unwrap();

    // Every node answers linearizably with the same record.
    for id in 1..=3 {
        let w = client_for(&cluster, &[id])
            .workflow("gen-1", false)
            .await
            .unwrap()
            .expect("present");
        assert_eq!(w.workflow.status, "GENERATING_CODE", "node {id}");
        assert_eq!(w.workflow.version, 5);
        assert_eq!(w.workflow.definition_version, 1);
        assert_eq!(w.workflow.metadata, json!({"attempt": 2}));
        assert_eq!(w.workflow.owner_id, "runtime-7");
    }

    c.transition("gen-1", Target::event("finish"), None, "agent", "done")
        .await
        .unwrap();
    let history = c.history_all("gen-1").await.unwrap();
    let steps: Vec<_> = history
        .iter()
        .map(|e| (e.version, e.kind, e.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, HistoryKind::Created, "CREATED"),
            (2, HistoryKind::Transition, "ANALYZING"),
            (3, HistoryKind::Transition, "VALIDATION_FAILED"),
            (4, HistoryKind::Transition, "GENERATING_CODE"),
            (5, HistoryKind::Updated, "GENERATING_CODE"),
            (6, HistoryKind::Transition, "DONE"),
        ]
    );
    assert_eq!(history[5].event.as_deref(), Some("finish"));
    assert_eq!(history[2].actor, "agent");
    assert_eq!(history[2].reason, "loop");
    let page = c.history("gen-1", 3, 2).await.unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.next_version, Some(5));

    // Create of an existing id fails unless upsert; upsert keeps the status.
    let again = CreateWorkflow::new()
        .id("gen-1")
        .namespace("team-a")
        .definition("codegen");
    assert!(matches!(
        c.create_workflow(again.clone()).await,
        Err(Error::AlreadyExists(_))
    ));
    let up = c
        .create_workflow(again.upsert(true).metadata(json!({"fresh": true})))
        .await
        .unwrap();
    assert!(!up.created);
    assert_eq!(
        (up.workflow.status.as_str(), up.workflow.version),
        ("DONE", 7)
    );

    // Default definition: pause/resume/cancel are events; delete needs a terminal status.
    let w = c
        .create_workflow(CreateWorkflow::new().id("plain"))
        .await
        .unwrap();
    assert_eq!(w.workflow.status, "PENDING");
    c.transition("plain", Target::event("start"), None, "", "")
        .await
        .unwrap();
    c.pause_workflow("plain").await.unwrap();
    c.resume_workflow("plain").await.unwrap();
    assert!(matches!(
        c.delete_workflow("plain", false).await,
        Err(Error::FailedPrecondition(_))
    ));
    c.cancel_workflow("plain", "operator").await.unwrap();
    c.delete_workflow("plain", false).await.unwrap();
    assert!(c.workflow("plain", false).await.unwrap().is_none());
    assert!(matches!(
        c.transition("plain", Target::event("start"), None, "", "")
            .await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_respect_dependencies_retries_and_terminal_workflows() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[2]);
    c.create_workflow(CreateWorkflow::new().id("wf").total_tasks(4))
        .await
        .unwrap();
    c.transition("wf", Target::event("start"), None, "", "")
        .await
        .unwrap();
    // a -> (b, c) -> d, created in one atomic write.
    let r = c
        .upsert_tasks(
            "wf",
            vec![
                TaskSpec::new("a").kind("fetch").input(json!({"url": "x"})),
                TaskSpec::new("b").depends_on(["a"]),
                TaskSpec::new("c").depends_on(["a"]),
                TaskSpec::new("d").depends_on(["b", "c"]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.tasks.len(), 4);

    // A cycle rejects the whole batch: e is not created either.
    let cyc = c
        .upsert_tasks(
            "wf",
            vec![TaskSpec::new("e"), TaskSpec::new("a").depends_on(["d"])],
        )
        .await;
    assert!(matches!(cyc, Err(Error::InvalidArgument(_))), "{cyc:?}");
    let ids = |ts: Vec<cairn_client::Task>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(c.tasks("wf", &TaskFilter::default()).await.unwrap()),
        ["a", "b", "c", "d"]
    );

    let start_d = c
        .upsert_tasks("wf", vec![TaskSpec::new("d").status(TaskStatus::Running)])
        .await;
    assert!(
        matches!(start_d, Err(Error::FailedPrecondition(_))),
        "{start_d:?}"
    );
    assert_eq!(ids(c.ready_tasks("wf").await.unwrap()), ["a"]);

    // a fails once and is retried: attempt 2 completes.
    for s in [
        TaskStatus::Running,
        TaskStatus::Failed,
        TaskStatus::Pending,
        TaskStatus::Running,
    ] {
        c.upsert_tasks("wf", vec![TaskSpec::new("a").status(s).agent_id("agent-1")])
            .await
            .unwrap();
    }
    let done = c
        .upsert_tasks(
            "wf",
            vec![
                TaskSpec::new("a")
                    .status(TaskStatus::Completed)
                    .output(json!({"ok": true})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(done.tasks[0].attempts, 2);
    assert_eq!(ids(c.ready_tasks("wf").await.unwrap()), ["b", "c"]);
    let illegal = c
        .upsert_tasks("wf", vec![TaskSpec::new("a").status(TaskStatus::Running)])
        .await;
    assert!(
        matches!(illegal, Err(Error::IllegalTransition { .. })),
        "{illegal:?}"
    );

    c.upsert_tasks(
        "wf",
        vec![
            TaskSpec::new("b").status(TaskStatus::Running),
            TaskSpec::new("c").status(TaskStatus::Running),
        ],
    )
    .await
    .unwrap();
    c.upsert_tasks("wf", vec![TaskSpec::new("b").status(TaskStatus::Completed)])
        .await
        .unwrap();
    c.upsert_tasks("wf", vec![TaskSpec::new("c").status(TaskStatus::Failed)])
        .await
        .unwrap();
    let details = c.workflow("wf", true).await.unwrap().unwrap();
    assert_eq!(details.tasks.len(), 4);
    let p = details.progress;
    assert_eq!((p.total, p.completed, p.failed, p.pending), (4, 2, 1, 1));
    assert_eq!(p.success_rate, Some(2.0 / 3.0));
    let running = c
        .tasks("wf", &TaskFilter::default().status(TaskStatus::Failed))
        .await
        .unwrap();
    assert_eq!(ids(running), ["c"]);

    // Once the workflow is terminal its tasks are frozen.
    c.transition("wf", Target::event("fail"), None, "", "c failed")
        .await
        .unwrap();
    let frozen = c
        .upsert_tasks("wf", vec![TaskSpec::new("d").status(TaskStatus::Skipped)])
        .await;
    assert!(
        matches!(frozen, Err(Error::FailedPrecondition(_))),
        "{frozen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queries_filter_sort_page_and_count() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    for i in 0..12 {
        let team = if i % 3 == 0 { "red" } else { "blue" };
        c.create_workflow(
            CreateWorkflow::new()
                .id(format!("w{i:02}"))
                .namespace("jobs")
                .label("team", team),
        )
        .await
        .unwrap();
    }
    c.create_workflow(CreateWorkflow::new().id("elsewhere").namespace("other"))
        .await
        .unwrap();
    for i in [1, 4, 7] {
        c.transition(&format!("w{i:02}"), Target::event("start"), None, "", "")
            .await
            .unwrap();
    }
    c.cancel_workflow("w02", "").await.unwrap();

    let active = ListOptions::new()
        .namespace("jobs")
        .status("PENDING")
        .status("RUNNING");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = c
            .list_workflows(&active.clone().limit(4).cursor(cursor).with_count())
            .await
            .unwrap();
        assert_eq!(page.count, Some(11));
        seen.extend(page.workflows.into_iter().map(|w| w.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..12)
        .filter(|i| *i != 2)
        .map(|i| format!("w{i:02}"))
        .collect();
    assert_eq!(seen, expected, "creation order, each once, across pages");
    assert_eq!(c.count_workflows(&active).await.unwrap(), 11);
    assert_eq!(
        c.count_workflows(&ListOptions::new().namespace("jobs").status("RUNNING"))
            .await
            .unwrap(),
        3
    );

    let red_recent = c
        .list_workflows(
            &ListOptions::new()
                .namespace("jobs")
                .label("team", "red")
                .sort(SortBy::Updated, true)
                .limit(2),
        )
        .await
        .unwrap();
    let got: Vec<_> = red_recent.workflows.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(got, ["w09", "w06"], "red ones by last change, newest first");
    let bad = c
        .list_workflows(&ListOptions::new().cursor(Some(vec![1, 2, 3])))
        .await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
}

/// 64 clients race to move one workflow back and forth with expected versions: each version
/// is won by exactly one of them, and the history is exactly the winners, gap-free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transitions_one_winner_per_version_and_identical_replicas() {
    const CLIENTS: usize = 64;
    const ROUNDS: usize = 6;
    let cluster = Cluster::start(3).await.unwrap();
    let setup = client_for(&cluster, &[1, 2, 3]);
    let pingpong = Definition::new("pingpong", ["PING", "PONG"], "PING", Vec::<String>::new())
        .transition("PING", "PONG")
        .transition("PONG", "PING");
    setup.register_definition(&pingpong).await.unwrap();
    setup
        .create_workflow(CreateWorkflow::new().id("hot").definition("pingpong"))
        .await
        .unwrap();

    let endpoints = Arc::new(cluster.endpoints());
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let endpoints = endpoints.clone();
        tasks.push(tokio::spawn(async move {
            let c = Client::connect(endpoints.to_vec()).unwrap();
            let actor = format!("client-{n}");
            let (mut wins, mut conflicts) = (Vec::new(), 0u32);
            for _ in 0..ROUNDS {
                let w = c.workflow("hot", false).await.unwrap().unwrap().workflow;
                let to = if w.status == "PING" { "PONG" } else { "PING" };
                match c
                    .transition("hot", Target::status(to), Some(w.version), &actor, "race")
                    .await
                {
                    Ok(r) => {
                        assert_eq!(r.version, w.version + 1);
                        wins.push(r.version);
                    }
                    Err(Error::VersionConflict { current }) => {
                        assert!(current > w.version);
                        conflicts += 1;
                    }
                    Err(e) => panic!("{actor}: unexpected {e:?}"),
                }
            }
            (actor, wins, conflicts)
        }));
    }
    let mut winners = std::collections::BTreeMap::new();
    let mut conflicts = 0;
    for t in tasks {
        let (actor, wins, c) = t.await.unwrap();
        conflicts += c;
        for v in wins {
            assert!(
                winners.insert(v, actor.clone()).is_none(),
                "version {v} won twice"
            );
        }
    }
    assert!(conflicts > 0, "64 racing clients must conflict");
    let last = *winners.keys().last().expect("someone won");
    let expected: BTreeSet<u64> = (2..=last).collect();
    assert_eq!(winners.keys().copied().collect::<BTreeSet<_>>(), expected);

    let history = setup.history_all("hot").await.unwrap();
    assert_eq!(history.len() as u64, last, "one event per version, no gaps");
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e.version, i as u64 + 1);
        if e.version > 1 {
            assert_eq!(
                winners[&e.version], e.actor,
                "event {} names its winner",
                e.version
            );
            assert_ne!(e.from, e.to);
        }
    }

    // Every replica holds the same record and history once it has applied everything.
    let revision = setup
        .workflow("hot", false)
        .await
        .unwrap()
        .unwrap()
        .revision;
    let mut states = Vec::new();
    for id in 1..=3 {
        cluster
            .wait_applied(id, revision, Duration::from_secs(10))
            .await
            .unwrap();
        let c = client_for(&cluster, &[id]);
        let w = c
            .list_workflows(&ListOptions::new().serializable())
            .await
            .unwrap();
        let h = c.history_all("hot").await.unwrap();
        states.push((w.workflows, h));
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors_and_retention_purges_finished_workflows() {
    let opts = ClusterOptions {
        extra_args: [
            "--workflow-retention-secs",
            "1",
            "--workflow-retention-interval-ms",
            "200",
            "--max-labels",
            "2",
        ]
        .map(String::from)
        .to_vec(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    let c = client_for(&cluster, &[3]);
    let invalid = |r: Result<cairn_client::CreatedWorkflow, Error>| {
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    };
    invalid(c.create_workflow(CreateWorkflow::new().id("bad id!")).await);
    invalid(
        c.create_workflow(CreateWorkflow::new().id("x".repeat(257)))
            .await,
    );
    invalid(
        c.create_workflow(CreateWorkflow::new().id("m").metadata(json!([1, 2])))
            .await,
    );
    invalid(
        c.create_workflow(
            CreateWorkflow::new()
                .id("l")
                .label("a", "1")
                .label("b", "2")
                .label("c", "3"),
        )
        .await,
    );
    let unknown_def = c
        .create_workflow(CreateWorkflow::new().id("u").definition("nope"))
        .await;
    assert!(
        matches!(unknown_def, Err(Error::NotFound(_))),
        "{unknown_def:?}"
    );
    let unknown_status = c
        .transition("u", Target::status("RUNNING"), None, "", "")
        .await;
    assert!(
        matches!(unknown_status, Err(Error::NotFound(_))),
        "{unknown_status:?}"
    );
    let bad_def = c
        .register_definition(&Definition::new("broken", ["A"], "B", ["A"]))
        .await;
    assert!(
        matches!(bad_def, Err(Error::InvalidArgument(_))),
        "{bad_def:?}"
    );
    assert!(c.workflow("never", false).await.unwrap().is_none());

    // Retention: a finished workflow disappears (with its tasks and history); a live one stays.
    c.create_workflow(CreateWorkflow::new().id("short"))
        .await
        .unwrap();
    c.create_workflow(CreateWorkflow::new().id("live"))
        .await
        .unwrap();
    c.upsert_tasks("short", vec![TaskSpec::new("t")])
        .await
        .unwrap();
    c.cancel_workflow("short", "done").await.unwrap();
    wait_until(Duration::from_secs(15), "retention purge", || async {
        c.workflow("short", false)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await
    .unwrap();
    assert!(matches!(
        c.history_all("short").await,
        Err(Error::NotFound(_))
    ));
    assert!(c.workflow("live", false).await.unwrap().is_some());
}
