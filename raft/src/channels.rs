//! One long-lived gRPC channel per peer address, shared by every RPC to that peer.
//!
//! A tonic `Channel` multiplexes concurrent calls over one HTTP/2 connection and reconnects by
//! itself, so creating one per RPC would only add TCP and HTTP/2 handshakes to the hot path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Largest gRPC message a peer accepts or sends: bounds memory per message. Append batches are
/// limited by openraft's `max_payload_entries`; snapshots travel in smaller chunks.
pub const MAX_PEER_MESSAGE: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct ChannelPool {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    connect_timeout: Duration,
}

impl Default for ChannelPool {
    fn default() -> Self {
        Self::new(Duration::from_millis(500))
    }
}

impl ChannelPool {
    pub fn new(connect_timeout: Duration) -> Self {
        Self {
            channels: Arc::default(),
            connect_timeout,
        }
    }

    /// The cached channel to `addr` (`host:port`), created lazily on first use.
    pub fn get(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .connect_lazy();
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}
