//! This node's outgoing connections: to peers on their peer port (presenting its peer
//! certificate, checking theirs names the node dialled), and to other members' client ports
//! (joining a cluster, forwarding an etcd admin call to the leader).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_raft::PeerTlsSource;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::config::{CertFiles, ClientTls, PeerTls};
use super::pem;
use super::reload::Reloading;

/// tonic's client TLS settings from PEM files, checked with rustls first so a bad file fails
/// at start (tonic parses them only when a connection is made).
fn client_tls(files: &CertFiles) -> anyhow::Result<ClientTlsConfig> {
    let read =
        |p: &std::path::Path| std::fs::read(p).with_context(|| format!("read {}", p.display()));
    pem::certs(&files.cert)?;
    pem::key(&files.key)?;
    let mut config =
        ClientTlsConfig::new().identity(Identity::from_pem(read(&files.cert)?, read(&files.key)?));
    if let Some(ca) = &files.ca {
        pem::roots(ca)?;
        config = config.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// The peer client side of peer TLS, reloaded with the files.
pub struct PeerDialer(Reloading<ClientTlsConfig>);

impl PeerDialer {
    pub fn new(tls: &PeerTls) -> anyhow::Result<Arc<Self>> {
        let files = tls.files.clone();
        let reloading = Reloading::new("peer client", files.paths(), move || client_tls(&files))?;
        Ok(Arc::new(Self(reloading)))
    }
}

impl PeerTlsSource for PeerDialer {
    fn client_tls(&self) -> Result<(u64, ClientTlsConfig), String> {
        let (generation, config) = self.0.current();
        Ok((generation, (*config).clone()))
    }
}

/// Connections to other members' client ports, over TLS when this node's client port has it
/// (the members of a cluster share their TLS settings).
#[derive(Clone, Default)]
pub struct ClientDialer {
    tls: Option<Arc<Reloading<ClientTlsConfig>>>,
}

impl std::fmt::Debug for ClientDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDialer")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl ClientDialer {
    pub fn new(tls: Option<&ClientTls>) -> anyhow::Result<Self> {
        let tls = match tls {
            None => None,
            Some(t) => {
                let files = t.files.clone();
                Some(Arc::new(Reloading::new(
                    "client-port client",
                    files.paths(),
                    move || client_tls(&files),
                )?))
            }
        };
        Ok(Self { tls })
    }

    /// An endpoint for `addr` (`host:port`), checked against the host name or IP in it.
    pub fn endpoint(&self, addr: &str, connect_timeout: Duration) -> anyhow::Result<Endpoint> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .with_context(|| format!("address {addr}"))?
            .connect_timeout(connect_timeout);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config((*tls.current().1).clone())
                .context("client TLS")?;
        }
        Ok(endpoint)
    }
}
