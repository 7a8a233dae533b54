//! Atomic steps at apply: every part lands at one revision; a refused part (first or later,
//! in any step of a batch) leaves the state byte-identical, whatever entries share its run,
//! and the same entries give the same state and replies however they are batched.

use std::collections::BTreeMap;

use cairn_model::checkpoint::{CheckpointKind, Codec, SaveCheckpoint};
use cairn_model::command::{Command, CommandError, Response};
use cairn_model::coord::Fence;
use cairn_model::step::{Step, StepChange, StepPart};
use cairn_model::workflow::command::{
    CreateWorkflow, TaskSpec, TransitionWorkflow, UpdateWorkflow, UpsertTasks,
};
use cairn_model::workflow::definition::Target;
use cairn_model::workflow::vars::{UpdateVars, VarScope};
use cairn_model::workflow::{WorkflowError, WorkflowReply};
use cairn_raft::types::Entry;

use crate::StateMachineStore;
use crate::test_util::{Dump, normal, put, req, temp_store};

fn create(id: &str) -> StepChange {
    StepChange::Create(Box::new(CreateWorkflow {
        id: Some(id.into()),
        namespace: "ns".into(),
        definition: "default".into(),
        definition_version: None,
        metadata: "{}".into(),
        labels: BTreeMap::new(),
        owner_id: String::new(),
        routing_strategy: String::new(),
        max_concurrent: 0,
        total_tasks: 0,
        upsert: false,
        actor: "t".into(),
    }))
}

fn to(id: &str, status: &str) -> StepChange {
    StepChange::Transition(TransitionWorkflow {
        id: id.into(),
        target: Target::Status(status.into()),
        expected_version: None,
        actor: "t".into(),
        reason: String::new(),
    })
}

fn tasks(id: &str, specs: &[(&str, &[&str])]) -> Box<UpsertTasks> {
    Box::new(UpsertTasks {
        workflow_id: id.into(),
        tasks: specs
            .iter()
            .map(|(t, deps)| TaskSpec {
                id: t.to_string(),
                dependencies: Some(deps.iter().map(|d| d.to_string()).collect()),
                ..TaskSpec::default()
            })
            .collect(),
    })
}

fn vars(id: &str, expected: Option<u64>, pairs: &[(&str, &str)]) -> Box<UpdateVars> {
    Box::new(UpdateVars {
        scope: VarScope::Workflow(id.into()),
        expected_version: expected,
        set: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        delete: vec![],
        immutable: vec![],
        keep_versions: None,
        actor: "t".into(),
        reason: String::new(),
    })
}

fn checkpoint(id: &str, payload: &[u8]) -> Box<SaveCheckpoint> {
    Box::new(SaveCheckpoint {
        workflow_id: id.into(),
        kind: CheckpointKind::Manual,
        label: "step".into(),
        metadata: "{}".into(),
        parent: None,
        delta: false,
        codec: Codec::Raw,
        raw_size: payload.len() as u64,
        checksum: crc32fast::hash(payload),
        payload: payload.to_vec(),
    })
}

/// A full step on `id`: create it, two tasks, one variable, a checkpoint.
fn full(id: &str) -> Step {
    Step {
        change: Some(create(id)),
        tasks: Some(tasks(id, &[("a", &[]), ("b", &["a"])])),
        vars: Some(vars(id, Some(0), &[("k", "1")])),
        checkpoint: Some(checkpoint(id, b"{\"at\":1}")),
        ..Step::default()
    }
}

fn entry(index: u64, command: Command) -> Entry {
    normal(index, req(command, 1_000 * index, Some(("c", index))))
}

/// State without the spaces every entry touches (applied index, clock, sessions).
fn state(sm: &StateMachineStore) -> Dump {
    use crate::keyspace::Space;
    sm.dump()
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

fn refusal(r: &Response) -> (u32, StepPart, &CommandError) {
    match r {
        Response::Rejected(CommandError::Step { step, part, error }) => (*step, *part, error),
        other => panic!("expected a step refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_step_applies_every_part_at_one_revision() {
    let (_dir, _log, sm) = temp_store().await;
    let r = sm
        .apply_batch(&[entry(1, Command::Steps(vec![full("wf")]))])
        .unwrap();
    let Response::Steps { revision, replies } = &r[0] else {
        panic!("{r:?}");
    };
    assert_eq!(*revision, 1);
    let reply = &replies[0];
    assert!(matches!(
        &reply.change,
        Some(WorkflowReply::Workflow { created: true, .. })
    ));
    assert!(matches!(&reply.tasks, Some(WorkflowReply::Tasks { tasks, .. }) if tasks.len() == 2));
    assert!(matches!(
        &reply.vars,
        Some(WorkflowReply::Vars { version: 1, .. })
    ));
    let reader = sm.workflow_reader();
    let wf = reader.workflow("wf").unwrap().unwrap();
    assert_eq!(wf.mod_revision, 1);
    assert_eq!(reader.tasks("wf").unwrap().len(), 2);
    let v = reader
        .vars(&VarScope::Workflow("wf".into()), None)
        .unwrap()
        .unwrap();
    assert_eq!((v.version, v.mod_revision), (1, 1));
    let ckpt = sm.checkpoint_reader().latest("wf").unwrap().unwrap();
    assert_eq!((ckpt.revision, ckpt.workflow_version), (1, wf.version));
}

#[tokio::test]
async fn a_refused_part_writes_nothing_whatever_shares_its_run() {
    let (_dir, _log, sm) = temp_store().await;
    sm.apply_batch(&[entry(1, Command::Steps(vec![full("wf")]))])
        .unwrap();
    let before = state(&sm);

    // Refused cases: the transition is legal and applies first, then a later part fails, so
    // the entry's earlier writes must be undone (the re-applied run); and a first-part
    // refusal, which writes nothing to begin with.
    let later_part = Step {
        change: Some(to("wf", "RUNNING")),
        tasks: Some(tasks("wf", &[("c", &["nope"])])),
        ..Step::default()
    };
    let stale_vars = Step {
        change: Some(to("wf", "RUNNING")),
        vars: Some(vars("wf", Some(7), &[("k", "2")])),
        ..Step::default()
    };
    let illegal_first = Step {
        change: Some(to("wf", "COMPLETED")),
        ..Step::default()
    };
    // The bad step is the second of a batch whose first step (another workflow) is valid.
    let cases = [
        (later_part, StepPart::Tasks),
        (stale_vars, StepPart::Vars),
        (illegal_first, StepPart::Change),
    ];
    let mut index = 2;
    for (bad, part) in cases {
        // A put before and after the refused entry, in the same batch: both apply.
        let batch = [
            entry(index, put("before", "x", None)),
            entry(index + 1, Command::Steps(vec![full("other"), bad])),
            entry(index + 2, put("after", "y", None)),
        ];
        let r = sm.apply_batch(&batch).unwrap();
        assert!(matches!(r[0], Response::Put { .. }), "{r:?}");
        let (step, got_part, _) = refusal(&r[1]);
        assert_eq!((step, got_part), (1, part), "{r:?}");
        assert!(matches!(r[2], Response::Put { .. }), "{r:?}");
        let after = state(&sm);
        let kv = |d: &Dump| {
            d.iter()
                .filter(|(s, _, _)| *s != crate::keyspace::Space::Kv as u8)
                .cloned()
                .collect::<Dump>()
        };
        assert_eq!(
            kv(&after),
            kv(&before),
            "{part:?}: only the puts changed state"
        );
        // The retry (same session sequence) answers the same refusal and writes nothing.
        let again = sm.apply_batch(&[batch[1].clone()]);
        assert_eq!(again.unwrap()[0], r[1]);
        index += 3;
    }
    let ns_state = sm.workflow_reader().workflow("other").unwrap();
    assert!(
        ns_state.is_none(),
        "the valid step of a refused batch left nothing"
    );
}

#[tokio::test]
async fn a_stale_fence_refuses_the_step() {
    let (_dir, _log, sm) = temp_store().await;
    sm.apply_batch(&[entry(1, Command::Steps(vec![full("wf")]))])
        .unwrap();
    let before = state(&sm);
    let step = Step {
        fence: Some(Fence::Owner {
            workflow_id: "wf".into(),
            epoch: 99,
        }),
        change: Some(StepChange::Update(Box::new(UpdateWorkflow {
            id: "wf".into(),
            metadata_patch: Some("{\"x\":1}".into()),
            ..UpdateWorkflow::default()
        }))),
        ..Step::default()
    };
    let r = sm
        .apply_batch(&[entry(2, Command::Steps(vec![full("a"), step]))])
        .unwrap();
    let (i, part, _) = refusal(&r[0]);
    assert_eq!((i, part), (1, StepPart::Fence));
    assert_eq!(state(&sm), before);
}

#[tokio::test]
async fn batching_does_not_change_the_outcome() {
    let bad = Step {
        change: Some(to("w0", "RUNNING")),
        tasks: Some(tasks("w0", &[("x", &["missing"])])),
        ..Step::default()
    };
    let mut entries = Vec::new();
    for i in 0..6u64 {
        let command = match i {
            2 => Command::Steps(vec![full("w9"), bad.clone()]),
            4 => Command::Steps(vec![Step {
                change: Some(to("w0", "RUNNING")),
                vars: Some(vars("w0", Some(1), &[("k", "2")])),
                ..Step::default()
            }]),
            _ => Command::Steps(vec![full(&format!("w{i}"))]),
        };
        entries.push(entry(i + 1, command));
    }
    let (_d1, _l1, one) = temp_store().await;
    let (_d2, _l2, each) = temp_store().await;
    let together = one.apply_batch(&entries).unwrap();
    let mut apart = Vec::new();
    for e in &entries {
        apart.extend(each.apply_batch(std::slice::from_ref(e)).unwrap());
    }
    assert_eq!(together, apart);
    assert!(matches!(
        refusal(&together[2]).2,
        CommandError::Workflow(WorkflowError::Task { .. })
    ));
    assert!(matches!(together[4], Response::Steps { .. }));
    assert_eq!(one.dump(), each.dump());
    assert_eq!(one.claim_queues(), each.claim_queues());
}
