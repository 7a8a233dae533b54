//! Lease reads: time-to-live (with what the lease keeps alive) and the list of live leases.

use cairn_api::v1 as pb;

use super::types::{LeaseDetails, LeaseInfo};
use crate::client::{Client, request};
use crate::error::Result;

impl Client {
    /// Lease `id` and what it keeps alive; `Ok(None)` when it does not exist (expired,
    /// revoked or never granted).
    pub async fn lease_time_to_live(&self, id: u64) -> Result<Option<LeaseDetails>> {
        let msg = pb::LeaseTimeToLiveRequest {
            id,
            serializable: false,
        };
        let r = self
            .call("lease_time_to_live", |ch, t| {
                let req = request(msg, t);
                async move { Self::leases_rpc(ch).time_to_live(req).await }
            })
            .await?;
        Ok(r.lease.map(|l| LeaseDetails::from_pb(l, r.attached)))
    }

    /// Every live lease.
    pub async fn leases(&self) -> Result<Vec<LeaseInfo>> {
        let msg = pb::LeaseListRequest {
            serializable: false,
        };
        let r = self
            .call("list_leases", |ch, t| {
                let req = request(msg, t);
                async move { Self::leases_rpc(ch).list(req).await }
            })
            .await?;
        Ok(r.leases.into_iter().map(LeaseInfo::from_pb).collect())
    }
}
