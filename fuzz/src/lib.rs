//! cairn-fuzz: the fuzz targets over everything a node decodes from a peer, a client or its
//! own disk, and their seeds. The target bodies live in the crates they test (each crate's
//! `fuzz.rs`, behind its `fuzzing` feature, so they can reach internals); this crate names
//! them ([`TARGETS`]) for three users:
//!
//! - `fuzz_targets/*.rs`: one libFuzzer binary per target, built and run by `cargo fuzz`
//!   through `scripts/fuzz --minutes N` (coverage-guided, corpus under `target/fuzz/`);
//! - `examples/fuzz_seeds.rs`: writes [`seeds`] as the starting corpus of each target (an
//!   example, not a binary: `cargo fuzz` builds every binary with libFuzzer's hooks);
//! - `tests/replay.rs` (the default tests): every seed, every input in `regressions/<target>/`
//!   (each finding, fixed, stays there) and a fixed set of mutations of the seeds.

// Seeds are built from values that always encode; a failure is a bug to see at once.
#![allow(clippy::expect_used)]

pub mod seeds;

pub use seeds::seeds;

/// A fuzz target: its name (the binary's, the corpus directory's) and its body.
pub struct Target {
    pub name: &'static str,
    /// Runs one input; true when it decoded (got past parsing to the checks).
    pub run: fn(&[u8]) -> bool,
    /// Each input opens stores on disk: the replay test runs fewer mutations of it.
    pub slow: bool,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "forwarded_request",
        run: cairn_server::fuzz::forwarded_request,
        slow: false,
    },
    Target {
        name: "etcd_request",
        run: cairn_server::fuzz::etcd_request,
        slow: false,
    },
    Target {
        name: "peer_message",
        run: cairn_raft::fuzz::peer_message,
        slow: false,
    },
    Target {
        name: "definition",
        run: cairn_model::fuzz::definition,
        slow: false,
    },
    Target {
        name: "merge_patch",
        run: cairn_model::fuzz::merge_patch,
        slow: false,
    },
    Target {
        name: "wal",
        run: cairn_storage::fuzz::wal,
        slow: true,
    },
    Target {
        name: "snapshot",
        run: cairn_storage::fuzz::snapshot,
        slow: true,
    },
    Target {
        name: "apply",
        run: cairn_storage::fuzz::apply,
        slow: true,
    },
];
