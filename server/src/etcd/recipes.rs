//! etcd's concurrency recipes (clientv3/concurrency's Mutex and Election), run inside the
//! node for the v3lock and v3election services exactly as etcd's own servers run them: a
//! lock or candidacy is a key `name/<lease id in hex>` under the caller's lease, and the
//! owner is the key with the oldest create revision under `name/`. So locks taken through
//! these services and through any etcd client's own Mutex/Election exclude each other.

use cairn_model::txn::{
    Compare, CompareOp, CompareTarget, KeyRange, KeyValue, OpReply, PutOp, RangeReply, RangeSpec,
    SortOrder, SortTarget, TxnCommand, TxnOp,
};

use super::store::EtcdStore;
use crate::error::{Error, EtcdError};

/// A key this node created for a lock or a candidacy.
#[derive(Debug, Clone)]
pub struct Owned {
    pub key: Vec<u8>,
    pub create_revision: u64,
    /// The revision at which it became the owner (or was found owning).
    pub revision: u64,
}

pub fn prefix_of(name: &[u8]) -> Vec<u8> {
    let mut p = name.to_vec();
    p.push(b'/');
    p
}

/// `prefix` + the lease id in lower-case hex, as clientv3 names session keys.
pub fn key_for(prefix: &[u8], lease: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(format!("{lease:x}").as_bytes());
    k
}

fn get(range: KeyRange) -> TxnOp {
    TxnOp::Range(RangeSpec {
        range,
        ..RangeSpec::default()
    })
}

/// The oldest key under `prefix` (clientv3's `WithFirstCreate`).
fn first_created(prefix: &[u8]) -> RangeSpec {
    RangeSpec {
        range: KeyRange::prefix(prefix),
        limit: 1,
        sort_order: SortOrder::Ascend,
        sort_target: SortTarget::Create,
        ..RangeSpec::default()
    }
}

fn created_at(key: &[u8], revision: u64) -> Compare {
    Compare {
        range: KeyRange::single(key),
        op: CompareOp::Equal,
        target: CompareTarget::CreateRevision(revision),
    }
}

fn range_reply(op: Option<&OpReply>) -> Result<&RangeReply, Error> {
    match op {
        Some(OpReply::Range(r)) => Ok(r),
        other => Err(Error::Internal(format!(
            "expected a range reply, got {other:?}"
        ))),
    }
}

#[derive(Clone)]
pub struct Recipes {
    store: EtcdStore,
}

impl Recipes {
    pub fn new(store: EtcdStore) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &EtcdStore {
        &self.store
    }

    /// Joins the line under `prefix` with `value` (creating the key, or finding it from an
    /// earlier call with the same lease) and waits until it is the oldest. `reput_value`: if
    /// the key already existed with another value, write `value` (an election's re-campaign
    /// proclaims). Dropping the future while it waits deletes the key, so a caller that gave
    /// up does not block the line (etcd's servers do the same on cancellation).
    pub async fn acquire(
        &self,
        prefix: &[u8],
        lease: u64,
        value: &[u8],
        reput_value: bool,
    ) -> Result<Owned, Error> {
        let key = if lease == 0 {
            // No lease, no session identity to reuse the key by: a key of its own (the '-'
            // keeps it apart from every lease-named key), or two callers would share one.
            let mut k = prefix.to_vec();
            k.extend_from_slice(format!("nolease-{:016x}", rand::random::<u64>()).as_bytes());
            k
        } else {
            key_for(prefix, lease)
        };
        let cmd = TxnCommand {
            compare: vec![created_at(&key, 0)],
            success: vec![
                TxnOp::Put(PutOp {
                    key: key.clone(),
                    value: value.to_vec(),
                    lease,
                    prev_kv: false,
                    ignore_value: false,
                    ignore_lease: false,
                }),
                TxnOp::Range(first_created(prefix)),
            ],
            failure: vec![
                get(KeyRange::single(key.clone())),
                TxnOp::Range(first_created(prefix)),
            ],
        };
        let (revision, reply) = self.store.txn(cmd).await?;
        let mut create_revision = revision;
        if !reply.succeeded {
            let mine = range_reply(reply.responses.first())?
                .kvs
                .first()
                // Deleted between the compare and the read cannot happen inside one txn.
                .ok_or_else(|| Error::internal("own key missing after a failed create"))?;
            create_revision = mine.record.create_revision;
            if reput_value && mine.record.value != value {
                self.proclaim(&key, create_revision, value).await?;
            }
        }
        let owned = Owned {
            key,
            create_revision,
            revision,
        };
        let owner = range_reply(reply.responses.get(1))?
            .kvs
            .first()
            .map(|kv| kv.record.create_revision);
        if owner.is_none_or(|rev| rev == create_revision) {
            return Ok(owned);
        }
        let cleanup = DeleteOnDrop {
            store: Some(self.store.clone()),
            key: owned.key.clone(),
            create_revision,
        };
        let revision = self
            .wait_deletes(prefix, create_revision - 1, revision)
            .await?;
        cleanup.disarm();
        Ok(Owned { revision, ..owned })
    }

    /// Waits until no key under `prefix` has a create revision at or below `max_create`
    /// (clientv3's `waitDeletes`), reading this node's state from `from` on. Returns the
    /// revision at which that was seen.
    async fn wait_deletes(&self, prefix: &[u8], max_create: u64, from: u64) -> Result<u64, Error> {
        self.store.applied(from).await?;
        loop {
            let spec = RangeSpec {
                range: KeyRange::prefix(prefix),
                limit: 1,
                sort_order: SortOrder::Descend,
                sort_target: SortTarget::Create,
                max_create_revision: max_create,
                ..RangeSpec::default()
            };
            let (reply, mut current) = self.store.local_range(&spec, 0)?;
            let Some(blocker) = reply.kvs.into_iter().next() else {
                return Ok(current);
            };
            // Wait for that key (the newest one ahead) to go, then look again.
            while self.still_there(&blocker)? {
                current = self.store.changed_after(current).await?;
            }
        }
    }

    fn still_there(&self, kv: &KeyValue) -> Result<bool, Error> {
        let (reply, _) = self.store.local_range(
            &RangeSpec {
                range: KeyRange::single(kv.key.clone()),
                ..RangeSpec::default()
            },
            0,
        )?;
        Ok(reply
            .kvs
            .first()
            .is_some_and(|now| now.record.create_revision == kv.record.create_revision))
    }

    /// Writes `value` to `key` if it is still the one created at `create_revision` (keeping
    /// its lease). Err FailedPrecondition "not leader" otherwise.
    pub async fn proclaim(
        &self,
        key: &[u8],
        create_revision: u64,
        value: &[u8],
    ) -> Result<u64, Error> {
        let cmd = TxnCommand {
            compare: vec![created_at(key, create_revision)],
            success: vec![TxnOp::Put(PutOp {
                key: key.to_vec(),
                value: value.to_vec(),
                lease: 0,
                prev_kv: false,
                ignore_value: false,
                ignore_lease: true,
            })],
            failure: Vec::new(),
        };
        let (revision, reply) = self.store.txn(cmd).await?;
        if reply.succeeded {
            Ok(revision)
        } else {
            Err(EtcdError::ElectionNotLeader.into())
        }
    }

    /// Deletes `key` if it is still the one created at `create_revision`; the revision.
    pub async fn release(&self, key: &[u8], create_revision: u64) -> Result<u64, Error> {
        Ok(self
            .store
            .txn(delete_if_created_at(key, create_revision))
            .await?
            .0)
    }

    /// Deletes `key` whatever it is (etcd's Unlock); the revision.
    pub async fn delete(&self, key: &[u8]) -> Result<u64, Error> {
        let cmd = TxnCommand::delete(KeyRange::single(key), false);
        Ok(self.store.txn(cmd).await?.0)
    }

    /// The current owner under `prefix` (the oldest key) at this node's state, and the
    /// revision read.
    pub fn owner(&self, prefix: &[u8]) -> Result<(Option<KeyValue>, u64), Error> {
        let (reply, revision) = self.store.local_range(&first_created(prefix), 0)?;
        Ok((reply.kvs.into_iter().next(), revision))
    }
}

fn delete_if_created_at(key: &[u8], create_revision: u64) -> TxnCommand {
    TxnCommand {
        compare: vec![created_at(key, create_revision)],
        success: vec![TxnOp::DeleteRange {
            range: KeyRange::single(key),
            prev_kv: false,
        }],
        failure: Vec::new(),
    }
}

/// Deletes a waiter's key if its wait is abandoned (the future dropped, e.g. the client
/// canceled the RPC), unless disarmed.
struct DeleteOnDrop {
    store: Option<EtcdStore>,
    key: Vec<u8>,
    create_revision: u64,
}

impl DeleteOnDrop {
    fn disarm(mut self) {
        self.store = None;
    }
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let cmd = delete_if_created_at(&self.key, self.create_revision);
            // Best effort: if this fails too, the key's lease still ends it.
            tokio::spawn(crate::auth::caller::inherit(async move {
                if let Err(e) = store.txn(cmd).await {
                    tracing::warn!(error = %e, "could not delete an abandoned lock/candidate key");
                }
            }));
        }
    }
}
