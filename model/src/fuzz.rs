//! Fuzz target bodies over model's pure rules (compiled with the `fuzzing` feature; `fuzz/`
//! runs them under libFuzzer and replays their seeds in the default tests). A panic or a
//! failed assertion is a finding. Each returns whether the input decoded (got past parsing
//! to the checks), which the replay test requires of every seed.

// A target reports a broken invariant by panicking: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::Value;

use crate::workflow::definition::{Definition, Target};
use crate::workflow::merge_patch;

/// A workflow definition as JSON: validation refuses it or accepts it; an accepted one
/// resolves every legal target of every state to that target, and nothing from a terminal
/// state.
pub fn definition(data: &[u8]) -> bool {
    let Ok(def) = serde_json::from_slice::<Definition>(data) else {
        return false;
    };
    if def.validate().is_err() {
        return true;
    }
    for state in &def.states {
        let targets = def.legal_targets(state);
        if def.is_terminal(state) {
            assert!(
                targets.is_empty(),
                "terminal {state} has targets {targets:?}"
            );
        }
        for t in targets {
            let to = def.resolve(state, &Target::Status(t.clone()));
            assert_eq!(to.as_ref(), Ok(&t), "{state} -> {t}");
        }
    }
    true
}

/// Two JSON documents (target, then patch, split at the first 0xff byte): applying the patch
/// succeeds and applying it again changes nothing (RFC 7386 patches are idempotent).
pub fn merge_patch(data: &[u8]) -> bool {
    let Some(split) = data.iter().position(|b| *b == 0xff) else {
        return false;
    };
    let (Ok(mut target), Ok(patch)) = (
        serde_json::from_slice::<Value>(&data[..split]),
        serde_json::from_slice::<Value>(&data[split + 1..]),
    ) else {
        return false;
    };
    merge_patch::apply(&mut target, &patch);
    let once = target.clone();
    merge_patch::apply(&mut target, &patch);
    assert_eq!(
        target, once,
        "a merge patch applied twice differs from once"
    );
    true
}
