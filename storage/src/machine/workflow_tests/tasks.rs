//! Tasks inside a workflow: their status machine, dependencies, and bulk upserts.

use super::*;

#[tokio::test]
async fn tasks_follow_their_machine_and_dependencies() {
    use TaskStatus::*;
    let mut h = Harness::new().await;
    h.create("wf", "default", &[]);
    h.apply(upsert(
        "wf",
        vec![
            spec("a", None, &[]),
            spec("b", None, &["a"]),
            spec("c", None, &["a", "b"]),
        ],
    ))
    .unwrap();
    assert!(matches!(
        h.apply(upsert("wf", vec![spec("b", Some(Running), &[])])),
        Err(WorkflowError::Task {
            error: TaskError::DependenciesPending { .. },
            ..
        })
    ));
    h.apply(upsert("wf", vec![spec("a", Some(Running), &[])]))
        .unwrap();
    h.apply(upsert("wf", vec![spec("a", Some(Failed), &[])]))
        .unwrap();
    // Retry: FAILED -> PENDING -> RUNNING is attempt 2.
    h.apply(upsert("wf", vec![spec("a", Some(Pending), &[])]))
        .unwrap();
    h.apply(upsert("wf", vec![spec("a", Some(Running), &[])]))
        .unwrap();
    let r = h
        .apply(upsert("wf", vec![spec("a", Some(Completed), &[])]))
        .unwrap();
    match r {
        WorkflowReply::Tasks { tasks, .. } => {
            assert_eq!(
                (tasks[0].status, tasks[0].attempts, tasks[0].version),
                (Completed, 2, 6)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        h.apply(upsert("wf", vec![spec("a", Some(Running), &[])])),
        Err(WorkflowError::Task {
            error: TaskError::IllegalTransition { .. },
            ..
        })
    ));
    // Optimistic concurrency on a task: 0 means "must not exist yet".
    assert!(matches!(
        h.apply(upsert(
            "wf",
            vec![TaskSpec {
                expected_version: Some(0),
                ..spec("a", None, &[])
            }]
        )),
        Err(WorkflowError::TaskVersionConflict { current: 6, .. })
    ));
    h.apply(upsert("wf", vec![spec("b", Some(Running), &[])]))
        .unwrap();
    let tasks = h.sm.workflow_reader().tasks("wf").unwrap();
    assert_eq!(
        tasks
            .iter()
            .map(|t| (t.id.as_str(), t.status))
            .collect::<Vec<_>>(),
        [("a", Completed), ("b", Running), ("c", Pending)]
    );
    assert_eq!(
        cairn_model::workflow::task::ready_tasks(&tasks),
        Vec::<&str>::new(),
        "c waits for b"
    );

    // Once the workflow is terminal its tasks are frozen.
    h.transition("wf", ev("cancel"), None).unwrap();
    assert!(matches!(
        h.apply(upsert("wf", vec![spec("c", Some(Skipped), &[])])),
        Err(WorkflowError::Terminal { .. })
    ));
}
