//! Counting what each namespace holds, once, for data written before apply counted it
//! (a data directory or snapshot from an older build). Apply keeps the counts exact from
//! then on (see `machine::namespace_store`). Usage is a pure function of the state, so
//! replicas that count at different log indexes still agree at every index.

use std::collections::{BTreeMap, HashMap};

use cairn_model::checkpoint::CheckpointRecord;
use cairn_model::codec;
use cairn_model::workflow::WorkflowRecord;
use cairn_model::workflow::quota::NamespaceQuota;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees, meta_key};

/// Counts usage by a scan unless the state says it is counted already.
pub(crate) fn ensure_counted(trees: &Trees) -> Result<(), StorageError> {
    let meta = trees.get(Space::Meta);
    if meta.contains_key(meta_key::NAMESPACE_USAGE)? {
        return Ok(());
    }
    let mut namespace_of = HashMap::new();
    let mut quotas: BTreeMap<String, NamespaceQuota> = BTreeMap::new();
    for item in trees.get(Space::Workflows).iter() {
        let (_, v) = item?;
        let rec: WorkflowRecord = codec::decode(&v)?;
        quotas
            .entry(rec.namespace.clone())
            .or_default()
            .usage
            .workflows += 1;
        namespace_of.insert(rec.id, rec.namespace);
    }
    for item in trees.get(Space::Checkpoints).iter() {
        let (_, v) = item?;
        let rec: CheckpointRecord = codec::decode(&v)?;
        if let Some(ns) = namespace_of.get(&rec.workflow_id) {
            let q = quotas.entry(ns.clone()).or_default();
            q.usage.checkpoint_bytes = q.usage.checkpoint_bytes.saturating_add(rec.stored_size);
        }
    }
    let tree = trees.get(Space::Namespaces);
    // Limits can exist only where usage was counted, so there is nothing here to keep.
    tree.clear()?;
    let mut batch = sled::Batch::default();
    for (ns, q) in &quotas {
        batch.insert(ns.as_bytes(), codec::encode(q)?);
    }
    tree.apply_batch(batch)?;
    meta.insert(meta_key::NAMESPACE_USAGE, &[1u8][..])?;
    trees.db().flush()?;
    tracing::info!(namespaces = quotas.len(), "counted namespace usage");
    Ok(())
}
