//! Shared pieces of the checkpoint cluster tests: deterministic payloads (realistic JSON agent
//! state, and incompressible noise), clients pinned to nodes, workflows in a known status,
//! and byte comparisons that do not print megabytes on failure.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_client::serde_json::{Value, json};
use cairn_client::{Client, ClientConfig, CreateWorkflow, LoadOptions, Target};
use cairn_cluster_tests::Cluster;

pub const MIB: usize = 1024 * 1024;

pub fn client_for(cluster: &Cluster, ids: &[u64]) -> Client {
    let eps: Vec<String> = ids
        .iter()
        .map(|i| cluster.node(*i).client_addr.clone())
        .collect();
    // A longer retry budget than the default: tests kill leaders under 2-core load.
    let config = ClientConfig {
        retry_deadline: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    Client::with_config(eps, config).expect("client")
}

/// xorshift64*: a fast deterministic generator, so payloads are reproducible per seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `len` incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

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

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s
}

/// One step of an agent's state: a message history entry with tool calls, the sort of thing
/// orchestrators checkpoint (seeds 000-003).
fn step(rng: &mut Rng, i: u64) -> Value {
    let words = 12 + rng.below(40) as usize;
    json!({
        "step": i,
        "agent_id": format!("agent-{}", rng.below(8)),
        "role": if i.is_multiple_of(2) { "assistant" } else { "tool" },
        "content": sentence(rng, words),
        "tool_calls": [{
            "id": format!("call_{:016x}", rng.next()),
            "name": WORDS[rng.below(WORDS.len() as u64) as usize],
            "arguments": {"path": format!("src/mod_{}.rs", rng.below(200)), "line": rng.below(5000)},
        }],
        "tokens": {"prompt": rng.below(4000), "completion": rng.below(1500)},
        "started_ms": 1_700_000_000_000u64 + i * 1_000 + rng.below(1_000),
        "ok": rng.below(10) != 0,
    })
}

/// A realistic JSON agent state of at least `target` bytes (a little more).
pub fn agent_state(target: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut steps = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < target {
        let s = step(&mut rng, i);
        size += s.to_string().len() + 1;
        steps.push(s);
        i += 1;
    }
    let doc = json!({
        "workflow": "codegen",
        "cursor": {"step": i, "phase": "GENERATING_CODE"},
        "memory": {"facts": sentence(&mut rng, 30), "open_files": ["a.rs", "b.rs"]},
        "history": steps,
    });
    cairn_client::serde_json::to_vec(&doc).unwrap()
}

/// Creates workflow `id` (default definition) and starts it (RUNNING).
pub async fn running_workflow(c: &Client, id: &str, namespace: &str) {
    c.create_workflow(
        CreateWorkflow::new()
            .id(id)
            .namespace(namespace)
            .metadata(json!({"attempt": 1})),
    )
    .await
    .unwrap();
    c.transition(id, Target::event("start"), None, "test", "")
        .await
        .unwrap();
}

/// Asserts equal bytes, reporting only sizes and the first difference.
pub fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    panic!(
        "{what}: {} bytes, expected {}; first difference at {first:?}",
        got.len(),
        want.len()
    );
}

pub const LOCAL: LoadOptions = LoadOptions {
    materialize: false,
    serializable: true,
};
