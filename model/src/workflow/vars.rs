//! Versioned variables: a set of JSON values per workflow or per namespace, changed only by
//! whole versioned updates (set and delete many keys at once, optionally compare-and-swap on
//! the set's version). Every update is a new version recorded with its changes, the previous
//! values of what it changed, who made it, when, and a checksum of the whole set after it;
//! a rollback is a new version too. Keys marked immutable refuse any later change.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Whose variables.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VarScope {
    Workflow(String),
    Namespace(String),
}

impl VarScope {
    /// The workflow id or the namespace name.
    pub fn name(&self) -> &str {
        match self {
            VarScope::Workflow(id) | VarScope::Namespace(id) => id,
        }
    }

    /// The scope a storage [`key`](Self::key) names.
    pub fn from_key(key: &[u8]) -> Option<Self> {
        let (tag, rest) = key.split_first()?;
        let name = std::str::from_utf8(rest.strip_suffix(&[0])?)
            .ok()?
            .to_string();
        match tag {
            b'w' => Some(VarScope::Workflow(name)),
            b'n' => Some(VarScope::Namespace(name)),
            _ => None,
        }
    }

    /// The storage key: a tag byte, then the id (ids hold no 0x00, so scopes never collide).
    pub fn key(&self) -> Vec<u8> {
        let (tag, id) = match self {
            VarScope::Workflow(id) => (b'w', id),
            VarScope::Namespace(ns) => (b'n', ns),
        };
        let mut k = Vec::with_capacity(id.len() + 2);
        k.push(tag);
        k.extend_from_slice(id.as_bytes());
        k.push(0);
        k
    }
}

impl std::fmt::Display for VarScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarScope::Workflow(id) => write!(f, "workflow {id}"),
            VarScope::Namespace(ns) => write!(f, "namespace {ns}"),
        }
    }
}

/// Versions a set keeps by default (older ones are forgotten as new ones come).
pub const DEFAULT_KEEP_VERSIONS: u32 = 100;
/// Most versions a set may keep.
pub const MAX_KEEP_VERSIONS: u32 = 100_000;
/// Most keys one update may name (set, delete and immutable together).
pub const MAX_VARS_PER_UPDATE: usize = 1_000;
/// Most keys a set may hold.
pub const MAX_VARS: usize = 10_000;

/// One versioned update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateVars {
    pub scope: VarScope,
    /// Only if the set is at this version (0: it must not exist yet).
    pub expected_version: Option<u64>,
    /// Key -> JSON value text.
    pub set: BTreeMap<String, String>,
    pub delete: Vec<String>,
    /// Keys (set by this update or existing) that refuse any change from now on.
    pub immutable: Vec<String>,
    /// Versions to keep from now on (None: unchanged; the default is
    /// [`DEFAULT_KEEP_VERSIONS`]).
    pub keep_versions: Option<u32>,
    pub actor: String,
    pub reason: String,
}

/// A new version whose values equal those of the kept version `to_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackVars {
    pub scope: VarScope,
    pub to_version: u64,
    pub expected_version: Option<u64>,
    pub actor: String,
    pub reason: String,
}

/// The current state of a variable set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarSet {
    pub version: u64,
    pub values: BTreeMap<String, String>,
    pub immutable: BTreeSet<String>,
    pub keep_versions: u32,
    /// Versions below this were forgotten.
    pub floor: u64,
    pub mod_revision: u64,
    pub updated_ms: u64,
    pub updated_by: String,
    /// [`checksum`] of `values`.
    pub checksum: u32,
}

/// One recorded version: what it changed (None = deleted) and what those keys held before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarVersion {
    pub version: u64,
    pub revision: u64,
    pub time_ms: u64,
    pub actor: String,
    pub reason: String,
    pub changes: BTreeMap<String, Option<String>>,
    pub previous: BTreeMap<String, Option<String>>,
    /// Of the whole set after this version.
    pub checksum: u32,
    /// Set when this version is a rollback: the version whose values it restored.
    pub rolled_back_to: Option<u64>,
}

/// CRC-32 of the canonical encoding of `values` (keys sorted, each part length-prefixed):
/// equal sets, equal checksums.
pub fn checksum(values: &BTreeMap<String, String>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (k, v) in values {
        h.update(&(k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update(&(v.len() as u64).to_be_bytes());
        h.update(v.as_bytes());
    }
    h.finalize()
}

/// The values as of an older version: `current` with the `previous` values of every version
/// after it undone, newest first. `newer` are those versions, in any order.
pub fn values_as_of<'a>(
    current: &BTreeMap<String, String>,
    newer: impl IntoIterator<Item = &'a VarVersion>,
) -> BTreeMap<String, String> {
    let mut versions: Vec<&VarVersion> = newer.into_iter().collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let mut values = current.clone();
    for v in versions {
        for (k, prev) in &v.previous {
            match prev {
                Some(p) => values.insert(k.clone(), p.clone()),
                None => values.remove(k),
            };
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn checksums_follow_content_and_scopes_never_collide() {
        assert_eq!(checksum(&map(&[("a", "1")])), checksum(&map(&[("a", "1")])));
        assert_ne!(checksum(&map(&[("a", "1")])), checksum(&map(&[("a", "2")])));
        // Length prefixes: moving a byte between key and value changes the sum.
        assert_ne!(
            checksum(&map(&[("ab", "1")])),
            checksum(&map(&[("a", "b1")]))
        );
        let w = VarScope::Workflow("x".into()).key();
        let n = VarScope::Namespace("x".into()).key();
        assert_ne!(w, n);
        assert!(!VarScope::Workflow("xy".into()).key().starts_with(&w));
    }

    #[test]
    fn values_as_of_undoes_newer_versions() {
        let v = |version, previous: &[(&str, Option<&str>)]| VarVersion {
            version,
            revision: version,
            time_ms: 0,
            actor: String::new(),
            reason: String::new(),
            changes: BTreeMap::new(),
            previous: previous
                .iter()
                .map(|(k, p)| (k.to_string(), p.map(str::to_string)))
                .collect(),
            checksum: 0,
            rolled_back_to: None,
        };
        // v1: a=1; v2: a=2, b=1; v3: delete a.
        let current = map(&[("b", "1")]);
        let v2 = v(2, &[("a", Some("1")), ("b", None)]);
        let v3 = v(3, &[("a", Some("2"))]);
        assert_eq!(
            values_as_of(&current, [&v3]),
            map(&[("a", "2"), ("b", "1")])
        );
        assert_eq!(values_as_of(&current, [&v2, &v3]), map(&[("a", "1")]));
    }
}
