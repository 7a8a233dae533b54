//! `WatchReader`: what the watch service reads. The shared [`EventHub`], and the catch-up
//! snapshot: every object a filter selects, exactly as of one revision.
//!
//! The snapshot is taken under the lock apply holds while it commits a batch and publishes
//! its events (see `ReadGate::commit_lock`), so the objects and the hub's current revision
//! describe the same applied state; a watch from that revision + 1 then continues it with no
//! gap and no overlap.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_model::KvRecord;
use cairn_model::checkpoint::CheckpointRecord;
use cairn_model::codec;
use cairn_model::coord::LockRecord;
use cairn_model::workflow::vars::{VarScope, VarSet};
use cairn_model::workflow::{TaskRecord, WorkflowRecord};

use super::filter::{Filter, Selector};
use super::hub::EventHub;
use crate::error::StorageError;
use crate::keyspace::{Space, Trees};
use crate::reader::ReadGate;
use crate::workflow_index::WorkflowIndex;
use crate::workflow_keys::{self as keys, tag};

/// One object of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Kv {
        key: Vec<u8>,
        record: KvRecord,
    },
    Workflow(Box<WorkflowRecord>),
    Task(Box<TaskRecord>),
    Checkpoint(Box<CheckpointRecord>),
    Lock(Box<LockRecord>),
    Election(Box<LockRecord>),
    /// A scope's variables, with the namespace they belong to.
    Vars {
        scope: VarScope,
        namespace: String,
        record: Box<VarSet>,
    },
}

/// Identity of an object, so overlapping selectors list it once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ObjectKey {
    Kv(Vec<u8>),
    Workflow(String),
    Task(String, String),
    Checkpoint(String, String),
    Lock(String),
    Election(String),
    Vars(VarScope),
}

/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct WatchReader {
    trees: Trees,
    gate: Arc<ReadGate>,
    hub: Arc<EventHub>,
}

impl WatchReader {
    pub(crate) fn new(trees: Trees, gate: Arc<ReadGate>, hub: Arc<EventHub>) -> Self {
        Self { trees, gate, hub }
    }

    pub fn hub(&self) -> &Arc<EventHub> {
        &self.hub
    }

    /// Index of the last applied log entry (0 if none).
    pub fn applied_index(&self) -> u64 {
        self.gate.applied()
    }

    /// The objects `filter` selects and the revision they are the state at. Holds off apply
    /// while it reads, so keep filters narrow where the data is large.
    pub fn snapshot(&self, filter: &Filter) -> Result<(u64, Vec<Object>), StorageError> {
        self.gate.guarded(|| {
            let index = self.gate.scan_lock();
            let revision = self.hub.current();
            let mut found = BTreeMap::new();
            for s in &filter.selectors {
                self.collect(&index, s, &mut found)?;
            }
            Ok((revision, found.into_values().collect()))
        })
    }

    fn collect(
        &self,
        index: &WorkflowIndex,
        s: &Selector,
        out: &mut BTreeMap<ObjectKey, Object>,
    ) -> Result<(), StorageError> {
        match s {
            Selector::Kv { prefix } => {
                for item in self.trees.get(Space::Kv).scan_prefix(prefix) {
                    let (k, v) = item?;
                    let record = codec::decode(&v)?;
                    out.insert(
                        ObjectKey::Kv(k.to_vec()),
                        Object::Kv {
                            key: k.to_vec(),
                            record,
                        },
                    );
                }
            }
            Selector::Workflows { id: Some(id), .. } => {
                if let Some(v) = self.trees.get(Space::Workflows).get(id.as_bytes())? {
                    self.add_workflow(s, codec::decode(&v)?, out);
                }
            }
            Selector::Workflows {
                id: None,
                namespace: Some(ns),
                statuses,
            } => {
                // The namespace's index (per status when filtered) names exactly the records.
                let prefixes: Vec<Vec<u8>> = if statuses.is_empty() {
                    vec![keys::index_prefix(tag::CREATED, ns, None)]
                } else {
                    statuses
                        .iter()
                        .map(|st| keys::index_prefix(tag::STATUS, ns, Some(st)))
                        .collect()
                };
                let workflows = self.trees.get(Space::Workflows);
                for prefix in &prefixes {
                    for k in index.scan(prefix, None, false) {
                        let Some((_, id)) = keys::split_tail(k, prefix) else {
                            return Err(StorageError::CorruptRecord("workflow index key".into()));
                        };
                        let Some(v) = workflows.get(id.as_bytes())? else {
                            return Err(StorageError::CorruptRecord(format!(
                                "index names missing workflow {id}"
                            )));
                        };
                        self.add_workflow(s, codec::decode(&v)?, out);
                    }
                }
            }
            Selector::Workflows { .. } => {
                for item in self.trees.get(Space::Workflows).iter() {
                    self.add_workflow(s, codec::decode(&item?.1)?, out);
                }
            }
            Selector::Tasks { workflow_id } => {
                let tasks = self.trees.get(Space::Tasks);
                let iter = match workflow_id {
                    Some(w) => tasks.scan_prefix(keys::children_prefix(w)),
                    None => tasks.iter(),
                };
                for item in iter {
                    let t: TaskRecord = codec::decode(&item?.1)?;
                    if s.selects_task(&t) {
                        out.insert(
                            ObjectKey::Task(t.workflow_id.clone(), t.id.clone()),
                            Object::Task(Box::new(t)),
                        );
                    }
                }
            }
            Selector::Checkpoints { workflow_id } => {
                let tree = self.trees.get(Space::Checkpoints);
                let iter = match workflow_id {
                    Some(w) => tree.scan_prefix(keys::children_prefix(w)),
                    None => tree.iter(),
                };
                for item in iter {
                    let c: CheckpointRecord = codec::decode(&item?.1)?;
                    if s.selects_checkpoint(&c) {
                        out.insert(
                            ObjectKey::Checkpoint(c.workflow_id.clone(), c.id.clone()),
                            Object::Checkpoint(Box::new(c)),
                        );
                    }
                }
            }
            Selector::Locks { prefix } => {
                for item in self.trees.get(Space::Locks).scan_prefix(prefix.as_bytes()) {
                    let l: LockRecord = codec::decode(&item?.1)?;
                    out.insert(ObjectKey::Lock(l.name.clone()), Object::Lock(Box::new(l)));
                }
            }
            Selector::Vars { scope, .. } => self.collect_vars(s, scope, out)?,
            Selector::Elections { prefix } => {
                for item in self
                    .trees
                    .get(Space::Elections)
                    .scan_prefix(prefix.as_bytes())
                {
                    let e: LockRecord = codec::decode(&item?.1)?;
                    out.insert(
                        ObjectKey::Election(e.name.clone()),
                        Object::Election(Box::new(e)),
                    );
                }
            }
        }
        Ok(())
    }

    /// Variable sets the selector picks: one scope's, or every scope's (by namespace: a
    /// namespace's own and its workflows', whose namespace is read from the workflow).
    fn collect_vars(
        &self,
        s: &Selector,
        scope: &Option<VarScope>,
        out: &mut BTreeMap<ObjectKey, Object>,
    ) -> Result<(), StorageError> {
        let vars = self.trees.get(Space::Vars);
        let sets: Vec<(VarScope, VarSet)> = match scope {
            Some(sc) => match vars.get(sc.key())? {
                Some(v) => vec![(sc.clone(), codec::decode(&v)?)],
                None => Vec::new(),
            },
            None => vars
                .iter()
                .map(|item| {
                    let (k, v) = item?;
                    let sc = VarScope::from_key(&k)
                        .ok_or_else(|| StorageError::CorruptRecord("variables key".into()))?;
                    Ok((sc, codec::decode(&v)?))
                })
                .collect::<Result<_, StorageError>>()?,
        };
        for (sc, record) in sets {
            let ns = match &sc {
                VarScope::Namespace(ns) => ns.clone(),
                VarScope::Workflow(id) => match self.trees.get(Space::Workflows).get(id)? {
                    Some(w) => codec::decode::<WorkflowRecord>(&w)?.namespace,
                    None => {
                        return Err(StorageError::CorruptRecord(format!(
                            "variables of missing workflow {id}"
                        )));
                    }
                },
            };
            if !s.selects_vars(&sc, &ns) {
                continue;
            }
            out.insert(
                ObjectKey::Vars(sc.clone()),
                Object::Vars {
                    scope: sc,
                    namespace: ns,
                    record: Box::new(record),
                },
            );
        }
        Ok(())
    }

    fn add_workflow(&self, s: &Selector, w: WorkflowRecord, out: &mut BTreeMap<ObjectKey, Object>) {
        if s.selects_workflow(&w) {
            out.insert(
                ObjectKey::Workflow(w.id.clone()),
                Object::Workflow(Box::new(w)),
            );
        }
    }
}
