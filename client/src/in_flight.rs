//! The set of write sequences a client has handed out but not yet finished. Its smallest
//! member is sent as `first_incomplete`, so the cluster forgets replies below it.
//!
//! It is a module of its own, shared through an `Arc`, so that a pending write can keep its
//! sequence in flight (see `write_op::SequenceHold`) without holding the whole client.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

/// Sequences of writes not yet finished (including ones held by a `PendingWrite`).
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<BTreeSet<u64>>);

impl InFlight {
    /// The set, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        // The set stays consistent even if a holder panicked (insert/remove are atomic).
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
