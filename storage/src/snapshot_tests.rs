//! Snapshot files end to end: build, install elsewhere, corruption and truncation detection.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cairn_raft::SnapshotFile;
use cairn_raft::types::Snapshot;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};

use crate::StateMachineStore;
use crate::error::StorageError;
use crate::snapshot;
use crate::test_util::{delete, membership, normal, put, req, temp_store};

async fn populate(sm: &StateMachineStore) {
    let mut entries = vec![membership(1)];
    for i in 0..200u64 {
        let session = format!("c{}", i % 3);
        let command = if i % 10 == 9 {
            delete(&format!("key/{}", i - 1), None)
        } else {
            put(&format!("key/{i}"), &"v".repeat(i as usize), None)
        };
        entries.push(normal(i + 2, req(command, 1_000 + i, Some((&session, i)))));
    }
    sm.apply_batch(&entries).unwrap();
}

async fn build(sm: &mut StateMachineStore) -> Snapshot {
    let mut b = sm.get_snapshot_builder().await;
    b.build_snapshot().await.unwrap()
}

fn snap_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn round_trip_into_fresh_store() {
    let (_d1, _l1, mut leader) = temp_store().await;
    let (_d2, _l2, mut follower) = temp_store().await;
    populate(&leader).await;
    let snap = build(&mut leader).await;
    assert_eq!(snap.meta.last_log_id.map(|l| l.index()), Some(201));
    let current = leader.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snap.meta);

    follower
        .install_snapshot(&snap.meta, snap.snapshot.clone())
        .await
        .unwrap();
    assert_eq!(leader.dump(), follower.dump());
    assert_eq!(
        leader.applied_state().await.unwrap(),
        follower.applied_state().await.unwrap()
    );
    assert_eq!(follower.reader().applied_index(), 201);
    let installed = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(installed.meta, snap.meta);
    assert!(installed.snapshot.path.starts_with(follower.snapshot_dir()));
    assert!(
        snap.snapshot.path.exists(),
        "a foreign source file is copied, not moved"
    );
}

#[tokio::test]
async fn incoming_file_is_moved_into_place_and_supersedes_older() {
    let (_d1, _l1, mut leader) = temp_store().await;
    let (_d2, _l2, mut follower) = temp_store().await;
    follower.apply_batch(&[membership(1)]).unwrap();
    let old = build(&mut follower).await;

    populate(&leader).await;
    let snap = build(&mut leader).await;
    let incoming = follower.snapshot_dir().join("from-leader.incoming");
    fs::copy(&snap.snapshot.path, &incoming).unwrap();
    follower
        .install_snapshot(&snap.meta, SnapshotFile { path: incoming })
        .await
        .unwrap();

    let files = snap_files(&follower.snapshot_dir());
    let current = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(files, vec![current.snapshot.path.clone()]);
    assert!(!old.snapshot.path.exists());
    assert_eq!(leader.dump(), follower.dump());
}

#[tokio::test]
async fn rebuilding_replaces_the_previous_file() {
    let (_d, _l, mut sm) = temp_store().await;
    sm.apply_batch(&[membership(1)]).unwrap();
    build(&mut sm).await;
    populate(&sm).await;
    let second = build(&mut sm).await;
    assert_eq!(snap_files(&sm.snapshot_dir()), vec![second.snapshot.path]);
}

fn assert_corrupt(r: Result<impl std::fmt::Debug, StorageError>) {
    match r {
        Err(StorageError::SnapshotCorrupt { .. }) => {}
        other => panic!("expected SnapshotCorrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupt_or_truncated_snapshot_is_rejected_and_state_untouched() {
    let (_d1, _l1, mut leader) = temp_store().await;
    let (_d2, _l2, mut follower) = temp_store().await;
    populate(&leader).await;
    let snap = build(&mut leader).await;
    follower
        .apply_batch(&[normal(1, req(put("mine", "x", None), 5, None))])
        .unwrap();
    let before = follower.dump();
    let bytes = fs::read(&snap.snapshot.path).unwrap();

    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("flipped", flipped),
        ("truncated-tail", bytes[..bytes.len() - 5].to_vec()),
        ("truncated-half", bytes[..bytes.len() / 2].to_vec()),
        ("empty", Vec::new()),
    ];
    for (name, content) in cases {
        let path = follower.snapshot_dir().join(format!("{name}.incoming"));
        fs::write(&path, content).unwrap();
        assert_corrupt(snapshot::verify(&path, None));
        let err = follower
            .install_snapshot(&snap.meta, SnapshotFile { path })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{name}: {err}");
        assert_eq!(follower.dump(), before, "{name}: state must be untouched");
        assert!(follower.reader().get(b"mine").unwrap().is_some());
    }
    assert!(follower.get_current_snapshot().await.unwrap().is_none());
}

#[tokio::test]
async fn snapshot_for_other_meta_is_rejected() {
    let (_d1, _l1, mut leader) = temp_store().await;
    let (_d2, _l2, mut follower) = temp_store().await;
    populate(&leader).await;
    let snap = build(&mut leader).await;
    let mut meta = snap.meta.clone();
    meta.last_log_id = Some(openraft::testing::log_id::<cairn_raft::TypeConfig>(
        9, 9, 999,
    ));
    let err = follower
        .install_snapshot(&meta, snap.snapshot)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}
