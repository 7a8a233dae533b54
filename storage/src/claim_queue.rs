//! The claim queue: every claimable task, by namespace and the time it became claimable. A
//! task is queued exactly when it is PENDING, every dependency is COMPLETED and its workflow
//! is not terminal ([`queued_keys`]); its key orders it by `ready_ms` (a retry's backoff end),
//! then workflow and task id, so a namespace's claim takes the oldest ready task first.
//!
//! Derived data like the Kv key set (see `key_set`): a pure function of the Workflows,
//! Definitions and Tasks spaces, rebuilt by [`rebuild`] on open and snapshot install and
//! kept exact by apply (every write of a task or a workflow's status goes through
//! `machine::claim::sync`). Exact matters: a claim's scan is bounded, so its outcome depends
//! on the whole set, which must be the same on every replica whatever its history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_model::codec;
use cairn_model::workflow::{Definition, TaskRecord, TaskStatus, WorkflowRecord};

use crate::error::StorageError;
use crate::key_set::KeySet;
use crate::keyspace::{Space, Trees};
use crate::workflow_keys as keys;

const SEP: u8 = 0;

/// The queue key of task `task_id` of `workflow_id` in `namespace`, claimable from `ready_ms`.
pub(crate) fn key(namespace: &str, ready_ms: u64, workflow_id: &str, task_id: &str) -> Vec<u8> {
    let mut k = prefix(namespace);
    k.extend_from_slice(&ready_ms.to_be_bytes());
    k.extend_from_slice(workflow_id.as_bytes());
    k.push(SEP);
    k.extend_from_slice(task_id.as_bytes());
    k
}

/// Every key of `namespace` starts with this (namespaces hold no 0x00 byte).
pub(crate) fn prefix(namespace: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 32);
    k.extend_from_slice(namespace.as_bytes());
    k.push(SEP);
    k
}

/// (ready_ms, workflow id, task id) of a key under `prefix`; None for a malformed key.
pub(crate) fn parse(prefix_len: usize, key: &[u8]) -> Option<(u64, &str, &str)> {
    let rest = key.get(prefix_len..)?;
    let ready = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let rest = rest.get(8..)?;
    let sep = rest.iter().position(|b| *b == SEP)?;
    let wf = std::str::from_utf8(&rest[..sep]).ok()?;
    let task = std::str::from_utf8(&rest[sep + 1..]).ok()?;
    Some((ready, wf, task))
}

/// The queue keys of one workflow's tasks (all of them, any order).
pub(crate) fn queued_keys<'t>(
    wf: &WorkflowRecord,
    terminal: bool,
    tasks: impl IntoIterator<Item = &'t TaskRecord> + Clone,
) -> BTreeSet<Vec<u8>> {
    if terminal {
        return BTreeSet::new();
    }
    let completed: BTreeSet<&str> = tasks
        .clone()
        .into_iter()
        .filter(|t| t.status == TaskStatus::Completed)
        .map(|t| t.id.as_str())
        .collect();
    tasks
        .into_iter()
        .filter(|t| t.status == TaskStatus::Pending)
        .filter(|t| {
            t.dependencies
                .iter()
                .all(|d| completed.contains(d.as_str()))
        })
        .map(|t| key(&wf.namespace, t.ready_ms, &wf.id, &t.id))
        .collect()
}

/// The queue of the state in `trees`.
pub(crate) fn rebuild(trees: &Trees) -> Result<KeySet, StorageError> {
    let mut definitions: HashMap<(String, u32), Definition> = HashMap::new();
    let mut by_workflow: BTreeMap<String, Vec<TaskRecord>> = BTreeMap::new();
    for item in trees.get(Space::Tasks).iter() {
        let (_, v) = item?;
        let t: TaskRecord = codec::decode(&v)?;
        by_workflow
            .entry(t.workflow_id.clone())
            .or_default()
            .push(t);
    }
    let mut out = BTreeSet::new();
    for (id, tasks) in by_workflow {
        let Some(raw) = trees.get(Space::Workflows).get(id.as_bytes())? else {
            continue;
        };
        let wf: WorkflowRecord = codec::decode(&raw)?;
        let def_key = (wf.definition.clone(), wf.definition_version);
        if !definitions.contains_key(&def_key) {
            let def = match trees
                .get(Space::Definitions)
                .get(keys::definition(&wf.definition, wf.definition_version))?
            {
                Some(b) => codec::decode(&b)?,
                None => Definition::default_definition(),
            };
            definitions.insert(def_key.clone(), def);
        }
        let terminal = definitions
            .get(&def_key)
            .is_some_and(|d| d.is_terminal(&wf.status));
        out.extend(queued_keys(&wf, terminal, &tasks));
    }
    Ok(KeySet::from_keys(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_ready_time_then_ids_and_parse_back() {
        let a = key("ns", 5, "wf-b", "t1");
        let b = key("ns", 7, "wf-a", "t0");
        let c = key("ns", 7, "wf-a", "t1");
        assert!(a < b && b < c);
        // Another namespace never falls inside this one's prefix range.
        let other = key("ns2", 0, "wf", "t");
        assert!(!other.starts_with(&prefix("ns")));
        let p = prefix("ns").len();
        assert_eq!(parse(p, &c), Some((7, "wf-a", "t1")));
        assert_eq!(parse(p, &c[..p + 4]), None);
    }
}
