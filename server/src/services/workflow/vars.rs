//! Versioned variables: `UpdateVars`, `RollbackVars` (writers of the scope's workflow or
//! namespace, through their commands' auth needs), `GetVars` and `VarHistory` (its readers).
//! Field checks are the commands' own input check, run by the gateway.

use cairn_api::v1 as pb;
use cairn_model::workflow::vars::{RollbackVars, UpdateVars, VarScope, VarSet, VarVersion};
use cairn_model::workflow::{WorkflowCommand, WorkflowReply};
use tonic::Status;

use super::{Reply, WorkflowService, unexpected_reply};
use crate::auth::caller;
use crate::services::fields;
use crate::status;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub(crate) fn scope(s: Option<pb::VarScope>) -> Result<VarScope, Status> {
    use pb::var_scope::Scope;
    match s.and_then(|s| s.scope) {
        Some(Scope::Workflow(w)) => {
            fields::id("scope.workflow", &w)?;
            Ok(VarScope::Workflow(w))
        }
        Some(Scope::Namespace(n)) => {
            fields::id("scope.namespace", &n)?;
            Ok(VarScope::Namespace(n))
        }
        None => Err(status::invalid("scope: set workflow or namespace")),
    }
}

pub(crate) fn scope_pb(s: &VarScope) -> pb::VarScope {
    use pb::var_scope::Scope;
    pb::VarScope {
        scope: Some(match s {
            VarScope::Workflow(w) => Scope::Workflow(w.clone()),
            VarScope::Namespace(n) => Scope::Namespace(n.clone()),
        }),
    }
}

/// An `UpdateVars` request's command (its header and fence are the caller's to take).
pub(crate) fn update(r: pb::UpdateVarsRequest) -> Result<UpdateVars, Status> {
    Ok(UpdateVars {
        scope: scope(r.scope)?,
        expected_version: r.expected_version,
        set: r.set.into_iter().collect(),
        delete: r.delete,
        immutable: r.immutable,
        keep_versions: r.keep_versions,
        actor: r.actor,
        reason: r.reason,
    })
}

pub(crate) fn vars_pb(v: VarSet) -> pb::Vars {
    pb::Vars {
        version: v.version,
        values: v.values.into_iter().collect(),
        immutable: v.immutable.into_iter().collect(),
        keep_versions: v.keep_versions,
        floor: v.floor,
        mod_revision: v.mod_revision,
        updated_ms: v.updated_ms,
        updated_by: v.updated_by,
        checksum: v.checksum,
    }
}

fn version_pb(v: VarVersion) -> pb::VarVersion {
    let mut previous = v.previous;
    pb::VarVersion {
        version: v.version,
        revision: v.revision,
        time_ms: v.time_ms,
        actor: v.actor,
        reason: v.reason,
        changes: v
            .changes
            .into_iter()
            .map(|(key, value)| pb::VarChange {
                previous: previous.remove(&key).flatten(),
                key,
                value,
            })
            .collect(),
        checksum: v.checksum,
        rolled_back_to: v.rolled_back_to,
    }
}

impl WorkflowService {
    /// The scope's readers: the workflow's, or the namespace's.
    fn check_scope_read(&self, scope: &VarScope) -> Result<(), Status> {
        match scope {
            VarScope::Workflow(id) => caller::check_workflow_read(&self.reader, id),
            VarScope::Namespace(ns) => caller::check_namespace_read(ns),
        }
    }

    async fn propose_vars(
        &self,
        header: Option<pb::RequestHeader>,
        fence: Option<pb::Fence>,
        command: WorkflowCommand,
    ) -> Reply<pb::UpdateVarsResponse> {
        match self.propose(header, fence, command).await? {
            (revision, WorkflowReply::Vars { version, checksum }) => {
                Ok(self.gateway.reply(pb::UpdateVarsResponse {
                    version,
                    checksum,
                    revision,
                }))
            }
            (_, other) => Err(unexpected_reply(other)),
        }
    }

    pub(super) async fn update_vars_impl(
        &self,
        mut r: pb::UpdateVarsRequest,
    ) -> Reply<pb::UpdateVarsResponse> {
        let (header, fence) = (r.header.take(), r.fence.take());
        let command = WorkflowCommand::UpdateVars(Box::new(update(r)?));
        self.propose_vars(header, fence, command).await
    }

    pub(super) async fn rollback_vars_impl(
        &self,
        r: pb::RollbackVarsRequest,
    ) -> Reply<pb::UpdateVarsResponse> {
        let command = WorkflowCommand::RollbackVars(Box::new(RollbackVars {
            scope: scope(r.scope)?,
            to_version: r.to_version,
            expected_version: r.expected_version,
            actor: r.actor,
            reason: r.reason,
        }));
        self.propose_vars(r.header, r.fence, command).await
    }

    pub(super) async fn get_vars_impl(&self, r: pb::GetVarsRequest) -> Reply<pb::GetVarsResponse> {
        let scope = scope(r.scope)?;
        self.gateway.before_read(r.serializable).await?;
        self.check_scope_read(&scope)?;
        let revision = self.reader.applied_index();
        let vars = self
            .reader
            .vars(&scope, r.version)
            .map_err(status::storage_error)?;
        Ok(self.gateway.reply(pb::GetVarsResponse {
            vars: vars.map(vars_pb),
            revision,
        }))
    }

    pub(super) async fn var_history_impl(
        &self,
        r: pb::VarHistoryRequest,
    ) -> Reply<pb::VarHistoryResponse> {
        let scope = scope(r.scope)?;
        let limit = match r.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        } as usize;
        self.gateway.before_read(r.serializable).await?;
        self.check_scope_read(&scope)?;
        let revision = self.reader.applied_index();
        // One more than asked says whether more follow.
        let mut versions = self
            .reader
            .var_history(&scope, r.from_version.max(1), limit + 1)
            .map_err(status::storage_error)?;
        let next_version = (versions.len() > limit).then(|| {
            versions.truncate(limit);
            versions.last().map_or(0, |v| v.version + 1)
        });
        Ok(self.gateway.reply(pb::VarHistoryResponse {
            versions: versions.into_iter().map(version_pb).collect(),
            next_version,
            revision,
        }))
    }
}
