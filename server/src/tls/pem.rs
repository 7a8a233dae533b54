//! PEM files to rustls: certificate chains, private keys, CA roots, and the server configs of
//! the node's ports.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::config::CertFiles;

/// ALPN of the gRPC ports: HTTP/2 only (gRPC clients such as grpc-go insist on it).
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of the HTTP port (one request per connection, HTTP/1.1).
pub const ALPN_HTTP: &[&[u8]] = &[b"http/1.1"];

/// Whether a port asks connecting clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Not asked for.
    None,
    /// Checked against the CA when presented (its common name can then name the user).
    Optional,
    /// Required and checked against the CA: no certificate, no connection.
    Required,
}

pub fn certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("read certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parse certificates in {}", path.display()))?;
    if certs.is_empty() {
        bail!("no PEM certificate in {}", path.display());
    }
    Ok(certs)
}

pub fn key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("read a PEM private key from {}", path.display()))
}

pub fn roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(path)? {
        roots
            .add(cert)
            .with_context(|| format!("CA certificate in {}", path.display()))?;
    }
    Ok(roots)
}

/// ring, which tonic's `tls-ring` builds anyway (aws-lc-rs would add a long C build). rustls
/// 0.23.48 deprecates it for lacking post-quantum key exchange; classical ECDHE is what etcd
/// clients negotiate today.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls config of a listening port.
pub fn server_config(
    files: &CertFiles,
    auth: ClientAuth,
    alpn: &[&[u8]],
) -> anyhow::Result<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match (auth, &files.ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => bail!("client certificates need a CA file to check them against"),
        (auth, Some(ca)) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider());
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().context("client verifier")?)
        }
    };
    let mut config = builder
        .with_single_cert(certs(&files.cert)?, key(&files.key)?)
        .with_context(|| {
            format!(
                "certificate {} with key {}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
