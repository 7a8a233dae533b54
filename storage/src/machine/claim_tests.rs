//! Task claims and workflow ownership: claims hand out distinct ready tasks (dependencies,
//! backoff, kinds, concurrency, terminal workflows respected), a finish needs the current
//! claim, a lease's end fails or retries its runs and orphans its workflows in the same entry,
//! adoption fences the previous owner out, and the claim queue apply keeps equals the one a
//! rebuild from the trees makes after every step.

use cairn_model::command::{Command, CommandError, Response};
use cairn_model::coord::{CoordCommand, CoordError, CoordReply, Fence};
use cairn_model::workflow::command::{
    AdoptWorkflow, ClaimTask, CreateWorkflow, FinishTask, RunOutcome, TaskSpec, TransitionWorkflow,
    UpsertTasks,
};
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::task::RetryPolicy;
use cairn_model::workflow::{
    Target, TaskRecord, TaskStatus, WorkflowCommand, WorkflowError, WorkflowReply,
};

use super::claim::WORKER_LOST;
use crate::StateMachineStore;
use crate::test_util::{Dump, new_workflow, normal, req, temp_store};

struct Harness {
    sm: StateMachineStore,
    _dir: tempfile::TempDir,
    next: u64,
    now: u64,
}

impl Harness {
    async fn new() -> Self {
        let (dir, _log, sm) = temp_store().await;
        Self {
            sm,
            _dir: dir,
            next: 1,
            now: 1_000,
        }
    }

    fn raw(&mut self, command: Command, fence: Option<Fence>) -> (u64, Response) {
        let index = self.next;
        self.next += 1;
        let mut r = req(command, self.now, None);
        r.fence = fence;
        let out = self.sm.apply_batch(&[normal(index, r)]).unwrap();
        // After every entry: the queue apply keeps is the one the trees define.
        let (kept, rebuilt) = self.sm.claim_queues();
        assert_eq!(kept, rebuilt, "claim queue drifted at entry {index}");
        (index, out.into_iter().next().unwrap())
    }

    fn wf(&mut self, cmd: WorkflowCommand) -> Result<WorkflowReply, WorkflowError> {
        match self.raw(Command::Workflow(cmd), None).1 {
            Response::Workflow { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Workflow(e)) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn coord(&mut self, cmd: CoordCommand) -> Result<CoordReply, CoordError> {
        match self.raw(Command::Coord(cmd), None).1 {
            Response::Coord { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Coord(e)) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn lease(&mut self, ttl_ms: u64) -> u64 {
        match self.coord(CoordCommand::GrantLease { id: None, ttl_ms }) {
            Ok(CoordReply::Lease { id, .. }) => id,
            other => panic!("{other:?}"),
        }
    }

    fn expire(&mut self, id: u64) {
        match self.coord(CoordCommand::ExpireLeases { ids: vec![id] }) {
            Ok(CoordReply::LeasesEnded { ids }) => assert_eq!(ids, vec![id]),
            other => panic!("{other:?}"),
        }
    }

    fn create(&mut self, id: &str, ns: &str, max_concurrent: u32) {
        self.wf(WorkflowCommand::Create(Box::new(CreateWorkflow {
            max_concurrent,
            actor: "t".into(),
            ..new_workflow(id, ns)
        })))
        .unwrap();
    }

    fn tasks(&mut self, wf: &str, tasks: Vec<TaskSpec>) {
        self.wf(WorkflowCommand::UpsertTasks(Box::new(UpsertTasks {
            workflow_id: wf.into(),
            tasks,
        })))
        .unwrap();
    }

    fn claim(&mut self, ns: &str, wf: Option<&str>, lease: u64) -> Option<TaskRecord> {
        self.claim_kinds(ns, wf, lease, &[])
    }

    fn claim_kinds(
        &mut self,
        ns: &str,
        wf: Option<&str>,
        lease: u64,
        kinds: &[&str],
    ) -> Option<TaskRecord> {
        match self.wf(WorkflowCommand::ClaimTask(Box::new(ClaimTask {
            namespace: ns.into(),
            workflow_id: wf.map(str::to_string),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            agent_id: format!("agent-{lease}"),
            lease,
        }))) {
            Ok(WorkflowReply::Claimed { task, .. }) => task.map(|t| *t),
            other => panic!("{other:?}"),
        }
    }

    fn finish(
        &mut self,
        t: &TaskRecord,
        outcome: RunOutcome,
    ) -> Result<WorkflowReply, WorkflowError> {
        self.wf(WorkflowCommand::FinishTask(Box::new(FinishTask {
            workflow_id: t.workflow_id.clone(),
            task_id: t.id.clone(),
            claim: t.claim,
            outcome,
        })))
    }

    fn task(&self, wf: &str, id: &str) -> TaskRecord {
        self.sm
            .workflow_reader()
            .tasks(wf)
            .unwrap()
            .into_iter()
            .find(|t| t.id == id)
            .unwrap()
    }

    fn adopt(&mut self, id: &str, owner: &str, lease: u64) -> Result<WorkflowReply, WorkflowError> {
        self.wf(WorkflowCommand::Adopt(Box::new(AdoptWorkflow {
            id: id.into(),
            owner_id: owner.into(),
            lease,
            expected_version: None,
            reason: String::new(),
        })))
    }

    fn state(&self) -> Dump {
        use crate::keyspace::Space;
        self.sm
            .dump()
            .into_iter()
            .filter(|(s, _, _)| {
                ![
                    Space::Meta as u8,
                    Space::Sessions as u8,
                    Space::SessionExpiry as u8,
                ]
                .contains(s)
            })
            .collect()
    }
}

fn spec(id: &str, deps: &[&str]) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        dependencies: (!deps.is_empty()).then(|| deps.iter().map(|d| d.to_string()).collect()),
        ..TaskSpec::default()
    }
}

fn completed() -> RunOutcome {
    RunOutcome::Completed {
        output: r#"{"ok":true}"#.into(),
    }
}

#[tokio::test]
async fn claims_hand_out_distinct_ready_tasks_in_dependency_order() {
    let mut h = Harness::new().await;
    let (l1, l2) = (h.lease(10_000), h.lease(10_000));
    h.create("wf-1", "ns", 0);
    h.tasks(
        "wf-1",
        vec![spec("a", &[]), spec("b", &[]), spec("c", &["a", "b"])],
    );
    let first = h.claim("ns", None, l1).unwrap();
    let second = h.claim("ns", Some("wf-1"), l2).unwrap();
    assert_eq!((first.id.as_str(), second.id.as_str()), ("a", "b"));
    assert_eq!(first.status, TaskStatus::Running);
    assert_eq!((first.lease, first.attempts), (l1, 1));
    assert_eq!(first.agent_id, format!("agent-{l1}"));
    // c waits for a and b.
    assert!(h.claim("ns", None, l1).is_none());
    h.finish(&first, completed()).unwrap();
    assert!(h.claim("ns", None, l1).is_none());
    h.finish(&second, completed()).unwrap();
    let c = h.claim("ns", None, l2).unwrap();
    assert_eq!(c.id, "c");
    // Another namespace sees nothing.
    assert!(h.claim("other", None, l1).is_none());
    // A workflow named in the wrong namespace is refused.
    let wrong = h.wf(WorkflowCommand::ClaimTask(Box::new(ClaimTask {
        namespace: "other".into(),
        workflow_id: Some("wf-1".into()),
        kinds: vec![],
        agent_id: "x".into(),
        lease: l1,
    })));
    assert!(matches!(wrong, Err(WorkflowError::WrongNamespace { .. })));
    let unknown = h.claim_result_unknown_lease();
    assert!(matches!(unknown, Err(WorkflowError::UnknownLease(999))));
}

impl Harness {
    fn claim_result_unknown_lease(&mut self) -> Result<WorkflowReply, WorkflowError> {
        self.wf(WorkflowCommand::ClaimTask(Box::new(ClaimTask {
            namespace: "ns".into(),
            workflow_id: None,
            kinds: vec![],
            agent_id: "x".into(),
            lease: 999,
        })))
    }
}

#[tokio::test]
async fn finish_needs_the_current_claim_and_refusals_write_nothing() {
    let mut h = Harness::new().await;
    let l = h.lease(10_000);
    h.create("wf-1", "ns", 0);
    h.tasks("wf-1", vec![spec("a", &[])]);
    let t = h.claim("ns", None, l).unwrap();
    let before = h.state();
    let stale = TaskRecord {
        claim: t.claim + 1,
        ..t.clone()
    };
    let refused = h.finish(&stale, completed());
    assert!(
        matches!(refused, Err(WorkflowError::StaleClaim { current, .. }) if current == t.claim),
        "{refused:?}"
    );
    assert_eq!(h.state(), before, "a refused finish wrote something");
    h.finish(&t, completed()).unwrap();
    let done = h.task("wf-1", "a");
    assert_eq!((done.status, done.lease), (TaskStatus::Completed, 0));
    assert_eq!(done.output, r#"{"ok":true}"#);
    // Finishing twice: the run is over.
    assert!(matches!(
        h.finish(&t, completed()),
        Err(WorkflowError::StaleClaim { current: 0, .. })
    ));
    // The lease no longer carries the run.
    match h.coord(CoordCommand::KeepAlive { id: l }) {
        Ok(_) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_lost_lease_retries_runs_with_backoff_then_fails_them() {
    let mut h = Harness::new().await;
    let l1 = h.lease(5_000);
    h.create("wf-1", "ns", 0);
    h.tasks(
        "wf-1",
        vec![TaskSpec {
            retry: Some(RetryPolicy {
                max_attempts: 2,
                backoff_ms: 1_000,
            }),
            ..spec("a", &[])
        }],
    );
    let run1 = h.claim("ns", None, l1).unwrap();
    h.now += 6_000;
    h.expire(l1);
    let lost = h.task("wf-1", "a");
    assert_eq!(
        lost.status,
        TaskStatus::Pending,
        "retried while attempts remain"
    );
    assert_eq!((lost.lease, lost.error.as_str()), (0, WORKER_LOST));
    assert_eq!(lost.ready_ms, h.now + 1_000, "first retry waits backoff_ms");
    // Not before its backoff ends; the reply says when.
    let l2 = h.lease(5_000);
    match h.wf(WorkflowCommand::ClaimTask(Box::new(ClaimTask {
        namespace: "ns".into(),
        workflow_id: None,
        kinds: vec![],
        agent_id: "w2".into(),
        lease: l2,
    }))) {
        Ok(WorkflowReply::Claimed {
            task: None,
            next_ready_ms,
        }) => assert_eq!(next_ready_ms, Some(lost.ready_ms)),
        other => panic!("{other:?}"),
    }
    // The first worker's late finish is refused: its run is gone.
    assert!(matches!(
        h.finish(&run1, completed()),
        Err(WorkflowError::StaleClaim { .. })
    ));
    h.now += 1_000;
    let run2 = h.claim("ns", None, l2).unwrap();
    assert_eq!((run2.attempts, run2.lease), (2, l2));
    // Revoking counts as losing too; no attempts left: FAILED.
    h.coord(CoordCommand::RevokeLease { id: l2 }).unwrap();
    let failed = h.task("wf-1", "a");
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error, WORKER_LOST);
    assert!(failed.finished_ms.is_some());
}

#[tokio::test]
async fn a_failed_run_follows_the_retry_policy() {
    let mut h = Harness::new().await;
    let l = h.lease(10_000);
    h.create("wf-1", "ns", 0);
    h.tasks(
        "wf-1",
        vec![TaskSpec {
            retry: Some(RetryPolicy {
                max_attempts: 3,
                backoff_ms: 100,
            }),
            ..spec("a", &[])
        }],
    );
    for attempt in 1..=3u32 {
        let t = h.claim("ns", None, l).unwrap();
        assert_eq!(t.attempts, attempt);
        h.finish(
            &t,
            RunOutcome::Failed {
                error: r#""boom""#.into(),
            },
        )
        .unwrap();
        let after = h.task("wf-1", "a");
        if attempt < 3 {
            assert_eq!(after.status, TaskStatus::Pending);
            // 100 ms, then 200 ms: exponential.
            assert_eq!(after.ready_ms, h.now + 100 * (1 << (attempt - 1)));
            h.now = after.ready_ms;
        } else {
            assert_eq!(after.status, TaskStatus::Failed);
        }
    }
    assert!(h.claim("ns", None, l).is_none());
}

#[tokio::test]
async fn claims_respect_kinds_concurrency_and_terminal_workflows() {
    let mut h = Harness::new().await;
    let l = h.lease(10_000);
    h.create("wf-1", "ns", 1);
    h.tasks(
        "wf-1",
        vec![
            TaskSpec {
                kind: Some("gpu".into()),
                ..spec("a", &[])
            },
            spec("b", &[]),
        ],
    );
    h.create("wf-2", "ns", 0);
    h.tasks("wf-2", vec![spec("x", &[])]);
    let only_cpu = h.claim_kinds("ns", None, l, &["cpu"]);
    assert!(only_cpu.is_none(), "no task of kind cpu: {only_cpu:?}");
    let gpu = h.claim_kinds("ns", None, l, &["gpu"]).unwrap();
    assert_eq!(gpu.id, "a");
    // wf-1 runs one task at a time: the next claim passes over b to wf-2's x.
    let next = h.claim("ns", None, l).unwrap();
    assert_eq!((next.workflow_id.as_str(), next.id.as_str()), ("wf-2", "x"));
    assert!(h.claim("ns", None, l).is_none());
    // A terminal workflow's pending tasks leave the queue.
    h.wf(WorkflowCommand::Transition(TransitionWorkflow {
        id: "wf-1".into(),
        target: Target::Status("CANCELLED".into()),
        expected_version: None,
        actor: "t".into(),
        reason: String::new(),
    }))
    .unwrap();
    h.finish(&gpu, completed()).unwrap_err();
    assert!(h.claim("ns", None, l).is_none());
    // Deleting a workflow takes its queued tasks too (checked by the harness after each step).
    h.create("wf-3", "ns", 0);
    h.tasks("wf-3", vec![spec("y", &[])]);
    h.wf(WorkflowCommand::Delete {
        id: "wf-3".into(),
        force: true,
    })
    .unwrap();
    assert!(h.claim("ns", None, l).is_none());
}

#[tokio::test]
async fn an_upsert_that_ends_a_claimed_run_unbinds_it() {
    let mut h = Harness::new().await;
    let l = h.lease(10_000);
    h.create("wf-1", "ns", 0);
    h.tasks("wf-1", vec![spec("a", &[])]);
    let t = h.claim("ns", None, l).unwrap();
    h.tasks(
        "wf-1",
        vec![TaskSpec {
            status: Some(TaskStatus::Cancelled),
            ..spec("a", &[])
        }],
    );
    assert_eq!(h.task("wf-1", "a").lease, 0);
    assert!(matches!(
        h.finish(&t, completed()),
        Err(WorkflowError::StaleClaim { .. })
    ));
    // The lease's end no longer touches the task.
    h.now += 20_000;
    h.expire(l);
    assert_eq!(h.task("wf-1", "a").status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn a_run_taken_away_by_upserts_stays_stale_when_the_task_runs_again() {
    let mut h = Harness::new().await;
    let l = h.lease(10_000);
    h.create("wf-1", "ns", 0);
    h.tasks("wf-1", vec![spec("a", &[])]);
    let t = h.claim("ns", None, l).unwrap();
    for status in [TaskStatus::Pending, TaskStatus::Running] {
        h.tasks(
            "wf-1",
            vec![TaskSpec {
                status: Some(status),
                ..spec("a", &[])
            }],
        );
    }
    let now = h.task("wf-1", "a");
    assert_eq!(
        (now.status, now.claim, now.lease),
        (TaskStatus::Running, 0, 0)
    );
    assert!(matches!(
        h.finish(&t, completed()),
        Err(WorkflowError::StaleClaim { current: 0, .. })
    ));
}

#[tokio::test]
async fn orphans_are_adopted_once_and_the_old_owner_is_fenced_out() {
    let mut h = Harness::new().await;
    let (la, lb) = (h.lease(5_000), h.lease(60_000));
    h.create("wf-1", "ns", 0);
    let epoch_a = match h.adopt("wf-1", "orch-a", la).unwrap() {
        WorkflowReply::Adopted {
            epoch,
            previous_owner,
            ..
        } => {
            assert_eq!(previous_owner, "");
            epoch
        }
        other => panic!("{other:?}"),
    };
    // Adopting again as the same owner: a no-op that answers the same epoch.
    match h.adopt("wf-1", "orch-a", la).unwrap() {
        WorkflowReply::Adopted { epoch, .. } => assert_eq!(epoch, epoch_a),
        other => panic!("{other:?}"),
    }
    // Someone else cannot take it while the owner's lease lives.
    assert!(matches!(
        h.adopt("wf-1", "orch-b", lb),
        Err(WorkflowError::Owned { owner, lease, .. }) if owner == "orch-a" && lease == la
    ));
    // The owner's fenced write goes through.
    let fence_a = Fence::Owner {
        workflow_id: "wf-1".into(),
        epoch: epoch_a,
    };
    let (_, ok) = h.raw(
        Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
            id: "wf-1".into(),
            target: Target::Status("RUNNING".into()),
            expected_version: None,
            actor: "orch-a".into(),
            reason: String::new(),
        })),
        Some(fence_a.clone()),
    );
    assert!(matches!(ok, Response::Workflow { .. }), "{ok:?}");
    // orch-a dies: its lease ends and the workflow is orphaned, with a history event.
    h.now += 6_000;
    h.expire(la);
    let rec = h.sm.workflow_reader().workflow("wf-1").unwrap().unwrap();
    assert_eq!((rec.owner_lease, rec.orphaned_ms), (0, Some(h.now)));
    let history = h.sm.workflow_reader().history("wf-1", 1, 100).unwrap();
    let last = history.events.last().unwrap();
    assert_eq!(last.kind, HistoryKind::Orphaned);
    assert_eq!(last.version, rec.version);
    let epoch_b = match h.adopt("wf-1", "orch-b", lb).unwrap() {
        WorkflowReply::Adopted {
            epoch,
            previous_owner,
            ..
        } => {
            assert_eq!(previous_owner, "orch-a");
            epoch
        }
        other => panic!("{other:?}"),
    };
    assert!(epoch_b > epoch_a);
    let rec = h.sm.workflow_reader().workflow("wf-1").unwrap().unwrap();
    assert_eq!(
        (rec.owner_id.as_str(), rec.owner_lease, rec.orphaned_ms),
        ("orch-b", lb, None)
    );
    // orch-a's late write, fenced with its old epoch, is refused and writes nothing.
    let before = h.state();
    let (_, late) = h.raw(
        Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
            id: "wf-1".into(),
            target: Target::Status("COMPLETED".into()),
            expected_version: None,
            actor: "orch-a".into(),
            reason: String::new(),
        })),
        Some(fence_a),
    );
    assert!(
        matches!(
            late,
            Response::Rejected(CommandError::Coord(CoordError::StaleFence { current, .. }))
                if current == epoch_b
        ),
        "{late:?}"
    );
    assert_eq!(h.state(), before);
}
