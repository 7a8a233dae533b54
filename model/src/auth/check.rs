//! Which permissions a command needs ([`needs`]) and whether a user has them ([`authorize`]).
//! The serving node runs both before proposing; apply runs them again when the auth state
//! changed after that check, and always for needs that depend on state ([`needs_state`]: a
//! workflow's namespace). Pure: the caller hands in the user, a way to look up roles and a way
//! to look up a workflow's namespace.

use crate::auth::{AuthError, Resource, Role, User};
use crate::checkpoint::CheckpointCommand;
use crate::command::Command;
use crate::coord::CoordCommand;
use crate::step::{Step, StepChange};
use crate::txn::{KeyRange, TxnCommand, TxnOp};
use crate::workflow::WorkflowCommand;
use crate::workflow::command::CreateWorkflow;
use crate::workflow::vars::VarScope;

/// One thing a request must be allowed. No needs at all: any authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Only the root role (admin RPCs, auth management, compaction, workflow definitions).
    Root,
    Read(KeyRange),
    Write(KeyRange),
    /// The workflows (tasks, checkpoints) of a namespace.
    Namespace {
        name: String,
        write: bool,
    },
    /// The namespace of an existing workflow, whichever it is. A workflow that does not exist
    /// needs nothing more: the command answers "not found", or a create puts it in the
    /// namespace its own [`Need::Namespace`] names.
    Workflow {
        id: String,
        write: bool,
    },
}

/// Whether `needs` depend on state that can change between the serving node's check and
/// apply (which namespace a workflow id is in): apply then checks them again, always.
pub fn needs_state(needs: &[Need]) -> bool {
    needs.iter().any(|n| matches!(n, Need::Workflow { .. }))
}

/// What `cmd` needs when auth is on. Internal commands need nothing (they never come from a
/// caller); leases need only a user, as in etcd.
pub fn needs(cmd: &Command) -> Vec<Need> {
    match cmd {
        Command::Put { key, .. } | Command::Delete { key, .. } => {
            vec![Need::Write(KeyRange::single(key.clone()))]
        }
        Command::Txn(t) => {
            let mut out = Vec::new();
            txn_needs(t, &mut out);
            out
        }
        Command::Coord(c) => coord_needs(c),
        Command::Workflow(c) => workflow_needs(c),
        Command::Checkpoint(c) => checkpoint_needs(c),
        Command::Compact { .. } | Command::Auth(_) => vec![Need::Root],
        Command::SetClusterId { .. }
        | Command::SetRecordLimits(_)
        | Command::SetQuota { .. }
        | Command::RecordIncarnation { .. } => Vec::new(),
        // Alarms are root's (etcd's Maintenance Alarm); members raise NOSPACE without a user,
        // which apply lets through (see cairn-storage's machine/auth.rs).
        Command::Alarm(_) => vec![Need::Root],
        Command::Steps(steps) => steps.iter().flat_map(step_needs).collect(),
    }
}

/// What each part of a step needs, as its own command would.
fn step_needs(step: &Step) -> Vec<Need> {
    let mut out = match &step.change {
        Some(StepChange::Create(c)) => create_needs(c),
        Some(StepChange::Transition(t)) => vec![write(&t.id)],
        Some(StepChange::Update(u)) => vec![write(&u.id)],
        None => Vec::new(),
    };
    out.extend(step.tasks.iter().map(|t| write(&t.workflow_id)));
    out.extend(step.vars.iter().map(|v| scope_write(&v.scope)));
    out.extend(step.checkpoint.iter().map(|c| write(&c.workflow_id)));
    out
}

fn create_needs(c: &CreateWorkflow) -> Vec<Need> {
    let mut out = vec![Need::Namespace {
        name: c.namespace.clone(),
        write: true,
    }];
    // An upsert may land on an existing workflow, in whatever namespace it is.
    out.extend(c.id.as_deref().map(write));
    out
}

fn txn_needs(t: &TxnCommand, out: &mut Vec<Need>) {
    for c in &t.compare {
        out.push(Need::Read(c.range.clone()));
    }
    for op in t.success.iter().chain(&t.failure) {
        match op {
            TxnOp::Range(r) => out.push(Need::Read(r.range.clone())),
            TxnOp::Put(p) => {
                let key = KeyRange::single(p.key.clone());
                if p.prev_kv {
                    out.push(Need::Read(key.clone()));
                }
                out.push(Need::Write(key));
            }
            TxnOp::DeleteRange { range, prev_kv } => {
                if *prev_kv {
                    out.push(Need::Read(range.clone()));
                }
                out.push(Need::Write(range.clone()));
            }
            TxnOp::Txn(inner) => txn_needs(inner, out),
        }
    }
}

fn write(id: &str) -> Need {
    Need::Workflow {
        id: id.to_string(),
        write: true,
    }
}

fn workflow_needs(c: &WorkflowCommand) -> Vec<Need> {
    match c {
        // Definitions are shared by every namespace; a namespace's writers must not raise
        // their own limits.
        WorkflowCommand::RegisterDefinition(_) | WorkflowCommand::SetNamespaceLimits { .. } => {
            vec![Need::Root]
        }
        WorkflowCommand::Create(c) => create_needs(c),
        WorkflowCommand::Transition(t) => vec![write(&t.id)],
        WorkflowCommand::Update(u) => vec![write(&u.id)],
        WorkflowCommand::Delete { id, .. } | WorkflowCommand::CompactHistory { id, .. } => {
            vec![write(id)]
        }
        WorkflowCommand::UpsertTasks(u) => vec![write(&u.workflow_id)],
        WorkflowCommand::ClaimTask(c) => {
            let mut out = vec![Need::Namespace {
                name: c.namespace.clone(),
                write: true,
            }];
            out.extend(c.workflow_id.as_deref().map(write));
            out
        }
        WorkflowCommand::FinishTask(f) => vec![write(&f.workflow_id)],
        WorkflowCommand::UpdateVars(u) => vec![scope_write(&u.scope)],
        WorkflowCommand::RollbackVars(r) => vec![scope_write(&r.scope)],
        WorkflowCommand::Adopt(a) => vec![write(&a.id)],
        WorkflowCommand::Purge { .. } => Vec::new(),
    }
}

/// Workflow variables are the workflow's; namespace variables the namespace's.
fn scope_write(scope: &VarScope) -> Need {
    match scope {
        VarScope::Workflow(id) => write(id),
        VarScope::Namespace(ns) => Need::Namespace {
            name: ns.clone(),
            write: true,
        },
    }
}

fn checkpoint_needs(c: &CheckpointCommand) -> Vec<Need> {
    match c {
        CheckpointCommand::Save(s) => vec![write(&s.workflow_id)],
        CheckpointCommand::UploadChunk { workflow_id, .. }
        | CheckpointCommand::Rollback { workflow_id, .. }
        | CheckpointCommand::SetRetention { workflow_id, .. } => vec![write(workflow_id)],
        CheckpointCommand::CommitUpload { save, .. } => vec![write(&save.workflow_id)],
        CheckpointCommand::SetNamespaceRetention { namespace, .. } => vec![Need::Namespace {
            name: namespace.clone(),
            write: true,
        }],
        // Upload ids are random and known only to their uploader; chunks of an aborted
        // upload were written under the workflow's own check.
        CheckpointCommand::AbortUploads { .. } | CheckpointCommand::Purge { .. } => Vec::new(),
    }
}

/// Lock and election names are keys for permissions, as they are in etcd.
fn coord_needs(c: &CoordCommand) -> Vec<Need> {
    let name = match c {
        CoordCommand::Acquire { name, .. }
        | CoordCommand::Release { name, .. }
        | CoordCommand::CancelWait { name, .. } => name,
        CoordCommand::Campaign { election, .. }
        | CoordCommand::Resign { election, .. }
        | CoordCommand::Proclaim { election, .. } => election,
        CoordCommand::GrantLease { .. }
        | CoordCommand::KeepAlive { .. }
        | CoordCommand::RevokeLease { .. }
        | CoordCommand::ExpireLeases { .. }
        | CoordCommand::RenewLeases { .. } => return Vec::new(),
    };
    vec![Need::Write(KeyRange::single(name.as_bytes().to_vec()))]
}

/// Whether `user` (with roles looked up by `role`, workflows' namespaces by `namespace_of`)
/// may do everything in `needs`.
pub fn authorize(
    user: &User,
    role: impl Fn(&str) -> Option<Role>,
    namespace_of: impl Fn(&str) -> Option<String>,
    needs: &[Need],
) -> Result<(), AuthError> {
    if user.is_root() {
        return Ok(());
    }
    if needs.iter().any(|n| matches!(n, Need::Root)) {
        return Err(AuthError::PermissionDenied);
    }
    if needs.is_empty() {
        return Ok(());
    }
    let roles: Vec<Role> = user.roles.iter().filter_map(|r| role(r)).collect();
    for need in needs {
        let allowed = match need {
            Need::Read(r) => covered(&roles, r, false),
            Need::Write(r) => covered(&roles, r, true),
            Need::Namespace { name, write } => in_namespace(&roles, name, *write),
            Need::Workflow { id, write } => match namespace_of(id) {
                Some(name) => in_namespace(&roles, &name, *write),
                None => true,
            },
            Need::Root => false,
        };
        if !allowed {
            return Err(AuthError::PermissionDenied);
        }
    }
    Ok(())
}

fn in_namespace(roles: &[Role], name: &str, write: bool) -> bool {
    roles
        .iter()
        .flat_map(|r| &r.permissions)
        .any(|p| p.kind.allows(write) && matches!(&p.resource, Resource::Namespace(n) if n == name))
}

/// The end of a half-open interval of keys; `Inf` is past every key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Key(Vec<u8>),
    Inf,
}

/// `range` as `[start, end)`: a single key `k` is `[k, k\0)`, `\0` is "to the end", an
/// inverted range is taken as its first key (so it never needs less than that key).
fn interval(range: &KeyRange) -> (Vec<u8>, End) {
    let one = || {
        let mut next = range.key.clone();
        next.push(0);
        End::Key(next)
    };
    let end = if range.range_end.is_empty() {
        one()
    } else if range.range_end == [0] {
        End::Inf
    } else if range.range_end <= range.key {
        one()
    } else {
        End::Key(range.range_end.clone())
    };
    (range.key.clone(), end)
}

/// Whether the union of the roles' permissions of the right kind covers `range` (etcd merges
/// a user's permissions into one interval set before checking the same way).
fn covered(roles: &[Role], range: &KeyRange, write: bool) -> bool {
    let mut have: Vec<(Vec<u8>, End)> = roles
        .iter()
        .flat_map(|r| &r.permissions)
        .filter(|p| p.kind.allows(write))
        .filter_map(|p| match &p.resource {
            Resource::Keys(r) => Some(interval(r)),
            Resource::Namespace(_) => None,
        })
        .collect();
    have.sort();
    let (start, want_end) = interval(range);
    let mut reached = End::Key(start.clone());
    for (from, to) in have {
        if End::Key(from) > reached {
            break;
        }
        if to > reached {
            reached = to;
        }
        if reached >= want_end {
            return true;
        }
    }
    false
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
