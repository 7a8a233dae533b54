//! The stateless checks of auth commands ([`crate::input`]): names present and bounded, the
//! secret and hashes of sane size, permissions on non-empty keys.

use crate::auth::{AuthCommand, AuthError, MAX_NAME_BYTES, Permission, Resource};
use crate::input::{InputError, InputLimits, check_key, size};

/// Length of the token-signing secret an enable carries.
pub const SECRET_BYTES: usize = 32;
/// Longest stored password hash (a PHC string is about 100 bytes).
const MAX_HASH_BYTES: usize = 512;

impl AuthCommand {
    pub fn check_input(&self, limits: &InputLimits) -> Result<(), InputError> {
        match self {
            AuthCommand::Enable { secret } => {
                if secret.len() != SECRET_BYTES {
                    return Err(InputError::Invalid {
                        field: "secret".into(),
                        reason: format!("must be {SECRET_BYTES} bytes"),
                    });
                }
                Ok(())
            }
            AuthCommand::Disable => Ok(()),
            AuthCommand::UserAdd {
                name,
                password_hash,
            }
            | AuthCommand::UserChangePassword {
                name,
                password_hash,
            } => {
                user(name)?;
                match password_hash {
                    Some(h) => size("password_hash", h.len(), MAX_HASH_BYTES),
                    None => Ok(()),
                }
            }
            AuthCommand::UserDelete { name } => user(name),
            AuthCommand::UserGrantRole { user: u, role: r }
            | AuthCommand::UserRevokeRole { user: u, role: r } => {
                user(u)?;
                role(r)
            }
            AuthCommand::RoleAdd { name } | AuthCommand::RoleDelete { name } => role(name),
            AuthCommand::RoleGrantPermission {
                role: r,
                permission: Permission { resource, .. },
            }
            | AuthCommand::RoleRevokePermission { role: r, resource } => {
                role(r)?;
                match resource {
                    Resource::Keys(range) => {
                        check_key("permission.key", &range.key, limits)?;
                        size(
                            "permission.range_end",
                            range.range_end.len(),
                            limits.max_key_bytes,
                        )
                    }
                    Resource::Namespace(name) => crate::input::id("permission.namespace", name),
                }
            }
        }
    }
}

fn user(name: &str) -> Result<(), InputError> {
    if name.is_empty() {
        return Err(InputError::Auth(AuthError::UserEmpty));
    }
    size("user", name.len(), MAX_NAME_BYTES)
}

fn role(name: &str) -> Result<(), InputError> {
    if name.is_empty() {
        return Err(InputError::Auth(AuthError::RoleEmpty));
    }
    size("role", name.len(), MAX_NAME_BYTES)
}
