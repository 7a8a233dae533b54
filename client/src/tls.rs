//! TLS for the client's connections: the CA that signs the servers' certificates and,
//! for clusters with `--client-cert-auth`, the client's own certificate.

use std::fmt;
use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::error::{Error, Result};

/// PEM material, read once (a long-running client re-creates its `Client` to rotate).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificate(s) that sign the servers' certificates.
    pub ca_pem: Option<Vec<u8>>,
    /// This client's certificate chain and key, for mutual TLS.
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
    /// The name to check the servers' certificates against, instead of the endpoint's host.
    pub domain: Option<String>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca_pem.is_some())
            .field("cert", &self.cert_pem.is_some())
            .field("key", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .field("domain", &self.domain)
            .finish()
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::InvalidArgument(format!("{what} {}: {e}", path.display())))
}

impl TlsOptions {
    /// Reads etcdctl-style `--cacert`, `--cert` and `--key` files. A certificate needs its key.
    pub fn from_files(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<Self> {
        if cert.is_some() != key.is_some() {
            return Err(Error::InvalidArgument(
                "a client certificate needs its key (--cert with --key)".into(),
            ));
        }
        Ok(Self {
            ca_pem: ca.map(|p| read(p, "CA file")).transpose()?,
            cert_pem: cert.map(|p| read(p, "certificate")).transpose()?,
            key_pem: key.map(|p| read(p, "key")).transpose()?,
            domain: None,
        })
    }

    /// The settings as tonic takes them (for callers that build their own channels).
    pub fn tonic(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        if let Some(ca) = &self.ca_pem {
            config = config.ca_certificate(Certificate::from_pem(ca));
        }
        if let (Some(cert), Some(key)) = (&self.cert_pem, &self.key_pem) {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        config
    }
}
