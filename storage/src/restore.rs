//! Seeding a new data directory from a backup (a snapshot file streamed by the Admin service):
//! the state is copied record by record into a fresh snapshot whose metadata names the *new*
//! cluster's members, so `cairn serve` on that directory starts a new cluster holding the
//! same data.
//!
//! The new snapshot keeps the backup's last log index (revisions stay monotonic: every new
//! write gets a revision above every restored one) but moves it to term 0. A fresh node's vote
//! is term 0, and its first election then reaches term 1, above every restored log id; keeping
//! the old cluster's term would let new entries sort below restored ones. Every member of the
//! new cluster is restored from the same backup with the same member list, so all start from
//! identical state and the same last log id.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_raft::types::{LogId, SnapshotMeta, StoredMembership};
use cairn_raft::{NodeId, NodeInfo};
use openraft::Membership;
use openraft::vote::RaftLeaderId;

use crate::error::StorageError;
use crate::keyspace::{Space, meta_key};
use crate::seal::KeyRing;
use crate::snapshot::{self, SnapshotReader, SnapshotWriter, remove_file_if_exists};
use crate::snapshot_dir::SnapshotDir;

/// Why a restore did not happen. In every case nothing was written to the target directory
/// (or what was started there has been removed again).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The backup failed its checksum, is truncated, or is not a Cairn snapshot.
    #[error("backup is corrupt or truncated: {0}")]
    Corrupt(StorageError),
    /// The target directory already holds files: a restore never overwrites data.
    #[error("data directory {0} is not empty; restore only seeds a new, empty directory")]
    NotEmpty(PathBuf),
    /// The member list is empty, lacks this node, or has a zero id.
    #[error("invalid members: {0}")]
    InvalidMembers(String),
    /// The backup holds no applied state (not even the first membership entry).
    #[error("backup holds no applied entries; nothing to restore")]
    Empty,
    /// The backup is sealed and the key file given lacks its key (or none was given), or
    /// holds a different key under its id.
    #[error("backup cannot be decrypted: {0}")]
    Encryption(crate::seal::SealError),
    #[error("restore failed: {0}")]
    Storage(StorageError),
}

/// What a restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Last log index covered by the backup, and so by the new cluster's first snapshot.
    pub snapshot_index: u64,
    /// The term of that entry in the source cluster.
    pub source_term: u64,
    /// State-machine records copied.
    pub records: u64,
    /// The new snapshot file.
    pub snapshot_path: PathBuf,
}

impl From<StorageError> for RestoreError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Encryption(e) => RestoreError::Encryption(e),
            other => RestoreError::Storage(other),
        }
    }
}

/// Verifies `backup` (nothing is written unless it passes) and seeds `data_dir` (absent or
/// empty) so that node `id` starts a new cluster of `members` holding the backup's state.
/// `keys` opens a sealed backup and seals the new snapshot (the new cluster's nodes then
/// need the same key file).
pub fn restore_backup(
    backup: &Path,
    data_dir: &Path,
    id: NodeId,
    members: &BTreeMap<NodeId, NodeInfo>,
    keys: Option<&Arc<KeyRing>>,
) -> Result<RestoreReport, RestoreError> {
    let source = snapshot::verify(backup, keys).map_err(|e| match e {
        e @ StorageError::SnapshotCorrupt { .. } => RestoreError::Corrupt(e),
        // A file too short to hold a header reads as an I/O "unexpected EOF" in some paths.
        StorageError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            RestoreError::Corrupt(StorageError::corrupt(backup, io.to_string()))
        }
        other => other.into(),
    })?;
    if members.is_empty() || members.contains_key(&0) {
        return Err(RestoreError::InvalidMembers(
            "need at least one member, each with a positive id".into(),
        ));
    }
    if !members.contains_key(&id) {
        return Err(RestoreError::InvalidMembers(format!(
            "node {id} is not in the member list"
        )));
    }
    let last = source.last_log_id.ok_or(RestoreError::Empty)?;
    check_empty(data_dir)?;

    let new_last = LogId::new(
        openraft::impls::leader_id_adv::LeaderId::new(0, last.leader_id.node_id).to_committed(),
        last.index,
    );
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let membership = Membership::new(vec![voters], members.clone())
        .map_err(|e| RestoreError::InvalidMembers(e.to_string()))?;
    let meta = SnapshotMeta {
        last_log_id: Some(new_last),
        last_membership: StoredMembership::new(Some(new_last), membership),
    };

    let result = seed(backup, data_dir, &meta, keys);
    match result {
        Ok((records, snapshot_path)) => Ok(RestoreReport {
            snapshot_index: last.index,
            source_term: last.leader_id.term,
            records,
            snapshot_path,
        }),
        Err(e) => {
            // Leave the directory as we found it (empty), so the operator can simply retry.
            let _ = remove_contents(data_dir);
            Err(e.into())
        }
    }
}

fn check_empty(dir: &Path) -> Result<(), RestoreError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RestoreError::NotEmpty(dir.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::Io(e).into()),
    }
}

fn remove_contents(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Lays out the directory (data version first, as `open` expects) and writes the snapshot.
/// sled is left absent: the first `open` finds it behind the snapshot and loads it.
fn seed(
    backup: &Path,
    data_dir: &Path,
    meta: &SnapshotMeta,
    keys: Option<&Arc<KeyRing>>,
) -> Result<(u64, PathBuf), StorageError> {
    fs::create_dir_all(data_dir)?;
    crate::store::check_or_init_version(data_dir)?;
    let snapshots = SnapshotDir::open(&data_dir.join("snapshots"), keys.cloned())?;
    let tmp = snapshots.tmp_path(meta);
    let written = copy_records(backup, &tmp, meta, keys);
    let (records, staged) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = remove_file_if_exists(&tmp);
            return Err(e);
        }
    };
    let published = snapshots.publish(meta, &staged)?;
    // Re-read what we wrote: a restore that cannot be loaded must fail here, not at start.
    let check = snapshot::verify(&published.path, keys)?;
    if check != *meta {
        return Err(StorageError::corrupt(
            &published.path,
            "restored snapshot does not read back as written",
        ));
    }
    Ok((records, published.path))
}

/// The restored cluster's id: a new one, but the same on every member restored from the same
/// backup with the same member list (each member runs its own restore). FNV-1a over the
/// snapshot meta, which holds both.
fn new_cluster_id(meta: &SnapshotMeta) -> u64 {
    let text = format!("restored {meta:?}");
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h.max(1)
}

/// Copies every record except the Raft bookkeeping the new cluster replaces (last applied,
/// membership, a stray install marker, the cluster id); `load_snapshot` writes those from `meta`.
fn copy_records(
    backup: &Path,
    out: &Path,
    meta: &SnapshotMeta,
    keys: Option<&Arc<KeyRing>>,
) -> Result<(u64, PathBuf), StorageError> {
    let mut reader = SnapshotReader::open(backup, keys)?;
    let mut writer = SnapshotWriter::create(out, meta, keys)?;
    let mut records = 0u64;
    while let Some(rec) = reader.next_record()? {
        // The new cluster gets its own id (written below); its members' directories are new
        // (their incarnations are recorded afresh).
        let replaced = rec.space == Space::Meta
            && [
                meta_key::LAST_APPLIED,
                meta_key::MEMBERSHIP,
                meta_key::INSTALL_MARKER,
                meta_key::CLUSTER_ID,
                meta_key::INCARNATIONS,
            ]
            .contains(&rec.key.as_slice());
        if replaced {
            continue;
        }
        writer.write_record(rec.space, &rec.key, &rec.value)?;
        records += 1;
    }
    let id = new_cluster_id(meta);
    writer.write_record(Space::Meta, meta_key::CLUSTER_ID, &id.to_be_bytes())?;
    Ok((records, writer.finish()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::seal::SealError;
    use crate::test_util::{normal, put, req};
    use crate::{StorageConfig, open};
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};

    fn members(ids: &[u64]) -> BTreeMap<NodeId, NodeInfo> {
        ids.iter()
            .map(|i| {
                (
                    *i,
                    NodeInfo {
                        peer_addr: format!("127.0.0.1:{}", 7100 + i),
                        client_addr: format!("127.0.0.1:{}", 7000 + i),
                    },
                )
            })
            .collect()
    }

    /// A snapshot of a store holding keys k1..k3, built the way the leader builds one.
    async fn backup_file(dir: &Path) -> PathBuf {
        backup_file_sealed(dir, None).await
    }

    const SECRET: &str = "value-that-must-not-show-on-disk";

    async fn backup_file_sealed(dir: &Path, keys: Option<Arc<KeyRing>>) -> PathBuf {
        let config = StorageConfig {
            encryption: keys,
            ..StorageConfig::default()
        };
        let (_log, mut sm) = open(dir, config).await.unwrap();
        let entries: Vec<_> = (1..=3)
            .map(|i| normal(i, req(put(&format!("k{i}"), SECRET, None), 1000 + i, None)))
            .collect();
        sm.apply_batch(&entries).unwrap();
        let mut builder = sm.get_snapshot_builder().await;
        let snap = builder.build_snapshot().await.unwrap();
        let out = dir.join("backup.snap");
        fs::copy(&snap.snapshot.path, &out).unwrap();
        out
    }

    #[tokio::test]
    async fn restored_directory_opens_with_the_data_and_new_members() {
        let src = tempfile::tempdir().unwrap();
        let backup = backup_file(src.path()).await;
        let target = tempfile::tempdir().unwrap();
        let data = target.path().join("node-1");
        let report = restore_backup(&backup, &data, 1, &members(&[1, 2, 3]), None).unwrap();
        assert_eq!(report.snapshot_index, 3);
        assert_eq!(report.source_term, 1);

        let (_log, mut sm) = open(&data, StorageConfig::default()).await.unwrap();
        let reader = sm.reader();
        for i in 1..=3 {
            assert!(reader.get(format!("k{i}").as_bytes()).unwrap().is_some());
        }
        let (applied, membership) = sm.applied_state().await.unwrap();
        let applied = applied.unwrap();
        assert_eq!((applied.leader_id.term, applied.index), (0, 3));
        let voters: BTreeSet<u64> = membership.membership().voter_ids().collect();
        assert_eq!(voters, BTreeSet::from([1, 2, 3]));
    }

    fn keys(text: &str) -> Arc<KeyRing> {
        Arc::new(KeyRing::parse(text).unwrap())
    }

    #[tokio::test]
    async fn sealed_backups_hold_no_plaintext_and_restore_only_with_their_key() {
        let k1 = "1 0101010101010101010101010101010101010101010101010101010101010101";
        let k2 = "2 0202020202020202020202020202020202020202020202020202020202020202";
        let src = tempfile::tempdir().unwrap();
        let backup = backup_file_sealed(src.path(), Some(keys(k1))).await;
        let bytes = fs::read(&backup).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
        // The plain build of the same state does show it (the check above can fail).
        let plain_src = tempfile::tempdir().unwrap();
        let plain = fs::read(backup_file(plain_src.path()).await).unwrap();
        let unpacked = zstd::stream::decode_all(&plain[..plain.len() - 12]).unwrap();
        assert!(
            unpacked
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes())
        );

        let target = tempfile::tempdir().unwrap();
        let data = target.path().join("node");
        let wrong = "1 0909090909090909090909090909090909090909090909090909090909090909";
        for (given, expected) in [
            (None, SealError::NoKeyFile(1)),
            (Some(keys(k2)), SealError::MissingKey(1)),
            (Some(keys(wrong)), SealError::Open(1)),
        ] {
            let e = restore_backup(&backup, &data, 1, &members(&[1]), given.as_ref()).unwrap_err();
            match e {
                RestoreError::Encryption(got) => assert_eq!(got, expected),
                other => panic!("{other:?}"),
            }
            assert!(!data.exists(), "a refused restore left {data:?} behind");
        }
        // Rotated key file (new key first, the backup's key kept): restores, and the new
        // directory opens with it and holds the data.
        let rotated = keys(&format!("{k2}\n{k1}\n"));
        restore_backup(&backup, &data, 1, &members(&[1]), Some(&rotated)).unwrap();
        let config = StorageConfig {
            encryption: Some(rotated),
            ..StorageConfig::default()
        };
        let (_log, sm) = open(&data, config).await.unwrap();
        assert_eq!(
            sm.reader().get(b"k2").unwrap().unwrap().value,
            SECRET.as_bytes()
        );
        drop(sm);
        // Without the key, the node refuses to start (and leaves its snapshot alone).
        let e = open(&data, StorageConfig::default()).await.err().unwrap();
        assert!(
            matches!(e, StorageError::Encryption(SealError::NoKeyFile(2))),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn corrupt_or_truncated_backups_write_nothing() {
        let src = tempfile::tempdir().unwrap();
        let backup = backup_file(src.path()).await;
        let bytes = fs::read(&backup).unwrap();
        let target = tempfile::tempdir().unwrap();

        let truncated = src.path().join("truncated.snap");
        fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 3] ^= 0x40;
        let corrupt = src.path().join("corrupt.snap");
        fs::write(&corrupt, &flipped).unwrap();
        let tiny = src.path().join("tiny.snap");
        fs::write(&tiny, b"abc").unwrap();

        for bad in [&truncated, &corrupt, &tiny] {
            let data = target.path().join("node");
            let e = restore_backup(bad, &data, 1, &members(&[1]), None).unwrap_err();
            assert!(matches!(e, RestoreError::Corrupt(_)), "{bad:?}: {e:?}");
            assert!(!data.exists(), "{bad:?} left {data:?} behind");
        }
    }

    #[tokio::test]
    async fn refuses_non_empty_dirs_and_bad_members() {
        let src = tempfile::tempdir().unwrap();
        let backup = backup_file(src.path()).await;
        let target = tempfile::tempdir().unwrap();
        fs::write(target.path().join("something"), b"x").unwrap();
        let e = restore_backup(&backup, target.path(), 1, &members(&[1]), None).unwrap_err();
        assert!(matches!(e, RestoreError::NotEmpty(_)), "{e:?}");
        let data = target.path().join("fresh");
        let e = restore_backup(&backup, &data, 4, &members(&[1, 2]), None).unwrap_err();
        assert!(matches!(e, RestoreError::InvalidMembers(_)), "{e:?}");
        assert!(!data.exists());
    }
}
