//! Loading a verified snapshot file into the sled trees (snapshot install and startup
//! recovery), and reading sled's applied state. Streaming, in bounded batches; crash safety
//! comes from the install marker: a node that finds it set on open rebuilds sled.

use std::path::Path;
use std::sync::Arc;

use cairn_model::codec;
use cairn_raft::types::{LogId, SnapshotMeta, StoredMembership};

use crate::error::StorageError;
use crate::keyspace::{Space, Trees, meta_key};
use crate::seal::KeyRing;
use crate::snapshot::SnapshotReader;

/// Records (or bytes) per sled batch while loading: bounds memory, keeps sled's log moving.
const LOAD_BATCH_RECORDS: usize = 4096;
const LOAD_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// sled's last applied log id and membership.
pub(crate) fn read_applied(
    trees: &Trees,
) -> Result<(Option<LogId>, StoredMembership), StorageError> {
    let meta = trees.get(Space::Meta);
    let last = match meta.get(meta_key::LAST_APPLIED)? {
        Some(v) => Some(codec::decode(&v)?),
        None => None,
    };
    let membership = match meta.get(meta_key::MEMBERSHIP)? {
        Some(v) => codec::decode(&v)?,
        None => StoredMembership::default(),
    };
    Ok((last, membership))
}

pub(crate) fn install_marker_set(trees: &Trees) -> Result<bool, StorageError> {
    Ok(trees
        .get(Space::Meta)
        .contains_key(meta_key::INSTALL_MARKER)?)
}

/// Replaces the whole state machine with the snapshot at `path` (already verified).
pub(crate) fn load_snapshot(
    trees: &Trees,
    path: &Path,
    expected: &SnapshotMeta,
    keys: Option<&Arc<KeyRing>>,
) -> Result<(), StorageError> {
    let mut reader = SnapshotReader::open(path, keys)?;
    if reader.meta != *expected {
        return Err(StorageError::corrupt(
            path,
            format!("holds snapshot {}, expected {expected}", reader.meta),
        ));
    }

    let meta_tree = trees.get(Space::Meta);
    meta_tree.insert(meta_key::INSTALL_MARKER, &[1u8][..])?;
    // sled recovers a prefix of its writes, so once anything below is on disk the marker is.
    trees.db().flush()?;

    for space in Space::ALL {
        if space == Space::Meta {
            // Clear everything but the marker.
            for key in meta_tree.iter().keys() {
                let key = key?;
                if key != meta_key::INSTALL_MARKER {
                    meta_tree.remove(key)?;
                }
            }
        } else {
            trees.get(space).clear()?;
        }
    }

    let mut batches: Vec<sled::Batch> = Space::ALL.iter().map(|_| sled::Batch::default()).collect();
    let (mut records, mut bytes) = (0usize, 0usize);
    while let Some(rec) = reader.next_record()? {
        if rec.space == Space::Meta && rec.key == meta_key::INSTALL_MARKER {
            continue;
        }
        records += 1;
        bytes += rec.key.len() + rec.value.len();
        batches[rec.space as usize].insert(rec.key, rec.value);
        if records >= LOAD_BATCH_RECORDS || bytes >= LOAD_BATCH_BYTES {
            apply_batches(trees, &mut batches)?;
            (records, bytes) = (0, 0);
        }
    }
    apply_batches(trees, &mut batches)?;

    match &expected.last_log_id {
        Some(id) => meta_tree.insert(meta_key::LAST_APPLIED, codec::encode(id)?)?,
        None => meta_tree.remove(meta_key::LAST_APPLIED)?,
    };
    meta_tree.insert(
        meta_key::MEMBERSHIP,
        codec::encode(&expected.last_membership)?,
    )?;
    meta_tree.remove(meta_key::INSTALL_MARKER)?;
    trees.db().flush()?;
    Ok(())
}

fn apply_batches(trees: &Trees, batches: &mut [sled::Batch]) -> Result<(), StorageError> {
    for (space, batch) in Space::ALL.iter().zip(batches.iter_mut()) {
        trees.get(*space).apply_batch(std::mem::take(batch))?;
    }
    Ok(())
}
