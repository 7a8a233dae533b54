//! `AuthReader`: the auth state as applied (users, roles, whether auth is on), for the
//! serving node's authentication and first authorization. One small read per request tells
//! whether auth is on; the decoded state is cached until its revision moves.

use std::sync::{Arc, Mutex};

use cairn_model::auth::AuthState;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees, decode_u64, meta_key};
use crate::reader::{ReadGate, get_decoded};

/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct AuthReader {
    trees: Trees,
    gate: Arc<ReadGate>,
    cached: Arc<Mutex<Option<Arc<AuthState>>>>,
}

impl AuthReader {
    pub(crate) fn new(trees: Trees, gate: Arc<ReadGate>) -> Self {
        Self {
            trees,
            gate,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// The auth revision while auth is on; None while it is off.
    pub fn enabled_at(&self) -> Result<Option<u64>, StorageError> {
        let meta = self.trees.get(Space::Meta);
        self.gate.guarded(|| match meta.get(meta_key::AUTH_ON)? {
            Some(v) => Ok(Some(decode_u64(&v, "auth revision")?)),
            None => Ok(None),
        })
    }

    /// The auth state as applied now while auth is on; None while it is off. One small read
    /// on the request path (the state itself comes from the cache while its revision holds).
    pub fn enabled_state(&self) -> Result<Option<Arc<AuthState>>, StorageError> {
        match self.enabled_at()? {
            None => Ok(None),
            Some(rev) => self.load(Some(rev)).map(Some),
        }
    }

    /// The whole auth state as applied now (on or off).
    pub fn state(&self) -> Result<Arc<AuthState>, StorageError> {
        self.load(self.enabled_at()?)
    }

    fn load(&self, enabled_at: Option<u64>) -> Result<Arc<AuthState>, StorageError> {
        if let Some(rev) = enabled_at
            && let Some(hit) = self.cache().as_ref().filter(|s| s.revision == rev)
        {
            return Ok(hit.clone());
        }
        let meta = self.trees.get(Space::Meta);
        let state: AuthState = get_decoded(&self.gate, meta, meta_key::AUTH)?.unwrap_or_default();
        let state = Arc::new(state);
        if state.enabled {
            *self.cache() = Some(state.clone());
        }
        Ok(state)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<Arc<AuthState>>> {
        // A poisoned cache only means a panic elsewhere while holding it: the value is a
        // plain Option, still whole.
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }
}
