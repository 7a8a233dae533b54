//! Fuzz target bodies over storage's inputs from disk and from the log (compiled with the
//! `fuzzing` feature; `fuzz/` runs them under libFuzzer and replays their seeds in the
//! default tests). Each takes arbitrary bytes; a panic is a finding, an error is an answer.
//! Each returns whether the input decoded (got past the framing to the checks), which the
//! replay test requires of every seed.
//!
//! - [`wal`]: the bytes as the Raft log's only chunk, opened as a node opens its log at
//!   startup and read back entry by entry.
//! - [`snapshot`]: the bytes as a snapshot's (uncompressed) content, framed as a snapshot
//!   file is framed (zstd, checksum trailer) so the fuzzer reaches the records, then verified
//!   and installed in a fresh store as a received snapshot is.
//! - [`apply`]: the bytes as a run of encoded requests, each that passes the input check (or
//!   is internal: the leader proposes those itself) applied in a fresh store: all in one
//!   batch, and one entry per batch in a second store. Both must succeed with the same state
//!   and replies, and the claim queue must equal its rebuild from the records.

// A target reports a broken invariant by panicking: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_model::InputLimits;
use cairn_model::codec;
use cairn_model::command::Request;
use cairn_model::workflow::limits::RecordLimits;
use cairn_raft::types::{Entry, SnapshotFile};
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use tempfile::TempDir;

use crate::snapshot::{self, SnapshotReader};
use crate::test_util::{
    append_durably, create_workflow, delete, membership, normal, put, req, temp_store,
};
use crate::{StateMachineStore, StorageConfig};

/// Most requests one [`apply`] input runs: enough for interplay, few enough to stay fast.
const MAX_APPLY_REQUESTS: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn chunk_files(log_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(log_dir)
        .expect("log dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// The first chunk of a log holding a membership entry, puts, a vote and a purge: the seed
/// of [`wal`].
pub fn wal_seed() -> Vec<u8> {
    runtime().block_on(async {
        let dir = TempDir::new().expect("temp dir");
        let (mut log, _sm) = crate::open(dir.path(), StorageConfig::default())
            .await
            .expect("open");
        let mut entries = vec![membership(0)];
        for i in 1..6u64 {
            entries.push(normal(i, req(put(&format!("k{i}"), "v", None), i, None)));
        }
        append_durably(&mut log, entries).await;
        log.save_vote(&openraft::Vote::new(2, 1))
            .await
            .expect("vote");
        drop(log);
        let chunk = &chunk_files(&dir.path().join("log"))[0];
        fs::read(chunk).expect("read chunk")
    })
}

/// `data` as the log's only chunk: opening either refuses or yields a log whose every entry
/// reads back. Decoded: the log opened with at least one entry.
pub fn wal(data: &[u8]) -> bool {
    let dir = TempDir::new().expect("temp dir");
    runtime().block_on(async {
        // A fresh log names its first chunk; the input replaces that chunk's bytes.
        let (log, sm) = crate::open(dir.path(), StorageConfig::default())
            .await
            .expect("open an empty store");
        drop((log, sm));
        let log_dir = dir.path().join("log");
        let chunk = chunk_files(&log_dir).into_iter().next().expect("a chunk");
        fs::write(&chunk, data).expect("write chunk");
        let Ok((mut log, _sm)) = crate::open(dir.path(), StorageConfig::default()).await else {
            return false;
        };
        let Ok(state) = log.get_log_state().await else {
            return false;
        };
        let mut reader = log.get_log_reader().await;
        let _ = reader.read_vote().await;
        if let Some(last) = state.last_log_id {
            let first = state.last_purged_log_id.map_or(0, |p| p.index + 1);
            let entries = reader
                .try_get_log_entries(first..=last.index)
                .await
                .expect("an opened log reads back");
            assert_eq!(
                entries.len() as u64,
                last.index + 1 - first,
                "entries missing"
            );
        }
        state.last_log_id.is_some()
    })
}

/// A snapshot of a store with puts, workflows and a session, uncompressed and without its
/// trailer: the seed of [`snapshot`].
pub fn snapshot_seed() -> Vec<u8> {
    runtime().block_on(async {
        let (_dir, _log, mut sm) = temp_store().await;
        sm.apply_batch(&apply_seed_entries()).expect("apply seed");
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build snapshot");
        let file = fs::read(&snap.snapshot.path).expect("read snapshot");
        let body = &file[..file.len() - snapshot::TRAILER_LEN as usize];
        zstd::decode_all(body).expect("snapshot is zstd")
    })
}

/// `data` framed as a snapshot file: verified, read to the end, and installed in a fresh
/// store when it reads whole. Decoded: it read whole.
pub fn snapshot(data: &[u8]) -> bool {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("in.snap");
    let mut framed = zstd::encode_all(data, 1).expect("zstd");
    let crc = crc32fast::hash(&framed);
    framed.write_all(&crc.to_be_bytes()).expect("vec write");
    framed
        .write_all(snapshot::TRAILER_MAGIC)
        .expect("vec write");
    fs::write(&path, &framed).expect("write snapshot");
    let Ok(meta) = snapshot::verify(&path, None) else {
        return false;
    };
    let Ok(mut reader) = SnapshotReader::open(&path, None) else {
        return false;
    };
    loop {
        match reader.next_record() {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => return false,
        }
    }
    runtime().block_on(async {
        let (_d, _l, mut sm) = temp_store().await;
        let _ = sm
            .install_snapshot(&meta, SnapshotFile { path: path.clone() })
            .await;
    });
    true
}

fn limits() -> InputLimits {
    InputLimits {
        max_key_bytes: 1536,
        max_value_bytes: 1024 * 1024,
        records: RecordLimits::default(),
        min_lease_ttl_ms: 1_000,
        max_lease_ttl_ms: 3_600_000,
        max_checkpoint_bytes: 1024 * 1024,
    }
}

/// Requests as the log carries them: what passes the input check, and internal commands.
fn requests(mut data: &[u8]) -> Vec<Request> {
    let mut out = Vec::new();
    while out.len() < MAX_APPLY_REQUESTS {
        let Ok((request, rest)) = postcard::take_from_bytes::<Request>(data) else {
            break;
        };
        if request.command.is_internal() || request.check_input(&limits()).is_ok() {
            out.push(request);
        }
        data = rest;
    }
    out
}

fn apply_seed_entries() -> Vec<Entry> {
    let mut entries = vec![membership(1)];
    for (i, r) in requests(&apply_seed()).into_iter().enumerate() {
        entries.push(normal(i as u64 + 2, r));
    }
    entries
}

/// Encoded requests over keys, workflows and transactions: the seed of [`apply`].
pub fn apply_seed() -> Vec<u8> {
    use cairn_model::command::Command;
    use cairn_model::workflow::command::TransitionWorkflow;
    use cairn_model::workflow::{Target, WorkflowCommand};
    let create = |id: &str| create_workflow(id, "a");
    let start = |id: &str| {
        Command::Workflow(WorkflowCommand::Transition(TransitionWorkflow {
            id: id.into(),
            target: Target::Event("start".into()),
            expected_version: None,
            actor: String::new(),
            reason: String::new(),
        }))
    };
    let commands = [
        put("k1", "v1", None),
        put("k2", "v2", Some(0)),
        create("w1"),
        start("w1"),
        delete("k1", None),
        create("w2"),
        Command::Compact { revision: 2 },
    ];
    let mut out = Vec::new();
    for (i, c) in commands.into_iter().enumerate() {
        let r = req(c, 1_000 + i as u64, Some(("c", i as u64 + 1)));
        out.extend(codec::encode(&r).expect("encode"));
    }
    out
}

/// `data` as requests applied in one batch and one by one: same replies, same state, and
/// the claim queue as a rebuild makes it. Decoded: at least one request applied.
pub fn apply(data: &[u8]) -> bool {
    let entries: Vec<Entry> = std::iter::once(membership(1))
        .chain(
            requests(data)
                .into_iter()
                .enumerate()
                .map(|(i, r)| normal(i as u64 + 2, r)),
        )
        .collect();
    runtime().block_on(async {
        let (_d1, _l1, whole) = temp_store().await;
        let replies = whole.apply_batch(&entries).expect("apply in one batch");
        let (_d2, _l2, single) = temp_store().await;
        let mut one_by_one = Vec::new();
        for e in &entries {
            one_by_one.extend(
                single
                    .apply_batch(std::slice::from_ref(e))
                    .expect("apply one entry"),
            );
        }
        assert_eq!(replies, one_by_one, "replies differ by batching");
        assert_eq!(whole.dump(), single.dump(), "state differs by batching");
        check_claim_queue(&whole);
    });
    entries.len() > 1
}

fn check_claim_queue(sm: &StateMachineStore) {
    let (kept, rebuilt) = sm.claim_queues();
    assert_eq!(kept, rebuilt, "claim queue drifted from the records");
}
