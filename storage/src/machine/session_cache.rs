//! The client-session record and the per-run cache of decoded sessions that `BatchCtx`
//! holds. Plain data: the rules over it (check, record, flush, prune) are in `session`, which
//! takes the context, so the context can hold the cache without depending on them.

use std::collections::HashMap;

use cairn_model::command::Response;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct ClientSession {
    /// Command time of the client's last request.
    pub(super) last_seen_ms: u64,
    /// Sequences below this have no reply kept any more.
    pub(super) floor: u64,
    /// Kept replies, ordered by sequence.
    pub(super) replies: Vec<(u64, Response)>,
}

/// The sessions a run of entries touched, decoded once and written back once when the run
/// ends (`session::flush`): under load one client's requests share a run, and re-encoding its
/// reply list for every request was a measurable share of apply.
#[derive(Default)]
pub(crate) struct SessionCache {
    pub(super) entries: HashMap<String, Cached>,
}

pub(super) struct Cached {
    pub(super) session: ClientSession,
    /// The expiry bucket stored in sled for it (None: not stored yet).
    pub(super) stored_bucket: Option<u64>,
    pub(super) dirty: bool,
}
