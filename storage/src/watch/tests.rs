//! Events from real applies: what each write reports, that rejections and replays report
//! nothing, that a batch's revisions arrive in order, and that a snapshot plus the events
//! after it rebuild exactly the state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use cairn_model::checkpoint::{CheckpointCommand, CheckpointKind, Codec, SaveCheckpoint};
use cairn_model::command::Command;
use cairn_model::workflow::command::{CreateWorkflow, TaskSpec, TransitionWorkflow, UpsertTasks};
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::vars::{UpdateVars, VarScope};
use cairn_model::workflow::{Target, TaskStatus, WorkflowCommand};

use super::{Change, Filter, HistoryRead, Object, RevisionEvents, Selector};
use crate::StateMachineStore;
use crate::test_util::{blank, delete, normal, put, req, temp_store};

fn create(id: &str) -> Command {
    Command::Workflow(WorkflowCommand::Create(Box::new(CreateWorkflow {
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
        actor: "me".into(),
    })))
}

fn transition(id: &str, event: &str) -> Command {
    Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
        id: id.into(),
        target: Target::Event(event.into()),
        expected_version: None,
        actor: "me".into(),
        reason: "why".into(),
    }))
}

fn tasks(wf: &str, ids: &[&str]) -> Command {
    Command::Workflow(WorkflowCommand::UpsertTasks(Box::new(UpsertTasks {
        workflow_id: wf.into(),
        tasks: ids
            .iter()
            .map(|id| TaskSpec {
                id: (*id).into(),
                ..TaskSpec::default()
            })
            .collect(),
    })))
}

fn checkpoint(wf: &str) -> Command {
    let payload = br#"{"step":1}"#.to_vec();
    Command::Checkpoint(CheckpointCommand::Save(Box::new(SaveCheckpoint {
        workflow_id: wf.into(),
        kind: CheckpointKind::Manual,
        label: "step".into(),
        metadata: "{}".into(),
        parent: None,
        delta: false,
        codec: Codec::Raw,
        raw_size: payload.len() as u64,
        checksum: crc32fast::hash(&payload),
        payload,
    })))
}

fn all(sm: &StateMachineStore, from: u64) -> Vec<RevisionEvents> {
    match sm.watch_reader().hub().read(from, usize::MAX, usize::MAX) {
        HistoryRead::Ready { batches, .. } => batches.iter().map(|b| (**b).clone()).collect(),
        HistoryRead::Compacted { .. } => panic!("compacted"),
    }
}

#[tokio::test]
async fn every_write_reports_its_changes_at_its_revision() {
    let (_d, _log, sm) = temp_store().await;
    let cmds = [
        (1, put("a", "1", None)),
        (2, put("a", "2", None)),
        (3, delete("a", None)),
        (4, delete("a", None)),      // nothing to delete: no event
        (5, put("b", "x", Some(9))), // rejected: no event
        (6, create("w")),
        (7, transition("w", "start")),
        (8, transition("w", "resume")), // illegal from RUNNING: no event
        (9, tasks("w", &["t1", "t2"])),
        (
            10,
            Command::Workflow(WorkflowCommand::Delete {
                id: "w".into(),
                force: true,
            }),
        ),
    ];
    let mut entries: Vec<_> = cmds
        .into_iter()
        .map(|(i, c)| normal(i, req(c, i * 10, None)))
        .collect();
    entries.push(blank(11));
    sm.apply_batch(&entries).unwrap();
    let got = all(&sm, 1);
    let revs: Vec<u64> = got.iter().map(|g| g.revision).collect();
    assert_eq!(revs, [1, 2, 3, 6, 7, 9, 10]);
    assert_eq!(sm.watch_reader().hub().current(), 11);

    match &got[1].changes[..] {
        [Change::KvPut { key, record, prev }] => {
            assert_eq!(key, b"a");
            assert_eq!(
                (record.value.as_slice(), record.mod_revision),
                (&b"2"[..], 2)
            );
            assert_eq!(prev.as_ref().map(|p| p.mod_revision), Some(1));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&got[2].changes[..], [Change::KvDelete { prev, .. }] if prev.value == b"2"));
    match &got[4].changes[..] {
        [
            Change::WorkflowPut {
                record,
                prev_status,
                history,
            },
        ] => {
            assert_eq!(record.status, "RUNNING");
            assert_eq!(prev_status.as_deref(), Some("PENDING"));
            let h = history.as_ref().expect("history attached");
            assert_eq!(
                (h.kind, h.reason.as_str(), h.version),
                (HistoryKind::Transition, "why", 2)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &got[3].changes[..],
        [Change::WorkflowPut {
            prev_status: None,
            ..
        }]
    ));
    assert_eq!(got[5].changes.len(), 2);
    assert!(
        matches!(&got[5].changes[0], Change::TaskPut { record } if record.id == "t1" && record.status == TaskStatus::Pending)
    );
    // A delete reports its tasks, then the workflow, in one revision.
    match &got[6].changes[..] {
        [
            Change::TaskDelete { task_id: a, .. },
            Change::TaskDelete { task_id: b, .. },
            Change::WorkflowDelete { record },
        ] => {
            assert_eq!(
                (a.as_str(), b.as_str(), record.id.as_str()),
                ("t1", "t2", "w")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_replayed_request_reports_nothing() {
    let (_d, _log, sm) = temp_store().await;
    sm.apply_batch(&[
        normal(1, req(put("k", "v", None), 1, Some(("c", 1)))),
        normal(2, req(put("k", "v", None), 2, Some(("c", 1)))),
    ])
    .unwrap();
    let revs: Vec<u64> = all(&sm, 1).iter().map(|g| g.revision).collect();
    assert_eq!(revs, [1]);
}

/// Applies `n` entries of puts, deletes and workflow changes over a few keys and workflows.
fn mixed(start: u64, n: u64) -> Vec<cairn_raft::types::Entry> {
    (start..start + n)
        .map(|i| {
            let c = match i % 8 {
                0 if i % 3 == 0 => vars(VarScope::Namespace("ns".into()), i),
                0 => delete(&format!("k{}", i % 5), None),
                1 => create(&format!("w{i}")),
                2 => transition(&format!("w{}", i - 1), "start"),
                3 => tasks(&format!("w{}", i - 2), &["a", "b"]),
                4 => Command::Workflow(WorkflowCommand::Delete {
                    id: format!("w{}", i.saturating_sub(10)),
                    force: true,
                }),
                5 => checkpoint(&format!("w{}", i - 4)),
                6 => vars(VarScope::Workflow(format!("w{}", i - 5)), i),
                _ => put(&format!("k{}", i % 5), &format!("{i}"), None),
            };
            normal(i, req(c, i, None))
        })
        .collect()
}

fn vars(scope: VarScope, i: u64) -> Command {
    Command::Workflow(WorkflowCommand::UpdateVars(Box::new(UpdateVars {
        scope,
        expected_version: None,
        set: [("i".to_string(), i.to_string())].into(),
        delete: vec![],
        immutable: vec![],
        keep_versions: None,
        actor: String::new(),
        reason: String::new(),
    })))
}

/// A view rebuilt from a snapshot and then events.
#[derive(Default, PartialEq, Debug)]
struct View {
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    workflows: BTreeMap<String, (String, u64)>,
    tasks: BTreeMap<(String, String), u64>,
    checkpoints: std::collections::BTreeSet<(String, String)>,
    vars: BTreeMap<VarScope, (String, u64)>,
}

impl View {
    fn from_snapshot(objects: Vec<Object>) -> Self {
        let mut v = View::default();
        for o in objects {
            match o {
                Object::Kv { key, record } => {
                    v.kv.insert(key, record.value);
                }
                Object::Workflow(w) => {
                    v.workflows
                        .insert(w.id.clone(), (w.status.clone(), w.version));
                }
                Object::Task(t) => {
                    v.tasks
                        .insert((t.workflow_id.clone(), t.id.clone()), t.version);
                }
                Object::Checkpoint(c) => {
                    v.checkpoints.insert((c.workflow_id.clone(), c.id.clone()));
                }
                Object::Vars {
                    scope,
                    namespace,
                    record,
                } => {
                    v.vars.insert(scope, (namespace, record.version));
                }
                Object::Lock(_) | Object::Election(_) => {}
            }
        }
        v
    }

    fn apply(&mut self, c: &Change) {
        match c {
            Change::KvPut { key, record, .. } => {
                self.kv.insert(key.clone(), record.value.clone());
            }
            Change::KvDelete { key, .. } => {
                self.kv.remove(key);
            }
            Change::WorkflowPut { record, .. } => {
                self.workflows
                    .insert(record.id.clone(), (record.status.clone(), record.version));
            }
            Change::WorkflowDelete { record } => {
                self.workflows.remove(&record.id);
            }
            Change::TaskPut { record } => {
                self.tasks.insert(
                    (record.workflow_id.clone(), record.id.clone()),
                    record.version,
                );
            }
            Change::TaskDelete {
                workflow_id,
                task_id,
            } => {
                self.tasks.remove(&(workflow_id.clone(), task_id.clone()));
            }
            Change::CheckpointPut { record } => {
                self.checkpoints
                    .insert((record.workflow_id.clone(), record.id.clone()));
            }
            Change::CheckpointDelete { workflow_id, id } => {
                self.checkpoints.remove(&(workflow_id.clone(), id.clone()));
            }
            Change::VarsPut {
                scope,
                namespace,
                record,
            } => {
                self.vars
                    .insert(scope.clone(), (namespace.clone(), record.version));
            }
            Change::VarsDelete { scope, .. } => {
                self.vars.remove(scope);
            }
            Change::LockPut { .. }
            | Change::LockDelete { .. }
            | Change::ElectionPut { .. }
            | Change::ElectionDelete { .. } => {}
        }
    }
}

#[tokio::test]
async fn snapshot_then_events_rebuild_the_state_exactly() {
    let (_d, _log, sm) = temp_store().await;
    let filter = Filter::new(vec![
        Selector::Kv { prefix: vec![] },
        Selector::Workflows {
            id: None,
            namespace: None,
            statuses: vec![],
        },
        Selector::Tasks { workflow_id: None },
        Selector::Checkpoints { workflow_id: None },
        Selector::Vars {
            scope: None,
            namespace: None,
        },
    ]);
    sm.apply_batch(&mixed(1, 60)).unwrap();
    let (at, objects) = sm.watch_reader().snapshot(&filter).unwrap();
    assert_eq!(at, 60);
    let mut view = View::from_snapshot(objects);
    sm.apply_batch(&mixed(61, 60)).unwrap();
    for g in all(&sm, at + 1) {
        assert!(g.revision > at);
        for c in &g.changes {
            assert!(filter.matches(c));
            view.apply(c);
        }
    }
    let (now, objects) = sm.watch_reader().snapshot(&filter).unwrap();
    assert_eq!(now, 120);
    assert_eq!(view, View::from_snapshot(objects));
    assert!(!view.kv.is_empty() && !view.workflows.is_empty() && !view.tasks.is_empty());
    assert!(!view.checkpoints.is_empty());
    // Workflow variables come and go with their workflows; the namespace's stay.
    assert!(view.vars.keys().any(|s| matches!(s, VarScope::Workflow(_))));
    assert!(view.vars.contains_key(&VarScope::Namespace("ns".into())));
    let ns_vars = Filter::new(vec![Selector::Vars {
        scope: None,
        namespace: Some("ns".into()),
    }]);
    let (_, objects) = sm.watch_reader().snapshot(&ns_vars).unwrap();
    assert_eq!(View::from_snapshot(objects).vars, view.vars);

    // Narrow selectors pick the same objects a filter on events would.
    let running = Filter::new(vec![Selector::Workflows {
        id: None,
        namespace: Some("ns".into()),
        statuses: vec!["RUNNING".into()],
    }]);
    let (_, objects) = sm.watch_reader().snapshot(&running).unwrap();
    let expect: Vec<_> = view
        .workflows
        .iter()
        .filter(|(_, (s, _))| s == "RUNNING")
        .map(|(id, _)| id.clone())
        .collect();
    let got: Vec<_> = objects
        .iter()
        .map(|o| match o {
            Object::Workflow(w) => w.id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, expect);
    assert!(!got.is_empty());
}

#[tokio::test]
async fn history_starts_at_the_revision_the_store_opened_with() {
    let dir = tempfile::TempDir::new().unwrap();
    {
        // In the log too: a store whose state machine is ahead of its log rebuilds it.
        let (mut log, sm) = crate::test_util::open_in(&dir, crate::StorageConfig::default()).await;
        crate::test_util::append_durably(&mut log, mixed(1, 10)).await;
        sm.apply_batch(&mixed(1, 10)).unwrap();
    }
    let (_log, sm) = crate::test_util::open_in(&dir, crate::StorageConfig::default()).await;
    let hub = sm.watch_reader().hub().clone();
    assert_eq!(hub.window(), (10, 10));
    // Resuming after revision 5 would need 6..=10, which this process never saw.
    assert!(matches!(
        hub.read(6, 10, usize::MAX),
        HistoryRead::Compacted {
            compacted: 10,
            current: 10
        }
    ));
    sm.apply_batch(&mixed(11, 3)).unwrap();
    assert_eq!(all(&sm, 11).first().map(|g| g.revision), Some(11));
}

#[tokio::test]
async fn an_installed_snapshot_restarts_the_history_at_its_revision() {
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};

    let (_d1, _l1, mut leader) = temp_store().await;
    let (_d2, _l2, mut follower) = temp_store().await;
    leader.apply_batch(&mixed(1, 40)).unwrap();
    follower.apply_batch(&mixed(1, 10)).unwrap();
    let hub = follower.watch_reader().hub().clone();
    let mut woken = hub.subscribe();
    woken.borrow_and_update();
    let snap = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    follower
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    // Revisions 11..=40 never passed through the follower's apply: a watcher that still needs
    // them is told so, and watchers waiting for news are woken to find out.
    assert!(woken.has_changed().unwrap());
    assert_eq!(hub.window(), (40, 40));
    assert!(matches!(
        hub.read(11, 10, usize::MAX),
        HistoryRead::Compacted {
            compacted: 40,
            current: 40
        }
    ));
    follower.apply_batch(&mixed(41, 2)).unwrap();
    assert_eq!(all(&follower, 41).first().map(|g| g.revision), Some(41));
}

#[tokio::test]
async fn locks_report_holders_lines_and_release() {
    use cairn_model::coord::{CoordCommand, LeaseChoice};

    let (_d, _log, sm) = temp_store().await;
    let acquire = |owner: &str| {
        Command::Coord(CoordCommand::Acquire {
            name: "jobs/1".into(),
            owner: owner.into(),
            lease: LeaseChoice::New { ttl_ms: 10_000 },
            wait: true,
        })
    };
    let release = |owner: &str, token| {
        Command::Coord(CoordCommand::Release {
            name: "jobs/1".into(),
            owner: owner.into(),
            token,
        })
    };
    sm.apply_batch(&[
        normal(1, req(acquire("a"), 1, None)),
        normal(2, req(acquire("b"), 2, None)),
        normal(3, req(release("a", 1), 3, None)),
        normal(4, req(release("b", 3), 4, None)),
    ])
    .unwrap();
    let locks = Filter::new(vec![Selector::Locks {
        prefix: "jobs/".into(),
    }]);
    let got: Vec<(u64, Change)> = all(&sm, 1)
        .into_iter()
        .flat_map(|g| {
            let r = g.revision;
            g.changes.into_iter().map(move |c| (r, c))
        })
        .filter(|(_, c)| locks.matches(c))
        .collect();
    let holder = |c: &Change| match c {
        Change::LockPut { record } => (
            record.holder.as_ref().map(|h| (h.owner.clone(), h.token)),
            record.waiters.len(),
        ),
        other => panic!("{other:?}"),
    };
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(holder(&got[0].1), (Some(("a".into(), 1)), 0));
    assert_eq!(holder(&got[1].1), (Some(("a".into(), 1)), 1));
    // A's release hands the lock to B at that revision (its fencing token).
    assert_eq!(holder(&got[2].1), (Some(("b".into(), 3)), 0));
    assert!(matches!(&got[3], (4, Change::LockDelete { name }) if name == "jobs/1"));
    let (_, objects) = sm.watch_reader().snapshot(&locks).unwrap();
    assert!(objects.is_empty());
}
