//! Users, roles and permissions, replicated like everything else (etcd's auth model): a user
//! holds roles, a role holds key-range permissions (READ, WRITE, READWRITE), and the `root`
//! role may do anything. The commands that change them ([`AuthCommand`]), their errors with
//! etcd's words ([`AuthError`]) and the pure permission check ([`check`]) live here; the
//! state machine stores the records (cairn-storage's `machine/auth.rs`) and the server turns
//! a caller into a user (tokens, certificate names).
//!
//! A request carries the user it was authorized for and the auth revision it was checked at
//! ([`AuthStamp`]); apply checks again when the auth state changed since, so a permission
//! revoked while a write was on its way never lets it in.

mod check;
mod input;
mod state;

use serde::{Deserialize, Serialize};

use crate::txn::KeyRange;

pub use check::{Need, authorize, needs, needs_state};
pub use input::SECRET_BYTES;
pub use state::{Applied, AuthState};

/// The user and role with every permission, as in etcd.
pub const ROOT: &str = "root";
/// Longest user or role name.
pub const MAX_NAME_BYTES: usize = 256;
/// Most roles a user holds and permissions a role holds: bounds the work of one check.
pub const MAX_GRANTS: usize = 1024;

/// Who a replicated request was authorized for, and at which auth revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthStamp {
    pub user: String,
    pub revision: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermKind {
    Read,
    Write,
    ReadWrite,
}

impl PermKind {
    pub fn allows(self, write: bool) -> bool {
        match self {
            PermKind::Read => !write,
            PermKind::Write => write,
            PermKind::ReadWrite => true,
        }
    }
}

/// What a permission covers. Variants travel by index: add last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resource {
    /// Keys, with etcd's range rules (lock and election names count as keys too).
    Keys(KeyRange),
    /// The workflows of one namespace, with their tasks, history and checkpoints (Cairn's own
    /// API; etcd clients see it as the key `namespace:<name>`).
    Namespace(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub kind: PermKind,
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// A PHC string (argon2); None: the user cannot log in with a password (certificate only).
    pub password_hash: Option<String>,
    /// Sorted, no duplicates.
    pub roles: Vec<String>,
    /// The auth revision that last set the password (or created the user): tokens name it,
    /// so changing the password or re-creating the user ends every older token.
    pub password_revision: u64,
}

impl User {
    pub fn is_root(&self) -> bool {
        self.roles.iter().any(|r| r == ROOT)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    /// Sorted by resource, one entry per resource.
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthCommand {
    /// Turn authentication on. `secret` (chosen at random by the proposing node) signs the
    /// tokens issued until the next enable.
    Enable {
        #[serde(with = "serde_bytes")]
        secret: Vec<u8>,
    },
    Disable,
    UserAdd {
        name: String,
        /// Hashed by the node before proposing; None = no password.
        password_hash: Option<String>,
    },
    UserDelete {
        name: String,
    },
    UserChangePassword {
        name: String,
        password_hash: Option<String>,
    },
    UserGrantRole {
        user: String,
        role: String,
    },
    UserRevokeRole {
        user: String,
        role: String,
    },
    RoleAdd {
        name: String,
    },
    RoleDelete {
        name: String,
    },
    /// Adds the permission, or changes the kind of the role's permission on the same resource.
    RoleGrantPermission {
        role: String,
        permission: Permission,
    },
    RoleRevokePermission {
        role: String,
        resource: Resource,
    },
}

impl AuthCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AuthCommand::Enable { .. } => "enable",
            AuthCommand::Disable => "disable",
            AuthCommand::UserAdd { .. } => "user_add",
            AuthCommand::UserDelete { .. } => "user_delete",
            AuthCommand::UserChangePassword { .. } => "user_change_password",
            AuthCommand::UserGrantRole { .. } => "user_grant_role",
            AuthCommand::UserRevokeRole { .. } => "user_revoke_role",
            AuthCommand::RoleAdd { .. } => "role_add",
            AuthCommand::RoleDelete { .. } => "role_delete",
            AuthCommand::RoleGrantPermission { .. } => "role_grant_permission",
            AuthCommand::RoleRevokePermission { .. } => "role_revoke_permission",
        }
    }
}

/// Why an auth command or an authorization was refused. The messages are etcd's (without its
/// "etcdserver: " prefix), which etcd clients match on. Variants travel by index: add last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AuthError {
    #[error("root user does not exist")]
    RootUserNotExist,
    #[error("root user does not have root role")]
    RootRoleNotExist,
    #[error("user name already exists")]
    UserAlreadyExist,
    #[error("user name is empty")]
    UserEmpty,
    #[error("user name not found")]
    UserNotFound,
    #[error("role name already exists")]
    RoleAlreadyExist,
    #[error("role name not found")]
    RoleNotFound,
    #[error("role name is empty")]
    RoleEmpty,
    #[error("authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("permission denied")]
    PermissionDenied,
    #[error("role is not granted to the user")]
    RoleNotGranted,
    #[error("permission is not granted to the role")]
    PermissionNotGranted,
    #[error("authentication is not enabled")]
    AuthNotEnabled,
    #[error("invalid auth token")]
    InvalidAuthToken,
    #[error("invalid auth management")]
    InvalidAuthMgmt,
    #[error("too many grants (the limit is {MAX_GRANTS})")]
    TooManyGrants,
}
