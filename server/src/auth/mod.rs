//! Authentication on the client port, etcd's way: users log in with a password
//! (`Authenticate`, argon2 hashes in `password`) and send the token they get (`token`) with
//! every call; with `--client-cert-auth` a client certificate's common name is the user when
//! no token is sent. The layer (`layer`) resolves the caller of every call and whether the
//! method is open to them; the caller (`caller`) travels with the call to where requests are
//! understood (`Gateway` for writes, read handlers for reads). The rules themselves are
//! cairn-model's (`cairn_model::auth`), replicated like the data.

pub mod caller;
pub mod layer;
pub mod password;
pub mod token;

use std::time::Duration;

use cairn_model::auth::AuthError;
use cairn_raft::now_ms;
use cairn_storage::AuthReader;
use tonic::Status;

use crate::error::Error;
pub use caller::Caller;

/// Turns credentials into a [`Caller`].
pub struct Authenticator {
    reader: AuthReader,
    /// `--client-cert-auth`: the certificate's common name is the user without a token.
    cert_auth: bool,
    token_ttl: Duration,
}

impl Authenticator {
    pub fn new(reader: AuthReader, cert_auth: bool, token_ttl: Duration) -> Self {
        Self {
            reader,
            cert_auth,
            token_ttl,
        }
    }

    pub fn reader(&self) -> &AuthReader {
        &self.reader
    }

    /// The caller presenting `token` (etcd's `token` metadata) or a client certificate with
    /// common name `cert`. A token that is not valid is refused, as etcd refuses it.
    pub fn caller(
        &self,
        token: Option<&str>,
        cert: impl FnOnce() -> Option<String>,
    ) -> Result<Caller, Status> {
        let reader = Some(self.reader.clone());
        let Some(state) = self.reader.enabled_state().map_err(Error::from)? else {
            // Auth is off (for now: checks read the state again, so switching it on binds
            // the rest of an open stream).
            return Ok(Caller {
                reader,
                user: None,
                began_on: false,
            });
        };
        let user = match token {
            Some(t) => Some(
                token::verify(&state, t, now_ms())
                    .ok_or_else(|| status(AuthError::InvalidAuthToken))?,
            ),
            None if self.cert_auth => cert(),
            None => None,
        };
        Ok(Caller {
            reader,
            user,
            began_on: true,
        })
    }

    /// A token for `name` if `password` is theirs. The caller has made the node's state
    /// current (a read index) so a user just added can log in anywhere.
    pub async fn authenticate(&self, name: &str, password: &str) -> Result<String, AuthError> {
        let state = self.reader.state().map_err(|_| AuthError::AuthFailed)?;
        if !state.enabled {
            return Err(AuthError::AuthNotEnabled);
        }
        let user = state.user(name).ok_or(AuthError::AuthFailed)?;
        let hash = user.password_hash.clone().ok_or(AuthError::AuthFailed)?;
        let password = password.to_string();
        // argon2 takes tens of milliseconds by design: keep it off the async threads.
        let genuine = tokio::task::spawn_blocking(move || password::matches(&password, &hash))
            .await
            .unwrap_or(false);
        if !genuine {
            return Err(AuthError::AuthFailed);
        }
        let expires = now_ms().saturating_add(self.token_ttl.as_millis() as u64);
        Ok(token::issue(
            &state.secret,
            name,
            user.password_revision,
            expires,
        ))
    }
}

pub use crate::status::auth_error as status;
