//! etcd's Lock service (`v3lockpb.Lock`): a lock is the key `name/<lease hex>` under the
//! caller's lease; Lock returns once it is the oldest key under `name/` (see `recipes`), so it
//! excludes etcd clients that take the same lock with clientv3's own Mutex. Unlock deletes
//! the key; the lease ending deletes it too.

use cairn_api::etcd::v3lockpb::lock_server::Lock;
use cairn_api::etcd::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use tonic::{Request, Response, Status};

use super::header::Headers;
use super::recipes::{Recipes, prefix_of};

pub struct LockService {
    recipes: Recipes,
    headers: Headers,
}

impl LockService {
    pub fn new(recipes: Recipes, headers: Headers) -> Self {
        Self { recipes, headers }
    }
}

/// A lease id from the wire: etcd's are positive int64; 0 = none (Cairn then holds the key
/// without a lease, until Unlock; see docs/etcd-compat.md).
pub fn lease_id(lease: i64) -> Result<u64, Status> {
    u64::try_from(lease)
        .map_err(|_| Status::not_found("etcdserver: requested lease not found".to_string()))
}

pub fn name_arg(name: &[u8]) -> Result<(), Status> {
    if name.is_empty() {
        return Err(Status::invalid_argument("etcdserver: key is not provided"));
    }
    Ok(())
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, req: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let r = req.into_inner();
        name_arg(&r.name)?;
        let owned = self
            .recipes
            .acquire(&prefix_of(&r.name), lease_id(r.lease)?, b"", false)
            .await?;
        Ok(Response::new(LockResponse {
            header: Some(self.headers.at(owned.revision)),
            key: owned.key,
        }))
    }

    async fn unlock(
        &self,
        req: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let r = req.into_inner();
        name_arg(&r.key)?;
        let revision = self.recipes.delete(&r.key).await?;
        Ok(Response::new(UnlockResponse {
            header: Some(self.headers.at(revision)),
        }))
    }
}
