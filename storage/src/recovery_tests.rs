//! Opening and repairing: data version checks, and rebuilding a lost or half-installed state
//! machine from the newest snapshot plus the log, through openraft's own startup path.

use std::fs;
use std::time::Duration;

use cairn_raft::types::Entry;
use openraft::StorageHelper;
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use tempfile::TempDir;

use crate::error::StorageError;
use crate::keyspace::{Space, meta_key};
use crate::test_util::{Dump, append_durably, membership, normal, open_in, put, req};
use crate::{LogStore, StateMachineStore, StorageConfig};

fn workload() -> Vec<Entry> {
    // openraft logs start at index 0 (the initial membership).
    let mut entries = vec![membership(0)];
    for i in 1..=59u64 {
        let key = format!("k{}", i % 13);
        let session = format!("s{}", i % 4);
        entries.push(normal(
            i,
            req(
                put(&key, &i.to_string(), None),
                i * 100,
                Some((&session, i)),
            ),
        ));
    }
    entries
}

/// Log holds all of `workload` (0..=59), committed; sled applied all; snapshot at index 29.
async fn prepared() -> (TempDir, Dump) {
    let dir = TempDir::new().unwrap();
    let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
    let entries = workload();
    append_durably(&mut log, entries.clone()).await;
    log.save_committed(Some(entries[59].log_id)).await.unwrap();
    sm.apply_batch(&entries[..30]).unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    sm.apply_batch(&entries[30..]).unwrap();
    let dump = sm.dump();
    drop((log, sm));
    wait_for_sled_lock(&dir.path().join("sm"));
    (dir, dump)
}

/// Returns once the state machine's sled directory can be opened again: the store's last
/// handles (a background flush or snapshot thread) may let go of its file lock a moment after
/// the store is dropped, and a test that reopens it at once then failed with WouldBlock.
fn wait_for_sled_lock(path: &std::path::Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return drop(db),
            Err(e) if std::time::Instant::now() >= deadline => {
                panic!("sled at {} still locked after 10 s: {e}", path.display())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Runs openraft's startup (restore snapshot, re-apply log up to committed).
async fn start(log: &mut LogStore, sm: &mut StateMachineStore) {
    StorageHelper::new(log, sm)
        .with_id(1)
        .get_initial_state()
        .await
        .unwrap();
}

#[tokio::test]
async fn sled_deleted_is_rebuilt_from_snapshot_and_log() {
    let (dir, expected) = prepared().await;
    fs::remove_dir_all(dir.path().join("sm")).unwrap();

    let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
    // open() already loaded the snapshot; openraft re-applies the rest from the log.
    assert_eq!(sm.reader().applied_index(), 29);
    start(&mut log, &mut sm).await;
    assert_eq!(sm.reader().applied_index(), 59);
    assert_eq!(sm.dump(), expected);
}

#[tokio::test]
async fn interrupted_install_is_moved_aside_and_rebuilt() {
    let (dir, expected) = prepared().await;
    {
        // Simulate a crash in the middle of loading a snapshot.
        let db = sled::open(dir.path().join("sm")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert(meta_key::INSTALL_MARKER, &[1u8][..]).unwrap();
        db.open_tree("kv").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
    assert!(dir.path().join("sm.broken-0").is_dir());
    start(&mut log, &mut sm).await;
    assert_eq!(sm.dump(), expected);
    assert!(
        !sm.trees()
            .get(Space::Meta)
            .contains_key(meta_key::INSTALL_MARKER)
            .unwrap()
    );
}

#[tokio::test]
async fn sled_from_another_boot_is_rebuilt_from_snapshot_and_log() {
    let now = crate::store::boot_id().expect("this test needs Linux's boot_id");
    let (dir, expected) = prepared().await;
    // As if the machine had restarted since sled was last open: its unsynced writes may be
    // torn, so it must not be trusted even though it opens.
    fs::write(dir.path().join("sm.boot"), "an-earlier-boot\n").unwrap();

    let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
    assert_eq!(
        sm.reader().applied_index(),
        29,
        "sled rebuilt from the snapshot"
    );
    start(&mut log, &mut sm).await;
    assert_eq!(sm.reader().applied_index(), 59);
    assert_eq!(sm.dump(), expected);
    let recorded = fs::read_to_string(dir.path().join("sm.boot")).unwrap();
    assert_eq!(recorded.trim(), now);
}

/// A leader applies what a quorum of others made durable, maybe before its own log write
/// lands; killed then, sled (kept by the page cache) is ahead of its log. A chaos run found a
/// node that then could not start (openraft's engine asserted: it purges the log up to the
/// applied entry, past the snapshot). Without `drop_sled_ahead_of_log` this test sees sled
/// at 59 where the node's own files hold 39.
#[tokio::test]
async fn sled_ahead_of_the_log_is_rebuilt_from_snapshot_and_log() {
    let dir = TempDir::new().unwrap();
    let entries = workload();
    {
        let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
        append_durably(&mut log, entries[..40].to_vec()).await;
        log.save_committed(Some(entries[39].log_id)).await.unwrap();
        sm.apply_batch(&entries[..20]).unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        // Entries 40..=59 applied but never written to this node's log.
        sm.apply_batch(&entries[20..]).unwrap();
        assert_eq!(sm.reader().applied_index(), 59);
    }
    wait_for_sled_lock(&dir.path().join("sm"));

    let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
    assert_eq!(sm.reader().applied_index(), 19, "rebuilt from the snapshot");
    start(&mut log, &mut sm).await;
    assert_eq!(sm.reader().applied_index(), 39, "re-applied from the log");
    // The rest comes from the leader again, to the same state as before.
    sm.apply_batch(&entries[40..]).unwrap();
    let (_d, _l, whole) = crate::test_util::temp_store().await;
    whole.apply_batch(&entries).unwrap();
    assert_eq!(sm.dump(), whole.dump());
}

#[tokio::test]
async fn restart_with_intact_sled_keeps_state() {
    let (dir, expected) = prepared().await;
    let (mut log, mut sm) = open_in(&dir, StorageConfig::default()).await;
    // Same boot: sled is trusted as it is, nothing reloaded.
    assert_eq!(sm.reader().applied_index(), 59);
    start(&mut log, &mut sm).await;
    assert_eq!(sm.dump(), expected);
    assert_eq!(
        sm.applied_state().await.unwrap().0.map(|l| l.index()),
        Some(59)
    );
}

#[tokio::test]
async fn data_version_mismatch_is_rejected() {
    let dir = TempDir::new().unwrap();
    drop(open_in(&dir, StorageConfig::default()).await);
    fs::write(dir.path().join("VERSION"), "99\n").unwrap();
    match crate::open(dir.path(), StorageConfig::default()).await {
        Err(StorageError::DataVersion {
            found: Some(99),
            expected: crate::DATA_VERSION,
        }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a directory of another data version"),
    }

    // Data without a VERSION file is not ours either.
    fs::remove_file(dir.path().join("VERSION")).unwrap();
    match crate::open(dir.path(), StorageConfig::default()).await {
        Err(StorageError::DataVersion { found: None, .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened an unversioned data directory"),
    }
}

/// The newest snapshot unusable, sled gone and the log purged past what remains: the store
/// refuses to open instead of silently skipping the purged entries.
#[tokio::test]
async fn purged_log_without_a_covering_state_is_refused() {
    let (dir, _) = prepared().await;
    {
        let (mut log, _sm) = open_in(&dir, StorageConfig::default()).await;
        log.purge(workload()[40].log_id).await.unwrap();
        // Make the purge durable: the next append's flush covers it.
        append_durably(&mut log, vec![]).await;
    }
    fs::remove_dir_all(dir.path().join("sm")).unwrap();
    for f in fs::read_dir(dir.path().join("snapshots")).unwrap() {
        fs::remove_file(f.unwrap().path()).unwrap();
    }
    match crate::open(dir.path(), StorageConfig::default()).await {
        Err(StorageError::LogGap { purged, applied }) => assert_eq!((purged, applied), (40, 0)),
        Err(e) => panic!("expected LogGap, got {e}"),
        Ok(_) => panic!("expected LogGap, the store opened"),
    }
}
