//! `CoordReader`: leases, locks and elections as applied, for services and for the leader's
//! lease-expiry loop.

use std::sync::Arc;

use cairn_model::codec;
use cairn_model::coord::{ElectionRecord, LeaseRecord, LockRecord};
use serde::de::DeserializeOwned;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees};
use crate::reader::ReadGate;

/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct CoordReader {
    trees: Trees,
    gate: Arc<ReadGate>,
}

impl CoordReader {
    pub(crate) fn new(trees: Trees, gate: Arc<ReadGate>) -> Self {
        Self { trees, gate }
    }

    fn get<T: DeserializeOwned>(
        &self,
        space: Space,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        crate::reader::get_decoded(&self.gate, self.trees.get(space), key)
    }

    fn scan<T: DeserializeOwned>(
        &self,
        space: Space,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<T>, StorageError> {
        self.gate.guarded(|| {
            let _consistent = self.gate.scan_lock();
            self.trees
                .get(space)
                .scan_prefix(prefix)
                .take(limit)
                .map(|item| Ok(codec::decode(&item?.1)?))
                .collect()
        })
    }

    pub fn lease(&self, id: u64) -> Result<Option<LeaseRecord>, StorageError> {
        self.get(Space::Leases, &id.to_be_bytes())
    }

    /// Every live lease (the leader renews them all when it takes over, and scans them for
    /// expiry).
    pub fn leases(&self) -> Result<Vec<LeaseRecord>, StorageError> {
        self.scan(Space::Leases, b"", usize::MAX)
    }

    pub fn lock(&self, name: &str) -> Result<Option<LockRecord>, StorageError> {
        self.get(Space::Locks, name.as_bytes())
    }

    /// Locks whose name starts with `prefix`, in name order.
    pub fn locks(&self, prefix: &str, limit: usize) -> Result<Vec<LockRecord>, StorageError> {
        self.scan(Space::Locks, prefix.as_bytes(), limit)
    }

    pub fn election(&self, name: &str) -> Result<Option<ElectionRecord>, StorageError> {
        self.get(Space::Elections, name.as_bytes())
    }
}
