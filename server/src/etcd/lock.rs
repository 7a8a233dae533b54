//! etcd's Lock service (`v3lockpb.Lock`): a lock is the key `name/<lease hex>` under the
//! caller's lease; Lock returns once it is the oldest key under `name/` (see `recipes`), so it
//! excludes etcd clients that take the same lock with clientv3's own Mutex. Unlock deletes
//! the key; the lease ending deletes it too.

use cairn_api::etcd::v3lockpb::lock_server::Lock;
use cairn_api::etcd::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use tonic::Request;

use super::header::Headers;
use super::recipes::{Recipes, prefix_of};
use super::reply::{Reply, answer};
use crate::error::EtcdError;
use crate::status::EtcdCall;

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
pub fn lease_id(lease: i64) -> Result<u64, EtcdError> {
    u64::try_from(lease).map_err(|_| EtcdError::LeaseNotFound)
}

pub fn name_arg(name: &[u8]) -> Result<(), EtcdError> {
    if name.is_empty() {
        return Err(EtcdError::KeyNotProvided);
    }
    Ok(())
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, req: Request<LockRequest>) -> Reply<LockResponse> {
        answer(EtcdCall::Recipe, async {
            let r = req.into_inner();
            name_arg(&r.name)?;
            let owned = self
                .recipes
                .acquire(&prefix_of(&r.name), lease_id(r.lease)?, b"", false)
                .await?;
            Ok(LockResponse {
                header: Some(self.headers.at(owned.revision)),
                key: owned.key,
            })
        })
        .await
    }

    async fn unlock(&self, req: Request<UnlockRequest>) -> Reply<UnlockResponse> {
        answer(EtcdCall::Recipe, async {
            let r = req.into_inner();
            name_arg(&r.key)?;
            let revision = self.recipes.delete(&r.key).await?;
            Ok(UnlockResponse {
                header: Some(self.headers.at(revision)),
            })
        })
        .await
    }
}
