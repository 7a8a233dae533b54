//! The node's input limits as cairn-model's [`InputLimits`], for the one check every proposed
//! request meets (`Request::check_input`): the gateway runs it before proposing a client's
//! request (services/gateway.rs), the peer port before proposing a write a follower forwarded
//! ([`peer_check`], given to `PeerService::with_check`). Both with this node's configuration,
//! so a forwarded request meets exactly the checks a client's request meets.

use std::sync::Arc;

use cairn_model::InputLimits;
use cairn_raft::peer_server::RequestCheck;

use crate::config::{CheckpointConfig, Limits, NodeConfig};
use crate::coord_config::CoordConfig;

/// The input limits of a node configured by `cfg`.
pub fn limits(cfg: &NodeConfig) -> InputLimits {
    from_parts(&cfg.limits, &cfg.coord, &cfg.checkpoints)
}

/// The input limits of the configuration's parts that set them.
pub(crate) fn from_parts(
    limits: &Limits,
    coord: &CoordConfig,
    checkpoints: &CheckpointConfig,
) -> InputLimits {
    InputLimits {
        max_key_bytes: limits.max_key_bytes,
        max_value_bytes: limits.max_value_bytes,
        records: limits.records,
        min_lease_ttl_ms: coord.min_ttl_ms,
        max_lease_ttl_ms: coord.max_ttl_ms,
        max_checkpoint_bytes: checkpoints.max_bytes,
    }
}

/// The limits of a node with the default configuration.
pub(crate) fn default_limits() -> InputLimits {
    from_parts(
        &Limits::default(),
        &CoordConfig::default(),
        &CheckpointConfig::default(),
    )
}

/// The peer port's check of forwarded writes: `Request::check_input` with `limits`.
pub fn peer_check(limits: InputLimits) -> RequestCheck {
    Arc::new(move |req| req.check_input(&limits))
}

#[cfg(test)]
mod peer_tests;
