//! The set of cluster endpoints a client talks to, which one it currently prefers, and how
//! that preference moves: to the endpoint that last answered, to the leader a node names in
//! its "unavailable" answer, or round-robin past an endpoint that failed.
//!
//! Each endpoint owns one lazily-connected tonic `Channel`, created on first use and then
//! shared by every call and every clone of the client (a channel multiplexes HTTP/2 streams,
//! so one per endpoint is both sufficient and what keeps connection setup off the hot path).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// Leader hints can name addresses we were not configured with (e.g. after a membership
/// change). They are added, but bounded so a misbehaving server cannot grow the set forever.
const MAX_ENDPOINTS: usize = 64;

/// One cluster node as seen by the client.
#[derive(Debug)]
pub(crate) struct Node {
    /// The address as given (or as hinted), e.g. `127.0.0.1:7001`.
    addr: String,
    /// Comparison key: scheme-less, lower-case authority.
    key: String,
    endpoint: Endpoint,
    channel: OnceLock<Channel>,
}

impl Node {
    fn parse(addr: &str, config: &ClientConfig) -> Result<Self> {
        let trimmed = addr.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidEndpoint("empty endpoint".into()));
        }
        let tls = config.tls.is_some();
        let uri = match trimmed.split_once("://") {
            None if tls => format!("https://{trimmed}"),
            None => format!("http://{trimmed}"),
            Some(("https", _)) if !tls => {
                return Err(Error::InvalidEndpoint(format!(
                    "{trimmed}: https needs TLS settings (a CA file)"
                )));
            }
            Some(("http", _)) if tls => {
                return Err(Error::InvalidEndpoint(format!(
                    "{trimmed}: plaintext http with TLS settings given"
                )));
            }
            Some(_) => trimmed.to_owned(),
        };
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| Error::InvalidEndpoint(format!("{trimmed}: {e}")))?;
        if endpoint.uri().host().is_none() {
            return Err(Error::InvalidEndpoint(format!("{trimmed}: no host")));
        }
        if let Some(t) = &config.tls {
            endpoint = endpoint
                .tls_config(t.tonic())
                .map_err(|e| Error::InvalidEndpoint(format!("{trimmed}: TLS: {e}")))?;
        }
        let endpoint = endpoint
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            // Detects a silently dead connection (host gone, partition) between requests.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        Ok(Self {
            addr: trimmed.to_owned(),
            key: key_of(trimmed),
            endpoint,
            channel: OnceLock::new(),
        })
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The node's channel, created on first use. `connect_lazy` spawns the channel's worker
    /// onto the current Tokio runtime, which is why this is not done in `Client::connect`.
    pub(crate) fn channel(&self) -> Channel {
        self.channel
            .get_or_init(|| self.endpoint.connect_lazy())
            .clone()
    }
}

/// Scheme-less, lower-case `host:port`, so `http://A:1/` and `a:1` name the same node.
fn key_of(addr: &str) -> String {
    let s = addr.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    s.trim_end_matches('/').to_ascii_lowercase()
}

/// The endpoints plus the shared preference. Cheap to read on every call: a read lock and an
/// atomic load; the write lock is only taken to add a hinted endpoint.
#[derive(Debug)]
pub(crate) struct Endpoints {
    config: ClientConfig,
    nodes: RwLock<Vec<Arc<Node>>>,
    preferred: AtomicUsize,
}

impl Endpoints {
    pub(crate) fn new<I, S>(addrs: I, config: &ClientConfig) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut nodes: Vec<Arc<Node>> = Vec::new();
        for addr in addrs {
            let node = Node::parse(&addr.into(), config)?;
            if !nodes.iter().any(|n| n.key == node.key) {
                nodes.push(Arc::new(node));
            }
        }
        if nodes.is_empty() {
            return Err(Error::InvalidEndpoint("no endpoints given".into()));
        }
        Ok(Self {
            config: config.clone(),
            nodes: RwLock::new(nodes),
            preferred: AtomicUsize::new(0),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Node>>> {
        // A poisoned lock only means another thread panicked mid-push; the Vec is still valid.
        self.nodes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The preferred endpoint and its index.
    pub(crate) fn pick(&self) -> (usize, Arc<Node>) {
        let nodes = self.read();
        // `nodes` is never empty (checked in `new`, only ever grows).
        let idx = self.preferred.load(Ordering::Relaxed) % nodes.len().max(1);
        (idx, Arc::clone(&nodes[idx]))
    }

    /// The endpoint at `idx`, if any.
    pub(crate) fn get(&self, idx: usize) -> Option<Arc<Node>> {
        self.read().get(idx).cloned()
    }

    /// All endpoint addresses, in index order.
    pub(crate) fn addrs(&self) -> Vec<String> {
        self.read().iter().map(|n| n.addr.clone()).collect()
    }

    /// `idx` answered: keep using it.
    pub(crate) fn on_success(&self, idx: usize) {
        self.preferred.store(idx, Ordering::Relaxed);
    }

    /// `idx` answered and named another node as the leader: prefer that node (adding it if
    /// unknown), or keep `idx` if the hint is unusable.
    pub(crate) fn on_leader_hint(&self, idx: usize, leader: &str) {
        let j = self.find_or_add(leader).unwrap_or(idx);
        self.preferred.store(j, Ordering::Relaxed);
    }

    /// An attempt on `idx` failed transiently. With a leader hint, prefer the hinted node
    /// (adding it if unknown); otherwise move to the next endpoint. Returns the index now
    /// preferred.
    pub(crate) fn on_failure(&self, idx: usize, leader_hint: Option<&str>) -> usize {
        if let Some(hint) = leader_hint
            && let Some(j) = self.find_or_add(hint)
        {
            self.preferred.store(j, Ordering::Relaxed);
            return j;
        }
        let len = self.read().len().max(1);
        let next = (idx + 1) % len;
        // Only rotate if nobody moved the preference meanwhile: when many in-flight calls fail
        // on the same node at once, the preference advances once, not once per call, and a
        // leader another call just found is not overwritten.
        match self
            .preferred
            .compare_exchange(idx, next, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => next,
            Err(current) => current % len,
        }
    }

    fn find_or_add(&self, addr: &str) -> Option<usize> {
        let key = key_of(addr);
        if let Some(i) = self.read().iter().position(|n| n.key == key) {
            return Some(i);
        }
        let node = match Node::parse(addr, &self.config) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%addr, error = %e, "ignoring unusable leader hint");
                return None;
            }
        };
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        // Re-check under the write lock: another call may have added it meanwhile.
        if let Some(i) = nodes.iter().position(|n| n.key == key) {
            return Some(i);
        }
        if nodes.len() >= MAX_ENDPOINTS {
            return None;
        }
        tracing::debug!(%addr, "adding leader endpoint from hint");
        nodes.push(Arc::new(node));
        Some(nodes.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn set(addrs: &[&str]) -> Endpoints {
        Endpoints::new(addrs.iter().copied(), &ClientConfig::default()).unwrap()
    }

    #[test]
    fn parses_and_dedupes() {
        let e = set(&[
            "127.0.0.1:1",
            "http://127.0.0.1:1/",
            " 127.0.0.1:2 ",
            "HOST:3",
        ]);
        assert_eq!(e.addrs(), ["127.0.0.1:1", "127.0.0.1:2", "HOST:3"]);
    }

    #[test]
    fn tls_settings_choose_the_scheme() {
        let tls = ClientConfig {
            tls: Some(crate::TlsOptions::default()),
            ..ClientConfig::default()
        };
        let node = Node::parse("127.0.0.1:1", &tls).unwrap();
        assert_eq!(node.endpoint.uri().scheme_str(), Some("https"));
        assert!(Node::parse("https://127.0.0.1:1", &tls).is_ok());
        // Contradictions are refused rather than silently downgraded or left unverifiable.
        assert!(Node::parse("http://127.0.0.1:1", &tls).is_err());
        assert!(Node::parse("https://127.0.0.1:1", &ClientConfig::default()).is_err());
        let plain = Node::parse("127.0.0.1:1", &ClientConfig::default()).unwrap();
        assert_eq!(plain.endpoint.uri().scheme_str(), Some("http"));
    }

    #[test]
    fn rejects_bad_endpoints() {
        let cfg = ClientConfig::default();
        for bad in [
            vec![],
            vec![""],
            vec!["not an address"],
            vec!["127.0.0.1:1", "  "],
        ] {
            let r = Endpoints::new(bad.clone(), &cfg);
            assert!(matches!(r, Err(Error::InvalidEndpoint(_))), "{bad:?}");
        }
    }

    #[test]
    fn rotates_on_failure_without_hint() {
        let e = set(&["a:1", "b:2", "c:3"]);
        assert_eq!(e.pick().0, 0);
        assert_eq!(e.on_failure(0, None), 1);
        assert_eq!(e.on_failure(1, None), 2);
        assert_eq!(e.on_failure(2, None), 0);
        assert_eq!(e.pick().0, 0);
    }

    #[test]
    fn concurrent_failures_on_same_node_rotate_once() {
        let e = set(&["a:1", "b:2", "c:3"]);
        assert_eq!(e.on_failure(0, None), 1);
        // A second call that also failed on node 0 must not skip node 1.
        assert_eq!(e.on_failure(0, None), 1);
        assert_eq!(e.pick().0, 1);
    }

    #[test]
    fn success_sticks() {
        let e = set(&["a:1", "b:2", "c:3"]);
        e.on_success(2);
        assert_eq!(e.pick().0, 2);
        assert_eq!(e.pick().1.addr(), "c:3");
    }

    #[test]
    fn known_leader_hint_switches_directly() {
        let e = set(&["a:1", "b:2", "c:3"]);
        assert_eq!(e.on_failure(0, Some("c:3")), 2);
        assert_eq!(e.pick().0, 2);
        // Matching ignores scheme and case.
        assert_eq!(e.on_failure(2, Some("http://B:2")), 1);
    }

    #[test]
    fn unknown_leader_hint_is_added() {
        let e = set(&["a:1"]);
        assert_eq!(e.on_failure(0, Some("d:4")), 1);
        assert_eq!(e.addrs(), ["a:1", "d:4"]);
        assert_eq!(e.pick().1.addr(), "d:4");
        // Hinting it again does not add a duplicate.
        assert_eq!(e.on_failure(0, Some("d:4")), 1);
        assert_eq!(e.addrs().len(), 2);
    }

    #[test]
    fn unusable_hint_falls_back_to_rotation() {
        let e = set(&["a:1", "b:2"]);
        assert_eq!(e.on_failure(0, Some("not an address")), 1);
        assert_eq!(e.addrs().len(), 2);
    }

    #[test]
    fn hinted_endpoints_are_bounded() {
        let e = set(&["a:1"]);
        for i in 0..(MAX_ENDPOINTS + 10) {
            e.on_failure(0, Some(&format!("h{i}:1")));
        }
        assert_eq!(e.addrs().len(), MAX_ENDPOINTS);
    }
}
