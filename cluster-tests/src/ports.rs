//! Free loopback ports for node processes.
//!
//! Ports come from below the kernel's ephemeral range: a port found free by binding port 0
//! lies inside that range, and between the check and the node's own bind, another node's
//! outgoing connection can take it as its source port. The node then fails to start. Ports
//! below the range are never handed out to outgoing connections.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static RNG: AtomicU64 = AtomicU64::new(0);

/// Lowest port of the ephemeral range (Linux default 32768 when unreadable).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

fn next_random() -> u64 {
    // splitmix64 over a per-process seed: different test processes pick different ports.
    if RNG.load(Ordering::Relaxed) == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ (u64::from(std::process::id()) << 32);
        let _ = RNG.compare_exchange(0, seed | 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = RNG.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A currently free port below the ephemeral range, never returned twice by this process.
pub fn free_port() -> anyhow::Result<u16> {
    let high = ephemeral_start().max(12_000);
    let low = 10_000u16;
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = low + (next_random() % u64::from(high - low)) as u16;
        if handed.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        handed.insert(port);
        return Ok(port);
    }
    anyhow::bail!("no free port below {high}")
}

/// `127.0.0.1:PORT` for a [`free_port`].
pub fn free_addr() -> anyhow::Result<String> {
    Ok(format!("127.0.0.1:{}", free_port()?))
}
