//! Who is calling: the user the client port's auth layer resolved for this request. Each check
//! reads the node's auth state as applied now (one small read, cached by revision), so a
//! permission revoked while a stream is open (a watch, a keep-alive) counts for the stream's
//! next request too, and auth switched on mid-call binds the rest of it. The caller travels
//! as a tokio task-local set around each call
//! (like a tracing span), so the one place that proposes, `Gateway`, authorizes and stamps
//! every write without each of the ~40 write paths passing it along. Work a handler moves to
//! another task takes it along with [`inherit`]; work that escapes without it carries no
//! user, which a node with auth on refuses (never the other way round).

use std::future::Future;
use std::sync::Arc;

use cairn_model::Command;
use cairn_model::auth::{AuthError, AuthStamp, AuthState, Need, authorize, needs};
use cairn_model::txn::KeyRange;
use cairn_storage::{AuthReader, WorkflowReader};

#[derive(Clone, Default)]
pub struct Caller {
    /// The auth state, as applied: None in tests and for a node's own work, which run as if
    /// auth were off (their writes then carry no user, which apply refuses while it is on).
    pub reader: Option<AuthReader>,
    /// None: anonymous.
    pub user: Option<String>,
    /// Auth was on when the call began (what the auth layer admitted it by).
    pub began_on: bool,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("user", &self.user).finish()
    }
}

tokio::task_local! {
    static CALLER: Caller;
}

impl Caller {
    /// The auth state as applied now, while auth is on. An unreadable state counts as on with
    /// nobody in it: every check then fails (closed, never open).
    fn state(&self) -> Option<Arc<AuthState>> {
        match self.reader.as_ref()?.enabled_state() {
            Ok(state) => state,
            Err(_) => Some(Arc::new(unreadable())),
        }
    }

    /// Whether the caller may do everything in `needs` (workflows' namespaces looked up with
    /// `namespace_of`).
    pub fn check(
        &self,
        needs: &[Need],
        namespace_of: impl Fn(&str) -> Option<String>,
    ) -> Result<(), AuthError> {
        self.check_at(self.state().as_deref(), needs, namespace_of)
    }

    fn check_at(
        &self,
        state: Option<&AuthState>,
        needs: &[Need],
        namespace_of: impl Fn(&str) -> Option<String>,
    ) -> Result<(), AuthError> {
        let Some(state) = state else {
            return Ok(());
        };
        let Some(name) = &self.user else {
            return Err(AuthError::UserEmpty);
        };
        let user = state.user(name).ok_or(AuthError::PermissionDenied)?;
        authorize(user, |r| state.role(r).cloned(), namespace_of, needs)
    }

    /// Authorizes `command` and names the user and the auth revision it was authorized at,
    /// for apply's second check.
    pub fn stamp(
        &self,
        command: &Command,
        namespace_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<AuthStamp>, AuthError> {
        let state = self.state();
        self.check_at(state.as_deref(), &needs(command), namespace_of)?;
        Ok(match (state, &self.user) {
            (Some(state), Some(user)) => Some(AuthStamp {
                user: user.clone(),
                revision: state.revision,
            }),
            _ => None,
        })
    }

    /// Whether auth is on and nobody logged in.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_none() && self.state().is_some()
    }
}

/// The state a caller is checked against when the real one cannot be read: auth on, no users.
fn unreadable() -> AuthState {
    AuthState {
        enabled: true,
        ..AuthState::default()
    }
}

/// The current call's caller. Outside any call (a node's own work): auth off, as seen by the
/// node; its writes then carry no user and are refused at apply while auth is on.
pub fn current() -> Caller {
    CALLER.try_with(Caller::clone).unwrap_or_default()
}

/// Whether the current caller may read `range`.
pub fn check_read(range: &KeyRange) -> Result<(), AuthError> {
    current().check(&[Need::Read(range.clone())], |_| None)
}

/// The namespace workflow `id` is in, as `reader` has it applied. A read error counts as
/// "no such workflow": apply checks a write's workflow namespace again anyway, and a read of
/// a workflow that cannot be read answers an error of its own.
pub fn namespace_of(reader: &WorkflowReader, id: &str) -> Option<String> {
    reader.workflow(id).ok().flatten().map(|w| w.namespace)
}

/// Whether the current caller may read the workflows of namespace `name`.
pub fn check_namespace_read(name: &str) -> Result<(), tonic::Status> {
    let need = Need::Namespace {
        name: name.to_string(),
        write: false,
    };
    current()
        .check(&[need], |_| None)
        .map_err(crate::status::auth_error)
}

/// Whether the current caller may read workflow `id` (its tasks, history, checkpoints), by the
/// namespace `reader` has it in. Call after the read index, so the answer is current.
pub fn check_workflow_read(reader: &WorkflowReader, id: &str) -> Result<(), tonic::Status> {
    let need = Need::Workflow {
        id: id.to_string(),
        write: false,
    };
    current()
        .check(&[need], |id| namespace_of(reader, id))
        .map_err(crate::status::auth_error)
}

/// Runs `fut` as `caller`.
pub fn scope<F: Future>(caller: Caller, fut: F) -> impl Future<Output = F::Output> {
    CALLER.scope(caller, fut)
}

/// `fut` as the current caller, for work a handler hands to another task.
pub fn inherit<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    CALLER.scope(current(), fut)
}
