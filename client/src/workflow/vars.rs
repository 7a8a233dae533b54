//! Versioned variables of a workflow or a namespace: [`Client::update_vars`] (a new version,
//! all or nothing, optionally compare-and-swap on the version), [`Client::rollback_vars`],
//! [`Client::vars`] (now or as of a kept version) and [`Client::var_history`].

use cairn_api::v1 as pb;

use super::convert::{bad_reply, json_opt, json_text, next_version};
use super::vars_types::{VarChange, VarScope, VarUpdate, VarVersion, Vars, VarsWritten};
use crate::client::{Client, request};
use crate::error::Result;
use crate::pending::{WriteOutcome, mismatched_reply};
use crate::write_op::WriteOp;

const PAGE: u32 = 1000;

pub(crate) fn scope_pb(s: &VarScope) -> pb::VarScope {
    use pb::var_scope::Scope;
    pb::VarScope {
        scope: Some(match s {
            VarScope::Workflow(w) => Scope::Workflow(w.clone()),
            VarScope::Namespace(n) => Scope::Namespace(n.clone()),
        }),
    }
}

pub(crate) fn scope_from_pb(s: Option<pb::VarScope>) -> Result<VarScope> {
    use pb::var_scope::Scope;
    match s.and_then(|s| s.scope) {
        Some(Scope::Workflow(w)) => Ok(VarScope::Workflow(w)),
        Some(Scope::Namespace(n)) => Ok(VarScope::Namespace(n)),
        None => Err(bad_reply("a variable scope is missing")),
    }
}

/// An update's message without header and fence; no scope: a step's workflow's variables.
pub(crate) fn vars_request(
    scope: Option<&VarScope>,
    update: VarUpdate,
) -> Result<pb::UpdateVarsRequest> {
    let set = update
        .set
        .iter()
        .map(|(k, v)| Ok((k.clone(), json_text("variable", v)?)))
        .collect::<Result<_>>()?;
    Ok(pb::UpdateVarsRequest {
        header: None,
        scope: scope.map(scope_pb),
        expected_version: update.expected_version,
        set,
        delete: update.delete,
        immutable: update.immutable,
        keep_versions: update.keep_versions,
        actor: update.actor,
        reason: update.reason,
        fence: None,
    })
}

fn json(field: &str, text: &str) -> Result<serde_json::Value> {
    json_opt(field, text)?.ok_or_else(|| bad_reply(format_args!("{field} is empty")))
}

pub(crate) fn vars_from_pb(v: pb::Vars) -> Result<Vars> {
    Ok(Vars {
        values: v
            .values
            .into_iter()
            .map(|(k, t)| Ok((k, json("variable", &t)?)))
            .collect::<Result<_>>()?,
        immutable: v.immutable.into_iter().collect(),
        version: v.version,
        keep_versions: v.keep_versions,
        floor: v.floor,
        mod_revision: v.mod_revision,
        updated_ms: v.updated_ms,
        updated_by: v.updated_by,
        checksum: v.checksum,
    })
}

fn version_from_pb(v: pb::VarVersion) -> Result<VarVersion> {
    let opt = |t: Option<String>| t.map(|t| json("variable", &t)).transpose();
    Ok(VarVersion {
        changes: v
            .changes
            .into_iter()
            .map(|c| {
                Ok((
                    c.key,
                    VarChange {
                        value: opt(c.value)?,
                        previous: opt(c.previous)?,
                    },
                ))
            })
            .collect::<Result<_>>()?,
        version: v.version,
        revision: v.revision,
        time_ms: v.time_ms,
        actor: v.actor,
        reason: v.reason,
        checksum: v.checksum,
        rolled_back_to: v.rolled_back_to,
    })
}

impl Client {
    /// Writes a new version of `scope`'s variables: every set and delete of `update`, or
    /// nothing. Fails with [`Error::VersionConflict`] (expected version),
    /// [`Error::Immutable`], [`Error::NotFound`] (a workflow
    /// scope's workflow). A retry with the same idempotency key applies it once.
    pub async fn update_vars(&self, scope: &VarScope, update: VarUpdate) -> Result<VarsWritten> {
        self.update_vars_fenced(scope, update, None).await
    }

    pub(crate) async fn update_vars_fenced(
        &self,
        scope: &VarScope,
        update: VarUpdate,
        fence: Option<pb::Fence>,
    ) -> Result<VarsWritten> {
        let msg = pb::UpdateVarsRequest {
            header: Some(self.next_header()),
            fence,
            ..vars_request(Some(scope), update)?
        };
        match self.send_write(WriteOp::UpdateVars(msg)).await? {
            WriteOutcome::Vars(w) => Ok(w),
            _ => Err(mismatched_reply()),
        }
    }

    /// Writes a new version of `scope`'s variables equal to `to_version` (which must still
    /// be kept); immutable keys must not change by it.
    pub async fn rollback_vars(
        &self,
        scope: &VarScope,
        to_version: u64,
        expected_version: Option<u64>,
        actor: &str,
        reason: &str,
    ) -> Result<VarsWritten> {
        let msg = pb::RollbackVarsRequest {
            header: Some(self.next_header()),
            scope: Some(scope_pb(scope)),
            to_version,
            expected_version,
            actor: actor.to_string(),
            reason: reason.to_string(),
            fence: None,
        };
        match self.send_write(WriteOp::RollbackVars(msg)).await? {
            WriteOutcome::Vars(w) => Ok(w),
            _ => Err(mismatched_reply()),
        }
    }

    /// `scope`'s variables now (`version` None) or as of a kept version (linearizable).
    /// `Ok(None)`: no variables, or that version is not kept.
    pub async fn vars(&self, scope: &VarScope, version: Option<u64>) -> Result<Option<Vars>> {
        let msg = pb::GetVarsRequest {
            scope: Some(scope_pb(scope)),
            version,
            serializable: false,
        };
        let resp = self
            .call("get_vars", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).get_vars(req).await }
            })
            .await?;
        resp.vars.map(vars_from_pb).transpose()
    }

    /// Every kept version of `scope`'s variables, oldest first.
    pub async fn var_history(&self, scope: &VarScope) -> Result<Vec<VarVersion>> {
        let mut from = 1;
        let mut all = Vec::new();
        loop {
            let msg = pb::VarHistoryRequest {
                scope: Some(scope_pb(scope)),
                from_version: from,
                limit: PAGE,
                serializable: false,
            };
            let resp = self
                .call("var_history", |ch, t| {
                    let req = request(msg.clone(), t);
                    async move { Self::workflows(ch).var_history(req).await }
                })
                .await?;
            for v in resp.versions {
                all.push(version_from_pb(v)?);
            }
            match next_version("variable history", from, resp.next_version)? {
                Some(next) => from = next,
                None => return Ok(all),
            }
        }
    }
}
