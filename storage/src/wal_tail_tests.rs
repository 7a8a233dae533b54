//! Damage to the Raft log's files, met at startup (the cases and their recovery are in the
//! README, "A damaged Raft log"). What was never fsynced may be dropped: a torn
//! last record, or zeros where the last writes never landed, are cut off and the node starts
//! (Raft sends those entries again; none was acknowledged). Anything else — a bad checksum, a
//! damaged length, damage or a cut in a closed chunk — refuses to start with `InvalidData`
//! and leaves the files as they were, because it may be an acknowledged entry.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use openraft::storage::RaftLogStorage;
use tempfile::TempDir;

use crate::error::StorageError;
use crate::test_util::{append_durably, membership, normal, put, req};
use crate::{LogStore, StorageConfig};

/// The WAL's chunk files in order (`r-<offset>.wal`: names sort by offset).
fn chunks(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

fn len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

fn entry(i: u64) -> cairn_raft::types::Entry {
    if i == 0 {
        return membership(0);
    }
    normal(i, req(put(&format!("k{i}"), "v", None), i * 10, None))
}

async fn open(dir: &TempDir) -> Result<LogStore, StorageError> {
    crate::open(dir.path(), StorageConfig::default())
        .await
        .map(|(log, _sm)| log)
}

/// Appends entries `from..=to` one per durable write; returns the length of the last chunk
/// before and after the last one (that record is `before..after` of the file).
async fn append(dir: &TempDir, from: u64, to: u64) -> (u64, u64) {
    let mut log = open(dir).await.unwrap();
    let mut before = 0;
    for i in from..=to {
        before = len(chunks(dir.path()).last().unwrap());
        append_durably(&mut log, vec![entry(i)]).await;
    }
    let after = len(chunks(dir.path()).last().unwrap());
    (before, after)
}

async fn last_index(dir: &TempDir) -> Option<u64> {
    let mut log = open(dir).await.unwrap();
    let state = log.get_log_state().await.unwrap();
    state.last_log_id.map(|l| l.index())
}

fn refused(r: Result<LogStore, StorageError>) -> io::Error {
    match r {
        Err(StorageError::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            e
        }
        Err(other) => panic!("expected InvalidData from the WAL, got {other}"),
        Ok(_) => panic!("a damaged log opened"),
    }
}

fn flip(path: &Path, offset: u64, bit: u8) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 1 << bit;
    f.write_all_at(&b, offset).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off_and_the_entry_can_be_written_again() {
    let dir = TempDir::new().unwrap();
    let (before, after) = append(&dir, 0, 4).await;
    let chunk = chunks(dir.path())[0].clone();
    OpenOptions::new()
        .write(true)
        .open(&chunk)
        .unwrap()
        .set_len(after - 3)
        .unwrap();
    assert_eq!(last_index(&dir).await, Some(3), "entry 4 was never whole");
    assert_eq!(len(&chunk), before, "cut at the torn record's start");
    append(&dir, 4, 4).await;
    assert_eq!(last_index(&dir).await, Some(4));
}

#[tokio::test]
async fn zeros_after_the_last_record_are_cut_off_but_a_half_written_record_is_refused() {
    let dir = TempDir::new().unwrap();
    let (_, after) = append(&dir, 0, 3).await;
    let chunk = chunks(dir.path())[0].clone();
    let mut f = OpenOptions::new().append(true).open(&chunk).unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    assert_eq!(last_index(&dir).await, Some(3));
    assert_eq!(len(&chunk), after, "the zeros are gone");

    // A record's first bytes, then zeros to the end of a page: not a clean tail.
    let dir = TempDir::new().unwrap();
    let (before, after) = append(&dir, 0, 4).await;
    let chunk = chunks(dir.path())[0].clone();
    let record = fs::read(&chunk).unwrap()[before as usize..after as usize].to_vec();
    let f = OpenOptions::new().write(true).open(&chunk).unwrap();
    f.set_len(before).unwrap();
    let mut page = record[..10].to_vec();
    page.resize(4096, 0);
    f.write_all_at(&page, before).unwrap();
    f.sync_all().unwrap();
    let damaged = fs::read(&chunk).unwrap();
    refused(open(&dir).await);
    assert_eq!(fs::read(&chunk).unwrap(), damaged, "left as found");
}

#[tokio::test]
async fn a_bad_checksum_or_length_in_the_last_record_refuses_to_start() {
    // The record's last byte is its CRC-32's: a fully written record that went bad.
    let dir = TempDir::new().unwrap();
    let (before, after) = append(&dir, 0, 4).await;
    let chunk = chunks(dir.path())[0].clone();
    flip(&chunk, after - 1, 0);
    let damaged = fs::read(&chunk).unwrap();
    let e = refused(open(&dir).await);
    assert!(e.to_string().contains("checksum"), "{e}");
    assert!(e.to_string().contains(&format!("offset {before}")), "{e}");
    assert_eq!(fs::read(&chunk).unwrap(), damaged, "left as found");

    // The top bit of the record's first length field: a length no record has. It must not
    // read as a torn write (which would be cut off, losing an acknowledged entry).
    let dir = TempDir::new().unwrap();
    let (before, _) = append(&dir, 0, 4).await;
    let chunk = chunks(dir.path())[0].clone();
    flip(&chunk, before + 4, 7);
    let e = refused(open(&dir).await);
    assert!(e.to_string().contains("damaged"), "{e}");
}

#[tokio::test]
async fn damage_in_a_closed_chunk_refuses_to_start() {
    // A second chunk: a zero byte after entries 0..=2 is cut off at the next open, which
    // closes the first chunk and starts a new one.
    let prepare = || async {
        let dir = TempDir::new().unwrap();
        append(&dir, 0, 2).await;
        let first = chunks(dir.path())[0].clone();
        let mut f = OpenOptions::new().append(true).open(&first).unwrap();
        f.write_all(&[0]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        append(&dir, 3, 5).await;
        assert_eq!(chunks(dir.path()).len(), 2);
        assert_eq!(last_index(&dir).await, Some(5));
        (dir, first)
    };

    let (dir, first) = prepare().await;
    flip(&first, len(&first) - 1, 0);
    let damaged = fs::read(&first).unwrap();
    let e = refused(open(&dir).await);
    assert!(e.to_string().contains("ChunkId"), "{e}");
    assert_eq!(
        fs::read(&first).unwrap(),
        damaged,
        "a closed chunk is never cut"
    );

    // Cut to nothing: refused too (the vendored WAL panicked here before).
    let (dir, first) = prepare().await;
    OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(0)
        .unwrap();
    let e = refused(open(&dir).await);
    assert!(e.to_string().contains("holds no record"), "{e}");

    // A missing chunk between two others is a gap. A third chunk, the same way.
    let (dir, _) = prepare().await;
    let second = chunks(dir.path())[1].clone();
    let mut f = OpenOptions::new().append(true).open(&second).unwrap();
    f.write_all(&[0]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    append(&dir, 6, 6).await;
    assert_eq!(chunks(dir.path()).len(), 3);
    fs::remove_file(&second).unwrap();
    let e = refused(open(&dir).await);
    assert!(e.to_string().contains("Gap between chunks"), "{e}");
}
