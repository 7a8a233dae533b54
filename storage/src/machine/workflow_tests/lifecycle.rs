//! A workflow's whole life in the store: delete and purge, generated ids, indexes rebuilt on
//! open and snapshot install, and history compaction.

use super::*;

#[tokio::test]
async fn delete_and_purge_remove_everything_of_a_workflow() {
    let mut h = Harness::new().await;
    let empty = h.workflow_state();
    h.create("keep", "default", &[]);
    let with_keep = h.workflow_state();
    for id in ["gone", "old"] {
        h.create(id, "default", &[]);
        h.apply(upsert(
            id,
            vec![spec("t1", None, &[]), spec("t2", None, &["t1"])],
        ))
        .unwrap();
        h.transition(id, ev("start"), None).unwrap();
    }
    assert_eq!(
        h.apply(WorkflowCommand::Delete {
            id: "gone".into(),
            force: true
        }),
        Ok(WorkflowReply::Deleted {
            id: "gone".into(),
            tasks: 2
        })
    );
    h.transition("old", ev("finish"), None).unwrap();
    let finished =
        h.sm.workflow_reader()
            .workflow("old")
            .unwrap()
            .unwrap()
            .finished_ms
            .unwrap();
    let reader = h.sm.workflow_reader();
    assert_eq!(
        reader.finished_before(finished, 10).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(reader.finished_before(finished + 1, 10).unwrap(), ["old"]);
    // Only those still finished before the cutoff go; unknown or live ids are skipped.
    let r = h
        .apply(WorkflowCommand::Purge {
            ids: vec!["old".into(), "keep".into(), "ghost".into()],
            finished_before_ms: finished + 1,
        })
        .unwrap();
    assert_eq!(
        r,
        WorkflowReply::Purged {
            ids: vec!["old".into()]
        }
    );
    assert_eq!(with_keep, h.workflow_state());
    h.transition("keep", ev("cancel"), None).unwrap();
    h.apply(WorkflowCommand::Delete {
        id: "keep".into(),
        force: false,
    })
    .unwrap();
    assert_eq!(empty, h.workflow_state());
}

#[tokio::test]
async fn generated_ids_are_unique() {
    let mut h = Harness::new().await;
    let mut c = create_cmd("x", "default", &[]);
    if let WorkflowCommand::Create(c) = &mut c {
        c.id = None;
    }
    let a = h.apply(c.clone()).unwrap();
    let b = h.apply(c).unwrap();
    let id = |r: &WorkflowReply| match r {
        WorkflowReply::Workflow { workflow, .. } => workflow.id.clone(),
        _ => unreachable!(),
    };
    assert_eq!(id(&a), "wf-000000000001");
    assert_ne!(id(&a), id(&b));
}

/// The list indexes live in memory: a reopened store and a store that installed a snapshot
/// must answer every query exactly as the store that applied the commands.
#[tokio::test]
async fn indexes_are_rebuilt_on_open_and_snapshot_install() {
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};

    let mut h = Harness::new().await;
    for i in 0..20 {
        h.create(&format!("w{i:02}"), "default", &[]);
    }
    for i in (0..20).step_by(3) {
        h.transition(&format!("w{i:02}"), ev("start"), None)
            .unwrap();
    }
    h.transition("w03", ev("finish"), None).unwrap();
    h.apply(WorkflowCommand::Delete {
        id: "w06".into(),
        force: true,
    })
    .unwrap();
    let queries = [
        ListQuery {
            namespace: "ns".into(),
            statuses: vec!["PENDING".into(), "RUNNING".into()],
            ..ListQuery::default()
        },
        ListQuery {
            namespace: "ns".into(),
            sort: SortBy::Updated,
            descending: true,
            ..ListQuery::default()
        },
    ];
    let answers = |sm: &StateMachineStore| {
        let r = sm.workflow_reader();
        let lists: Vec<_> = queries.iter().map(|q| r.list(q).unwrap()).collect();
        (lists, r.finished_before(u64::MAX, 100).unwrap())
    };
    let expected = answers(&h.sm);
    assert_eq!(expected.0[0].workflows.len(), 18);
    assert_eq!(expected.1, ["w03"]);

    let mut builder = h.sm.get_snapshot_builder().await;
    let snap = builder.build_snapshot().await.unwrap();
    let (_d2, _l2, mut other) = temp_store().await;
    other
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    assert_eq!(expected, answers(&other));

    let Harness { sm, _dir: dir, .. } = h;
    drop(sm);
    let (_log, reopened) = crate::test_util::open_in(&dir, crate::StorageConfig::default()).await;
    assert_eq!(expected, answers(&reopened));
}

#[tokio::test]
async fn compacting_history_keeps_the_latest_events_and_deletes_cleanly() {
    let mut h = Harness::new().await;
    let empty = h.workflow_state();
    h.create("wf", "default", &[]);
    h.transition("wf", ev("start"), None).unwrap();
    h.transition("wf", status("PAUSED"), None).unwrap();
    h.transition("wf", ev("resume"), None).unwrap();
    let compact = |keep_last| WorkflowCommand::CompactHistory {
        id: "wf".into(),
        keep_last,
    };
    assert_eq!(
        h.apply(compact(2)),
        Ok(WorkflowReply::HistoryCompacted {
            id: "wf".into(),
            floor: 3,
            removed: 2
        })
    );
    let rec = h.sm.workflow_reader().workflow("wf").unwrap().unwrap();
    // Compaction is not a change of the workflow: its version stays.
    assert_eq!((rec.version, rec.history_floor), (4, 3));
    let page = h.sm.workflow_reader().history("wf", 1, 100).unwrap();
    let versions: Vec<u64> = page.events.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![3, 4]);
    // Compacting to where it already is removes nothing; keep_last 0 still keeps one.
    assert_eq!(
        h.apply(compact(5)),
        Ok(WorkflowReply::HistoryCompacted {
            id: "wf".into(),
            floor: 3,
            removed: 0
        })
    );
    assert_eq!(
        h.apply(compact(0)),
        Ok(WorkflowReply::HistoryCompacted {
            id: "wf".into(),
            floor: 4,
            removed: 1
        })
    );
    assert_eq!(
        h.apply(WorkflowCommand::CompactHistory {
            id: "nope".into(),
            keep_last: 1
        }),
        Err(WorkflowError::NotFound("nope".into()))
    );
    // Deleting after compaction leaves nothing behind.
    h.apply(WorkflowCommand::Delete {
        id: "wf".into(),
        force: true,
    })
    .unwrap();
    assert_eq!(empty, h.workflow_state());
}
