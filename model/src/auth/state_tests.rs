//! etcd's auth store rules: root before enable, root protected while on, grants, revokes,
//! role deletion taking the role from users, revisions only on change.

use super::*;
use crate::auth::PermKind;
use crate::txn::KeyRange;

fn run(s: &mut AuthState, cmd: AuthCommand, rev: u64) -> Result<Applied, AuthError> {
    s.apply(&cmd, rev)
}

fn user_add(name: &str) -> AuthCommand {
    AuthCommand::UserAdd {
        name: name.into(),
        password_hash: Some("h".into()),
    }
}

fn grant(user: &str, role: &str) -> AuthCommand {
    AuthCommand::UserGrantRole {
        user: user.into(),
        role: role.into(),
    }
}

fn enable() -> AuthCommand {
    AuthCommand::Enable {
        secret: vec![7; 32],
    }
}

#[test]
fn enable_needs_a_root_user_with_the_root_role() {
    let mut s = AuthState::default();
    assert_eq!(run(&mut s, enable(), 1), Err(AuthError::RootUserNotExist));
    run(&mut s, user_add(ROOT), 2).unwrap();
    assert_eq!(run(&mut s, enable(), 3), Err(AuthError::RootRoleNotExist));
    // The root role need not be added first, as in etcd.
    run(&mut s, grant(ROOT, ROOT), 4).unwrap();
    assert_eq!(run(&mut s, enable(), 5), Ok(Applied::Changed));
    assert!(s.enabled);
    assert_eq!(s.revision, 5);
    assert_eq!(run(&mut s, enable(), 6), Ok(Applied::Unchanged));
    assert_eq!(s.revision, 5, "no change, no new revision");
}

#[test]
fn root_cannot_be_deleted_or_demoted_while_auth_is_on() {
    let mut s = AuthState::default();
    run(&mut s, user_add(ROOT), 1).unwrap();
    run(&mut s, grant(ROOT, ROOT), 2).unwrap();
    run(&mut s, AuthCommand::RoleAdd { name: ROOT.into() }, 3).unwrap();
    run(&mut s, enable(), 4).unwrap();
    let demote = AuthCommand::UserRevokeRole {
        user: ROOT.into(),
        role: ROOT.into(),
    };
    assert_eq!(run(&mut s, demote, 5), Err(AuthError::InvalidAuthMgmt));
    let delete = AuthCommand::UserDelete { name: ROOT.into() };
    assert_eq!(
        run(&mut s, delete.clone(), 6),
        Err(AuthError::InvalidAuthMgmt)
    );
    let delete_role = AuthCommand::RoleDelete { name: ROOT.into() };
    assert_eq!(run(&mut s, delete_role, 7), Err(AuthError::InvalidAuthMgmt));
    run(&mut s, AuthCommand::Disable, 8).unwrap();
    assert_eq!(run(&mut s, delete, 9), Ok(Applied::Changed));
    assert!(s.user(ROOT).is_none());
}

#[test]
fn grants_and_revokes_have_etcds_errors() {
    let mut s = AuthState::default();
    run(&mut s, user_add("alice"), 1).unwrap();
    assert_eq!(
        run(&mut s, user_add("alice"), 2),
        Err(AuthError::UserAlreadyExist)
    );
    assert_eq!(
        run(&mut s, grant("alice", "app"), 3),
        Err(AuthError::RoleNotFound)
    );
    assert_eq!(
        run(&mut s, grant("bob", ROOT), 3),
        Err(AuthError::UserNotFound)
    );
    run(&mut s, AuthCommand::RoleAdd { name: "app".into() }, 4).unwrap();
    assert_eq!(
        run(&mut s, AuthCommand::RoleAdd { name: "app".into() }, 5),
        Err(AuthError::RoleAlreadyExist)
    );
    run(&mut s, grant("alice", "app"), 6).unwrap();
    assert_eq!(
        run(&mut s, grant("alice", "app"), 7),
        Ok(Applied::Unchanged)
    );
    let revoke = AuthCommand::UserRevokeRole {
        user: "alice".into(),
        role: "app".into(),
    };
    run(&mut s, revoke.clone(), 8).unwrap();
    assert_eq!(run(&mut s, revoke, 9), Err(AuthError::RoleNotGranted));

    let resource = Resource::Keys(KeyRange::prefix("app/"));
    let perm = |kind| AuthCommand::RoleGrantPermission {
        role: "app".into(),
        permission: Permission {
            kind,
            resource: resource.clone(),
        },
    };
    run(&mut s, perm(PermKind::Read), 10).unwrap();
    run(&mut s, perm(PermKind::ReadWrite), 11).unwrap();
    let role = s.role("app").unwrap();
    assert_eq!(role.permissions.len(), 1, "a second grant changes the kind");
    assert_eq!(role.permissions[0].kind, PermKind::ReadWrite);
    let revoke = AuthCommand::RoleRevokePermission {
        role: "app".into(),
        resource,
    };
    run(&mut s, revoke.clone(), 12).unwrap();
    assert_eq!(
        run(&mut s, revoke, 13),
        Err(AuthError::PermissionNotGranted)
    );
}

#[test]
fn deleting_a_role_takes_it_from_its_users_and_their_permissions_with_it() {
    let mut s = AuthState::default();
    run(&mut s, user_add("alice"), 1).unwrap();
    run(&mut s, AuthCommand::RoleAdd { name: "app".into() }, 2).unwrap();
    run(
        &mut s,
        AuthCommand::RoleGrantPermission {
            role: "app".into(),
            permission: Permission {
                kind: PermKind::Write,
                resource: Resource::Keys(KeyRange::prefix("app/")),
            },
        },
        3,
    )
    .unwrap();
    run(&mut s, grant("alice", "app"), 4).unwrap();
    let put = Command::Put {
        key: b"app/1".to_vec(),
        value: Vec::new(),
        expected_revision: None,
    };
    assert_eq!(s.authorize("alice", &put, |_| None), Ok(()));
    run(&mut s, AuthCommand::RoleDelete { name: "app".into() }, 5).unwrap();
    assert!(s.user("alice").unwrap().roles.is_empty());
    assert_eq!(
        s.authorize("alice", &put, |_| None),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        s.authorize("nobody", &put, |_| None),
        Err(AuthError::PermissionDenied)
    );
}

#[test]
fn a_password_change_moves_the_password_revision() {
    let mut s = AuthState::default();
    run(&mut s, user_add("alice"), 1).unwrap();
    assert_eq!(s.user("alice").unwrap().password_revision, 1);
    run(
        &mut s,
        AuthCommand::UserChangePassword {
            name: "alice".into(),
            password_hash: Some("h2".into()),
        },
        9,
    )
    .unwrap();
    let alice = s.user("alice").unwrap();
    assert_eq!(alice.password_revision, 9);
    assert_eq!(alice.password_hash.as_deref(), Some("h2"));
}
