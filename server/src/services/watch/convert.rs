//! Watch messages: the filter a client sends, checked and turned into the storage filter, and
//! changes and snapshot objects turned into their protobuf messages.

use cairn_api::v1::{self as pb, watch_event, watch_object, watch_selector};
use cairn_model::KvRecord;
use cairn_model::checkpoint::{CheckpointKind, CheckpointRecord};
use cairn_model::coord::{Holder, LockRecord};
use cairn_storage::watch::{Change, Filter, Object, Selector};
use tonic::Status;

use crate::services::workflow::convert as wf;
use crate::services::workflow::vars;
use crate::status;

/// Bounds on a filter, so matching stays cheap per change.
const MAX_SELECTORS: usize = 64;
const MAX_STATUSES: usize = 64;
const MAX_NAME_BYTES: usize = 256;

fn name(field: &str, value: String) -> Result<Option<String>, Status> {
    if value.len() > MAX_NAME_BYTES {
        return Err(status::too_large(field, value.len(), MAX_NAME_BYTES));
    }
    Ok((!value.is_empty()).then_some(value))
}

/// The storage filter for a request's filter; `max_key_bytes` bounds a KV prefix.
pub fn filter(f: Option<pb::WatchFilter>, max_key_bytes: usize) -> Result<Filter, Status> {
    let selectors = f.map(|f| f.selectors).unwrap_or_default();
    if selectors.is_empty() {
        return Err(status::invalid(
            "filter: at least one selector (kv, workflows, tasks, checkpoints, locks, \
             elections or vars) is required",
        ));
    }
    if selectors.len() > MAX_SELECTORS {
        return Err(status::invalid(format!(
            "filter has {} selectors; the limit is {MAX_SELECTORS}",
            selectors.len()
        )));
    }
    let mut out = Vec::with_capacity(selectors.len());
    for s in selectors {
        out.push(match s.target {
            None => return Err(status::invalid("filter: a selector names no target")),
            Some(watch_selector::Target::Kv(k)) => {
                if k.prefix.len() > max_key_bytes {
                    return Err(status::too_large(
                        "kv.prefix",
                        k.prefix.len(),
                        max_key_bytes,
                    ));
                }
                Selector::Kv { prefix: k.prefix }
            }
            Some(watch_selector::Target::Workflows(w)) => {
                if w.statuses.len() > MAX_STATUSES {
                    return Err(status::invalid(format!(
                        "workflows.statuses has {} entries; the limit is {MAX_STATUSES}",
                        w.statuses.len()
                    )));
                }
                let mut statuses = Vec::with_capacity(w.statuses.len());
                for s in w.statuses {
                    match name("workflows.statuses", s)? {
                        Some(s) => statuses.push(s),
                        None => return Err(status::invalid("workflows.statuses: empty status")),
                    }
                }
                Selector::Workflows {
                    id: name("workflows.id", w.id)?,
                    namespace: name("workflows.namespace", w.namespace)?,
                    statuses,
                }
            }
            Some(watch_selector::Target::Tasks(t)) => Selector::Tasks {
                workflow_id: name("tasks.workflow_id", t.workflow_id)?,
            },
            Some(watch_selector::Target::Checkpoints(c)) => Selector::Checkpoints {
                workflow_id: name("checkpoints.workflow_id", c.workflow_id)?,
            },
            Some(watch_selector::Target::Locks(l)) => Selector::Locks {
                prefix: name("locks.prefix", l.prefix)?.unwrap_or_default(),
            },
            Some(watch_selector::Target::Elections(e)) => Selector::Elections {
                prefix: name("elections.prefix", e.prefix)?.unwrap_or_default(),
            },
            Some(watch_selector::Target::Vars(v)) => Selector::Vars {
                scope: v.scope.map(|s| vars::scope(Some(s))).transpose()?,
                namespace: name("vars.namespace", v.namespace)?,
            },
        });
    }
    Ok(Filter::new(out))
}

fn key_value(key: &[u8], r: &KvRecord) -> pb::KeyValue {
    pb::KeyValue {
        key: key.to_vec(),
        value: r.value.clone(),
        create_revision: r.create_revision,
        mod_revision: r.mod_revision,
        version: r.version,
    }
}

fn checkpoint_kind(k: CheckpointKind) -> &'static str {
    match k {
        CheckpointKind::Auto => "AUTO",
        CheckpointKind::Manual => "MANUAL",
        CheckpointKind::ErrorRecovery => "ERROR_RECOVERY",
    }
}

fn checkpoint(c: &CheckpointRecord) -> pb::CheckpointInfo {
    pb::CheckpointInfo {
        workflow_id: c.workflow_id.clone(),
        id: c.id.clone(),
        revision: c.revision,
        created_ms: c.created_ms,
        kind: checkpoint_kind(c.kind).to_string(),
        label: c.label.clone(),
        metadata: c.metadata.clone(),
        parent: c.parent.clone(),
        delta: c.delta,
        raw_size: c.raw_size,
        stored_size: c.stored_size,
        workflow_status: c.workflow_status.clone(),
        workflow_version: c.workflow_version,
    }
}

fn holder(h: &Holder) -> pb::Holder {
    pb::Holder {
        owner: h.owner.clone(),
        lease_id: h.lease,
        token: h.token,
        value: h.value.clone(),
        since_ms: h.since_ms,
    }
}

/// A lock, or an election (its leader as holder, its candidates as waiters).
fn lock(r: &LockRecord) -> pb::Lock {
    pb::Lock {
        name: r.name.clone(),
        holder: r.holder.as_ref().map(holder),
        waiters: r.waiters.iter().map(holder).collect(),
    }
}

fn vars_change(
    scope: &cairn_model::workflow::vars::VarScope,
    namespace: &str,
    set: cairn_model::workflow::vars::VarSet,
) -> pb::VarsChange {
    pb::VarsChange {
        scope: Some(vars::scope_pb(scope)),
        namespace: namespace.to_string(),
        vars: Some(vars::vars_pb(set)),
    }
}

/// One change as sent to a watcher.
pub fn event(revision: u64, c: &Change) -> pb::WatchEvent {
    use watch_event::Change as C;
    let change = match c {
        Change::KvPut { key, record, prev } => C::KvPut(pb::KvPutChange {
            kv: Some(key_value(key, record)),
            prev_kv: prev.as_ref().map(|p| key_value(key, p)),
        }),
        Change::KvDelete { key, prev } => C::KvDelete(pb::KvDeleteChange {
            key: key.clone(),
            prev_kv: Some(key_value(key, prev)),
        }),
        Change::WorkflowPut {
            record,
            prev_status,
            history,
        } => C::Workflow(pb::WorkflowChange {
            workflow: Some(wf::workflow((**record).clone())),
            prev_status: prev_status.clone(),
            history: history.as_ref().map(|h| wf::history_event((**h).clone())),
        }),
        Change::WorkflowDelete { record } => C::WorkflowDelete(pb::WorkflowDeleteChange {
            workflow: Some(wf::workflow((**record).clone())),
        }),
        Change::TaskPut { record } => C::Task(pb::TaskChange {
            task: Some(wf::task((**record).clone())),
        }),
        Change::TaskDelete {
            workflow_id,
            task_id,
        } => C::TaskDelete(pb::TaskDeleteChange {
            workflow_id: workflow_id.clone(),
            task_id: task_id.clone(),
        }),
        Change::CheckpointPut { record } => C::Checkpoint(pb::CheckpointChange {
            checkpoint: Some(checkpoint(record)),
        }),
        Change::CheckpointDelete { workflow_id, id } => {
            C::CheckpointDelete(pb::CheckpointDeleteChange {
                workflow_id: workflow_id.clone(),
                checkpoint_id: id.clone(),
            })
        }
        Change::LockPut { record } => C::Lock(pb::LockChange {
            lock: Some(lock(record)),
        }),
        Change::LockDelete { name } => C::LockDelete(pb::LockDeleteChange { name: name.clone() }),
        Change::ElectionPut { record } => C::Election(pb::ElectionChange {
            election: Some(lock(record)),
        }),
        Change::ElectionDelete { name } => {
            C::ElectionDelete(pb::ElectionDeleteChange { name: name.clone() })
        }
        Change::VarsPut {
            scope,
            namespace,
            record,
        } => C::Vars(vars_change(scope, namespace, (**record).clone())),
        Change::VarsDelete { scope, namespace } => C::VarsDelete(pb::VarsDeleteChange {
            scope: Some(vars::scope_pb(scope)),
            namespace: namespace.clone(),
        }),
    };
    pb::WatchEvent {
        revision,
        change: Some(change),
    }
}

/// One snapshot object as sent to a client catching up.
pub fn object(o: Object) -> pb::WatchObject {
    use watch_object::Object as O;
    let object = match o {
        Object::Kv { key, record } => O::Kv(key_value(&key, &record)),
        Object::Workflow(w) => O::Workflow(wf::workflow(*w)),
        Object::Task(t) => O::Task(wf::task(*t)),
        Object::Checkpoint(c) => O::Checkpoint(checkpoint(&c)),
        Object::Lock(l) => O::Lock(lock(&l)),
        Object::Election(e) => O::Election(lock(&e)),
        Object::Vars {
            scope,
            namespace,
            record,
        } => O::Vars(vars_change(&scope, &namespace, *record)),
    };
    pb::WatchObject {
        object: Some(object),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn sel(t: watch_selector::Target) -> pb::WatchSelector {
        pb::WatchSelector { target: Some(t) }
    }

    #[test]
    fn filters_are_checked() {
        assert!(filter(None, 10).is_err());
        assert!(filter(Some(pb::WatchFilter { selectors: vec![] }), 10).is_err());
        let empty_target = pb::WatchFilter {
            selectors: vec![pb::WatchSelector { target: None }],
        };
        assert!(filter(Some(empty_target), 10).is_err());
        let long_prefix = pb::WatchFilter {
            selectors: vec![sel(watch_selector::Target::Kv(pb::KvSelector {
                prefix: vec![b'a'; 11],
            }))],
        };
        assert!(filter(Some(long_prefix), 10).is_err());
        let empty_status = pb::WatchFilter {
            selectors: vec![sel(watch_selector::Target::Workflows(
                pb::WorkflowSelector {
                    statuses: vec![String::new()],
                    ..Default::default()
                },
            ))],
        };
        assert!(filter(Some(empty_status), 10).is_err());

        let ok = pb::WatchFilter {
            selectors: vec![
                sel(watch_selector::Target::Workflows(pb::WorkflowSelector {
                    namespace: "ns".into(),
                    statuses: vec!["RUNNING".into()],
                    ..Default::default()
                })),
                sel(watch_selector::Target::Tasks(pb::TaskSelector::default())),
            ],
        };
        assert_eq!(
            filter(Some(ok), 10).unwrap(),
            Filter::new(vec![
                Selector::Workflows {
                    id: None,
                    namespace: Some("ns".into()),
                    statuses: vec!["RUNNING".into()],
                },
                Selector::Tasks { workflow_id: None },
            ])
        );
    }
}
