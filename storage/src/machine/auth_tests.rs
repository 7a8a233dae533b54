//! Auth at apply: commands change the replicated auth state, and a request authorized before
//! a change is checked again against the state it meets.

use cairn_model::auth::{AuthCommand, AuthError, AuthStamp, PermKind, Permission, ROOT, Resource};
use cairn_model::command::{Command, CommandError, Request, Response};
use cairn_model::txn::KeyRange;

use crate::test_util::{new_workflow, normal, put, req, temp_store};

fn auth(cmd: AuthCommand) -> Command {
    Command::Auth(cmd)
}

fn as_user(command: Command, user: &str, revision: u64) -> Request {
    let mut r = req(command, 1, None);
    r.auth = Some(AuthStamp {
        user: user.into(),
        revision,
    });
    r
}

/// root (with the root role), alice with role `app` (readwrite on app/), auth on at 6.
fn setup() -> Vec<Command> {
    vec![
        auth(AuthCommand::UserAdd {
            name: ROOT.into(),
            password_hash: None,
        }),
        auth(AuthCommand::UserGrantRole {
            user: ROOT.into(),
            role: ROOT.into(),
        }),
        auth(AuthCommand::UserAdd {
            name: "alice".into(),
            password_hash: None,
        }),
        auth(AuthCommand::RoleAdd { name: "app".into() }),
        auth(AuthCommand::RoleGrantPermission {
            role: "app".into(),
            permission: Permission {
                kind: PermKind::ReadWrite,
                resource: Resource::Keys(KeyRange::prefix("app/")),
            },
        }),
        auth(AuthCommand::UserGrantRole {
            user: "alice".into(),
            role: "app".into(),
        }),
        auth(AuthCommand::Enable {
            secret: vec![1; 32],
        }),
    ]
}

#[tokio::test]
async fn a_permission_revoked_after_the_check_stops_the_write_at_apply() {
    let (_d, _log, sm) = temp_store().await;
    let entries: Vec<_> = setup()
        .into_iter()
        .enumerate()
        .map(|(i, c)| normal(i as u64 + 1, req(c, 1, None)))
        .collect();
    let replies = sm.apply_batch(&entries).unwrap();
    assert!(replies.iter().all(|r| matches!(r, Response::Auth { .. })));
    let on = sm.auth_reader().enabled_at().unwrap();
    assert_eq!(on, Some(7));

    // Checked at 7 and applied at 7: no second look.
    let r = sm
        .apply_batch(&[normal(8, as_user(put("app/1", "v", None), "alice", 7))])
        .unwrap();
    assert_eq!(r, vec![Response::Put { revision: 8 }]);

    // The role is revoked (revision 9); a put checked at 7 arrives after it.
    let revoke = auth(AuthCommand::UserRevokeRole {
        user: "alice".into(),
        role: "app".into(),
    });
    let r = sm
        .apply_batch(&[
            normal(9, as_user(revoke, ROOT, 7)),
            normal(10, as_user(put("app/2", "v", None), "alice", 7)),
            normal(11, req(put("app/3", "v", None), 1, None)),
            normal(12, as_user(put("app/4", "v", None), ROOT, 7)),
        ])
        .unwrap();
    let denied = |e| Response::Rejected(CommandError::Auth(e));
    assert_eq!(r[0], Response::Auth { revision: 9 });
    assert_eq!(r[1], denied(AuthError::PermissionDenied));
    assert_eq!(
        r[2],
        denied(AuthError::UserEmpty),
        "no user while auth is on"
    );
    assert_eq!(r[3], Response::Put { revision: 12 }, "root still may");
    let reader = sm.reader();
    assert!(reader.get(b"app/2").unwrap().is_none());
    assert!(reader.get(b"app/3").unwrap().is_none());
    assert_eq!(sm.auth_reader().enabled_at().unwrap(), Some(9));
    let state = sm.auth_reader().state().unwrap();
    assert!(state.user("alice").unwrap().roles.is_empty());
}

#[tokio::test]
async fn a_refused_auth_command_changes_nothing() {
    let (_d, _log, sm) = temp_store().await;
    let r = sm
        .apply_batch(&[normal(
            1,
            req(
                auth(AuthCommand::Enable {
                    secret: vec![1; 32],
                }),
                1,
                None,
            ),
        )])
        .unwrap();
    assert_eq!(
        r,
        vec![Response::Rejected(CommandError::Auth(
            AuthError::RootUserNotExist
        ))]
    );
    let auth_records: Vec<_> = sm
        .dump()
        .into_iter()
        .filter(|(space, k, _)| *space == 0 && k.starts_with(b"auth"))
        .collect();
    assert!(auth_records.is_empty(), "{auth_records:?}");
    assert_eq!(sm.auth_reader().enabled_at().unwrap(), None);
}

#[tokio::test]
async fn a_write_to_a_workflow_is_checked_at_apply_against_the_namespace_it_is_in() {
    use cairn_model::workflow::command::{CreateWorkflow, TransitionWorkflow};
    use cairn_model::workflow::{Target, WorkflowCommand, WorkflowError};

    let (_d, _log, sm) = temp_store().await;
    let mut setup = setup();
    // alice's role also covers the workflows of namespace `prod`.
    setup.insert(
        5,
        auth(AuthCommand::RoleGrantPermission {
            role: "app".into(),
            permission: Permission {
                kind: PermKind::ReadWrite,
                resource: Resource::Namespace("prod".into()),
            },
        }),
    );
    let entries: Vec<_> = setup
        .into_iter()
        .enumerate()
        .map(|(i, c)| normal(i as u64 + 1, req(c, 1, None)))
        .collect();
    sm.apply_batch(&entries).unwrap();
    let on = sm.auth_reader().enabled_at().unwrap().unwrap();
    let create = |id: &str, namespace: &str| {
        Command::Workflow(WorkflowCommand::Create(Box::new(CreateWorkflow {
            upsert: true,
            ..new_workflow(id, namespace)
        })))
    };
    let start = |id: &str| {
        Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
            id: id.into(),
            target: Target::Event("start".into()),
            expected_version: None,
            actor: String::new(),
            reason: String::new(),
        }))
    };
    let first = on + 1;
    let r = sm
        .apply_batch(&[
            normal(first, as_user(create("p", "prod"), "alice", on)),
            normal(first + 1, as_user(create("d", "dev"), ROOT, on)),
            // Stamped at the current auth revision, but `d` is in dev: refused here, where the
            // serving node could not know (it may have seen no `d` at all).
            normal(first + 2, as_user(start("d"), "alice", on)),
            normal(first + 3, as_user(create("d", "prod"), "alice", on)),
            normal(first + 4, as_user(start("p"), "alice", on)),
            normal(first + 5, as_user(start("nope"), "alice", on)),
        ])
        .unwrap();
    let denied = Response::Rejected(CommandError::Auth(AuthError::PermissionDenied));
    assert!(matches!(r[0], Response::Workflow { .. }), "{:?}", r[0]);
    assert!(matches!(r[1], Response::Workflow { .. }), "{:?}", r[1]);
    assert_eq!(r[2], denied, "a transition of dev's workflow");
    assert_eq!(r[3], denied, "an upsert onto dev's workflow, naming prod");
    assert!(matches!(r[4], Response::Workflow { .. }), "{:?}", r[4]);
    assert_eq!(
        r[5],
        Response::Rejected(CommandError::Workflow(WorkflowError::NotFound(
            "nope".into()
        )))
    );
    let d = sm.workflow_reader().workflow("d").unwrap().unwrap();
    assert_eq!(
        (d.namespace.as_str(), d.status.as_str()),
        ("dev", "PENDING")
    );
}
