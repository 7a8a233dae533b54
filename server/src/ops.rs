//! The operational side of a running node, started beside its gRPC servers: grpc.health.v1
//! statuses, the HTTP endpoint (`/livez`, `/readyz`, `/metrics`), and the metrics sources.
//! Kept out of `server.rs` so the node's request path stays readable.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_storage::WorkflowReader;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::config::NodeConfig;
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::raft_handle::CairnRaft;
use crate::tls::Reloading;
use crate::{health, metrics};

/// Binds the HTTP address, if one is configured (before Raft starts, like the gRPC ports, so a
/// port conflict fails fast).
pub async fn bind_http(cfg: &NodeConfig) -> anyhow::Result<Option<TcpListener>> {
    match &cfg.http_addr {
        Some(addr) => Ok(Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind http address {addr}"))?,
        )),
        None => Ok(None),
    }
}

/// The grpc.health.v1 service for the client server, and the reporter that drives it.
pub fn health_service() -> (HealthReporter, HealthServer<HealthService>) {
    let reporter = HealthReporter::new();
    let service = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    (reporter, service)
}

/// Background tasks of the operational side; stop them with [`Ops::stop`].
pub struct Ops {
    tasks: Vec<JoinHandle<()>>,
}

impl Ops {
    /// Starts health reporting, and (with an HTTP listener) metrics and the HTTP endpoint.
    pub fn start(
        raft: &CairnRaft,
        reporter: HealthReporter,
        http_listener: Option<TcpListener>,
        workflows: WorkflowReader,
        tls: Option<Arc<Reloading<rustls::ServerConfig>>>,
        stop: &watch::Receiver<bool>,
    ) -> Self {
        let mut tasks = vec![health::spawn_grpc_health(
            raft.clone(),
            reporter,
            stop.clone(),
        )];
        if let Some(listener) = http_listener {
            // One recorder per process: a second node in the same process (tests) serves
            // health without metrics.
            let metrics = match Metrics::install(workflows) {
                Ok(m) => Some(Arc::new(m)),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics disabled");
                    None
                }
            };
            if let Some(m) = &metrics {
                tasks.push(metrics::raft::spawn(raft.clone(), stop.clone()));
                tasks.push(m.spawn_upkeep(stop.clone()));
            }
            let state = HttpState {
                raft: raft.clone(),
                metrics,
                tls,
            };
            tasks.push(http::spawn(listener, state, stop.clone()));
        }
        Self { tasks }
    }

    /// Waits briefly for the tasks (they watch the same stop signal), then aborts stragglers.
    pub async fn stop(self) {
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}
