//! The fuzz targets in the default tests: every seed, every saved regression
//! (`regressions/<target>/*`: inputs that once failed, kept after the fix) and a fixed set of
//! mutations of the seeds, so a change that breaks a decoder's robustness fails here before
//! anyone runs `scripts/fuzz`. Coverage-guided search is `scripts/fuzz --minutes N`'s job.

#![allow(clippy::expect_used)]

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use cairn_fuzz::{TARGETS, Target, seeds};

/// Mutations per seed: many for the in-memory decoders, few for targets that open stores.
const MUTATIONS: usize = 400;
const SLOW_MUTATIONS: usize = 60;

/// One random edit of the kinds libFuzzer makes: flip a bit, set a byte to an edge value,
/// insert or remove bytes, cut the tail, or copy a slice over another place.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    if input.is_empty() {
        input.push(rng.random());
        return;
    }
    let at = rng.random_range(0..input.len());
    match rng.random_range(0..6) {
        0 => input[at] ^= 1 << rng.random_range(0..8),
        1 => input[at] = [0, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)],
        2 => {
            let n = rng.random_range(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            input.splice(at..at, bytes);
        }
        3 => {
            let end = (at + rng.random_range(1..=8)).min(input.len());
            input.drain(at..end);
        }
        4 => input.truncate(at),
        _ => {
            let from = rng.random_range(0..input.len());
            let n = rng.random_range(1..=16).min(input.len() - from.max(at));
            let slice = input[from..from + n].to_vec();
            input[at..at + n].copy_from_slice(&slice);
        }
    }
}

fn regressions(target: &Target) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target.name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("regression dir entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read regression"))
        .collect()
}

fn replay(target: &Target) {
    let seeds = seeds(target.name);
    assert!(!seeds.is_empty(), "{} has no seeds", target.name);
    for (n, seed) in seeds.iter().enumerate() {
        assert!(
            (target.run)(seed),
            "{} seed {n} does not decode",
            target.name
        );
    }
    for input in regressions(target) {
        (target.run)(&input);
    }
    // A fixed seed per target: a failure here reproduces on every run.
    let mut rng = StdRng::seed_from_u64(target.name.len() as u64 * 7919);
    let rounds = if target.slow {
        SLOW_MUTATIONS
    } else {
        MUTATIONS
    };
    let mut decoded = 0;
    for seed in &seeds {
        for _ in 0..rounds {
            let mut input = seed.clone();
            for _ in 0..rng.random_range(1..=4) {
                mutate(&mut rng, &mut input);
            }
            decoded += usize::from((target.run)(&input));
        }
    }
    let total = rounds * seeds.len();
    println!("{}: {decoded} of {total} mutations decoded", target.name);
    // Mutations that never decode would test only the first refusal.
    assert!(decoded > 0, "{}: no mutation decoded", target.name);
}

fn target(name: &str) -> &'static Target {
    TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no target {name}"))
}

#[test]
fn every_target_is_tested_here() {
    let here = [
        "forwarded_request",
        "etcd_request",
        "peer_message",
        "definition",
        "merge_patch",
        "wal",
        "snapshot",
        "apply",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, here);
    for name in here {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(bin.exists(), "{} has no libFuzzer binary", name);
    }
}

#[test]
fn forwarded_request() {
    replay(target("forwarded_request"));
}

#[test]
fn etcd_request() {
    replay(target("etcd_request"));
}

#[test]
fn peer_message() {
    replay(target("peer_message"));
}

#[test]
fn definition() {
    replay(target("definition"));
}

#[test]
fn merge_patch() {
    replay(target("merge_patch"));
}

#[test]
fn wal() {
    replay(target("wal"));
}

#[test]
fn snapshot() {
    replay(target("snapshot"));
}

#[test]
fn apply() {
    replay(target("apply"));
}
