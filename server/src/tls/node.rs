//! Everything TLS one node needs, loaded from its [`TlsConfig`] at start (a file that does not
//! load stops the start with the reason).

use std::sync::Arc;

use cairn_raft::{PeerAuth, PeerTlsSource};

use super::config::TlsConfig;
use super::dial::{ClientDialer, PeerDialer};
use super::pem::{ALPN_GRPC, ALPN_HTTP, ClientAuth, server_config};
use super::reload::Reloading;

pub type ServerTls = Arc<Reloading<rustls::ServerConfig>>;

#[derive(Default)]
pub struct NodeTls {
    /// Server side of each port; `None` is plaintext.
    pub client: Option<ServerTls>,
    pub http: Option<ServerTls>,
    pub peer: Option<ServerTls>,
    /// Who may call the peer port.
    pub peer_auth: PeerAuth,
    /// Client side towards peers, and towards other members' client ports.
    pub peer_dialer: Option<Arc<dyn PeerTlsSource>>,
    pub client_dialer: ClientDialer,
}

fn reloading(
    what: &str,
    files: &super::config::CertFiles,
    auth: ClientAuth,
    alpn: &'static [&'static [u8]],
) -> anyhow::Result<ServerTls> {
    let f = files.clone();
    Ok(Arc::new(Reloading::new(what, files.paths(), move || {
        server_config(&f, auth, alpn)
    })?))
}

impl NodeTls {
    pub fn load(cfg: &TlsConfig) -> anyhow::Result<Self> {
        let mut tls = NodeTls::default();
        if let Some(c) = &cfg.client {
            let auth = match (c.client_cert_auth, &c.files.ca) {
                (true, _) => ClientAuth::Required,
                // A presented certificate is checked (its CN can name the user).
                (false, Some(_)) => ClientAuth::Optional,
                (false, None) => ClientAuth::None,
            };
            tls.client = Some(reloading("client port", &c.files, auth, ALPN_GRPC)?);
            // Probes and Prometheus seldom hold client certificates: the HTTP port checks one
            // only when presented.
            let http_auth = if auth == ClientAuth::None {
                ClientAuth::None
            } else {
                ClientAuth::Optional
            };
            tls.http = Some(reloading("http port", &c.files, http_auth, ALPN_HTTP)?);
        }
        tls.client_dialer = ClientDialer::new(cfg.client.as_ref())?;
        if let Some(p) = &cfg.peer {
            tls.peer = Some(reloading(
                "peer port",
                &p.files,
                ClientAuth::Required,
                ALPN_GRPC,
            )?);
            tls.peer_auth = PeerAuth::Certificates {
                allowed_cn: p.allowed_cn.clone(),
            };
            let dialer: Arc<dyn PeerTlsSource> = PeerDialer::new(p)?;
            tls.peer_dialer = Some(dialer);
        }
        Ok(tls)
    }
}
