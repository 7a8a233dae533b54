//! Auth at apply: the auth commands (etcd's user/role management, through the pure rules of
//! `cairn_model::auth::AuthState`) and the second authorization of every request. The serving
//! node authorized the request against the auth state at the revision in its stamp; when the
//! state has changed since (a role revoked, a user deleted, auth switched on), apply checks it
//! again against the state now, so a revoked permission never lets a write in; and a write to a
//! workflow is always checked here against the namespace the workflow is in when it applies.

use std::collections::HashMap;

use cairn_model::alarm::AlarmCommand;
use cairn_model::auth::{
    Applied, AuthCommand, AuthError, AuthState, Need, authorize, needs, needs_state,
};
use cairn_model::command::{Request, Response};

use super::batch::{BatchCtx, TxResult, abort, decode, encode};
use super::workflow_store;
use crate::keyspace::{Space, decode_u64, meta_key};

pub(super) fn apply(ctx: &BatchCtx<'_>, revision: u64, cmd: &AuthCommand) -> TxResult<Response> {
    let mut state = load(ctx)?;
    match state.apply(cmd, revision) {
        Err(e) => Ok(Response::Rejected(e.into())),
        Ok(Applied::Unchanged) => Ok(Response::Auth { revision }),
        Ok(Applied::Changed) => {
            let meta = ctx.tx.tree(Space::Meta);
            meta.insert(meta_key::AUTH, encode(&state)?)?;
            if state.enabled {
                meta.insert(meta_key::AUTH_ON, &revision.to_be_bytes()[..])?;
            } else {
                meta.remove(meta_key::AUTH_ON)?;
            }
            Ok(Response::Auth { revision })
        }
    }
}

/// Why `req` may not run now, if auth is on and it may not.
pub(super) fn check(ctx: &BatchCtx<'_>, req: &Request) -> TxResult<Option<AuthError>> {
    // The leader's own duties (lease expiry, purges) run whoever is logged in.
    if req.command.is_internal() {
        return Ok(None);
    }
    let Some(on) = ctx.tx.tree(Space::Meta).get(meta_key::AUTH_ON)? else {
        return Ok(None);
    };
    let current = decode_u64(&on, "auth revision").or_else(abort)?;
    // An enable while on changes nothing and answers success, as in etcd. A member raises
    // its own NOSPACE alarm without a user (a client's activation passed root's check on the
    // client port).
    if matches!(
        req.command,
        cairn_model::Command::Auth(AuthCommand::Enable { .. })
            | cairn_model::Command::Alarm(AlarmCommand::Activate(_))
    ) {
        return Ok(None);
    }
    let Some(stamp) = &req.auth else {
        // Proposed while auth was off, applied after it went on: as etcd, no user, no write.
        return Ok(Some(AuthError::UserEmpty));
    };
    let needs = needs(&req.command);
    // Checked against this very auth state, and nothing that can have moved since: done.
    // A workflow's namespace can (deleted and created again elsewhere), so those are always
    // checked here, against the namespaces as they are now.
    if stamp.revision == current && !needs_state(&needs) {
        return Ok(None);
    }
    let mut namespaces = HashMap::new();
    for need in &needs {
        if let Need::Workflow { id, .. } = need {
            let ns = workflow_store::workflow(ctx, id)?.map(|w| w.namespace);
            namespaces.insert(id.clone(), ns);
        }
    }
    let state = load(ctx)?;
    let Some(user) = state.user(&stamp.user) else {
        return Ok(Some(AuthError::PermissionDenied));
    };
    let role = |r: &str| state.role(r).cloned();
    let namespace_of = |id: &str| namespaces.get(id).cloned().flatten();
    Ok(authorize(user, role, namespace_of, &needs).err())
}

fn load(ctx: &BatchCtx<'_>) -> TxResult<AuthState> {
    match ctx.tx.tree(Space::Meta).get(meta_key::AUTH)? {
        Some(bytes) => decode(&bytes),
        None => Ok(AuthState::default()),
    }
}
