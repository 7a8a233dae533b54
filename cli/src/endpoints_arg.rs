//! The connection options shared by the client-side subcommands: `--endpoints` and etcdctl's
//! TLS flags (`--cacert`, `--cert`, `--key`).

use std::path::PathBuf;

use anyhow::Context;
use cairn_client::{Client, ClientConfig, TlsOptions};

/// Client addresses of cluster nodes (any node works; the leader is found automatically).
#[derive(clap::Args, Debug, Clone)]
pub struct EndpointsArg {
    #[arg(
        long = "endpoints",
        env = "CAIRN_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    )]
    pub list: Vec<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS towards the cluster's client ports (as etcdctl names them).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// CA certificate that signs the servers' certificates; turns TLS on.
    #[arg(long = "cacert", env = "CAIRN_CACERT", global = true)]
    pub tls_cacert: Option<PathBuf>,
    /// Client certificate, for clusters that require one (`--client-cert-auth`).
    #[arg(long = "cert", env = "CAIRN_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// Key of `--cert`.
    #[arg(long = "key", env = "CAIRN_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// `None` (plaintext) unless one of the flags is given.
    pub fn options(&self) -> anyhow::Result<Option<TlsOptions>> {
        if self.tls_cacert.is_none() && self.tls_cert.is_none() && self.tls_key.is_none() {
            return Ok(None);
        }
        Ok(Some(TlsOptions::from_files(
            self.tls_cacert.as_deref(),
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )?))
    }
}

impl EndpointsArg {
    /// A client for these endpoints with `config` plus the TLS flags.
    pub fn connect_with(&self, config: ClientConfig) -> anyhow::Result<Client> {
        let config = ClientConfig {
            tls: self.tls.options()?,
            ..config
        };
        Client::with_config(self.list.iter().cloned(), config).context("bad --endpoints")
    }

    pub fn connect(&self) -> anyhow::Result<Client> {
        self.connect_with(ClientConfig::default())
    }
}
