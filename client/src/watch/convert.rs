//! Conversions between the watch protobuf messages and the client's watch types.

use cairn_api::v1::{self as pb, watch_event, watch_object, watch_selector};
use tonic::Status;

use super::types::*;
use crate::coord::LockState;
use crate::error::{Error, Result};
use crate::kv::KeyValue;
use crate::workflow::convert as wf;
use crate::workflow::vars;
use crate::workflow::{VarScope, Vars};

fn bad_reply(what: &str) -> Error {
    Error::Rpc(Status::internal(format!("malformed watch reply: {what}")))
}

pub(crate) fn filter(f: &WatchFilter) -> pb::WatchFilter {
    use watch_selector::Target;
    let selectors = f
        .selectors()
        .iter()
        .map(|s| {
            let target = match s {
                WatchSelector::Kv { prefix } => Target::Kv(pb::KvSelector {
                    prefix: prefix.clone(),
                }),
                WatchSelector::Workflows {
                    id,
                    namespace,
                    statuses,
                } => Target::Workflows(pb::WorkflowSelector {
                    id: id.clone().unwrap_or_default(),
                    namespace: namespace.clone().unwrap_or_default(),
                    statuses: statuses.clone(),
                }),
                WatchSelector::Tasks { workflow_id } => Target::Tasks(pb::TaskSelector {
                    workflow_id: workflow_id.clone().unwrap_or_default(),
                }),
                WatchSelector::Checkpoints { workflow_id } => {
                    Target::Checkpoints(pb::CheckpointSelector {
                        workflow_id: workflow_id.clone().unwrap_or_default(),
                    })
                }
                WatchSelector::Locks { prefix } => Target::Locks(pb::LockSelector {
                    prefix: prefix.clone(),
                }),
                WatchSelector::Elections { prefix } => Target::Elections(pb::ElectionSelector {
                    prefix: prefix.clone(),
                }),
                WatchSelector::Vars { scope, namespace } => Target::Vars(pb::VarsSelector {
                    scope: scope.as_ref().map(vars::scope_pb),
                    namespace: namespace.clone().unwrap_or_default(),
                }),
            };
            pb::WatchSelector {
                target: Some(target),
            }
        })
        .collect();
    pb::WatchFilter { selectors }
}

fn checkpoint(c: pb::CheckpointInfo) -> CheckpointMeta {
    CheckpointMeta {
        workflow_id: c.workflow_id,
        id: c.id,
        revision: c.revision,
        created_ms: c.created_ms,
        kind: c.kind,
        label: c.label,
        metadata: c.metadata,
        parent: c.parent,
        delta: c.delta,
        raw_size: c.raw_size,
        stored_size: c.stored_size,
        workflow_status: c.workflow_status,
        workflow_version: c.workflow_version,
    }
}

fn vars_change(v: pb::VarsChange) -> Result<(VarScope, String, Vars)> {
    Ok((
        vars::scope_from_pb(v.scope)?,
        v.namespace,
        vars::vars_from_pb(required(v.vars, "a variables change without variables")?)?,
    ))
}

fn required<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| bad_reply(what))
}

pub(crate) fn event(e: pb::WatchEvent) -> Result<WatchEvent> {
    use watch_event::Change as C;
    let change = match required(e.change, "event without a change")? {
        C::KvPut(p) => WatchChange::KvPut {
            kv: KeyValue::from(required(p.kv, "put without a key")?),
            prev: p.prev_kv.map(KeyValue::from),
        },
        C::KvDelete(d) => WatchChange::KvDelete {
            key: d.key,
            prev: d.prev_kv.map(KeyValue::from),
        },
        C::Workflow(w) => WatchChange::Workflow {
            workflow: wf::workflow(required(w.workflow, "change without a workflow")?)?,
            prev_status: w.prev_status,
            history: w.history.map(wf::history_event).transpose()?,
        },
        C::WorkflowDelete(w) => WatchChange::WorkflowDeleted {
            workflow: wf::workflow(required(w.workflow, "delete without a workflow")?)?,
        },
        C::Task(t) => WatchChange::Task {
            task: wf::task(required(t.task, "change without a task")?)?,
        },
        C::TaskDelete(t) => WatchChange::TaskDeleted {
            workflow_id: t.workflow_id,
            task_id: t.task_id,
        },
        C::Checkpoint(c) => WatchChange::Checkpoint {
            checkpoint: checkpoint(required(c.checkpoint, "change without a checkpoint")?),
        },
        C::CheckpointDelete(c) => WatchChange::CheckpointDeleted {
            workflow_id: c.workflow_id,
            checkpoint_id: c.checkpoint_id,
        },
        C::Lock(l) => WatchChange::Lock {
            lock: LockState::from(required(l.lock, "change without a lock")?),
        },
        C::LockDelete(l) => WatchChange::LockDeleted { name: l.name },
        C::Election(e) => WatchChange::Election {
            election: LockState::from(required(e.election, "change without an election")?),
        },
        C::ElectionDelete(e) => WatchChange::ElectionDeleted { name: e.name },
        C::Vars(v) => {
            let (scope, namespace, vars) = vars_change(v)?;
            WatchChange::Vars {
                scope,
                namespace,
                vars,
            }
        }
        C::VarsDelete(v) => WatchChange::VarsDeleted {
            scope: vars::scope_from_pb(v.scope)?,
            namespace: v.namespace,
        },
    };
    Ok(WatchEvent {
        revision: e.revision,
        change,
    })
}

pub(crate) fn object(o: pb::WatchObject) -> Result<WatchObject> {
    use watch_object::Object as O;
    Ok(match required(o.object, "empty snapshot object")? {
        O::Kv(kv) => WatchObject::Kv(KeyValue::from(kv)),
        O::Workflow(w) => WatchObject::Workflow(wf::workflow(w)?),
        O::Task(t) => WatchObject::Task(wf::task(t)?),
        O::Checkpoint(c) => WatchObject::Checkpoint(checkpoint(c)),
        O::Lock(l) => WatchObject::Lock(LockState::from(l)),
        O::Election(e) => WatchObject::Election(LockState::from(e)),
        O::Vars(v) => {
            let (scope, namespace, vars) = vars_change(v)?;
            WatchObject::Vars {
                scope,
                namespace,
                vars,
            }
        }
    })
}
