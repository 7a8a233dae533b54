//! `WorkflowReader`: the read-only view of the workflow spaces that services use, concurrently
//! with apply. Lists and counts are served from the in-memory secondary indexes (see
//! `workflow_index`); multi-key reads hold the scan lock so they see one applied state.

use std::sync::Arc;

use cairn_model::codec;
use cairn_model::workflow::query::{HistoryPage, ListPage, ListQuery, SortBy};
use cairn_model::workflow::quota::NamespaceQuota;
use cairn_model::workflow::vars::{VarScope, VarSet, VarVersion, checksum, values_as_of};
use cairn_model::workflow::{Definition, HistoryEvent, TaskRecord, WorkflowRecord};
use serde::de::DeserializeOwned;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees};
use crate::machine::vars;
use crate::reader::ReadGate;
use crate::workflow_index::WorkflowIndex;
use crate::workflow_keys::{self as keys, tag};

/// Largest page a list returns, whatever the query asks.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// Page size when a query sets none.
const DEFAULT_LIST_LIMIT: u32 = 100;
use cairn_model::workflow::definition::DEFAULT_DEFINITION;

/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct WorkflowReader {
    trees: Trees,
    gate: Arc<ReadGate>,
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    Ok(codec::decode(bytes)?)
}

/// A list position: the (time, id) of the last item returned.
fn encode_cursor(time: u64, id: &str) -> Vec<u8> {
    let mut c = time.to_be_bytes().to_vec();
    c.extend_from_slice(id.as_bytes());
    c
}

fn decode_cursor(c: &[u8]) -> Result<(u64, String), StorageError> {
    let time = c
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or(StorageError::InvalidCursor)?;
    let id = std::str::from_utf8(&c[8..]).map_err(|_| StorageError::InvalidCursor)?;
    Ok((u64::from_be_bytes(time), id.to_string()))
}

impl WorkflowReader {
    pub(crate) fn new(trees: Trees, gate: Arc<ReadGate>) -> Self {
        Self { trees, gate }
    }

    fn tree(&self, space: Space) -> &sled::Tree {
        self.trees.get(space)
    }

    fn get<T: DeserializeOwned>(
        &self,
        space: Space,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.tree(space).get(key)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// `version` None = latest. The built-in `default` v1 exists even if never registered.
    pub fn definition(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<Option<(u32, Definition)>, StorageError> {
        self.gate.guarded(|| {
            let version = match version {
                Some(v) => Some(v),
                None => self.latest_version(name)?,
            };
            let Some(version) = version else {
                return Ok(None);
            };
            if let Some(d) = self.get(Space::Definitions, &keys::definition(name, version))? {
                return Ok(Some((version, d)));
            }
            Ok((name == DEFAULT_DEFINITION && version == 1)
                .then(|| (1, Definition::default_definition())))
        })
    }

    fn latest_version(&self, name: &str) -> Result<Option<u32>, StorageError> {
        match self
            .tree(Space::Definitions)
            .get(keys::definition_latest(name))?
        {
            Some(b) => <[u8; 4]>::try_from(b.as_ref())
                .map(|v| Some(u32::from_be_bytes(v)))
                .map_err(|_| StorageError::CorruptRecord(format!("latest version of {name}"))),
            None => Ok((name == DEFAULT_DEFINITION).then_some(1)),
        }
    }

    /// The latest version of every definition (the built-in `default` included), by name.
    pub fn definitions(&self) -> Result<Vec<(u32, Definition)>, StorageError> {
        let mut names = Vec::new();
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            for item in self.tree(Space::Definitions).iter() {
                let (k, _) = item?;
                // Latest-version pointers are `name, 0`; versioned keys are longer.
                if let Some(pos) = k.iter().position(|b| *b == 0)
                    && pos + 1 == k.len()
                {
                    names.push(String::from_utf8_lossy(&k[..pos]).into_owned());
                }
            }
            Ok(())
        })?;
        if !names.iter().any(|n| n == DEFAULT_DEFINITION) {
            names.push(DEFAULT_DEFINITION.to_string());
            names.sort();
        }
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(d) = self.definition(&n, None)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    pub fn workflow(&self, id: &str) -> Result<Option<WorkflowRecord>, StorageError> {
        self.gate
            .guarded(|| self.get(Space::Workflows, id.as_bytes()))
    }

    /// A scope's variables now, or as of an older `version` still kept (its values rebuilt
    /// from the newer versions' records and checked against that version's checksum). None:
    /// the scope has no variables, or the version is not kept (see the set's `floor`).
    pub fn vars(
        &self,
        scope: &VarScope,
        version: Option<u64>,
    ) -> Result<Option<VarSet>, StorageError> {
        let key = scope.key();
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            let Some(set) = self.get::<VarSet>(Space::Vars, &key)? else {
                return Ok(None);
            };
            let Some(v) = version.filter(|v| *v != set.version) else {
                return Ok(Some(set));
            };
            if v < set.floor || v > set.version {
                return Ok(None);
            }
            let mut newer = Vec::new();
            for n in v + 1..=set.version {
                let rec: VarVersion = self
                    .get(Space::VarHistory, &vars::history_key(&key, n))?
                    .ok_or_else(|| StorageError::CorruptRecord(format!("{scope}: version {n}")))?;
                newer.push(rec);
            }
            let at: VarVersion = self
                .get(Space::VarHistory, &vars::history_key(&key, v))?
                .ok_or_else(|| StorageError::CorruptRecord(format!("{scope}: version {v}")))?;
            let values = values_as_of(&set.values, &newer);
            if checksum(&values) != at.checksum {
                return Err(StorageError::CorruptRecord(format!(
                    "{scope}: version {v} rebuilt does not match its checksum"
                )));
            }
            Ok(Some(VarSet {
                version: v,
                checksum: at.checksum,
                values,
                mod_revision: at.revision,
                updated_ms: at.time_ms,
                updated_by: at.actor,
                ..set
            }))
        })
    }

    /// A scope's kept versions from `from_version`, oldest first, at most `limit`.
    pub fn var_history(
        &self,
        scope: &VarScope,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<VarVersion>, StorageError> {
        let key = scope.key();
        let start = vars::history_key(&key, from_version);
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            let mut out = Vec::new();
            for item in self.tree(Space::VarHistory).range(start.as_slice()..) {
                let (k, v) = item?;
                if !k.starts_with(&key) || out.len() >= limit.max(1) {
                    break;
                }
                out.push(decode(&v)?);
            }
            Ok(out)
        })
    }

    /// Every namespace that holds something or has limits, by name, with its quota.
    pub fn namespace_quotas(&self) -> Result<Vec<(String, NamespaceQuota)>, StorageError> {
        self.gate.guarded(|| {
            self.tree(Space::Namespaces)
                .iter()
                .map(|item| {
                    let (k, v) = item?;
                    let name = String::from_utf8(k.to_vec())
                        .map_err(|_| StorageError::CorruptRecord("namespace name".into()))?;
                    Ok((name, decode(&v)?))
                })
                .collect()
        })
    }

    /// A namespace's limits and usage (the defaults, all zero and unlimited, if it has none).
    pub fn namespace_quota(&self, namespace: &str) -> Result<NamespaceQuota, StorageError> {
        self.gate.guarded(|| {
            Ok(self
                .get(Space::Namespaces, namespace.as_bytes())?
                .unwrap_or_default())
        })
    }

    /// Every task of a workflow, ordered by task id.
    pub fn tasks(&self, workflow_id: &str) -> Result<Vec<TaskRecord>, StorageError> {
        let prefix = keys::children_prefix(workflow_id);
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            self.tree(Space::Tasks)
                .scan_prefix(&prefix)
                .map(|item| decode(&item?.1))
                .collect()
        })
    }

    /// Events with version >= `from_version`, at most `limit` (at least 1).
    pub fn history(
        &self,
        workflow_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<HistoryPage, StorageError> {
        self.history_between(workflow_id, from_version, limit, 0..u64::MAX)
    }

    /// [`WorkflowReader::history`] of the events whose time is in `times` (ms). Times follow
    /// versions except across a leader change with a clock step, so this filters the events
    /// rather than seeking to a time.
    pub fn history_between(
        &self,
        workflow_id: &str,
        from_version: u64,
        limit: usize,
        times: std::ops::Range<u64>,
    ) -> Result<HistoryPage, StorageError> {
        let prefix = keys::children_prefix(workflow_id);
        let start = keys::history(workflow_id, from_version.max(1));
        let limit = limit.max(1);
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            let mut events: Vec<HistoryEvent> = Vec::new();
            for item in self.tree(Space::History).range(start.as_slice()..) {
                let (k, v) = item?;
                if !k.starts_with(&prefix) {
                    break;
                }
                let event: HistoryEvent = decode(&v)?;
                if !times.contains(&event.time_ms) {
                    continue;
                }
                if events.len() == limit {
                    let next = events.last().map(|e| e.version + 1);
                    return Ok(HistoryPage {
                        events,
                        next_version: next,
                    });
                }
                events.push(event);
            }
            Ok(HistoryPage {
                events,
                next_version: None,
            })
        })
    }

    /// The index ranges (prefixes) a query walks: one per status on the status index when
    /// sorting by creation, else the namespace's created or updated index; and whether the
    /// records found still need the status check (the index does not narrow by status).
    /// Namespaces are walked one range each (`ListQuery::across`), merged by the caller.
    fn sources(q: &ListQuery) -> (Vec<Vec<u8>>, bool) {
        let namespaces = match &q.across {
            Some(list) => list.clone(),
            None => vec![q.namespace.clone()],
        };
        let mut out = Vec::new();
        let mut check_status = false;
        for ns in &namespaces {
            match (q.statuses.is_empty(), q.sort) {
                (false, SortBy::Created) => out.extend(
                    q.statuses
                        .iter()
                        .map(|s| keys::index_prefix(tag::STATUS, ns, Some(s))),
                ),
                (empty, sort) => {
                    let t = if sort == SortBy::Created {
                        tag::CREATED
                    } else {
                        tag::UPDATED
                    };
                    out.push(keys::index_prefix(t, ns, None));
                    check_status = !empty;
                }
            }
        }
        (out, check_status)
    }

    fn matches(q: &ListQuery, rec: &WorkflowRecord, check_status: bool) -> bool {
        (!check_status || q.statuses.contains(&rec.status))
            && q.definition.as_ref().is_none_or(|d| *d == rec.definition)
            && q.labels
                .iter()
                .all(|(k, v)| rec.labels.get(k).is_some_and(|have| have == v))
            && (!q.orphaned_only || rec.orphaned_ms.is_some())
    }

    fn needs_records(q: &ListQuery, check_status: bool) -> bool {
        check_status || q.definition.is_some() || !q.labels.is_empty() || q.orphaned_only
    }

    /// Up to `take` matching (time, record) pairs from one index range, after `cursor` in
    /// the query's direction, and whether more remain.
    fn walk(
        &self,
        index: &WorkflowIndex,
        q: &ListQuery,
        prefix: &[u8],
        check_status: bool,
        cursor: Option<&(u64, String)>,
        take: usize,
    ) -> Result<(Vec<(u64, WorkflowRecord)>, bool), StorageError> {
        let bound = cursor.map(|(t, id)| {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&t.to_be_bytes());
            k.push(0);
            k.extend_from_slice(id.as_bytes());
            k
        });
        let mut out = Vec::new();
        for k in index.scan(prefix, bound.as_deref(), q.descending) {
            let Some((time, id)) = keys::split_tail(k, prefix) else {
                return Err(StorageError::CorruptRecord("workflow index key".into()));
            };
            let Some(rec) = self.get::<WorkflowRecord>(Space::Workflows, id.as_bytes())? else {
                return Err(StorageError::CorruptRecord(format!(
                    "index names missing workflow {id}"
                )));
            };
            if !Self::matches(q, &rec, check_status) {
                continue;
            }
            if out.len() == take {
                return Ok((out, true));
            }
            out.push((time, rec));
        }
        Ok((out, false))
    }

    /// One page of workflows matching `q`, in index order (time, then id).
    pub fn list(&self, q: &ListQuery) -> Result<ListPage, StorageError> {
        let limit = match q.limit {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        } as usize;
        let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let (sources, check_status) = Self::sources(q);
        self.gate.guarded(|| {
            let index = self.gate.scan_lock();
            let mut merged = Vec::new();
            let mut more = false;
            for prefix in &sources {
                let (items, rest) =
                    self.walk(&index, q, prefix, check_status, cursor.as_ref(), limit)?;
                more |= rest;
                merged.extend(items);
            }
            merged.sort_by(|(ta, a), (tb, b)| (ta, &a.id).cmp(&(tb, &b.id)));
            if q.descending {
                merged.reverse();
            }
            if merged.len() > limit {
                merged.truncate(limit);
                more = true;
            }
            let next_cursor = more
                .then(|| merged.last().map(|(t, r)| encode_cursor(*t, &r.id)))
                .flatten();
            Ok(ListPage {
                workflows: merged.into_iter().map(|(_, r)| r).collect(),
                next_cursor,
            })
        })
    }

    /// How many workflows match `q` (its limit and cursor are ignored). Without record filters
    /// this counts index keys only.
    pub fn count(&self, q: &ListQuery) -> Result<u64, StorageError> {
        // Counting ignores the order, so a status filter always uses the status index.
        let by_created = ListQuery {
            sort: SortBy::Created,
            ..q.clone()
        };
        let (sources, check_status) = Self::sources(&by_created);
        let fetch = Self::needs_records(q, check_status);
        self.gate.guarded(|| {
            let index = self.gate.scan_lock();
            let mut n = 0u64;
            for prefix in &sources {
                for k in index.scan(prefix, None, false) {
                    if !fetch {
                        n += 1;
                        continue;
                    }
                    let id = keys::split_tail(k, prefix)
                        .map(|(_, id)| id)
                        .ok_or_else(|| StorageError::CorruptRecord("workflow index key".into()))?;
                    if let Some(rec) =
                        self.get::<WorkflowRecord>(Space::Workflows, id.as_bytes())?
                        && Self::matches(q, &rec, check_status)
                    {
                        n += 1;
                    }
                }
            }
            Ok(n)
        })
    }

    /// Ids of terminal workflows that finished before `cutoff_ms`, oldest first.
    pub fn finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let prefix = keys::finished_prefix();
        self.gate.guarded(|| {
            let index = self.gate.scan_lock();
            let mut out = Vec::new();
            for k in index.scan(&prefix, None, false) {
                let Some((time, id)) = keys::split_tail(k, &prefix) else {
                    return Err(StorageError::CorruptRecord("finished index key".into()));
                };
                if time >= cutoff_ms || out.len() == limit {
                    break;
                }
                out.push(id.to_string());
            }
            Ok(out)
        })
    }

    /// Index of the last applied log entry (0 if none).
    pub fn applied_index(&self) -> u64 {
        self.gate.applied()
    }
}
