//! What a watch follows: a set of selectors, each naming one domain and a subset of its
//! objects. A change matches the filter if any selector matches it; the same selectors pick
//! the objects of a catch-up snapshot, so events and snapshots always describe one view.

use cairn_model::checkpoint::CheckpointRecord;
use cairn_model::workflow::vars::VarScope;
use cairn_model::workflow::{TaskRecord, WorkflowRecord};

use super::event::Change;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Keys starting with `prefix` (empty: every key).
    Kv { prefix: Vec<u8> },
    /// Workflows; each set field narrows: one id, one namespace, a set of statuses. A change
    /// matches a status set if the workflow's old or new status is in it, so a watcher sees
    /// workflows enter and leave the set.
    Workflows {
        id: Option<String>,
        namespace: Option<String>,
        statuses: Vec<String>,
    },
    /// Tasks of one workflow (None: of every workflow).
    Tasks { workflow_id: Option<String> },
    /// Checkpoints of one workflow (None: of every workflow).
    Checkpoints { workflow_id: Option<String> },
    /// Locks whose name starts with `prefix` (empty: every lock).
    Locks { prefix: String },
    /// Elections whose name starts with `prefix` (empty: every election).
    Elections { prefix: String },
    /// Variables: of one scope, or of a namespace and all its workflows, or (neither) every
    /// scope's.
    Vars {
        scope: Option<VarScope>,
        namespace: Option<String>,
    },
}

impl Selector {
    pub fn matches(&self, change: &Change) -> bool {
        match (self, change) {
            (Selector::Kv { prefix }, Change::KvPut { key, .. } | Change::KvDelete { key, .. }) => {
                key.starts_with(prefix)
            }
            (
                Selector::Workflows { .. },
                Change::WorkflowPut {
                    record,
                    prev_status,
                    ..
                },
            ) => {
                self.selects_workflow_at(record, &record.status)
                    || prev_status
                        .as_deref()
                        .is_some_and(|s| self.selects_workflow_at(record, s))
            }
            (Selector::Workflows { .. }, Change::WorkflowDelete { record }) => {
                self.selects_workflow(record)
            }
            (
                Selector::Tasks {
                    workflow_id: Some(w),
                },
                Change::TaskPut { record },
            ) => record.workflow_id == *w,
            (
                Selector::Tasks {
                    workflow_id: Some(w),
                },
                Change::TaskDelete { workflow_id, .. },
            ) => workflow_id == w,
            (
                Selector::Tasks { workflow_id: None },
                Change::TaskPut { .. } | Change::TaskDelete { .. },
            ) => true,
            (Selector::Checkpoints { workflow_id }, Change::CheckpointPut { record }) => {
                workflow_id
                    .as_ref()
                    .is_none_or(|w| *w == record.workflow_id)
            }
            (
                Selector::Checkpoints { workflow_id },
                Change::CheckpointDelete {
                    workflow_id: of, ..
                },
            ) => workflow_id.as_ref().is_none_or(|w| w == of),
            (Selector::Locks { prefix }, Change::LockPut { record }) => {
                record.name.starts_with(prefix.as_str())
            }
            (Selector::Locks { prefix }, Change::LockDelete { name }) => {
                name.starts_with(prefix.as_str())
            }
            (Selector::Elections { prefix }, Change::ElectionPut { record }) => {
                record.name.starts_with(prefix.as_str())
            }
            (Selector::Elections { prefix }, Change::ElectionDelete { name }) => {
                name.starts_with(prefix.as_str())
            }
            (
                Selector::Vars { .. },
                Change::VarsPut {
                    scope, namespace, ..
                }
                | Change::VarsDelete { scope, namespace },
            ) => self.selects_vars(scope, namespace),
            _ => false,
        }
    }

    /// Whether a workflow in its current state belongs to this selector's view.
    pub fn selects_workflow(&self, w: &WorkflowRecord) -> bool {
        self.selects_workflow_at(w, &w.status)
    }

    fn selects_workflow_at(&self, w: &WorkflowRecord, status: &str) -> bool {
        match self {
            Selector::Workflows {
                id,
                namespace,
                statuses,
            } => {
                id.as_ref().is_none_or(|id| *id == w.id)
                    && namespace.as_ref().is_none_or(|ns| *ns == w.namespace)
                    && (statuses.is_empty() || statuses.iter().any(|s| s == status))
            }
            _ => false,
        }
    }

    pub fn selects_checkpoint(&self, c: &CheckpointRecord) -> bool {
        match self {
            Selector::Checkpoints { workflow_id } => {
                workflow_id.as_ref().is_none_or(|w| *w == c.workflow_id)
            }
            _ => false,
        }
    }

    /// Whether the variables of `scope` (in `namespace`) belong to this selector's view.
    pub fn selects_vars(&self, scope: &VarScope, namespace: &str) -> bool {
        match self {
            Selector::Vars {
                scope: want,
                namespace: ns,
            } => {
                want.as_ref().is_none_or(|w| w == scope)
                    && ns.as_deref().is_none_or(|n| n == namespace)
            }
            _ => false,
        }
    }

    pub fn selects_task(&self, t: &TaskRecord) -> bool {
        match self {
            Selector::Tasks { workflow_id } => {
                workflow_id.as_ref().is_none_or(|w| *w == t.workflow_id)
            }
            _ => false,
        }
    }
}

/// A watch's filter: the union of its selectors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub selectors: Vec<Selector>,
}

impl Filter {
    pub fn new(selectors: Vec<Selector>) -> Self {
        Self { selectors }
    }

    pub fn matches(&self, change: &Change) -> bool {
        self.selectors.iter().any(|s| s.matches(change))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use cairn_model::KvRecord;
    use cairn_model::workflow::TaskStatus;

    use super::*;

    fn wf(id: &str, ns: &str, status: &str) -> Box<WorkflowRecord> {
        Box::new(WorkflowRecord {
            id: id.into(),
            namespace: ns.into(),
            definition: "default".into(),
            definition_version: 1,
            status: status.into(),
            version: 1,
            create_revision: 1,
            mod_revision: 1,
            created_ms: 0,
            updated_ms: 0,
            started_ms: None,
            finished_ms: None,
            metadata: "{}".into(),
            labels: BTreeMap::new(),
            owner_id: String::new(),
            routing_strategy: String::new(),
            max_concurrent: 0,
            total_tasks: 0,
            history_floor: 0,
            owner_lease: 0,
            owner_epoch: 0,
            orphaned_ms: None,
        })
    }

    fn wf_put(id: &str, ns: &str, from: Option<&str>, to: &str) -> Change {
        Change::WorkflowPut {
            record: wf(id, ns, to),
            prev_status: from.map(str::to_string),
            history: None,
        }
    }

    fn task(wf: &str, id: &str) -> Change {
        Change::TaskPut {
            record: Box::new(TaskRecord {
                workflow_id: wf.into(),
                id: id.into(),
                name: String::new(),
                kind: String::new(),
                status: TaskStatus::Pending,
                agent_id: String::new(),
                dependencies: vec![],
                input: String::new(),
                output: String::new(),
                error: String::new(),
                attempts: 0,
                version: 1,
                mod_revision: 1,
                created_ms: 0,
                updated_ms: 0,
                started_ms: None,
                finished_ms: None,
                lease: 0,
                claim: 0,
                retry: Default::default(),
                ready_ms: 0,
            }),
        }
    }

    fn kv(key: &str) -> Change {
        Change::KvDelete {
            key: key.as_bytes().to_vec(),
            prev: KvRecord {
                value: vec![],
                create_revision: 1,
                mod_revision: 1,
                version: 1,
                lease: 0,
            },
        }
    }

    #[test]
    fn kv_prefix() {
        let s = Selector::Kv {
            prefix: b"jobs/".to_vec(),
        };
        assert!(s.matches(&kv("jobs/1")));
        assert!(!s.matches(&kv("job")));
        assert!(!s.matches(&task("jobs/1", "t")));
        assert!(Selector::Kv { prefix: vec![] }.matches(&kv("anything")));
    }

    #[test]
    fn workflows_by_id_namespace_and_status_entering_and_leaving() {
        let running = Selector::Workflows {
            id: None,
            namespace: Some("ns".into()),
            statuses: vec!["RUNNING".into()],
        };
        assert!(running.matches(&wf_put("a", "ns", Some("PENDING"), "RUNNING")));
        assert!(running.matches(&wf_put("a", "ns", Some("RUNNING"), "PAUSED")));
        assert!(!running.matches(&wf_put("a", "ns", Some("PAUSED"), "CANCELLED")));
        assert!(!running.matches(&wf_put("a", "other", Some("PENDING"), "RUNNING")));
        assert!(!running.matches(&wf_put("a", "ns", None, "PENDING")));
        assert!(running.matches(&Change::WorkflowDelete {
            record: wf("a", "ns", "RUNNING")
        }));
        let one = Selector::Workflows {
            id: Some("a".into()),
            namespace: None,
            statuses: vec![],
        };
        assert!(one.matches(&wf_put("a", "x", None, "PENDING")));
        assert!(!one.matches(&wf_put("b", "x", None, "PENDING")));
        assert!(!one.matches(&task("a", "t")));
        assert!(one.selects_workflow(&wf("a", "x", "DONE")));
        assert!(!running.selects_workflow(&wf("a", "ns", "PAUSED")));
    }

    #[test]
    fn tasks_of_a_workflow_and_union_of_selectors() {
        let of_a = Selector::Tasks {
            workflow_id: Some("a".into()),
        };
        assert!(of_a.matches(&task("a", "t1")));
        assert!(!of_a.matches(&task("b", "t1")));
        let deleted = Change::TaskDelete {
            workflow_id: "a".into(),
            task_id: "t1".into(),
        };
        assert!(of_a.matches(&deleted));
        assert!(!of_a.matches(&wf_put("a", "ns", None, "PENDING")));
        assert!(Selector::Tasks { workflow_id: None }.matches(&deleted));
        let ckpt = Change::CheckpointDelete {
            workflow_id: "a".into(),
            id: "ckpt-1".into(),
        };
        assert!(!of_a.matches(&ckpt));
        assert!(
            Selector::Checkpoints {
                workflow_id: Some("a".into())
            }
            .matches(&ckpt)
        );
        assert!(
            !Selector::Checkpoints {
                workflow_id: Some("b".into())
            }
            .matches(&ckpt)
        );
        let lock = Change::LockDelete {
            name: "jobs/7".into(),
        };
        let locks = |p: &str| Selector::Locks { prefix: p.into() };
        assert!(locks("jobs/").matches(&lock) && locks("").matches(&lock));
        assert!(!locks("other").matches(&lock));
        let elections = |p: &str| Selector::Elections { prefix: p.into() };
        assert!(!elections("").matches(&lock));
        let leader = Change::ElectionDelete {
            name: "coordinator".into(),
        };
        assert!(elections("co").matches(&leader));

        let f = Filter::new(vec![
            of_a,
            Selector::Kv {
                prefix: b"x".to_vec(),
            },
        ]);
        assert!(f.matches(&task("a", "t")));
        assert!(f.matches(&kv("xy")));
        assert!(!f.matches(&kv("y")));
        assert!(!Filter::default().matches(&kv("x")));
    }

    #[test]
    fn vars_by_scope_and_namespace() {
        let put = |scope: VarScope, ns: &str| Change::VarsPut {
            scope,
            namespace: ns.into(),
            record: Box::default(),
        };
        let wf_a = VarScope::Workflow("a".into());
        let of_ns = Selector::Vars {
            scope: None,
            namespace: Some("ns".into()),
        };
        assert!(of_ns.matches(&put(wf_a.clone(), "ns")));
        assert!(of_ns.matches(&put(VarScope::Namespace("ns".into()), "ns")));
        assert!(!of_ns.matches(&put(wf_a.clone(), "other")));
        let of_a = Selector::Vars {
            scope: Some(wf_a.clone()),
            namespace: None,
        };
        assert!(of_a.matches(&Change::VarsDelete {
            scope: wf_a.clone(),
            namespace: "x".into()
        }));
        assert!(!of_a.matches(&put(VarScope::Workflow("b".into()), "ns")));
        assert!(!of_a.matches(&task("a", "t")));
        let all = Selector::Vars {
            scope: None,
            namespace: None,
        };
        assert!(all.matches(&put(VarScope::Namespace("z".into()), "z")));
        assert!(!all.matches(&kv("a")));
    }
}
