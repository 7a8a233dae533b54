//! The versioned variables' public types (see [`crate::Client::update_vars`]).

use std::collections::{BTreeMap, BTreeSet};

pub use cairn_model::workflow::vars::VarScope;
use serde_json::Value;

/// One versioned update: all of it or nothing, a new version of the whole set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VarUpdate {
    pub set: BTreeMap<String, Value>,
    pub delete: Vec<String>,
    /// Keys that refuse any change from now on.
    pub immutable: Vec<String>,
    /// Versions kept from now on (default 100).
    pub keep_versions: Option<u32>,
    /// Only if the set is at this version (0: no variables yet).
    pub expected_version: Option<u64>,
    pub actor: String,
    pub reason: String,
}

impl VarUpdate {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, key: impl Into<String>, value: Value) -> Self {
        self.set.insert(key.into(), value);
        self
    }
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.delete.push(key.into());
        self
    }
    pub fn immutable(mut self, key: impl Into<String>) -> Self {
        self.immutable.push(key.into());
        self
    }
    pub fn keep_versions(mut self, n: u32) -> Self {
        self.keep_versions = Some(n);
        self
    }
    pub fn expected_version(mut self, v: u64) -> Self {
        self.expected_version = Some(v);
        self
    }
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
}

/// A variable set (now, or as of a kept version).
#[derive(Debug, Clone, PartialEq)]
pub struct Vars {
    pub version: u64,
    pub values: BTreeMap<String, Value>,
    pub immutable: BTreeSet<String>,
    pub keep_versions: u32,
    /// Versions below this are forgotten.
    pub floor: u64,
    pub mod_revision: u64,
    pub updated_ms: u64,
    pub updated_by: String,
    /// CRC-32 of the set (the cluster's canonical encoding).
    pub checksum: u32,
}

/// One key's change in a [`VarVersion`]: `None` = absent (deleted, or did not exist).
#[derive(Debug, Clone, PartialEq)]
pub struct VarChange {
    pub value: Option<Value>,
    pub previous: Option<Value>,
}

/// One recorded version.
#[derive(Debug, Clone, PartialEq)]
pub struct VarVersion {
    pub version: u64,
    pub revision: u64,
    pub time_ms: u64,
    pub actor: String,
    pub reason: String,
    pub changes: BTreeMap<String, VarChange>,
    pub checksum: u32,
    /// Set on a rollback: the version restored.
    pub rolled_back_to: Option<u64>,
}

/// What an update or a rollback wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarsWritten {
    pub version: u64,
    pub checksum: u32,
    pub revision: u64,
}
