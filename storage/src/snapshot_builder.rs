//! `SnapshotBuilder`: writes a snapshot file from a point-in-time copy of the state machine.
//!
//! sled 0.34 has no read snapshots, so a consistent view is taken by copying every record
//! while the state machine task is inside `get_snapshot_builder` (openraft runs nothing else
//! on that task meanwhile, so no apply interleaves). The copy is cheap-ish because sled's
//! `IVec` values share their buffers (reference counted), but it does cost memory in
//! proportion to the number of records for the duration of the build. In exchange the slow
//! part (compressing, writing, fsyncing) runs on a blocking thread while apply continues.

use std::io;
use std::sync::Arc;

use cairn_raft::types::{Snapshot, SnapshotMeta};
use cairn_raft::{SnapshotFile, TypeConfig};
use openraft::storage::RaftSnapshotBuilder;

use crate::error::StorageError;
use crate::keyspace::{Space, Trees, meta_key};
use crate::load::read_applied;
use crate::snapshot::{SnapshotWriter, remove_file_if_exists};
use crate::snapshot_dir::SnapshotDir;

type Records = Vec<(Space, sled::IVec, sled::IVec)>;

pub struct SnapshotBuilder {
    // `get_snapshot_builder` cannot fail, so a capture error is carried to `build_snapshot`.
    captured: Result<(SnapshotMeta, Arc<Records>), String>,
    dir: Arc<SnapshotDir>,
}

impl SnapshotBuilder {
    pub(crate) fn capture(trees: &Trees, dir: Arc<SnapshotDir>) -> Self {
        Self {
            captured: capture(trees).map_err(|e| e.to_string()),
            dir,
        }
    }

    /// A builder whose capture failed; `build_snapshot` reports `reason`.
    pub(crate) fn failed(reason: String, dir: Arc<SnapshotDir>) -> Self {
        Self {
            captured: Err(reason),
            dir,
        }
    }
}

fn capture(trees: &Trees) -> Result<(SnapshotMeta, Arc<Records>), StorageError> {
    let (last_log_id, last_membership) = read_applied(trees)?;
    let meta = SnapshotMeta {
        last_log_id,
        last_membership,
    };
    let mut records = Vec::new();
    for space in Space::ALL {
        for item in trees.get(space).iter() {
            let (k, v) = item?;
            if space == Space::Meta && k == meta_key::INSTALL_MARKER {
                continue;
            }
            records.push((space, k, v));
        }
    }
    Ok((meta, Arc::new(records)))
}

fn write(
    dir: &SnapshotDir,
    meta: &SnapshotMeta,
    records: &Records,
) -> Result<Snapshot, StorageError> {
    let tmp = dir.tmp_path(meta);
    let written = (|| {
        let mut w = SnapshotWriter::create(&tmp, meta, dir.keys())?;
        for (space, k, v) in records {
            w.write_record(*space, k, v)?;
        }
        w.finish()
    })();
    let staged = match written {
        Ok(p) => p,
        Err(e) => {
            // Best effort: a leftover .tmp is also removed on the next open.
            let _ = remove_file_if_exists(&tmp);
            return Err(e);
        }
    };
    // Durable (file and directory fsynced) before returning: openraft purges the log
    // behind a built snapshot.
    // If a newer snapshot was installed meanwhile, that one is what we report.
    let published = dir.publish(meta, &staged)?;
    Ok(Snapshot {
        meta: published.meta,
        snapshot: SnapshotFile {
            path: published.path,
        },
    })
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (meta, records) = self.captured.clone().map_err(io::Error::other)?;
        let dir = self.dir.clone();
        let snapshot = tokio::task::spawn_blocking(move || write(&dir, &meta, &records))
            .await
            .map_err(StorageError::from)??;
        tracing::info!(meta = %snapshot.meta, path = %snapshot.snapshot.path.display(), "snapshot built");
        Ok(snapshot)
    }
}
