//! The whole auth state as one record ([`AuthState`]) and the rules of every auth command
//! over it ([`AuthState::apply`]), etcd's auth store semantics. It is small (users and roles,
//! not data) and changes rarely, so the machine keeps it as a single record and rewrites it
//! on each change.

use serde::{Deserialize, Serialize};

use crate::auth::{
    AuthCommand, AuthError, MAX_GRANTS, Permission, ROOT, Resource, Role, User, check,
};
use crate::command::Command;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthState {
    pub enabled: bool,
    /// The revision of the last auth change (0: never changed).
    pub revision: u64,
    /// Signs tokens (set by the last enable).
    #[serde(with = "serde_bytes")]
    pub secret: Vec<u8>,
    /// Sorted by name.
    pub users: Vec<User>,
    /// Sorted by name.
    pub roles: Vec<Role>,
}

/// What an applied auth command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// Accepted, nothing to change (enable while on, a role granted twice): no new revision.
    Unchanged,
}

impl AuthState {
    pub fn user(&self, name: &str) -> Option<&User> {
        find(&self.users, name, |u| &u.name)
            .ok()
            .map(|i| &self.users[i])
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        find(&self.roles, name, |r| &r.name)
            .ok()
            .map(|i| &self.roles[i])
    }

    /// Whether `user` may run `cmd` now, with workflows' namespaces from `namespace_of`.
    /// Unknown users are denied.
    pub fn authorize(
        &self,
        user: &str,
        cmd: &Command,
        namespace_of: impl Fn(&str) -> Option<String>,
    ) -> Result<(), AuthError> {
        let Some(u) = self.user(user) else {
            return Err(AuthError::PermissionDenied);
        };
        check::authorize(
            u,
            |r| self.role(r).cloned(),
            namespace_of,
            &check::needs(cmd),
        )
    }

    /// Applies `cmd` at `revision`: the change, or why not (nothing changed then).
    pub fn apply(&mut self, cmd: &AuthCommand, revision: u64) -> Result<Applied, AuthError> {
        let applied = self.change(cmd, revision)?;
        if applied == Applied::Changed {
            self.revision = revision;
        }
        Ok(applied)
    }

    fn change(&mut self, cmd: &AuthCommand, revision: u64) -> Result<Applied, AuthError> {
        match cmd {
            AuthCommand::Enable { secret } => {
                if self.enabled {
                    return Ok(Applied::Unchanged);
                }
                let root = self.user(ROOT).ok_or(AuthError::RootUserNotExist)?;
                if !root.is_root() {
                    return Err(AuthError::RootRoleNotExist);
                }
                self.enabled = true;
                self.secret = secret.clone();
            }
            AuthCommand::Disable => {
                if !self.enabled {
                    return Ok(Applied::Unchanged);
                }
                self.enabled = false;
            }
            AuthCommand::UserAdd {
                name,
                password_hash,
            } => {
                let Err(at) = find(&self.users, name, |u| &u.name) else {
                    return Err(AuthError::UserAlreadyExist);
                };
                self.users.insert(
                    at,
                    User {
                        name: name.clone(),
                        password_hash: password_hash.clone(),
                        roles: Vec::new(),
                        password_revision: revision,
                    },
                );
            }
            AuthCommand::UserDelete { name } => {
                if self.enabled && name == ROOT {
                    return Err(AuthError::InvalidAuthMgmt);
                }
                let at =
                    find(&self.users, name, |u| &u.name).map_err(|_| AuthError::UserNotFound)?;
                self.users.remove(at);
            }
            AuthCommand::UserChangePassword {
                name,
                password_hash,
            } => {
                let user = self.user_mut(name)?;
                user.password_hash = password_hash.clone();
                user.password_revision = revision;
            }
            AuthCommand::UserGrantRole { user, role } => {
                if role != ROOT && self.role(role).is_none() {
                    return Err(AuthError::RoleNotFound);
                }
                let user = self.user_mut(user)?;
                let Err(at) = user.roles.binary_search(role) else {
                    return Ok(Applied::Unchanged);
                };
                if user.roles.len() >= MAX_GRANTS {
                    return Err(AuthError::TooManyGrants);
                }
                user.roles.insert(at, role.clone());
            }
            AuthCommand::UserRevokeRole { user, role } => {
                if self.enabled && user == ROOT && role == ROOT {
                    return Err(AuthError::InvalidAuthMgmt);
                }
                let user = self.user_mut(user)?;
                let at = user
                    .roles
                    .binary_search(role)
                    .map_err(|_| AuthError::RoleNotGranted)?;
                user.roles.remove(at);
            }
            AuthCommand::RoleAdd { name } => {
                let Err(at) = find(&self.roles, name, |r| &r.name) else {
                    return Err(AuthError::RoleAlreadyExist);
                };
                self.roles.insert(
                    at,
                    Role {
                        name: name.clone(),
                        permissions: Vec::new(),
                    },
                );
            }
            AuthCommand::RoleDelete { name } => {
                if self.enabled && name == ROOT {
                    return Err(AuthError::InvalidAuthMgmt);
                }
                let at =
                    find(&self.roles, name, |r| &r.name).map_err(|_| AuthError::RoleNotFound)?;
                self.roles.remove(at);
                // As etcd: the role is taken from every user who held it.
                for user in &mut self.users {
                    user.roles.retain(|r| r != name);
                }
            }
            AuthCommand::RoleGrantPermission { role, permission } => {
                let role = self.role_mut(role)?;
                match find_perm(&role.permissions, &permission.resource) {
                    Ok(at) => role.permissions[at].kind = permission.kind,
                    Err(at) => {
                        if role.permissions.len() >= MAX_GRANTS {
                            return Err(AuthError::TooManyGrants);
                        }
                        role.permissions.insert(at, permission.clone());
                    }
                }
            }
            AuthCommand::RoleRevokePermission { role, resource } => {
                let role = self.role_mut(role)?;
                let at = find_perm(&role.permissions, resource)
                    .map_err(|_| AuthError::PermissionNotGranted)?;
                role.permissions.remove(at);
            }
        }
        Ok(Applied::Changed)
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut User, AuthError> {
        let at = find(&self.users, name, |u| &u.name).map_err(|_| AuthError::UserNotFound)?;
        Ok(&mut self.users[at])
    }

    fn role_mut(&mut self, name: &str) -> Result<&mut Role, AuthError> {
        let at = find(&self.roles, name, |r| &r.name).map_err(|_| AuthError::RoleNotFound)?;
        Ok(&mut self.roles[at])
    }
}

fn find<T>(items: &[T], name: &str, key: impl Fn(&T) -> &String) -> Result<usize, usize> {
    items.binary_search_by(|item| key(item).as_str().cmp(name))
}

fn find_perm(perms: &[Permission], resource: &Resource) -> Result<usize, usize> {
    perms.binary_search_by(|p| p.resource.cmp(resource))
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
