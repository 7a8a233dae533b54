//! The `snapshots/` directory: canonical file names, which snapshot is current, publishing a
//! new one (rename + directory fsync) and removing superseded, interrupted or corrupt files.
//!
//! Names: `snapshot-<N>.snap` with N = last_log_id.index + 1 (0 for an empty state), zero-padded
//! so name order is log order. `*.tmp` are snapshots being written here; `*.incoming` are files
//! the peer transport is receiving. Both are leftovers after a crash and are removed on open.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_raft::types::SnapshotMeta;

use crate::error::StorageError;
use crate::seal::KeyRing;
use crate::snapshot::{self, fsync_dir, remove_file_if_exists};

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";

/// The snapshot `get_current_snapshot` reports.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub(crate) meta: SnapshotMeta,
    pub(crate) path: PathBuf,
}

pub(crate) struct SnapshotDir {
    dir: PathBuf,
    // Guards the current pointer and every rename/delete of canonical files, so a snapshot
    // build finishing concurrently with an install cannot delete the newer one.
    current: Mutex<Option<Current>>,
    tmp_seq: AtomicU64,
    /// Seals the snapshots written here and opens those read (see `seal`).
    keys: Option<Arc<KeyRing>>,
}

fn order_key(meta: &SnapshotMeta) -> u64 {
    meta.last_log_id.as_ref().map_or(0, |l| l.index() + 1)
}

fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .parse()
        .ok()
}

impl SnapshotDir {
    /// Scans `dir`: keeps the newest snapshot that verifies, moves corrupt ones aside
    /// (`.corrupt`, for inspection) and deletes older ones and crash leftovers.
    pub(crate) fn open(dir: &Path, keys: Option<Arc<KeyRing>>) -> Result<Self, StorageError> {
        fs::create_dir_all(dir)?;
        let mut candidates = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".tmp") || name.ends_with(".incoming") {
                tracing::info!(path = %path.display(), "removing interrupted snapshot file");
                remove_file_if_exists(&path)?;
            } else if let Some(key) = parse_name(name) {
                candidates.push((key, path));
            }
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));

        let mut current: Option<Current> = None;
        for (key, path) in candidates {
            if current.is_some() {
                remove_file_if_exists(&path)?;
                continue;
            }
            match snapshot::verify(&path, keys.as_ref()) {
                Ok(meta) if order_key(&meta) == key => current = Some(Current { meta, path }),
                // Not the file's fault: start with the right key file instead.
                Err(e @ StorageError::Encryption(_)) => {
                    tracing::error!(path = %path.display(), error = %e, "snapshot does not open with the configured keys");
                    return Err(e);
                }
                Ok(meta) => {
                    tracing::warn!(path = %path.display(), %meta, "snapshot name does not match its content; moving it aside");
                    fs::rename(&path, path.with_extension("corrupt"))?;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable snapshot; moving it aside");
                    fs::rename(&path, path.with_extension("corrupt"))?;
                }
            }
        }
        fsync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            current: Mutex::new(current),
            tmp_seq: AtomicU64::new(0),
            keys,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Option<Current>>, StorageError> {
        self.current
            .lock()
            .map_err(|_| StorageError::Internal("snapshot directory lock poisoned".into()))
    }

    /// The encryption keys snapshot files here are sealed and opened with.
    pub(crate) fn keys(&self) -> Option<&Arc<KeyRing>> {
        self.keys.as_ref()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn current(&self) -> Result<Option<Current>, StorageError> {
        Ok(self.lock()?.clone())
    }

    pub(crate) fn canonical_path(&self, meta: &SnapshotMeta) -> PathBuf {
        self.dir
            .join(format!("{PREFIX}{:020}{SUFFIX}", order_key(meta)))
    }

    /// A fresh name for writing a snapshot before it is published.
    pub(crate) fn tmp_path(&self, meta: &SnapshotMeta) -> PathBuf {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{PREFIX}{:020}.{seq}.tmp", order_key(meta)))
    }

    /// Makes `staged` (complete and fsynced, inside this directory) the snapshot for `meta`:
    /// renames it to its canonical name, fsyncs the directory, and, unless a newer snapshot
    /// is already current, makes it current and deletes every older one.
    pub(crate) fn publish(
        &self,
        meta: &SnapshotMeta,
        staged: &Path,
    ) -> Result<Current, StorageError> {
        let canonical = self.canonical_path(meta);
        let mut current = self.lock()?;
        if staged != canonical {
            fs::rename(staged, &canonical)?;
        }
        fsync_dir(&self.dir)?;

        let key = order_key(meta);
        if let Some(cur) = current.as_ref()
            && order_key(&cur.meta) > key
        {
            // Built from an older state than a snapshot installed meanwhile: useless.
            remove_file_if_exists(&canonical)?;
            return Ok(cur.clone());
        }
        let published = Current {
            meta: meta.clone(),
            path: canonical,
        };
        *current = Some(published.clone());
        self.remove_older_than(key)?;
        Ok(published)
    }

    fn remove_older_than(&self, key: u64) -> Result<(), StorageError> {
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let older = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_name)
                .is_some_and(|k| k < key);
            if older {
                // A transport still streaming it keeps its open file descriptor valid.
                remove_file_if_exists(&path)?;
            }
        }
        Ok(())
    }
}
