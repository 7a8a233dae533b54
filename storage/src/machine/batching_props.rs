//! Property: apply is a function of the log alone. A random log of commands (keys with and
//! without expected revisions, workflows created, moved and deleted in two namespaces, a
//! namespace limit, checkpoints, compaction, atomic steps refused part-way; retried and stale client sessions; time jumps
//! that make dedup pruning fall at different places) gives byte-identical state whether its
//! entries are applied one by one, all at once, in random runs, or partly through a snapshot
//! installed in a fresh store.

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use proptest::prelude::*;

use cairn_model::checkpoint::{CheckpointCommand, CheckpointKind, Codec, SaveCheckpoint};
use cairn_model::command::Command;
use cairn_model::step::{Step, StepChange};
use cairn_model::workflow::command::{CreateWorkflow, TransitionWorkflow};
use cairn_model::workflow::quota::NamespaceLimits;
use cairn_model::workflow::vars::{UpdateVars, VarScope};
use cairn_model::workflow::{Target, WorkflowCommand};
use cairn_raft::types::Entry;

use crate::test_util::{membership, normal, req, temp_store};

fn wf(i: u8) -> String {
    format!("w{}", i % 4)
}

fn command() -> impl Strategy<Value = Command> {
    let key = (0u8..6).prop_map(|k| format!("k{k}").into_bytes());
    prop_oneof![
        (key.clone(), any::<u8>(), proptest::option::of(0u64..40)).prop_map(|(key, v, e)| {
            Command::Put {
                key,
                value: vec![v; usize::from(v % 7)],
                expected_revision: e,
            }
        }),
        key.prop_map(|key| Command::Delete {
            key,
            expected_revision: None
        }),
        (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(i, ns, upsert)| {
            Command::Workflow(WorkflowCommand::Create(Box::new(CreateWorkflow {
                id: Some(wf(i)),
                namespace: if ns { "a" } else { "b" }.into(),
                definition: "default".into(),
                definition_version: None,
                metadata: format!(r#"{{"i":{i}}}"#),
                labels: Default::default(),
                owner_id: String::new(),
                routing_strategy: String::new(),
                max_concurrent: 0,
                total_tasks: 0,
                upsert,
                actor: String::new(),
            })))
        }),
        (any::<u8>(), 0usize..6).prop_map(|(i, e)| {
            let event = ["start", "pause", "resume", "finish", "fail", "cancel"][e];
            Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
                id: wf(i),
                target: Target::Event(event.into()),
                expected_version: None,
                actor: String::new(),
                reason: String::new(),
            }))
        }),
        any::<u8>().prop_map(|i| Command::Workflow(WorkflowCommand::Delete {
            id: wf(i),
            force: i % 2 == 0,
        })),
        (any::<u8>(), 0u64..4).prop_map(|(i, max)| {
            Command::Workflow(WorkflowCommand::SetNamespaceLimits {
                namespace: if i % 2 == 0 { "a" } else { "b" }.into(),
                limits: NamespaceLimits {
                    max_workflows: Some(max),
                    max_checkpoint_bytes: Some(u64::from(i)),
                },
            })
        }),
        (any::<u8>(), 1usize..40).prop_map(|(i, n)| {
            let payload = vec![i; n];
            Command::Checkpoint(CheckpointCommand::Save(Box::new(SaveCheckpoint {
                workflow_id: wf(i),
                kind: CheckpointKind::Auto,
                label: String::new(),
                metadata: "{}".into(),
                parent: None,
                delta: false,
                codec: Codec::Raw,
                raw_size: n as u64,
                checksum: crc32fast::hash(&payload),
                payload,
            })))
        }),
        (0u64..30).prop_map(|revision| Command::Compact { revision }),
        // Two steps whose transitions and variable CAS may each fail, so a refusal can come
        // after earlier parts wrote (the re-applied run) or first (a plain rejection).
        proptest::collection::vec((any::<u8>(), 0usize..6, 0u64..3), 1..3).prop_map(|steps| {
            Command::Steps(
                steps
                    .into_iter()
                    .map(|(i, e, version)| {
                        let event = ["start", "pause", "resume", "finish", "fail", "cancel"][e];
                        Step {
                            change: Some(StepChange::Transition(TransitionWorkflow {
                                id: wf(i),
                                target: Target::Event(event.into()),
                                expected_version: None,
                                actor: String::new(),
                                reason: String::new(),
                            })),
                            vars: Some(Box::new(UpdateVars {
                                scope: VarScope::Workflow(wf(i)),
                                expected_version: Some(version),
                                set: [("v".to_string(), i.to_string())].into(),
                                delete: vec![],
                                immutable: vec![],
                                keep_versions: None,
                                actor: String::new(),
                                reason: String::new(),
                            })),
                            ..Step::default()
                        }
                    })
                    .collect(),
            )
        }),
    ]
}

/// One logged command: the command, its session (None, or which of two clients and how far
/// behind its next sequence: 0 moves on, 1 repeats the last, more is stale) and the time
/// jump before it in ms.
type Logged = (Command, Option<(bool, u8)>, u32);

fn log() -> impl Strategy<Value = Vec<Logged>> {
    proptest::collection::vec(
        (
            command(),
            proptest::option::of((any::<bool>(), 0u8..3)),
            prop_oneof![0u32..50, 200_000u32..400_000],
        ),
        1..50,
    )
}

/// Entries 1.. of the log: a membership entry, then the commands. A session's sequence
/// usually moves on, but may repeat the last one (a retry) or fall behind (a stale retry).
fn entries(log: &[Logged]) -> Vec<Entry> {
    let mut out = vec![membership(1)];
    let mut next = [1u64, 1u64];
    let mut time = 1_000_000u64;
    for (i, (cmd, session, jump)) in log.iter().enumerate() {
        time += u64::from(*jump);
        let session = session.map(|(second, back)| {
            let c = usize::from(second);
            let seq = next[c].saturating_sub(u64::from(back)).max(1);
            if back == 0 {
                next[c] += 1;
            }
            (if second { "c1" } else { "c0" }, seq)
        });
        out.push(normal(i as u64 + 2, req(cmd.clone(), time, session)));
    }
    out
}

async fn check(log: Vec<Logged>, cuts: Vec<usize>, at: usize) {
    let entries = entries(&log);
    let (_d1, _l1, whole) = temp_store().await;
    whole.apply_batch(&entries).unwrap();
    let expected = whole.dump();

    let (_d2, _l2, single) = temp_store().await;
    for e in &entries {
        single.apply_batch(std::slice::from_ref(e)).unwrap();
    }
    assert_eq!(single.dump(), expected, "one entry per batch");

    let (_d3, _l3, runs) = temp_store().await;
    let mut rest = &entries[..];
    for c in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (run, tail) = rest.split_at((*c).clamp(1, rest.len()));
        runs.apply_batch(run).unwrap();
        rest = tail;
    }
    assert_eq!(runs.dump(), expected, "random runs");

    let at = at.clamp(1, entries.len());
    let (_d4, _l4, mut before) = temp_store().await;
    before.apply_batch(&entries[..at]).unwrap();
    let snap = before
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let (_d5, _l5, mut after) = temp_store().await;
    after
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    after.apply_batch(&entries[at..]).unwrap();
    assert_eq!(after.dump(), expected, "through a snapshot at entry {at}");
}

proptest! {
    // Each case opens five stores: enough cases to vary every dimension, few enough for the
    // default test run. Longer runs: PROPTEST_CASES=1000.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn apply_is_the_same_however_the_log_is_batched_or_snapshotted(
        log in log(),
        cuts in proptest::collection::vec(1usize..8, 1..6),
        at in 1usize..50,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(log, cuts, at));
    }
}
