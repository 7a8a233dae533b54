//! The connection options shared by the client-side subcommands: `--endpoints`, etcdctl's
//! TLS flags (`--cacert`, `--cert`, `--key`) and its `--user`.

use std::path::PathBuf;

use anyhow::Context;
use cairn_client::{Client, ClientConfig, Credentials, TlsOptions};

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
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Logging in to a cluster with auth on (etcdctl's `--user`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// NAME or NAME:PASSWORD. Without the password it is read from CAIRN_PASSWORD, else
    /// asked for on the terminal.
    #[arg(long = "user", env = "CAIRN_USER", global = true)]
    pub user: Option<String>,
}

impl AuthArgs {
    /// `None` unless `--user` is given.
    pub fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let Some(user) = &self.user else {
            return Ok(None);
        };
        if let Some((name, password)) = user.split_once(':') {
            return Ok(Some(Credentials::new(name, password)));
        }
        let password = match std::env::var("CAIRN_PASSWORD") {
            Ok(p) => p,
            Err(_) => rpassword::prompt_password(format!("Password for {user}: ")).context(
                "no password: give --user NAME:PASSWORD, set CAIRN_PASSWORD, or run on a terminal",
            )?,
        };
        Ok(Some(Credentials::new(user.as_str(), password)))
    }
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
            credentials: self.auth.credentials()?,
            ..config
        };
        Client::with_config(self.list.iter().cloned(), config).context("bad --endpoints")
    }

    pub fn connect(&self) -> anyhow::Result<Client> {
        self.connect_with(ClientConfig::default())
    }
}

/// etcd-client's connect options for the same TLS and login (etcd-API calls and benchmarks).
pub fn etcd_options(
    tls: Option<&TlsOptions>,
    credentials: Option<&Credentials>,
) -> etcd_client::ConnectOptions {
    let mut options = etcd_client::ConnectOptions::new();
    if let Some(t) = tls {
        options = options.with_tls(t.tonic());
    }
    if let Some(c) = credentials {
        options = options.with_user(c.user.clone(), c.password.clone());
    }
    options
}
