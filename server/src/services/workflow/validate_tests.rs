//! Tests of the workflow service's input checks and request-to-command mapping.

use cairn_api::meta::kind;
use cairn_api::v1 as pb;
use cairn_model::workflow::limits::RecordLimits;
use cairn_model::workflow::query::SortBy;
use cairn_model::workflow::{Target, TaskStatus};
use tonic::{Code, Status};

use super::validate::*;

fn code_and_kind(s: &Status) -> (Code, Option<&str>) {
    (
        s.code(),
        s.metadata()
            .get(cairn_api::meta::ERROR_KIND)
            .and_then(|v| v.to_str().ok()),
    )
}

#[test]
fn create_fills_defaults_and_canonicalizes_metadata() {
    let limits = RecordLimits::default();
    let c = create(
        &limits,
        pb::CreateWorkflowRequest {
            metadata: r#"{ "b": 1, "a": [true] }"#.into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.id, None);
    assert_eq!(c.namespace, "default");
    assert_eq!(c.definition, "default");
    assert_eq!(c.metadata, r#"{"a":[true],"b":1}"#);
    let c = create(&limits, pb::CreateWorkflowRequest::default()).unwrap();
    assert_eq!(c.metadata, "{}");
}

#[test]
fn create_rejects_bad_input_with_typed_kinds() {
    let limits = RecordLimits {
        max_metadata_bytes: 16,
        max_labels: 1,
        ..Default::default()
    };
    let bad = |r: pb::CreateWorkflowRequest| create(&limits, r).unwrap_err();
    let s = bad(pb::CreateWorkflowRequest {
        id: "has space".into(),
        ..Default::default()
    });
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::INVALID_ID))
    );
    assert!(s.message().starts_with("id: "), "{}", s.message());
    let s = bad(pb::CreateWorkflowRequest {
        metadata: "[1]".into(),
        ..Default::default()
    });
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::LIMIT))
    );
    assert!(s.message().contains("JSON object"), "{}", s.message());
    let s = bad(pb::CreateWorkflowRequest {
        metadata: format!(r#"{{"k":"{}"}}"#, "x".repeat(20)),
        ..Default::default()
    });
    assert!(s.message().contains("limit is 16 bytes"), "{}", s.message());
    let s = bad(pb::CreateWorkflowRequest {
        labels: [("a".into(), "1".into()), ("b".into(), "2".into())].into(),
        ..Default::default()
    });
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::LIMIT))
    );
    let s = bad(pb::CreateWorkflowRequest {
        namespace: "no/spaces please".into(),
        ..Default::default()
    });
    assert!(s.message().starts_with("namespace: "), "{}", s.message());
    let s = bad(pb::CreateWorkflowRequest {
        owner_id: "o".repeat(300),
        ..Default::default()
    });
    assert_eq!(s.code(), Code::InvalidArgument);
}

#[test]
fn transition_needs_a_valid_target() {
    use pb::transition_workflow_request::Target as T;
    let t = transition(pb::TransitionWorkflowRequest {
        id: "w".into(),
        target: Some(T::Event("pause".into())),
        expected_version: Some(3),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(t.target, Target::Event("pause".into()));
    assert_eq!(t.expected_version, Some(3));
    let none = transition(pb::TransitionWorkflowRequest {
        id: "w".into(),
        ..Default::default()
    });
    assert_eq!(none.unwrap_err().code(), Code::InvalidArgument);
    let bad = transition(pb::TransitionWorkflowRequest {
        id: "w".into(),
        target: Some(T::Status("NOT A STATUS".into())),
        ..Default::default()
    });
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
}

#[test]
fn update_patch_must_be_an_object() {
    let limits = RecordLimits::default();
    let u = update(
        &limits,
        pb::UpdateWorkflowRequest {
            id: "w".into(),
            metadata_patch: Some(r#"{"z": null, "a": 1}"#.into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(u.metadata_patch.as_deref(), Some(r#"{"a":1,"z":null}"#));
    for patch in ["3", "{oops"] {
        let s = update(
            &limits,
            pb::UpdateWorkflowRequest {
                id: "w".into(),
                metadata_patch: Some(patch.into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{patch}");
    }
    let s = update(
        &limits,
        pb::UpdateWorkflowRequest {
            id: "w".into(),
            remove_labels: vec!["bad key".into()],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::INVALID_ID))
    );
}

#[test]
fn upsert_tasks_checks_ids_statuses_and_json() {
    let limits = RecordLimits::default();
    let spec = |id: &str| pb::TaskSpec {
        id: id.into(),
        ..Default::default()
    };
    let ok = upsert_tasks(
        &limits,
        pb::UpsertTasksRequest {
            workflow_id: "w".into(),
            tasks: vec![
                pb::TaskSpec {
                    status: Some("RUNNING".into()),
                    input: Some(r#"{ "n" : 1 }"#.into()),
                    output: Some(String::new()),
                    dependencies: Some(pb::TaskDependencies {
                        ids: vec!["b".into()],
                    }),
                    ..spec("a")
                },
                spec("b"),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ok.tasks[0].status, Some(TaskStatus::Running));
    assert_eq!(ok.tasks[0].input.as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(ok.tasks[0].output.as_deref(), Some(""), "empty clears");
    assert_eq!(ok.tasks[0].dependencies, Some(vec!["b".to_string()]));
    assert_eq!(ok.tasks[1].dependencies, None, "unset leaves them alone");

    let bad = |tasks: Vec<pb::TaskSpec>| {
        upsert_tasks(
            &limits,
            pb::UpsertTasksRequest {
                workflow_id: "w".into(),
                tasks,
                ..Default::default()
            },
        )
        .unwrap_err()
    };
    let s = bad(vec![spec("a"), spec("a")]);
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::DUPLICATE_TASK))
    );
    let s = bad(vec![pb::TaskSpec {
        status: Some("running".into()),
        ..spec("a")
    }]);
    assert!(
        s.message().contains("unknown task status"),
        "{}",
        s.message()
    );
    let s = bad(vec![pb::TaskSpec {
        output: Some("{nope".into()),
        ..spec("a")
    }]);
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::INVALID_JSON))
    );
    let s = bad(vec![]);
    assert_eq!(s.code(), Code::InvalidArgument);
    let s = bad(vec![pb::TaskSpec {
        dependencies: Some(pb::TaskDependencies {
            ids: vec!["no good".into()],
        }),
        ..spec("a")
    }]);
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::INVALID_ID))
    );
}

#[test]
fn definitions_are_validated_with_a_report() {
    let d = pb::WorkflowDefinition {
        name: "two".into(),
        states: vec!["A".into(), "B".into(), "ORPHAN".into(), "DONE".into()],
        initial: "A".into(),
        terminal: vec!["DONE".into()],
        transitions: vec![pb::WorkflowTransition {
            from: "A".into(),
            to: "B".into(),
            event: None,
        }],
    };
    let (def, report) = definition(Some(d.clone())).unwrap();
    assert_eq!(def.name, "two");
    assert_eq!(report.unreachable, vec!["ORPHAN", "DONE"]);
    assert_eq!(report.dead_ends, vec!["B", "ORPHAN"]);
    let mut broken = d;
    broken.initial = "NOPE".into();
    let s = definition(Some(broken)).unwrap_err();
    assert_eq!(
        code_and_kind(&s),
        (Code::InvalidArgument, Some(kind::INVALID_DEFINITION))
    );
    assert!(definition(None).is_err());
}

#[test]
fn list_queries_default_the_namespace_and_check_filters() {
    let q = list(pb::ListWorkflowsRequest {
        statuses: vec!["PENDING".into(), "RUNNING".into()],
        sort: pb::WorkflowSort::Updated as i32,
        descending: true,
        limit: 10,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(q.namespace, "default");
    assert_eq!(q.sort, SortBy::Updated);
    assert!(q.descending);
    assert_eq!(q.cursor, None);
    let bad = list(pb::ListWorkflowsRequest {
        statuses: vec!["NOT OK".into()],
        ..Default::default()
    });
    assert!(bad.is_err());
    let bad = list(pb::ListWorkflowsRequest {
        sort: 9,
        ..Default::default()
    });
    assert!(bad.is_err());
}
