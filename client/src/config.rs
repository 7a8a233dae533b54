//! Client settings: per-request timeout, total retry budget, backoff bounds, TLS and login.

use std::time::Duration;

use crate::login::Credentials;
use crate::tls::TlsOptions;

/// How patient a [`Client`](crate::Client) is.
///
/// Defaults suit a LAN cluster with 0.5-1 s election timeouts: a leader failover completes
/// well inside the 15 s retry budget, and backoff stays short enough that a write resumes
/// within a few hundred milliseconds of the new leader being elected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Upper bound for one attempt. The server is sent a slightly later gRPC deadline, so it
    /// abandons work the client has given up on.
    pub request_timeout: Duration,
    /// Total time a call may spend across all attempts and backoff sleeps.
    pub retry_deadline: Duration,
    /// First backoff ceiling; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_max: Duration,
    /// TCP connect timeout, so a dead host fails fast instead of eating the request timeout.
    pub connect_timeout: Duration,
    /// TLS for every endpoint (`None`: plaintext). Endpoints without a scheme then use https.
    pub tls: Option<TlsOptions>,
    /// A user to log in as, for clusters with auth on (`None`: no login; with a client
    /// certificate and `--client-cert-auth`, its common name is the user).
    pub credentials: Option<Credentials>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            retry_deadline: Duration::from_secs(15),
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(2),
            tls: None,
            credentials: None,
        }
    }
}
