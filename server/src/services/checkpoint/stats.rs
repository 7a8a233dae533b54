//! Checkpoint metrics through the `metrics` facade: saves and loads, raw versus stored bytes
//! (their ratio is the compression achieved), and verification failures. Counted on the node
//! that served the request, so a cluster's totals are the sum over its nodes.

use std::sync::Once;

use metrics::{counter, describe_counter};

/// Describes the counters on first use: the service is built before the node installs its
/// recorder, and a description given to no recorder is lost.
fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(describe_now);
}

fn describe_now() {
    describe_counter!(
        "cairn_checkpoints_saved_total",
        "Checkpoints saved through this node"
    );
    describe_counter!(
        "cairn_checkpoint_raw_bytes_total",
        "Raw payload bytes of checkpoints saved through this node"
    );
    describe_counter!(
        "cairn_checkpoint_stored_bytes_total",
        "Stored (compressed) bytes of checkpoints saved through this node"
    );
    describe_counter!(
        "cairn_checkpoints_loaded_total",
        "Checkpoints loaded from this node"
    );
    describe_counter!(
        "cairn_checkpoint_loaded_bytes_total",
        "Payload bytes of checkpoints loaded from this node"
    );
    describe_counter!(
        "cairn_checkpoint_verify_failures_total",
        "Checkpoint loads that failed verification (checksum, size or decoding)"
    );
}

pub fn saved(raw: u64, stored: u64) {
    describe();
    counter!("cairn_checkpoints_saved_total").increment(1);
    counter!("cairn_checkpoint_raw_bytes_total").increment(raw);
    counter!("cairn_checkpoint_stored_bytes_total").increment(stored);
}

pub fn loaded(bytes: u64) {
    describe();
    counter!("cairn_checkpoints_loaded_total").increment(1);
    counter!("cairn_checkpoint_loaded_bytes_total").increment(bytes);
}

pub fn verify_failed() {
    describe();
    counter!("cairn_checkpoint_verify_failures_total").increment(1);
}
