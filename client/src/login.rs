//! Logging in when the cluster has auth on: [`Credentials`] in the config make the client call
//! etcd's `Authenticate` (the one Auth service Cairn serves) on first use, send the token it
//! gets as `token` metadata with every call (as etcd clients do), and log in again when a node
//! answers that the token is no longer valid (expired, password changed, auth re-enabled).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_api::etcd_auth::etcdserverpb::AuthenticateRequest;
use cairn_api::etcd_auth::etcdserverpb::auth_client::AuthClient;
use tonic::Status;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::Channel;

/// A user name and password for a cluster with auth on (`etcdctl --user`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password (configs end up in logs).
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The current token, shared by clones of a client.
#[derive(Debug, Default)]
pub(crate) struct Login {
    token: Mutex<Option<AsciiMetadataValue>>,
    /// Held while logging in: concurrent calls wait for one login instead of each making
    /// their own (a password check costs the server tens of milliseconds of CPU on purpose).
    in_progress: tokio::sync::Mutex<()>,
}

impl Login {
    fn cached(&self) -> Option<AsciiMetadataValue> {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The token to send, logging in through `channel` if there is none yet.
    pub(crate) async fn token(
        &self,
        creds: &Credentials,
        channel: Channel,
        timeout: Duration,
    ) -> Result<AsciiMetadataValue, Status> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let _one_login = self.in_progress.lock().await;
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let mut req = tonic::Request::new(AuthenticateRequest {
            name: creds.user.clone(),
            password: creds.password.clone(),
        });
        req.set_timeout(timeout);
        let token = AuthClient::new(channel)
            .authenticate(req)
            .await?
            .into_inner()
            .token;
        let value = MetadataValue::try_from(token.as_str())
            .map_err(|_| Status::internal("the server sent a token that is not ASCII"))?;
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(value.clone());
        Ok(value)
    }

    /// Forgets the token (a node called it invalid); the next call logs in again.
    pub(crate) fn forget(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Shared so that clones of a client log in once.
pub(crate) type SharedLogin = Arc<Login>;
