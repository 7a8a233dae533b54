//! etcd's Auth service: users, roles and key-range permissions (plus Cairn's namespace
//! permissions, in a field etcd clients ignore), replicated through Raft like
//! any write (`cairn_model::auth`), with etcd's rules, errors and root user/role, so
//! `etcdctl user add`, `role grant-permission`, `auth enable` and `--user` work unchanged.
//! Passwords are hashed here, before proposing (`crate::auth::password`); reads (user and
//! role lists) are linearizable. Who may call what is the auth layer's business
//! (`crate::auth::layer`): everything but Authenticate and AuthStatus is root's while auth
//! is on.

use std::sync::Arc;

use cairn_api::etcd_auth::authpb::{Permission as PbPermission, permission::Type as PbPermType};
use cairn_api::etcd_auth::etcdserverpb::auth_server::Auth;
use cairn_api::etcd_auth::etcdserverpb::*;
use cairn_model::Command;
use cairn_model::auth::{
    AuthCommand, AuthError, AuthState, PermKind, Permission, Resource, SECRET_BYTES,
};
use cairn_model::txn::KeyRange;
use etcd_client::proto::PbResponseHeader;
use ring::rand::SecureRandom;
use tonic::{Request, Response, Status};

use super::header::Headers;
use super::reply::Reply;
use crate::auth::{Authenticator, password, status as auth_status};
use crate::error::Error;
use crate::services::gateway::Gateway;
use crate::status::{self, EtcdCall};

pub struct AuthService {
    gateway: Gateway,
    auth: Arc<Authenticator>,
    headers: Headers,
}

impl AuthService {
    pub fn new(gateway: Gateway, auth: Arc<Authenticator>, headers: Headers) -> Self {
        Self {
            gateway,
            auth,
            headers,
        }
    }

    /// Proposes `cmd`; the header of the entry that applied it.
    async fn propose(&self, cmd: AuthCommand) -> Result<ResponseHeader, Status> {
        let response = self
            .gateway
            .propose(None, Command::Auth(cmd))
            .await
            .map_err(|e| status::etcd(e, EtcdCall::Kv))?;
        Ok(header(
            self.headers.at(response.revision().unwrap_or_default()),
        ))
    }

    fn current(&self) -> Option<ResponseHeader> {
        Some(header(self.headers.current()))
    }

    /// The auth state, current as of a read index.
    async fn state(&self) -> Result<Arc<AuthState>, Status> {
        self.gateway
            .before_read(false)
            .await
            .map_err(|e| status::etcd(e, EtcdCall::Kv))?;
        self.auth
            .reader()
            .state()
            .map_err(|e| status::etcd(Error::from(e), EtcdCall::Kv))
    }
}

/// The Auth service's own copy of etcd's header type (see `cairn_api::etcd_auth`).
fn header(h: PbResponseHeader) -> ResponseHeader {
    ResponseHeader {
        cluster_id: h.cluster_id,
        member_id: h.member_id,
        revision: h.revision,
        raft_term: h.raft_term,
    }
}

/// `password` hashed (off the async threads), or None for a user without one.
async fn hashed(password: String, no_password: bool) -> Result<Option<String>, Status> {
    if no_password {
        return Ok(None);
    }
    // etcd refuses an empty password unless the user is created without one.
    if password.is_empty() {
        return Err(Status::invalid_argument("etcdserver: password is empty"));
    }
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| Status::internal(format!("password hashing: {e}")))?
        .map(Some)
        .map_err(|e| Status::internal(format!("password hashing: {e}")))
}

fn perm_kind(t: i32) -> Result<PermKind, Status> {
    match PbPermType::try_from(t) {
        Ok(PbPermType::Read) => Ok(PermKind::Read),
        Ok(PbPermType::Write) => Ok(PermKind::Write),
        Ok(PbPermType::Readwrite) => Ok(PermKind::ReadWrite),
        Err(_) => Err(Status::invalid_argument(format!(
            "etcdserver: unknown permission type {t}"
        ))),
    }
}

fn pb_permission(p: &Permission) -> PbPermission {
    let perm_type = match p.kind {
        PermKind::Read => PbPermType::Read,
        PermKind::Write => PbPermType::Write,
        PermKind::ReadWrite => PbPermType::Readwrite,
    };
    match &p.resource {
        Resource::Keys(range) => PbPermission {
            perm_type: perm_type as i32,
            key: range.key.clone(),
            range_end: range.range_end.clone(),
            cairn_namespace: String::new(),
        },
        Resource::Namespace(name) => PbPermission {
            perm_type: perm_type as i32,
            key: format!("namespace:{name}").into_bytes(),
            range_end: Vec::new(),
            cairn_namespace: name.clone(),
        },
    }
}

/// The resource a grant or revoke names: Cairn's namespace field, else etcd's key range.
fn resource(namespace: String, key: Vec<u8>, range_end: Vec<u8>) -> Resource {
    if namespace.is_empty() {
        Resource::Keys(KeyRange { key, range_end })
    } else {
        Resource::Namespace(namespace)
    }
}

fn random_secret() -> Result<Vec<u8>, Status> {
    let mut secret = vec![0u8; SECRET_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| Status::internal("no randomness for the token secret"))?;
    Ok(secret)
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(&self, _: Request<AuthEnableRequest>) -> Reply<AuthEnableResponse> {
        let secret = random_secret()?;
        let header = self.propose(AuthCommand::Enable { secret }).await?;
        Ok(Response::new(AuthEnableResponse {
            header: Some(header),
        }))
    }

    async fn auth_disable(&self, _: Request<AuthDisableRequest>) -> Reply<AuthDisableResponse> {
        let header = self.propose(AuthCommand::Disable).await?;
        Ok(Response::new(AuthDisableResponse {
            header: Some(header),
        }))
    }

    async fn auth_status(&self, _: Request<AuthStatusRequest>) -> Reply<AuthStatusResponse> {
        let state = self.state().await?;
        Ok(Response::new(AuthStatusResponse {
            header: self.current(),
            enabled: state.enabled,
            auth_revision: state.revision,
        }))
    }

    async fn authenticate(&self, req: Request<AuthenticateRequest>) -> Reply<AuthenticateResponse> {
        let req = req.into_inner();
        // A user added a moment ago on another member can log in here at once.
        self.state().await?;
        let token = self
            .auth
            .authenticate(&req.name, &req.password)
            .await
            .map_err(auth_status)?;
        Ok(Response::new(AuthenticateResponse {
            header: self.current(),
            token,
        }))
    }

    async fn user_add(&self, req: Request<AuthUserAddRequest>) -> Reply<AuthUserAddResponse> {
        let req = req.into_inner();
        if req.name.is_empty() {
            return Err(auth_status(AuthError::UserEmpty));
        }
        // etcd 3.5 clients may send a hash they made; Cairn stores only hashes it made.
        if !req.hashed_password.is_empty() {
            return Err(Status::invalid_argument(
                "etcdserver: send the password, not a hash (Cairn hashes it itself)",
            ));
        }
        let no_password = req.options.is_some_and(|o| o.no_password);
        let password_hash = hashed(req.password, no_password).await?;
        let header = self
            .propose(AuthCommand::UserAdd {
                name: req.name,
                password_hash,
            })
            .await?;
        Ok(Response::new(AuthUserAddResponse {
            header: Some(header),
        }))
    }

    async fn user_get(&self, req: Request<AuthUserGetRequest>) -> Reply<AuthUserGetResponse> {
        let state = self.state().await?;
        let user = state
            .user(&req.get_ref().name)
            .ok_or_else(|| auth_status(AuthError::UserNotFound))?;
        Ok(Response::new(AuthUserGetResponse {
            header: self.current(),
            roles: user.roles.clone(),
        }))
    }

    async fn user_list(&self, _: Request<AuthUserListRequest>) -> Reply<AuthUserListResponse> {
        let state = self.state().await?;
        Ok(Response::new(AuthUserListResponse {
            header: self.current(),
            users: state.users.iter().map(|u| u.name.clone()).collect(),
        }))
    }

    async fn user_delete(
        &self,
        req: Request<AuthUserDeleteRequest>,
    ) -> Reply<AuthUserDeleteResponse> {
        let name = req.into_inner().name;
        let header = self.propose(AuthCommand::UserDelete { name }).await?;
        Ok(Response::new(AuthUserDeleteResponse {
            header: Some(header),
        }))
    }

    async fn user_change_password(
        &self,
        req: Request<AuthUserChangePasswordRequest>,
    ) -> Reply<AuthUserChangePasswordResponse> {
        let req = req.into_inner();
        if !req.hashed_password.is_empty() {
            return Err(Status::invalid_argument(
                "etcdserver: send the password, not a hash (Cairn hashes it itself)",
            ));
        }
        let password_hash = hashed(req.password, false).await?;
        let header = self
            .propose(AuthCommand::UserChangePassword {
                name: req.name,
                password_hash,
            })
            .await?;
        Ok(Response::new(AuthUserChangePasswordResponse {
            header: Some(header),
        }))
    }

    async fn user_grant_role(
        &self,
        req: Request<AuthUserGrantRoleRequest>,
    ) -> Reply<AuthUserGrantRoleResponse> {
        let req = req.into_inner();
        let header = self
            .propose(AuthCommand::UserGrantRole {
                user: req.user,
                role: req.role,
            })
            .await?;
        Ok(Response::new(AuthUserGrantRoleResponse {
            header: Some(header),
        }))
    }

    async fn user_revoke_role(
        &self,
        req: Request<AuthUserRevokeRoleRequest>,
    ) -> Reply<AuthUserRevokeRoleResponse> {
        let req = req.into_inner();
        let header = self
            .propose(AuthCommand::UserRevokeRole {
                user: req.name,
                role: req.role,
            })
            .await?;
        Ok(Response::new(AuthUserRevokeRoleResponse {
            header: Some(header),
        }))
    }

    async fn role_add(&self, req: Request<AuthRoleAddRequest>) -> Reply<AuthRoleAddResponse> {
        let name = req.into_inner().name;
        let header = self.propose(AuthCommand::RoleAdd { name }).await?;
        Ok(Response::new(AuthRoleAddResponse {
            header: Some(header),
        }))
    }

    async fn role_get(&self, req: Request<AuthRoleGetRequest>) -> Reply<AuthRoleGetResponse> {
        let state = self.state().await?;
        let name = &req.get_ref().role;
        let perm = match state.role(name) {
            Some(role) => role.permissions.iter().map(pb_permission).collect(),
            // The root role need not exist to be granted; it holds every permission.
            None if name == cairn_model::auth::ROOT => Vec::new(),
            None => return Err(auth_status(AuthError::RoleNotFound)),
        };
        Ok(Response::new(AuthRoleGetResponse {
            header: self.current(),
            perm,
        }))
    }

    async fn role_list(&self, _: Request<AuthRoleListRequest>) -> Reply<AuthRoleListResponse> {
        let state = self.state().await?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.current(),
            roles: state.roles.iter().map(|r| r.name.clone()).collect(),
        }))
    }

    async fn role_delete(
        &self,
        req: Request<AuthRoleDeleteRequest>,
    ) -> Reply<AuthRoleDeleteResponse> {
        let name = req.into_inner().role;
        let header = self.propose(AuthCommand::RoleDelete { name }).await?;
        Ok(Response::new(AuthRoleDeleteResponse {
            header: Some(header),
        }))
    }

    async fn role_grant_permission(
        &self,
        req: Request<AuthRoleGrantPermissionRequest>,
    ) -> Reply<AuthRoleGrantPermissionResponse> {
        let req = req.into_inner();
        let perm = req
            .perm
            .ok_or_else(|| Status::invalid_argument("etcdserver: permission not given"))?;
        let permission = Permission {
            kind: perm_kind(perm.perm_type)?,
            resource: resource(perm.cairn_namespace, perm.key, perm.range_end),
        };
        let header = self
            .propose(AuthCommand::RoleGrantPermission {
                role: req.name,
                permission,
            })
            .await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse {
            header: Some(header),
        }))
    }

    async fn role_revoke_permission(
        &self,
        req: Request<AuthRoleRevokePermissionRequest>,
    ) -> Reply<AuthRoleRevokePermissionResponse> {
        let req = req.into_inner();
        let header = self
            .propose(AuthCommand::RoleRevokePermission {
                role: req.role,
                resource: resource(req.cairn_namespace, req.key, req.range_end),
            })
            .await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse {
            header: Some(header),
        }))
    }
}
