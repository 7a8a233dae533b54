//! Free loopback ports for node processes.
//!
//! Ports come from below the kernel's ephemeral range: a port found free by binding port 0
//! lies inside that range, and between the check and the node's own bind, another node's
//! outgoing connection can take it as its source port. The node then fails to start. Ports
//! below the range are never handed out to outgoing connections.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

use rand::Rng;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Lowest port of the ephemeral range (Linux default 32768 when unreadable).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A currently free port below the ephemeral range, never returned twice by this process.
pub fn free_port() -> anyhow::Result<u16> {
    let high = ephemeral_start().max(12_000);
    let low = 10_000u16;
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    // rand's thread generator is seeded from the OS: different test processes pick
    // different ports.
    let mut rng = rand::rng();
    for _ in 0..1000 {
        let port = rng.random_range(low..high);
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
