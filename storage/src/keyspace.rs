//! Typed key spaces of the state machine: one sled tree per domain, their snapshot ids, and
//! the big-endian key layouts. A new domain (workflows, leases, ...) adds a `Space` variant.

use sled::transaction::TransactionalTree;

/// One sled tree. The discriminant is the tree's id in snapshot files: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    /// Raft bookkeeping: last applied log id, membership, install marker, prune clock.
    Meta = 0,
    /// User key -> encoded `KvRecord`.
    Kv = 1,
    /// Client id -> encoded `ClientSession` (its replies still needed for dedup).
    Sessions = 2,
    /// (last-seen time bucket, client id) -> (): the order in which sessions expire.
    SessionExpiry = 3,
    /// Workflow definitions by (name, version), plus each name's latest version.
    Definitions = 4,
    /// Workflow id -> encoded `WorkflowRecord`.
    Workflows = 5,
    /// Workflow id -> encoded Vec<task id>: the tasks of a workflow, so deleting one needs no
    /// scan (sled transactions cannot range-scan).
    TaskDirs = 6,
    /// (workflow id, version) -> encoded `HistoryEvent`.
    History = 7,
    /// (workflow id, task id) -> encoded `TaskRecord`.
    Tasks = 8,
    /// (workflow id, checkpoint id) -> encoded `CheckpointRecord`.
    Checkpoints = 9,
    /// (blob id, chunk index) -> one encoded payload chunk.
    CheckpointData = 10,
    /// Workflow id -> encoded `CheckpointDir` (its checkpoint ids in order, retention policy).
    CheckpointDirs = 11,
    /// Upload id -> encoded `UploadRecord` (chunked uploads not committed yet).
    Uploads = 12,
    /// Lease id (u64 BE) -> encoded `LeaseRecord`.
    Leases = 13,
    /// Lock name -> encoded `LockRecord`.
    Locks = 14,
    /// Election name -> encoded `ElectionRecord`.
    Elections = 15,
    /// Namespace -> encoded `NamespaceQuota` (its limits and usage), for namespaces that
    /// hold something or have limits.
    Namespaces = 16,
    /// Variable scope key (`VarScope::key`) -> encoded `VarSet`.
    Vars = 17,
    /// (scope key, version BE) -> encoded `VarVersion`.
    VarHistory = 18,
}

impl Space {
    /// Every space, in id order (the order trees are opened, snapshotted and indexed).
    pub(crate) const ALL: [Space; 19] = [
        Space::Meta,
        Space::Kv,
        Space::Sessions,
        Space::SessionExpiry,
        Space::Definitions,
        Space::Workflows,
        Space::TaskDirs,
        Space::History,
        Space::Tasks,
        Space::Checkpoints,
        Space::CheckpointData,
        Space::CheckpointDirs,
        Space::Uploads,
        Space::Leases,
        Space::Locks,
        Space::Elections,
        Space::Namespaces,
        Space::Vars,
        Space::VarHistory,
    ];

    pub(crate) fn id(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_id(id: u8) -> Option<Space> {
        Space::ALL.into_iter().find(|s| s.id() == id)
    }

    fn tree_name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Kv => "kv",
            Space::Sessions => "sessions",
            Space::SessionExpiry => "session_expiry",
            Space::Definitions => "definitions",
            Space::Workflows => "workflows",
            Space::TaskDirs => "task_dirs",
            Space::History => "history",
            Space::Tasks => "tasks",
            Space::Checkpoints => "checkpoints",
            Space::CheckpointData => "checkpoint_data",
            Space::CheckpointDirs => "checkpoint_dirs",
            Space::Uploads => "uploads",
            Space::Leases => "leases",
            Space::Locks => "locks",
            Space::Elections => "elections",
            Space::Namespaces => "namespaces",
            Space::Vars => "vars",
            Space::VarHistory => "var_history",
        }
    }
}

/// Keys of the `Meta` space.
pub(crate) mod meta_key {
    pub(crate) const LAST_APPLIED: &[u8] = b"last_applied";
    pub(crate) const MEMBERSHIP: &[u8] = b"membership";
    /// Set while a snapshot is being loaded; found on open, it means sled is half-loaded.
    /// Local recovery state, never part of a snapshot.
    pub(crate) const INSTALL_MARKER: &[u8] = b"install_in_progress";
    /// Command time (BE u64) of the last dedup-record prune.
    pub(crate) const SESSION_PRUNED_AT: &[u8] = b"session_pruned_at";
    /// The machine's clock (BE u64 ms): the largest command time applied so far. Commands
    /// use max(their time, this), so a leader whose clock runs behind an earlier leader's
    /// cannot move time backwards (and, for instance, age dedup records early).
    pub(crate) const CLOCK: &[u8] = b"clock";
    /// The replicated compaction floor (BE u64): the last `Compact` command's revision.
    pub(crate) const COMPACTED: &[u8] = b"compacted";
    /// The cluster's id (BE u64), set once by `SetClusterId` or by a restore.
    pub(crate) const CLUSTER_ID: &[u8] = b"cluster_id";
    /// The workflow record limits apply enforces (encoded `RecordLimits`), set by the leader
    /// (`Command::SetRecordLimits`); absent: the defaults.
    pub(crate) const RECORD_LIMITS: &[u8] = b"record_limits";
    /// The data-directory quota (BE u64) at which members raise NOSPACE; absent or 0: none.
    pub(crate) const QUOTA: &[u8] = b"quota";
    /// The standing alarms (encoded sorted `Vec<Alarm>`); absent: none.
    pub(crate) const ALARMS: &[u8] = b"alarms";
    /// Users, roles and the auth switch: one encoded `AuthState` (small, rarely changed).
    pub(crate) const AUTH: &[u8] = b"auth";
    /// The auth revision (BE u64), present only while auth is on: what apply and the serving
    /// node read on every request, without decoding `AUTH`.
    pub(crate) const AUTH_ON: &[u8] = b"auth_on";
    /// Present once the `Namespaces` usage counts the whole state (see `namespace_usage`):
    /// data written before usage was counted is counted once, by a scan, when opened.
    pub(crate) const NAMESPACE_USAGE: &[u8] = b"namespace_usage";
    /// Each member's data-directory incarnation (encoded `BTreeMap<NodeId, u64>`), recorded
    /// once per membership by `Command::RecordIncarnation`; a member leaving drops its record.
    pub(crate) const INCARNATIONS: &[u8] = b"incarnations";
}

/// The state machine's sled database with one handle per space, indexed by space id.
#[derive(Clone)]
pub(crate) struct Trees {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Trees {
    pub(crate) fn open(db: sled::Db) -> Result<Self, sled::Error> {
        let trees = Space::ALL
            .iter()
            .map(|s| db.open_tree(s.tree_name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { db, trees })
    }

    pub(crate) fn get(&self, space: Space) -> &sled::Tree {
        &self.trees[space as usize]
    }

    /// All trees in id order, the shape a multi-tree transaction takes.
    pub(crate) fn all(&self) -> &[sled::Tree] {
        &self.trees
    }

    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }
}

/// The transactional view of all trees, addressed by space.
pub(crate) struct Tx<'a> {
    view: &'a [TransactionalTree],
}

impl<'a> Tx<'a> {
    pub(crate) fn new(view: &'a [TransactionalTree]) -> Self {
        Self { view }
    }

    pub(crate) fn tree(&self, space: Space) -> &'a TransactionalTree {
        &self.view[space as usize]
    }
}

/// Decodes a big-endian u64 meta value (`what` names it in the corruption error).
pub(crate) fn decode_u64(bytes: &[u8], what: &str) -> Result<u64, crate::error::StorageError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| crate::error::StorageError::CorruptRecord(format!("{what} is not 8 bytes")))
}

/// `SessionExpiry` key: u64 BE time bucket, then the client id (so expiry order is time
/// order). The `Sessions` key is the client id itself.
pub(crate) fn expiry_key(bucket: u64, client_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + client_id.len());
    k.extend_from_slice(&bucket.to_be_bytes());
    k.extend_from_slice(client_id.as_bytes());
    k
}

/// The client id (the `Sessions` key) inside an expiry key.
pub(crate) fn client_of_expiry(expiry_key: &[u8]) -> Option<&[u8]> {
    expiry_key.get(8..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_ids_round_trip() {
        for s in Space::ALL {
            assert_eq!(Some(s), Space::from_id(s.id()));
            assert_eq!(s as usize, s.id() as usize);
        }
        assert_eq!(None, Space::from_id(200));
    }

    #[test]
    fn expiry_keys_sort_by_time() {
        let a = expiry_key(5, "zzz");
        let b = expiry_key(6, "a");
        assert!(a < b);
        assert_eq!(Some(&b"zzz"[..]), client_of_expiry(&a));
    }
}
