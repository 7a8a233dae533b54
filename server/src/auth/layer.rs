//! The client port's auth layer: for every call, who the caller is (a token in the `token`
//! metadata, as etcd clients send it, or with `--client-cert-auth` the common name of the
//! client certificate, as etcd does) and whether the method is open to them at all. Finer
//! checks (which keys, which names) happen where the request is understood: `Gateway` for
//! every write, the read handlers for reads. Nothing is checked while auth is off.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use cairn_model::auth::AuthError;
use cairn_raft::peer_identity::CertNames;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower_layer::Layer;
use tower_service::Service;

use super::caller::{self, Caller};
use super::{Authenticator, status};

/// Who may call a method while auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, logged in or not (logging in, health, status, member list).
    Open,
    /// Any user; what they touch is checked further in.
    User,
    /// The root role only (admin, auth management).
    Root,
}

const OPEN: [&str; 4] = [
    "/etcdserverpb.Auth/Authenticate",
    "/etcdserverpb.Auth/AuthStatus",
    "/etcdserverpb.Maintenance/Status",
    "/etcdserverpb.Cluster/MemberList",
];

const ROOT_PREFIXES: [&str; 5] = [
    "/cairn.v1.Admin/",
    "/etcdserverpb.Auth/",
    "/etcdserverpb.Cluster/",
    "/etcdserverpb.Maintenance/",
    "/etcdserverpb.KV/Compact",
];

pub fn policy(path: &str) -> Policy {
    if OPEN.contains(&path) || path.starts_with("/grpc.health.v1.") {
        Policy::Open
    } else if ROOT_PREFIXES.iter().any(|p| path.starts_with(p)) {
        Policy::Root
    } else {
        Policy::User
    }
}

#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    pub fn new(auth: Arc<Authenticator>) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

/// The common name of the client certificate of the connection, if any.
fn cert_name<B>(req: &http::Request<B>) -> Option<String> {
    let info = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = info.peer_certs()?;
    CertNames::parse(certs.first()?).ok()?.common_name
}

impl<S, B, RB> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let token = req
            .headers()
            .get("token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // The certificate is parsed only when it would name the user (auth on, no token).
        let cert = || cert_name(&req);
        let caller = self.auth.caller(token.as_deref(), cert).and_then(|c| {
            admit(&c, policy(req.uri().path()))
                .map(|()| c)
                .map_err(status)
        });
        match caller {
            Ok(caller) => Box::pin(caller::scope(caller, self.inner.call(req))),
            Err(e) => {
                let refusal = e.into_http::<RB>();
                Box::pin(async move { Ok(refusal) })
            }
        }
    }
}

/// Whether `caller` may call a method under `policy` at all.
fn admit(caller: &Caller, policy: Policy) -> Result<(), AuthError> {
    if !caller.began_on {
        return Ok(());
    }
    match policy {
        Policy::Open => Ok(()),
        Policy::User if caller.is_anonymous() => Err(AuthError::UserEmpty),
        Policy::User => Ok(()),
        Policy::Root => caller.check(&[cairn_model::auth::Need::Root], |_| None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_open_for_users_or_for_root() {
        assert_eq!(policy("/etcdserverpb.Auth/Authenticate"), Policy::Open);
        assert_eq!(policy("/grpc.health.v1.Health/Check"), Policy::Open);
        assert_eq!(policy("/etcdserverpb.Auth/UserAdd"), Policy::Root);
        assert_eq!(policy("/etcdserverpb.Cluster/MemberRemove"), Policy::Root);
        assert_eq!(policy("/etcdserverpb.Cluster/MemberList"), Policy::Open);
        assert_eq!(policy("/cairn.v1.Admin/Backup"), Policy::Root);
        assert_eq!(policy("/etcdserverpb.KV/Compact"), Policy::Root);
        assert_eq!(policy("/etcdserverpb.KV/Put"), Policy::User);
        assert_eq!(policy("/cairn.v1.KV/Put"), Policy::User);
        assert_eq!(policy("/v3lockpb.Lock/Lock"), Policy::User);
        assert_eq!(policy("/unknown/Path"), Policy::User);
    }
}
