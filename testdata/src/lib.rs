//! cairn-testdata: deterministic payloads for the benchmark and the tests. A realistic JSON
//! agent state (a message history with tool calls, token counts and timing: what the seeds'
//! orchestrators checkpoint between steps) and incompressible noise, both reproducible from a
//! seed so a failing run can be replayed. [`pki`]: throwaway certificates for `cairn up --tls`
//! and the TLS tests.

pub mod pki;

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Value, json};

const WORDS: &[&str] = &[
    "analyze",
    "repository",
    "function",
    "returns",
    "error",
    "retry",
    "agent",
    "tool",
    "call",
    "result",
    "context",
    "summary",
    "the",
    "a",
    "of",
    "plan",
    "step",
    "validate",
    "schema",
    "generate",
    "code",
    "test",
    "passed",
    "failed",
    "token",
    "budget",
    "memory",
    "user",
    "request",
    "response",
    "latency",
    "cache",
    "index",
    "query",
    "document",
    "review",
];

fn sentence(rng: &mut SmallRng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s
}

/// One step of an agent's message history, with a tool call, token counts and timing: the
/// state orchestrators checkpoint between steps.
fn step(rng: &mut SmallRng, i: u64) -> Value {
    let words = rng.random_range(12..52);
    json!({
        "step": i,
        "agent_id": format!("agent-{}", rng.random_range(0..8)),
        "role": if i.is_multiple_of(2) { "assistant" } else { "tool" },
        "content": sentence(rng, words),
        "tool_calls": [{
            "id": format!("call_{:016x}", rng.random::<u64>()),
            "name": WORDS[rng.random_range(0..WORDS.len())],
            "arguments": {
                "path": format!("src/mod_{}.rs", rng.random_range(0..200)),
                "line": rng.random_range(0..5000),
            },
        }],
        "tokens": {"prompt": rng.random_range(0..4000), "completion": rng.random_range(0..1500)},
        "started_ms": 1_700_000_000_000u64 + i * 1_000 + rng.random_range(0..1_000),
        "ok": rng.random_range(0..10) != 0,
    })
}

/// A JSON agent state of about `target` bytes (never more).
pub fn agent_state(target: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    let mut size = 200;
    let mut i = 0;
    loop {
        let s = step(&mut rng, i);
        let len = s.to_string().len() + 1;
        if size + len > target && !steps.is_empty() {
            break;
        }
        size += len;
        steps.push(s);
        i += 1;
    }
    let doc = json!({
        "workflow": "codegen",
        "cursor": {"step": i, "phase": "GENERATING_CODE"},
        "memory": {"open_files": ["a.rs", "b.rs"]},
        "history": steps,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// `len` incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    SmallRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_state_is_json_of_about_the_size_asked() {
        for target in [64 * 1024, 1024 * 1024] {
            let s = agent_state(target, 7);
            assert!(
                s.len() <= target && s.len() > target * 9 / 10,
                "{}",
                s.len()
            );
            let v: Value = serde_json::from_slice(&s).unwrap_or_default();
            assert!(v["history"].is_array());
        }
        assert_ne!(agent_state(4096, 1), agent_state(4096, 2));
        assert_eq!(agent_state(4096, 1), agent_state(4096, 1));
    }

    #[test]
    fn noise_is_reproducible_and_uses_every_byte_value() {
        let n = noise(64 * 1024 + 3, 9);
        assert_eq!(n.len(), 64 * 1024 + 3);
        assert_eq!(n, noise(64 * 1024 + 3, 9));
        assert_ne!(n, noise(64 * 1024 + 3, 10));
        let distinct: std::collections::BTreeSet<u8> = n.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }
}
