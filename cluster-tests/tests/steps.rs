//! Atomic steps on a 3-node cluster: a step's change, tasks, variables and checkpoint land
//! at one revision; a step with one invalid part (after a legal transition) changes nothing
//! at all; a batch of 20 steps with one illegal transition changes none of its 20
//! workflows, and without it applies all 20 at one revision; a stale ownership fence
//! refuses the step; `cairn ctl workflow step` does the same from the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{
    Client, CreateWorkflow, Error, Fence, SaveOptions, Step, Target, TaskFilter, TaskSpec,
    VarScope, VarUpdate, serde_json::json,
};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::ops::ctl;

/// Everything a step can change about workflow `id`, read linearizably.
async fn snapshot(c: &Client, id: &str) -> String {
    let wf = c.workflow(id, false).await.unwrap().map(|d| d.workflow);
    let tasks = c.tasks(id, &TaskFilter::default()).await.ok();
    let vars = c.vars(&VarScope::Workflow(id.into()), None).await.unwrap();
    let ckpts = c.list_all_checkpoints(id).await.ok();
    format!("{wf:?}\n{tasks:?}\n{vars:?}\n{ckpts:?}")
}

fn full_step(id: &str) -> Step {
    Step::new(id)
        .create(CreateWorkflow::new().namespace("steps"))
        .tasks([
            TaskSpec::new("fetch"),
            TaskSpec::new("parse").depends_on(["fetch"]),
            TaskSpec::new("load").depends_on(["parse"]),
        ])
        .vars(
            VarUpdate::new()
                .set("stage", json!("fetch"))
                .set("n", json!(0)),
        )
        .checkpoint(
            br#"{"cursor":0}"#.to_vec(),
            SaveOptions::new().label("start"),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_apply_all_or_nothing() {
    let cluster = Cluster::start(3).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();

    // One step: every part at one revision, the checkpoint recording the new status.
    let applied = c.apply_steps([full_step("job-1")]).await.unwrap();
    let r = &applied.results[0];
    let wf = r.workflow.as_ref().unwrap();
    assert!(r.created);
    assert_eq!(wf.revision, applied.revision);
    assert_eq!(r.tasks.len(), 3);
    assert_eq!(r.vars.as_ref().unwrap().version, 1);
    assert_eq!(r.vars.as_ref().unwrap().revision, applied.revision);
    let saved = r.checkpoint.as_ref().unwrap();
    assert_eq!(saved.revision, applied.revision);
    let info = c.checkpoint("job-1", &saved.id).await.unwrap().unwrap();
    assert_eq!(info.workflow_status, wf.status);
    assert_eq!(info.workflow_version, wf.version);
    let payload = c
        .load_checkpoint("job-1", &saved.id, false)
        .await
        .unwrap()
        .1;
    assert_eq!(payload, br#"{"cursor":0}"#);

    // A legal transition followed by an invalid task part: refused, nothing changed.
    let before = snapshot(&c, "job-1").await;
    let bad = Step::new("job-1")
        .transition(Target::status("RUNNING"), Some(wf.version))
        .tasks([TaskSpec::new("report").depends_on(["missing"])])
        .vars(VarUpdate::new().set("stage", json!("report")));
    match c.step(bad).await {
        Err(Error::Step { step: 0, part, .. }) if part == "tasks" => {}
        other => panic!("expected a refused tasks part, got {other:?}"),
    }
    assert_eq!(snapshot(&c, "job-1").await, before, "a refused step wrote");

    // A stale variables version after a legal transition: refused the same way.
    let stale = Step::new("job-1")
        .transition(Target::status("RUNNING"), None)
        .vars(VarUpdate::new().set("n", json!(1)).expected_version(7));
    match c.step(stale).await {
        Err(Error::Step { part, error, .. }) if part == "vars" => {
            assert!(
                matches!(*error, Error::VersionConflict { current: 1 }),
                "{error:?}"
            );
        }
        other => panic!("expected a refused vars part, got {other:?}"),
    }
    assert_eq!(snapshot(&c, "job-1").await, before);

    // A batch of 20 steps over 20 workflows, step 13 illegal: none of them changes.
    let ids: Vec<String> = (0..20).map(|i| format!("batch-{i:02}")).collect();
    c.apply_steps(ids.iter().map(|id| {
        Step::new(id)
            .create(CreateWorkflow::new().namespace("steps"))
            .vars(VarUpdate::new().set("n", json!(0)))
    }))
    .await
    .unwrap();
    let mut befores = Vec::new();
    for id in &ids {
        befores.push(snapshot(&c, id).await);
    }
    let batch = |bad: Option<usize>| {
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let target = if Some(i) == bad {
                    "COMPLETED"
                } else {
                    "RUNNING"
                };
                Step::new(id)
                    .transition(Target::status(target), None)
                    .because("orchestrator", "batch")
                    .vars(VarUpdate::new().set("n", json!(1)).expected_version(1))
            })
            .collect::<Vec<_>>()
    };
    match c.apply_steps(batch(Some(13))).await {
        Err(Error::Step {
            step: 13,
            part,
            error,
        }) if part == "change" => {
            assert!(
                matches!(*error, Error::IllegalTransition { .. }),
                "{error:?}"
            );
        }
        other => panic!("expected step 13's change refused, got {other:?}"),
    }
    for (id, before) in ids.iter().zip(&befores) {
        assert_eq!(&snapshot(&c, id).await, before, "{id} changed");
    }
    let applied = c.apply_steps(batch(None)).await.unwrap();
    assert_eq!(applied.results.len(), 20);
    for (id, r) in ids.iter().zip(&applied.results) {
        let w = c.workflow(id, false).await.unwrap().unwrap().workflow;
        assert_eq!(
            (w.status.as_str(), w.mod_revision),
            ("RUNNING", applied.revision)
        );
        assert_eq!(r.vars.as_ref().unwrap().version, 2);
    }

    // An owner's fence from before another orchestrator adopted the workflow refuses the
    // step (the first owner's lease ended, so its workflow was orphaned and adopted).
    let lease_a = c.grant_lease(Duration::from_secs(30)).await.unwrap();
    let first = c
        .adopt_workflow("job-1", "orch-a", lease_a.id, "")
        .await
        .unwrap();
    c.revoke_lease(lease_a.id).await.unwrap();
    let lease_b = c.grant_lease(Duration::from_secs(30)).await.unwrap();
    c.adopt_workflow("job-1", "orch-b", lease_b.id, "")
        .await
        .unwrap();
    let fence = Fence::Owner {
        workflow_id: "job-1".into(),
        epoch: first.epoch,
    };
    let before = snapshot(&c, "job-1").await;
    let fenced = Step::new("job-1")
        .fenced(&fence)
        .vars(VarUpdate::new().set("stage", json!("late")));
    match c.step(fenced).await {
        Err(Error::Step { part, error, .. }) if part == "fence" => {
            assert!(matches!(*error, Error::StaleFence { .. }), "{error:?}");
        }
        other => panic!("expected a stale fence, got {other:?}"),
    }
    assert_eq!(snapshot(&c, "job-1").await, before);

    // The ctl: a step, then a refused one reported with its part's error kind.
    let ok = ctl(
        &eps,
        &[
            "workflow",
            "step",
            "job-2",
            "--create",
            "--namespace",
            "steps",
            "--task",
            "a",
            "--task",
            "b:a",
            "--set-var",
            "k=1",
        ],
    )
    .await
    .unwrap();
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.json["created"], true, "{ok:?}");
    assert_eq!(ok.json["tasks"].as_array().unwrap().len(), 2, "{ok:?}");
    assert_eq!(ok.json["vars_version"], 1, "{ok:?}");
    let refused = ctl(
        &eps,
        &[
            "workflow",
            "step",
            "job-2",
            "--to",
            "COMPLETED",
            "--set-var",
            "k=2",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        refused.error_kind(),
        Some("illegal_transition"),
        "{refused:?}"
    );
    let vars = c
        .vars(&VarScope::Workflow("job-2".into()), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vars.values["k"], json!(1));
}
