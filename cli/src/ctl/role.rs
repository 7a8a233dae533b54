//! `cairn ctl role`: Cairn's namespace permissions on a role (users, roles and key
//! permissions are etcd's and managed with etcdctl). Through etcd's Auth service, in its
//! Cairn-only `cairn_namespace` field; root's, like all user and role management.

use cairn_api::etcd_auth::authpb::Permission;
use cairn_api::etcd_auth::authpb::permission::Type;
use cairn_api::etcd_auth::etcdserverpb::auth_client::AuthClient;
use cairn_api::etcd_auth::etcdserverpb::{
    AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest,
};
use serde_json::json;

use super::conn::Conn;
use super::error::{CtlError, CtlResult};
use super::output::Report;

#[derive(clap::Subcommand, Debug)]
pub enum RoleCmd {
    /// Let ROLE read (or write) the workflows of NAMESPACE, with their tasks, history and
    /// checkpoints. A second grant changes the kind.
    GrantNamespace {
        role: String,
        namespace: String,
        /// read, write or readwrite.
        #[arg(long, value_enum, default_value_t = Kind::Readwrite)]
        kind: Kind,
    },
    /// Take ROLE's permission on NAMESPACE away.
    RevokeNamespace { role: String, namespace: String },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Kind {
    Read,
    Write,
    Readwrite,
}

impl Kind {
    fn wire(self) -> Type {
        match self {
            Kind::Read => Type::Read,
            Kind::Write => Type::Write,
            Kind::Readwrite => Type::Readwrite,
        }
    }
}

pub async fn run(conn: &Conn, cmd: RoleCmd) -> CtlResult<Report> {
    let (addr, channel) = conn.any_channel().await?;
    let mut auth = AuthClient::new(channel);
    let denied = |s: tonic::Status| CtlError::from_status(&addr, &s);
    match cmd {
        RoleCmd::GrantNamespace {
            role,
            namespace,
            kind,
        } => {
            let perm = Permission {
                perm_type: kind.wire() as i32,
                cairn_namespace: namespace.clone(),
                ..Permission::default()
            };
            auth.role_grant_permission(AuthRoleGrantPermissionRequest {
                name: role.clone(),
                perm: Some(perm),
            })
            .await
            .map_err(denied)?;
            Ok(Report::new(
                json!({ "role": role, "namespace": namespace, "granted": format!("{kind:?}").to_lowercase() }),
                format!("role {role} may now {kind:?} namespace {namespace}").to_lowercase(),
            ))
        }
        RoleCmd::RevokeNamespace { role, namespace } => {
            auth.role_revoke_permission(AuthRoleRevokePermissionRequest {
                role: role.clone(),
                cairn_namespace: namespace.clone(),
                ..AuthRoleRevokePermissionRequest::default()
            })
            .await
            .map_err(denied)?;
            Ok(Report::new(
                json!({ "role": role, "namespace": namespace, "revoked": true }),
                format!("role {role}: permission on namespace {namespace} revoked"),
            ))
        }
    }
}
