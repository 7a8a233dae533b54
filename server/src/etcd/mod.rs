//! etcd v3 API on the client port, next to Cairn's own services: KV, Watch, Lease, Lock,
//! Election, Cluster, Maintenance and Auth (see docs/etcd-compat.md for the supported subset and
//! every difference from etcd). They run on the same replicated state as the native
//! services; only the request and reply shapes, units (seconds, signed ids) and error words
//! are etcd's.

mod admin_route;
mod auth;
mod cluster;
mod election;
pub mod header;
mod kv;
pub(crate) mod kv_convert;
mod lease;
mod lock;
mod maintenance;
mod recipes;
mod reply;
mod store;
mod watch;

use std::sync::Arc;

use cairn_raft::Proposer;
use cairn_storage::watch::EventHub;
use cairn_storage::{CoordReader, StateMachineStore};
use std::time::Duration;

use cairn_api::etcd::v3electionpb::election_server::ElectionServer;
use cairn_api::etcd::v3lockpb::lock_server::LockServer;
use cairn_api::etcd_auth::etcdserverpb::auth_server::AuthServer;
use cairn_storage::KvReader;
use etcd_client::proto::{
    PbClusterServer, PbKvServer, PbLeaseServer, PbMaintenanceServer, PbWatchServer,
};
use tokio::sync::watch as signal;

use crate::config::Limits;

use crate::coord_config::CoordConfig;
use crate::services::admin::AdminService;
use crate::services::gateway::Gateway;

pub use self::auth::AuthService;
pub use self::cluster::{ClusterService, UrlSchemes};
pub use self::election::ElectionService;
pub use self::header::Headers;
pub use self::kv::EtcdKv;
pub use self::lease::LeaseService;
pub use self::lock::LockService;
pub use self::maintenance::MaintenanceService;
pub use self::watch::EtcdWatch;

/// How often an idle watcher that asked for progress notifications gets one (etcd's default).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(600);

/// What the etcd services need from the node.
pub struct EtcdParts {
    pub gateway: Gateway,
    pub proposer: Proposer<StateMachineStore>,
    pub coord_reader: CoordReader,
    pub hub: Arc<EventHub>,
    pub coord: CoordConfig,
    /// The admin service the Cluster and Maintenance services map membership changes, leader
    /// transfer and status onto (the same checks as `cairn ctl`).
    pub admin: AdminService,
    pub cluster_id: crate::cluster_id::ClusterId,
    pub reader: KvReader,
    pub limits: Limits,
    /// Set when the node stops: open watch streams end.
    pub stop: signal::Receiver<bool>,
    /// How member URLs are written (https where the cluster runs TLS).
    pub schemes: UrlSchemes,
    /// Logs users in (the Auth service).
    pub authenticator: Arc<crate::auth::Authenticator>,
}

/// The etcd servers, ready to add to the client port's router.
pub struct EtcdServers {
    pub kv: PbKvServer<EtcdKv>,
    pub watch: PbWatchServer<EtcdWatch>,
    pub lock: LockServer<LockService>,
    pub election: ElectionServer<ElectionService>,
    pub lease: PbLeaseServer<LeaseService>,
    pub cluster: PbClusterServer<ClusterService>,
    pub maintenance: PbMaintenanceServer<MaintenanceService>,
    pub auth: AuthServer<AuthService>,
}

impl EtcdServers {
    pub fn new(parts: EtcdParts) -> Self {
        let headers = Headers::new(parts.proposer.clone(), parts.hub.clone(), parts.cluster_id);
        let admin = Arc::new(parts.admin);
        let store = store::EtcdStore::new(parts.gateway.clone(), parts.reader, parts.hub.clone());
        let recipes = recipes::Recipes::new(store.clone());
        let maintenance_store = store.clone();
        Self {
            kv: PbKvServer::new(EtcdKv::new(store, headers.clone(), parts.limits)),
            watch: PbWatchServer::new(EtcdWatch::new(
                parts.hub.clone(),
                headers.clone(),
                PROGRESS_INTERVAL,
                parts.stop,
            )),
            lock: LockServer::new(LockService::new(recipes.clone(), headers.clone())),
            election: ElectionServer::new(ElectionService::new(recipes, headers.clone())),
            auth: AuthServer::new(AuthService::new(
                parts.gateway.clone(),
                parts.authenticator,
                headers.clone(),
            )),
            lease: PbLeaseServer::new(LeaseService::new(
                parts.gateway,
                parts.coord_reader,
                parts.coord,
                headers.clone(),
            )),
            cluster: PbClusterServer::new(ClusterService::new(
                parts.proposer.clone(),
                admin.clone(),
                headers.clone(),
                parts.schemes,
            )),
            maintenance: PbMaintenanceServer::new(MaintenanceService::new(
                admin,
                headers,
                maintenance_store,
            )),
        }
    }
}
