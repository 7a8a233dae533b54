//! The permission check: key coverage with etcd's range rules, unions of roles, root.

use super::*;
use crate::auth::{PermKind, Permission, ROOT};
use crate::txn::{Compare, CompareOp, CompareTarget, PutOp};

fn user(roles: &[&str]) -> User {
    User {
        name: "u".into(),
        password_hash: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        password_revision: 1,
    }
}

fn role(name: &str, perms: &[(PermKind, &str, &str)]) -> Role {
    Role {
        name: name.into(),
        permissions: perms
            .iter()
            .map(|(kind, key, end)| Permission {
                kind: *kind,
                resource: Resource::Keys(KeyRange {
                    key: key.as_bytes().to_vec(),
                    range_end: end.as_bytes().to_vec(),
                }),
            })
            .collect(),
    }
}

fn roles() -> impl Fn(&str) -> Option<Role> {
    |name| match name {
        "app" => Some(role("app", &[(PermKind::ReadWrite, "app/", "app0")])),
        "reader" => Some(role("reader", &[(PermKind::Read, "a", "\0")])),
        "one" => Some(role("one", &[(PermKind::Write, "k", "")])),
        "left" => Some(role("left", &[(PermKind::Write, "a", "m")])),
        "right" => Some(role("right", &[(PermKind::Write, "m", "z")])),
        "prod" => Some(Role {
            name: "prod".into(),
            permissions: vec![Permission {
                kind: PermKind::ReadWrite,
                resource: Resource::Namespace("prod".into()),
            }],
        }),
        _ => None,
    }
}

fn put(key: &str) -> Command {
    Command::Put {
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
        expected_revision: None,
    }
}

/// Workflow `wf-prod` is in namespace `prod`, `wf-dev` in `dev`; others do not exist.
fn namespace_of(id: &str) -> Option<String> {
    id.strip_prefix("wf-").map(str::to_string)
}

fn check(u: &User, cmd: &Command) -> Result<(), AuthError> {
    authorize(u, roles(), namespace_of, &needs(cmd))
}

#[test]
fn a_prefix_permission_covers_its_keys_and_nothing_else() {
    let u = user(&["app"]);
    assert_eq!(check(&u, &put("app/x")), Ok(()));
    assert_eq!(check(&u, &put("apq")), Err(AuthError::PermissionDenied));
    assert_eq!(check(&u, &put("app")), Err(AuthError::PermissionDenied));
}

#[test]
fn read_does_not_imply_write_and_a_single_key_is_only_itself() {
    assert_eq!(
        check(&user(&["reader"]), &put("b")),
        Err(AuthError::PermissionDenied)
    );
    let one = user(&["one"]);
    assert_eq!(check(&one, &put("k")), Ok(()));
    assert_eq!(check(&one, &put("k\0")), Err(AuthError::PermissionDenied));
    assert_eq!(check(&one, &put("j")), Err(AuthError::PermissionDenied));
}

#[test]
fn ranges_must_be_covered_whole_by_the_union_of_roles() {
    let range = |key: &str, end: &str| {
        Command::Txn(TxnCommand {
            compare: Vec::new(),
            success: vec![TxnOp::DeleteRange {
                range: KeyRange {
                    key: key.into(),
                    range_end: end.into(),
                },
                prev_kv: false,
            }],
            failure: Vec::new(),
        })
    };
    let both = user(&["left", "right"]);
    assert_eq!(check(&both, &range("b", "y")), Ok(()));
    assert_eq!(
        check(&user(&["left"]), &range("b", "y")),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        check(&both, &range("b", "\0")),
        Err(AuthError::PermissionDenied),
        "to the end of the key space is more than [a, z)"
    );
    // An inverted range still needs its first key.
    assert_eq!(
        check(&user(&[]), &range("q", "b")),
        Err(AuthError::PermissionDenied)
    );
}

#[test]
fn every_part_of_a_transaction_is_checked() {
    let u = user(&["app", "reader"]);
    let txn = |compare_key: &str, put_key: &str, nested: bool| {
        let mut t = TxnCommand {
            compare: vec![Compare {
                range: KeyRange::single(compare_key.as_bytes().to_vec()),
                op: CompareOp::Equal,
                target: CompareTarget::Version(0),
            }],
            success: Vec::new(),
            failure: Vec::new(),
        };
        let op = TxnOp::Put(PutOp {
            key: put_key.as_bytes().to_vec(),
            value: Vec::new(),
            lease: 0,
            prev_kv: false,
            ignore_value: false,
            ignore_lease: false,
        });
        if nested {
            t.failure.push(TxnOp::Txn(TxnCommand {
                compare: Vec::new(),
                success: vec![op],
                failure: Vec::new(),
            }));
        } else {
            t.success.push(op);
        }
        Command::Txn(t)
    };
    assert_eq!(check(&u, &txn("b", "app/1", false)), Ok(()));
    assert_eq!(
        check(&u, &txn("b", "b", false)),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        check(&u, &txn("b", "b", true)),
        Err(AuthError::PermissionDenied),
        "a nested put is checked too"
    );
    assert_eq!(
        check(&user(&["app"]), &txn("b", "app/1", false)),
        Err(AuthError::PermissionDenied),
        "a compare reads its key"
    );
}

#[test]
fn root_may_do_anything_and_only_root_may_administer() {
    let compact = Command::Compact { revision: 3 };
    assert_eq!(check(&user(&[ROOT]), &compact), Ok(()));
    assert_eq!(check(&user(&[ROOT]), &put("anything")), Ok(()));
    assert_eq!(
        check(&user(&["app", "reader"]), &compact),
        Err(AuthError::PermissionDenied)
    );
    let role_add = Command::Auth(crate::auth::AuthCommand::RoleAdd { name: "x".into() });
    assert_eq!(
        check(&user(&["app"]), &role_add),
        Err(AuthError::PermissionDenied)
    );
}

#[test]
fn leases_need_only_a_user_and_lock_names_are_keys() {
    let u = user(&["app"]);
    let grant = Command::Coord(crate::coord::CoordCommand::GrantLease {
        id: None,
        ttl_ms: 5_000,
    });
    assert_eq!(check(&u, &grant), Ok(()));
    let acquire = |name: &str| {
        Command::Coord(crate::coord::CoordCommand::Acquire {
            name: name.into(),
            owner: "o".into(),
            lease: crate::coord::LeaseChoice::Existing(1),
            wait: false,
        })
    };
    assert_eq!(check(&u, &acquire("app/lock")), Ok(()));
    assert_eq!(
        check(&u, &acquire("other")),
        Err(AuthError::PermissionDenied)
    );
}

#[test]
fn workflows_are_checked_by_namespace_the_command_names_or_the_workflow_is_in() {
    use crate::workflow::command::{CreateWorkflow, TransitionWorkflow};
    use crate::workflow::{Target, WorkflowCommand};
    let u = user(&["prod", "app"]);
    let create = |id: Option<&str>, namespace: &str| {
        Command::Workflow(WorkflowCommand::Create(Box::new(CreateWorkflow {
            id: id.map(str::to_string),
            namespace: namespace.into(),
            definition: "default".into(),
            definition_version: None,
            metadata: "{}".into(),
            labels: Default::default(),
            owner_id: String::new(),
            routing_strategy: String::new(),
            max_concurrent: 0,
            total_tasks: 0,
            upsert: true,
            actor: String::new(),
        })))
    };
    let transition = |id: &str| {
        Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
            id: id.into(),
            target: Target::Status("RUNNING".into()),
            expected_version: None,
            actor: String::new(),
            reason: String::new(),
        }))
    };
    assert_eq!(check(&u, &create(None, "prod")), Ok(()));
    assert_eq!(check(&u, &create(Some("new"), "prod")), Ok(()));
    assert_eq!(
        check(&u, &create(None, "dev")),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        check(&u, &create(Some("wf-dev"), "prod")),
        Err(AuthError::PermissionDenied),
        "an upsert onto another namespace's workflow"
    );
    assert_eq!(check(&u, &transition("wf-prod")), Ok(()));
    assert_eq!(
        check(&u, &transition("wf-dev")),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        check(&u, &transition("missing")),
        Ok(()),
        "answers not found at apply"
    );
    assert!(needs_state(&needs(&transition("x"))));
    assert!(!needs_state(&needs(&put("x"))));
    // A namespace permission covers no keys, and keys no namespace.
    assert_eq!(
        check(&user(&["prod"]), &put("prod")),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        check(&user(&["app"]), &create(None, "app")),
        Err(AuthError::PermissionDenied)
    );
}
