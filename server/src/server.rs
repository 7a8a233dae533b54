//! Runs one Cairn node: opens storage, starts Raft, serves the peer and client gRPC ports,
//! bootstraps or joins the cluster, and shuts everything down in order on a signal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_api::v1::AddLearnerRequest;
use cairn_api::v1::admin_client::AdminClient;
use cairn_api::v1::admin_server::AdminServer;
use cairn_api::v1::checkpoints_server::CheckpointsServer;
use cairn_api::v1::elections_server::ElectionsServer;
use cairn_api::v1::kv_server::KvServer;
use cairn_api::v1::leases_server::LeasesServer;
use cairn_api::v1::locks_server::LocksServer;
use cairn_api::v1::steps_server::StepsServer;
use cairn_api::v1::watch_server::WatchServer;
use cairn_api::v1::workflows_server::WorkflowsServer;
use cairn_raft::{ChannelPool, PeerNetworkFactory, PeerService, Proposer, SnapshotVerifier};
use cairn_storage::StorageConfig;
use cairn_storage::seal::KeyRing;
use futures::{Stream, StreamExt};
use openraft::{Config, SnapshotPolicy};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::cluster_id::ClusterId;
use crate::config::NodeConfig;
use crate::conn_limit::{Limited, PerAddress};
use crate::etcd::{EtcdParts, EtcdServers};
use crate::raft_handle::CairnRaft;
use crate::raft_watch::RaftWatch;
use crate::services::admin::{AdminOptions, AdminService};
use crate::services::checkpoint::CheckpointService;
use crate::services::coord::Coord;
use crate::services::coord::elections::ElectionService;
use crate::services::coord::leases::LeaseService;
use crate::services::coord::locks::LockService;
use crate::services::gateway::Gateway;
use crate::services::kv::KvService;
use crate::services::step::StepService;
use crate::services::watch::{Settings as WatchSettings, WatchService};
use crate::services::workflow::WorkflowService;
use crate::tls::{ClientDialer, NodeTls};
use crate::{checkpoint_retention, lease_keeper, workflow_retention};

/// How long a client request may wait for its proposal to commit before answering
/// DeadlineExceeded (the outcome then is unknown; clients retry with the same idempotency key).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long in-flight RPCs may take to finish once a node is asked to stop.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);

/// How long a peer connection attempt may take (one is retried at the next heartbeat).
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

fn raft_config(cfg: &NodeConfig) -> anyhow::Result<Config> {
    let config = Config {
        cluster_name: "cairn".into(),
        heartbeat_interval: cfg.heartbeat_ms,
        election_timeout_min: cfg.election_min_ms,
        election_timeout_max: cfg.election_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_logs),
        max_in_snapshot_log_to_keep: cfg.keep_logs,
        // Large batches per append amortise the per-RPC cost under load.
        max_payload_entries: 1024,
        install_snapshot_timeout: 60_000,
        // A leader killed and restarted within an election timeout must not resume its old
        // term without a vote: it replicates entries before they are durable locally, so it
        // can come back missing entries its followers hold and then write different entries
        // at the same (term, index), breaking Raft's log matching (replicas diverged; found by
        // the chaos suite's restart-leader fault). An election in a new term resolves it.
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    Ok(config.validate()?)
}

/// A member silent for this long counts as unreachable to the admin checks: several missed
/// heartbeats, and longer than an election takes.
fn reachable_within(cfg: &NodeConfig) -> Duration {
    Duration::from_millis((cfg.election_max_ms * 2).max(cfg.heartbeat_ms * 10))
}

/// Checks a snapshot a peer sent, with this node's keys (a sealed one must open here).
fn snapshot_verifier(keys: Option<Arc<KeyRing>>) -> SnapshotVerifier {
    Arc::new(move |path| {
        cairn_storage::verify_snapshot(path, keys.as_ref()).map_err(|e| e.to_string())
    })
}

/// Accepted connections with Nagle off: small gRPC frames otherwise wait for delayed ACKs
/// (a 40 ms stall per request). `Server::tcp_nodelay` does not apply to a caller's listener.
/// Plain connections on `listener`, at most `limit`'s share per client address.
fn incoming(
    listener: TcpListener,
    limit: Arc<PerAddress>,
) -> impl Stream<Item = std::io::Result<Limited<TcpStream>>> {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .filter_map(move |conn| {
            let admitted = conn.and_then(|stream| {
                let ip = stream.peer_addr()?.ip();
                Ok(limit.admit(ip).map(|slot| Limited::new(stream, slot)))
            });
            // Over the cap: dropped here, which closes it. An accept error is tonic's to see.
            std::future::ready(admitted.transpose())
        })
}

type Serving = Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// Serves a tonic router on `listener` until `shutdown`, over TLS when `tls` is set (a macro:
/// the two incoming streams have different connection types, and a router's type is not
/// worth spelling out in a generic function's bounds).
/// Concurrent HTTP/2 streams (calls and watches) one connection may hold: bounds what one
/// client can make a node keep open; well-behaved clients queue beyond it.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 1024;
/// Idle connections are pinged this often, and dropped when a ping goes unanswered for
/// [`HTTP2_KEEPALIVE_TIMEOUT`]: a vanished client (machine gone, cable cut) does not hold its
/// streams and watchers forever.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// A gRPC server with the limits every port has.
fn grpc_server() -> Server {
    Server::builder()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
}

macro_rules! serve_on {
    ($router:expr, $listener:expr, $tls:expr, $limit:expr, $shutdown:expr) => {{
        let router = $router;
        let serving: Serving = match $tls {
            Some(tls) => Box::pin(router.serve_with_incoming_shutdown(
                crate::tls::incoming::incoming($listener, tls, $limit),
                $shutdown,
            )),
            None => Box::pin(
                router.serve_with_incoming_shutdown(incoming($listener, $limit), $shutdown),
            ),
        };
        serving
    }};
}

/// Serves until `shutdown` resolves, then stops the servers and Raft.
pub async fn serve(cfg: NodeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create data dir {}", cfg.data_dir.display()))?;
    let storage = StorageConfig {
        wal_batch_wait: Duration::from_micros(cfg.wal_batch_wait_us),
        watch_history: cfg.watch.history,
        encryption: cfg.encryption.clone(),
        ..StorageConfig::default()
    };
    let incarnation = cairn_storage::incarnation(&cfg.data_dir)
        .with_context(|| format!("incarnation of {}", cfg.data_dir.display()))?;
    let (log_store, sm) = cairn_storage::open(&cfg.data_dir, storage)
        .await
        .with_context(|| format!("open storage in {}", cfg.data_dir.display()))?;
    let reader = sm.reader();
    let workflow_reader = sm.workflow_reader();
    let checkpoint_reader = sm.checkpoint_reader();
    let watch_reader = sm.watch_reader();
    let coord_reader = sm.coord_reader();
    let auth_reader = sm.auth_reader();
    let limits_reader = sm.reader();
    let incarnation_reader = sm.reader();
    let applied_hub = watch_reader.hub().clone();
    let snapshot_dir = sm.snapshot_dir();

    // Bind before starting Raft so a port conflict fails fast and peers can reach us at once.
    let peer_listener = TcpListener::bind(&cfg.peer_addr)
        .await
        .with_context(|| format!("bind peer address {}", cfg.peer_addr))?;
    let client_listener = TcpListener::bind(&cfg.client_addr)
        .await
        .with_context(|| format!("bind client address {}", cfg.client_addr))?;
    let http_listener = crate::ops::bind_http(&cfg).await?;
    let http_addr = http_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .unwrap_or_default();

    let tls = NodeTls::load(&cfg.tls).context("TLS settings")?;
    let cluster_id = ClusterId::new(reader.clone());
    let cluster_id_source: cairn_raft::channels::ClusterIdSource = {
        let c = cluster_id.clone();
        Arc::new(move || c.get())
    };
    let pool = ChannelPool::new(PEER_CONNECT_TIMEOUT, tls.peer_dialer.clone())
        .with_cluster_id(cluster_id_source.clone())
        .with_incarnation(incarnation);
    let network = PeerNetworkFactory::new(cfg.id, pool.clone());
    let raft = openraft::Raft::new(cfg.id, Arc::new(raft_config(&cfg)?), network, log_store, sm)
        .await
        .context("start raft")?;
    let proposer = Proposer::new(raft.clone(), cfg.id, pool, PROPOSE_TIMEOUT);

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let peer_server = serve_on!(
        grpc_server().add_service(
            PeerService::new(
                proposer.clone(),
                snapshot_dir,
                snapshot_verifier(cfg.encryption.clone()),
            )
            .with_auth(tls.peer_auth.clone())
            .with_check(crate::input::peer_check(crate::input::limits(&cfg)))
            .with_cluster_id(cluster_id_source)
            .with_incarnation(incarnation, {
                let reader = incarnation_reader.clone();
                Arc::new(move |node| reader.incarnation_of(node).ok().flatten())
            })
            .into_server(),
        ),
        peer_listener,
        tls.peer.clone(),
        PerAddress::new(cfg.max_connections_per_address),
        stopped(stop_rx.clone())
    );
    let message_limit = 2 * cfg.limits.max_value_bytes + 2 * cfg.limits.max_key_bytes + 64 * 1024;
    // A create or update carries metadata up to the limit plus labels; a task upsert carries
    // many tasks, each JSON field bounded by the same limit.
    let workflow_message_limit = 4 * cfg.limits.records.max_metadata_bytes + 1024 * 1024;
    let gateway = Gateway::new(proposer.clone())
        .with_limits(crate::input::limits(&cfg))
        .with_workflows(workflow_reader.clone())
        .with_alarms(limits_reader.clone());
    let coord = Coord::new(
        gateway.clone(),
        coord_reader.clone(),
        applied_hub.clone(),
        cfg.coord,
    );
    let admin_options = AdminOptions {
        data_dir: cfg.data_dir.clone(),
        http_addr: http_addr.clone(),
        reachable_within: reachable_within(&cfg),
        cluster_id: Some(cluster_id.clone()),
        dialer: tls.client_dialer.clone(),
    };
    let authenticator = Arc::new(crate::auth::Authenticator::new(
        auth_reader,
        cfg.tls.client.as_ref().is_some_and(|c| c.client_cert_auth),
        cfg.auth_token_ttl,
    ));
    let etcd = EtcdServers::new(EtcdParts {
        gateway: gateway.clone(),
        proposer: proposer.clone(),
        coord_reader: coord_reader.clone(),
        hub: applied_hub.clone(),
        coord: cfg.coord,
        admin: AdminService::new(proposer.clone(), admin_options.clone()),
        cluster_id: cluster_id.clone(),
        reader: reader.clone(),
        limits: cfg.limits,
        stop: stop_rx.clone(),
        schemes: crate::etcd::UrlSchemes {
            client_tls: cfg.tls.client.is_some(),
            peer_tls: cfg.tls.peer.is_some(),
        },
        authenticator: authenticator.clone(),
    });
    let (health_reporter, health_service) = crate::ops::health_service();
    let client_router = grpc_server()
        .layer(crate::metrics::grpc::GrpcMetricsLayer)
        .layer(crate::auth::layer::AuthLayer::new(authenticator))
        .add_service(health_service)
        .add_service(
            KvServer::new(KvService::new(gateway.clone(), reader, cfg.limits))
                .max_decoding_message_size(message_limit)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            WatchServer::new(WatchService::new(
                gateway.clone(),
                watch_reader,
                WatchSettings {
                    max_lag: cfg.watch.max_lag,
                    max_key_bytes: cfg.limits.max_key_bytes,
                },
                stop_rx.clone(),
            ))
            .max_decoding_message_size(message_limit)
            .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            CheckpointsServer::new(CheckpointService::new(
                gateway.clone(),
                checkpoint_reader.clone(),
                workflow_reader.clone(),
                cfg.checkpoints,
                cfg.limits.records,
            ))
            .max_decoding_message_size(CheckpointService::message_limit(
                &cfg.checkpoints,
                &cfg.limits.records,
            ))
            .max_encoding_message_size(usize::MAX),
        )
        .add_service(LeasesServer::new(LeaseService::new(coord.clone())))
        .add_service(LocksServer::new(LockService::new(coord.clone())))
        .add_service(ElectionsServer::new(ElectionService::new(coord)))
        .add_service(
            WorkflowsServer::new(WorkflowService::new(
                gateway.clone(),
                workflow_reader.clone(),
                cfg.limits.records,
            ))
            .max_decoding_message_size(workflow_message_limit)
            .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            StepsServer::new(StepService::new(
                gateway,
                cfg.limits.records,
                cfg.checkpoints,
                checkpoint_reader.keys().cloned(),
            ))
            .max_decoding_message_size(StepService::message_limit(workflow_message_limit))
            .max_encoding_message_size(usize::MAX),
        )
        .add_service(AdminServer::new(AdminService::new(
            proposer.clone(),
            admin_options,
        )))
        // etcd v3 API (docs/etcd-compat.md), on the same port so etcd clients need only the
        // member's client address.
        .add_service(
            etcd.kv
                .max_decoding_message_size(message_limit)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(etcd.watch)
        .add_service(etcd.lock)
        .add_service(etcd.election)
        .add_service(etcd.lease)
        .add_service(etcd.cluster)
        .add_service(etcd.maintenance)
        .add_service(etcd.auth);
    let client_server = serve_on!(
        client_router,
        client_listener,
        tls.client.clone(),
        PerAddress::new(cfg.max_connections_per_address),
        stopped(stop_rx.clone())
    );
    let peer_task = tokio::spawn(peer_server);
    let client_task = tokio::spawn(client_server);
    let ops = crate::ops::Ops::start(
        &raft,
        health_reporter,
        http_listener,
        workflow_reader.clone(),
        tls.http.clone(),
        &stop_rx,
    );
    let checkpoint_task = checkpoint_retention::spawn(
        cfg.checkpoints,
        proposer.clone(),
        checkpoint_reader,
        workflow_reader.clone(),
        stop_rx.clone(),
    );
    let retention_task = workflow_retention::spawn(
        cfg.retention,
        proposer.clone(),
        workflow_reader,
        stop_rx.clone(),
    );
    let lease_task =
        lease_keeper::spawn(proposer.clone(), coord_reader, applied_hub, stop_rx.clone());
    let cluster_id_task = crate::cluster_id::spawn(cluster_id, proposer.clone(), stop_rx.clone());
    let incarnation_task = crate::bootstrap::spawn_recorder(
        incarnation,
        incarnation_reader,
        proposer.clone(),
        stop_rx.clone(),
    );
    let settings = crate::cluster_settings::Settings {
        record_limits: cfg.limits.records,
        quota_backend_bytes: cfg.quota_backend_bytes,
    };
    let limits_task = crate::cluster_settings::spawn(
        settings,
        limits_reader.clone(),
        proposer.clone(),
        stop_rx.clone(),
    );
    let quota_task = crate::quota::spawn(
        cfg.data_dir.clone(),
        cfg.min_free_disk_bytes,
        limits_reader,
        proposer.clone(),
        stop_rx.clone(),
    );

    tracing::info!(
        id = cfg.id,
        client = %cfg.client_addr,
        peer = %cfg.peer_addr,
        data = %cfg.data_dir.display(),
        "cairn node serving"
    );

    let membership = async {
        crate::bootstrap::bootstrap(&raft, &proposer, &cfg, incarnation).await?;
        if !cfg.join.is_empty() {
            join(&raft, &cfg, &tls.client_dialer).await?;
        }
        anyhow::Ok(())
    };
    tokio::pin!(shutdown);
    let fatal = raft_stopped(raft.clone());
    tokio::pin!(fatal);
    let mut failed = false;
    let stop_requested = tokio::select! {
        res = membership => { res?; false }
        _ = &mut shutdown => true,
        _ = &mut fatal => { failed = true; true }
    };
    if !stop_requested {
        tokio::select! {
            _ = &mut shutdown => {}
            _ = &mut fatal => failed = true,
        }
    }
    if failed {
        // A storage failure (say, an fdatasync error) stops openraft's core. Serving on would
        // answer stale reads from a node that can no longer take part: stop instead, and let
        // a restart recover from what is durable.
        tracing::error!(
            id = cfg.id,
            "raft stopped on a fatal error; shutting the node down"
        );
    }

    tracing::info!(id = cfg.id, "shutting down");
    // Stop taking new connections, then stop Raft (which ends the replication streams a
    // graceful server shutdown would otherwise wait on forever), then give in-flight calls a
    // bounded drain.
    let _ = stop_tx.send(true);
    ops.stop().await;
    let raft_result = raft.shutdown().await;
    for task in [peer_task, client_task] {
        let abort = task.abort_handle();
        if tokio::time::timeout(SHUTDOWN_DRAIN, task).await.is_err() {
            abort.abort();
        }
    }
    // It saw the stop signal already; only a purge in flight (failing now that Raft is
    // down) can hold it.
    for task in retention_task.into_iter().chain([
        checkpoint_task,
        lease_task,
        cluster_id_task,
        incarnation_task,
        limits_task,
        quota_task,
    ]) {
        let abort = task.abort_handle();
        if tokio::time::timeout(SHUTDOWN_DRAIN, task).await.is_err() {
            abort.abort();
        }
    }
    if failed {
        anyhow::bail!("raft stopped on a fatal error (see the log above)");
    }
    raft_result.context("raft shutdown")?;
    tracing::info!(id = cfg.id, "stopped");
    Ok(())
}

/// Resolves when Raft's core stops by itself (openraft stops on any storage error): its
/// metrics channels close.
async fn raft_stopped(raft: CairnRaft) {
    let mut watch = RaftWatch::role_changes(&raft);
    while watch.next().await {}
}

/// Asks an existing cluster to add this node as a learner, retrying until it accepts.
async fn join(raft: &CairnRaft, cfg: &NodeConfig, dialer: &ClientDialer) -> anyhow::Result<()> {
    if raft.is_initialized().await? {
        return Ok(());
    }
    let request = AddLearnerRequest {
        id: cfg.id,
        peer_addr: cfg.peer_addr.clone(),
        client_addr: cfg.client_addr.clone(),
    };
    let mut endpoints = cfg.join.clone();
    let mut attempt = 0usize;
    loop {
        let endpoint = endpoints[attempt % endpoints.len()].clone();
        attempt += 1;
        let connected = match dialer.endpoint(&endpoint, Duration::from_secs(2)) {
            Ok(e) => e
                .connect()
                .await
                .map(AdminClient::new)
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match connected {
            Ok(mut c) => match c.add_learner(request.clone()).await {
                Ok(_) => {
                    tracing::info!(id = cfg.id, via = %endpoint, "joined the cluster as a learner");
                    return Ok(());
                }
                Err(s) => {
                    if let Some(leader) = s.metadata().get(cairn_api::meta::LEADER)
                        && let Ok(l) = leader.to_str()
                        && !endpoints.iter().any(|e| e == l)
                    {
                        endpoints.push(l.to_string());
                    }
                    if s.code() == tonic::Code::InvalidArgument {
                        anyhow::bail!("join refused: {}", s.message());
                    }
                    tracing::warn!(via = %endpoint, "join: {}", s.message());
                }
            },
            Err(e) => tracing::warn!(via = %endpoint, "join: {e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
