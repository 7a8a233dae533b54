//! A private network for one test cluster, and the partitions cut into it.
//!
//! Layout: one namespace per node plus a hub namespace holding a bridge, each node joined to
//! it by a veth pair; the test's clients run inside the hub. One namespace per node (rather
//! than one shared namespace with a loopback address per node) because on a shared loopback
//! every connection's source address is 127.0.0.1 whichever node opened it, so a rule cannot
//! tell which node a packet comes from; with a namespace per node each has its own address
//! and its own INPUT chain, and a link is cut by dropping, in the receiver's namespace,
//! what arrives from the sender's address. The addresses only exist inside these
//! namespaces, so every cluster can use the same ones and the same ports.

mod netns;
mod partition;

pub use netns::Netns;
pub(crate) use netns::enter as netns_enter;
pub use partition::Partition;

use std::future::Future;
use std::sync::{Arc, Mutex};

use anyhow::Context;

/// Port every node serves clients on (each node has its own address, so no collisions).
pub const CLIENT_PORT: u16 = 7001;
pub const PEER_PORT: u16 = 7002;

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("cut", &self.cut_links())
            .finish_non_exhaustive()
    }
}

pub struct Net {
    hub: Netns,
    nodes: Mutex<Vec<Arc<Netns>>>,
    /// Links currently cut, as (from, to): packets from `from` are dropped at `to`.
    cut: Mutex<Vec<(u64, u64)>>,
}

/// Why namespace tests cannot run here, if they cannot (not root, no iptables).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some("network namespaces and iptables need root".into());
    }
    if which("iptables").is_none() || which("ip").is_none() {
        return Some("iptables or ip not installed (run scripts/install-deps)".into());
    }
    None
}

/// Whether namespace tests can run here. Where they cannot, under CI (`CI=true`, where
/// scripts/install-deps has run as root) that is a failure, so a missing prerequisite never
/// reads as a pass; elsewhere the test prints `skipped: <why>` and returns.
pub fn can_run() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    runnable(unavailable(), ci)
}

/// Whether a test whose prerequisite may be `missing` can run: true when nothing is missing;
/// otherwise a failure under CI (`ci`), and elsewhere `skipped: <why>` and false.
pub fn runnable(missing: Option<String>, ci: bool) -> bool {
    let Some(why) = missing else {
        return true;
    };
    assert!(
        !ci,
        "CI=true, but the network-namespace tests cannot run here: {why}"
    );
    eprintln!("skipped: {why}");
    false
}

pub(crate) fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.exists())
}

impl Net {
    /// A hub with a bridge at 10.99.0.254/24 and `n` nodes joined to it.
    pub fn new(n: usize) -> anyhow::Result<Arc<Self>> {
        if let Some(why) = unavailable() {
            anyhow::bail!("{why}");
        }
        let hub = Netns::new()?;
        hub.run("ip", &["link", "set", "lo", "up"])?;
        hub.run("ip", &["link", "add", "br0", "type", "bridge"])?;
        hub.run("ip", &["addr", "add", "10.99.0.254/24", "dev", "br0"])?;
        hub.run("ip", &["link", "set", "br0", "up"])?;
        let net = Arc::new(Self {
            hub,
            nodes: Mutex::new(Vec::new()),
            cut: Mutex::new(Vec::new()),
        });
        for _ in 0..n {
            net.add_node()?;
        }
        Ok(net)
    }

    /// Adds a node namespace; returns its id (1-based).
    pub fn add_node(&self) -> anyhow::Result<u64> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let id = nodes.len() as u64 + 1;
        anyhow::ensure!(id < 254, "at most 253 nodes");
        let ns = Netns::new()?;
        let veth = format!("n{id}");
        let path = ns.path();
        self.hub.run(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &path,
            ],
        )?;
        self.hub
            .run("ip", &["link", "set", &veth, "master", "br0", "up"])?;
        ns.run("ip", &["link", "set", "lo", "up"])?;
        ns.run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", Self::ip(id)),
                "dev",
                "eth0",
            ],
        )?;
        ns.run("ip", &["link", "set", "eth0", "up"])?;
        nodes.push(Arc::new(ns));
        Ok(id)
    }

    /// How many node namespaces there are.
    pub fn len(&self) -> usize {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Node `id`'s address (the same in every cluster: it exists only in these namespaces).
    pub fn ip(id: u64) -> String {
        format!("10.99.0.{id}")
    }

    pub fn client_addr(id: u64) -> String {
        format!("{}:{CLIENT_PORT}", Self::ip(id))
    }

    pub fn peer_addr(id: u64) -> String {
        format!("{}:{PEER_PORT}", Self::ip(id))
    }

    pub fn node_ns(&self, id: u64) -> anyhow::Result<Arc<Netns>> {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .get((id as usize).wrapping_sub(1))
            .cloned()
            .with_context(|| format!("no namespace for node {id}"))
    }

    /// Runs `fut` to completion on a fresh runtime whose threads all live in the hub, where
    /// node addresses are reachable; a panic inside is resumed on the caller.
    pub fn block_on<F>(self: &Arc<Self>, fut: F) -> anyhow::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let hub_fd = self.hub.raw_fd();
        let handle = std::thread::spawn(move || -> anyhow::Result<F::Output> {
            netns::enter(hub_fd).context("enter the hub namespace")?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            Ok(rt.block_on(fut))
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::runnable;

    #[test]
    fn a_missing_prerequisite_skips_locally() {
        assert!(runnable(None, true));
        assert!(runnable(None, false));
        assert!(!runnable(Some("no iptables".into()), false));
    }

    #[test]
    #[should_panic(expected = "CI=true")]
    fn a_missing_prerequisite_fails_under_ci() {
        runnable(Some("no iptables".into()), true);
    }
}
