//! One long-lived gRPC channel per peer, shared by every RPC to that peer.
//!
//! A tonic `Channel` multiplexes concurrent calls over one HTTP/2 connection and reconnects by
//! itself, so creating one per RPC would only add TCP and HTTP/2 handshakes to the hot path.
//! With peer TLS, a channel to node N checks that the server's certificate names N
//! ([`node_name`]), and the pool drops its channels when the certificates change on disk, so
//! new connections use the new ones.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::peer_identity::node_name;
use crate::types::NodeId;

/// Largest gRPC message a peer accepts or sends: bounds memory per message. Append batches are
/// limited by openraft's `max_payload_entries`; snapshots travel in smaller chunks.
pub const MAX_PEER_MESSAGE: usize = 64 * 1024 * 1024;

/// The node's client side of peer TLS: the current settings and their generation, which
/// changes whenever the certificate files do. Supplied by the server, which owns the files.
pub trait PeerTlsSource: Send + Sync {
    /// `(generation, config)`; the config's domain name is set per target by the pool.
    fn client_tls(&self) -> Result<(u64, ClientTlsConfig), String>;
}

/// This node's cluster id as applied (0 until the cluster is named).
pub type ClusterIdSource = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The metadata every peer request carries: the sender's cluster id (hex), so a node of
/// another cluster (a copied data directory, a wrong member list) is refused by the peer
/// server instead of voting or appending here.
pub const CLUSTER_ID_HEADER: &str = "cairn-cluster-id";

/// The sender's data-directory incarnation (hex): a peer whose state records another
/// incarnation for the sender refuses its votes and appends (a member that lost its
/// directory has forgotten the votes it gave, so it must not vote again under its id).
pub const INCARNATION_HEADER: &str = "cairn-incarnation";

#[derive(Clone)]
pub struct ChannelPool {
    state: Arc<Mutex<Pool>>,
    connect_timeout: Duration,
    tls: Option<Arc<dyn PeerTlsSource>>,
    cluster_id: ClusterIdSource,
    /// The header value, made once the id is known (it never changes after): no formatting
    /// per request on the replication path.
    stamp: Arc<std::sync::OnceLock<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>>,
    /// [`INCARNATION_HEADER`]'s value (None: not set, e.g. in tests).
    incarnation: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

#[derive(Default)]
struct Pool {
    /// The TLS generation the cached channels were made with.
    generation: u64,
    channels: HashMap<(NodeId, String), Channel>,
}

impl fmt::Debug for ChannelPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelPool")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ChannelPool {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), None)
    }
}

impl ChannelPool {
    pub fn new(connect_timeout: Duration, tls: Option<Arc<dyn PeerTlsSource>>) -> Self {
        Self {
            state: Arc::default(),
            connect_timeout,
            tls,
            cluster_id: Arc::new(|| 0),
            stamp: Arc::default(),
            incarnation: None,
        }
    }

    /// Stamps every request with this node's data-directory incarnation.
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation =
            tonic::metadata::MetadataValue::try_from(format!("{incarnation:016x}")).ok();
        self
    }

    /// Stamps every request made through [`ChannelPool::request`] with this cluster id.
    pub fn with_cluster_id(mut self, source: ClusterIdSource) -> Self {
        self.cluster_id = source;
        self
    }

    /// A peer request carrying this node's cluster id once it has one.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let stamp = match self.stamp.get() {
            Some(v) => Some(v.clone()),
            None => match (self.cluster_id)() {
                0 => None,
                id => tonic::metadata::MetadataValue::try_from(format!("{id:016x}"))
                    .ok()
                    .map(|v| self.stamp.get_or_init(|| v).clone()),
            },
        };
        if let Some(v) = stamp {
            request.metadata_mut().insert(CLUSTER_ID_HEADER, v);
        }
        if let Some(v) = &self.incarnation {
            request.metadata_mut().insert(INCARNATION_HEADER, v.clone());
        }
        request
    }

    /// The cached channel to node `id` at `addr` (`host:port`), created lazily on first use.
    pub fn get(&self, id: NodeId, addr: &str) -> Result<Channel, String> {
        let tls = match &self.tls {
            Some(source) => Some(source.client_tls()?),
            None => None,
        };
        let mut pool = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, _)) = &tls
            && *generation != pool.generation
        {
            // New certificates: later calls open new connections with them (calls in flight
            // finish on the old ones).
            pool.channels.clear();
            pool.generation = *generation;
        }
        let key = (id, addr.to_string());
        if let Some(ch) = pool.channels.get(&key) {
            return Ok(ch.clone());
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| format!("peer address {addr}: {e}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        if let Some((_, config)) = tls {
            endpoint = endpoint
                .tls_config(config.domain_name(node_name(id)))
                .map_err(|e| format!("peer TLS: {e}"))?;
        }
        let ch = endpoint.connect_lazy();
        pool.channels.insert(key, ch.clone());
        Ok(ch)
    }
}
