//! Tests of the fsynced Raft log: acks only after fsync, group commit, byte-bounded replication
//! reads, and truncate/purge keeping the log contiguous.

use std::time::Duration;

use cairn_raft::TypeConfig;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;
use tempfile::TempDir;

use crate::StorageConfig;
use crate::test_util::{blank, membership, open_in};

#[tokio::test]
async fn append_acks_only_after_fsync_and_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let (mut log, sm) = open_in(&dir, StorageConfig::default()).await;
    let vote = cairn_raft::types::Vote::new_committed(3, 1);
    log.save_vote(&vote).await.unwrap();
    let synced_before = log.synced_flush_batches().unwrap();

    let (tx, rx) = TypeConfig::oneshot();
    log.append([membership(0), blank(1), blank(2)], IOFlushed::signal(tx))
        .await
        .unwrap();
    // Readable as soon as append returns, before the flush is acknowledged.
    let mut reader = log.get_log_reader().await;
    assert_eq!(reader.try_get_log_entries(0..3).await.unwrap().len(), 3);

    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("flush callback within deadline")
        .unwrap()
        .unwrap();
    // The FlushWorker records a synced batch before it fires that batch's callbacks.
    assert!(log.synced_flush_batches().unwrap() > synced_before);

    log.save_committed(Some(log_id::<TypeConfig>(1, 1, 2)))
        .await
        .unwrap();
    log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 2)))
        .await
        .unwrap();
    drop((log, reader, sm));

    let (mut log, _sm) = open_in(&dir, StorageConfig::default()).await;
    let mut reader = log.get_log_reader().await;
    assert_eq!(reader.read_vote().await.unwrap(), Some(vote));
    let entries = reader.try_get_log_entries(..).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.log_id.index()).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 2)));
}

/// Group commit with no gathering wait: appends queued while an fdatasync runs share the
/// next one (the vendored chunked-wal drains its queue; upstream synced each on its own).
#[tokio::test]
async fn queued_appends_share_an_fdatasync_without_a_wait() {
    let dir = TempDir::new().unwrap();
    let config = StorageConfig {
        wal_batch_wait: Duration::ZERO,
        ..StorageConfig::default()
    };
    let (mut log, _sm) = open_in(&dir, config).await;
    log.append([membership(0)], IOFlushed::noop())
        .await
        .unwrap();
    let synced_before = log.synced_flush_batches().unwrap();
    const APPENDS: u64 = 200;
    let mut acks = Vec::new();
    for i in 1..=APPENDS {
        let (tx, rx) = TypeConfig::oneshot();
        log.append([blank(i)], IOFlushed::signal(tx)).await.unwrap();
        acks.push(rx);
    }
    for rx in acks {
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("flush callback within deadline")
            .unwrap()
            .unwrap();
    }
    let batches = log.synced_flush_batches().unwrap() - synced_before;
    // Queuing an append takes microseconds and an fdatasync far longer, so most appends
    // find one running; one sync each would be 200 batches.
    assert!(
        batches < APPENDS / 2,
        "{batches} fdatasync batches for {APPENDS} appends"
    );
}

/// One replication read stays far below the peer message limit even when every entry is
/// large (1 MiB checkpoint chunks), and always makes progress.
#[tokio::test]
async fn replication_reads_stop_at_a_byte_budget() {
    use crate::test_util::{normal, put, req};
    let (_d, mut log, _sm) = crate::test_util::temp_store().await;
    let big = "x".repeat(1024 * 1024);
    let entries: Vec<_> = (1..=40)
        .map(|i| normal(i, req(put(&format!("k{i}"), &big, None), 1, None)))
        .collect();
    let (tx, rx) = TypeConfig::oneshot();
    log.append(entries, IOFlushed::signal(tx)).await.unwrap();
    rx.await.unwrap().unwrap();
    let mut reader = log.get_log_reader().await;
    let got = reader.limited_get_log_entries(1, 41).await.unwrap();
    assert!(
        (1..40).contains(&got.len()),
        "{} entries in one read",
        got.len()
    );
    assert!(got.len() * big.len() <= 17 * 1024 * 1024);
    assert_eq!(got[0].log_id.index(), 1);
}

#[tokio::test]
async fn truncate_and_purge_keep_the_log_contiguous() {
    let (_d, mut log, _sm) = crate::test_util::temp_store().await;
    crate::test_util::append_durably(&mut log, (0..10).map(blank).collect()).await;
    log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 6)))
        .await
        .unwrap();
    log.purge(log_id::<TypeConfig>(1, 1, 2)).await.unwrap();
    let mut reader = log.get_log_reader().await;
    let idx: Vec<_> = reader
        .try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index())
        .collect();
    assert_eq!(idx, [3, 4, 5, 6]);
    // Truncating at or past the end is a no-op, never an error.
    log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 50)))
        .await
        .unwrap();
    let st = log.get_log_state().await.unwrap();
    assert_eq!(st.last_purged_log_id, Some(log_id::<TypeConfig>(1, 1, 2)));
    assert_eq!(st.last_log_id, Some(log_id::<TypeConfig>(1, 1, 6)));
}
