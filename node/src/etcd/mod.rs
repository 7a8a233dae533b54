//! etcd v3 API on the client port, next to Cairn's own services: Lease, Cluster and
//! Maintenance (see docs/etcd-compat.md for the supported subset and every difference from
//! etcd). They run on the same replicated state as the native services; only the request and
//! reply shapes, units (seconds, signed ids) and error words are etcd's.

mod admin_route;
mod cluster;
mod errors;
mod header;
mod lease;
mod maintenance;

use std::sync::Arc;

use cairn_raft::Proposer;
use cairn_storage::watch::EventHub;
use cairn_storage::{CoordReader, StateMachineStore};
use etcd_client::proto::{PbClusterServer, PbLeaseServer, PbMaintenanceServer};

use crate::coord_config::CoordConfig;
use crate::services::admin::AdminService;
use crate::services::gateway::Gateway;

pub use self::cluster::ClusterService;
pub use self::header::Headers;
pub use self::lease::LeaseService;
pub use self::maintenance::MaintenanceService;

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
}

/// The etcd servers, ready to add to the client port's router.
pub struct EtcdServers {
    pub lease: PbLeaseServer<LeaseService>,
    pub cluster: PbClusterServer<ClusterService>,
    pub maintenance: PbMaintenanceServer<MaintenanceService>,
}

impl EtcdServers {
    pub fn new(parts: EtcdParts) -> Self {
        let headers = Headers::new(parts.proposer.clone(), parts.hub.clone());
        let admin = Arc::new(parts.admin);
        Self {
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
            )),
            maintenance: PbMaintenanceServer::new(MaintenanceService::new(admin, headers)),
        }
    }
}
