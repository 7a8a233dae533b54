//! Read-side query shapes shared by the node service and the state machine's reader.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::{HistoryEvent, WorkflowRecord};

/// Order of a workflow listing: by creation (the default) or last update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortBy {
    #[default]
    Created,
    Updated,
}

/// A workflow list query. Served from the namespace's indexes: status filters by the
/// (namespace, status, created) index, no status by the (namespace, created|updated) index;
/// definition and labels filter the records found there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub namespace: String,
    /// Empty: any status.
    pub statuses: Vec<String>,
    pub definition: Option<String>,
    /// Every label must be present with this value.
    pub labels: BTreeMap<String, String>,
    /// Only workflows whose owner's lease ended and that nobody adopted since.
    pub orphaned_only: bool,
    /// List these namespaces (merged in sort order) instead of `namespace`.
    pub across: Option<Vec<String>>,
    pub sort: SortBy,
    pub descending: bool,
    /// Page size; the reader caps it.
    pub limit: u32,
    /// Opaque position from the previous page's `next_cursor`.
    pub cursor: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub workflows: Vec<WorkflowRecord>,
    /// Present when more may follow.
    pub next_cursor: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    pub events: Vec<HistoryEvent>,
    /// The version to ask for next, when more may follow.
    pub next_version: Option<u64>,
}
