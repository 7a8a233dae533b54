//! Snapshots on demand and backups: build a snapshot covering everything applied when the
//! request arrived, then stream its file in chunks with a crc32 over the bytes sent.
//!
//! A snapshot is a point-in-time copy of the state machine, so the backup is consistent: it
//! holds exactly the writes up to its last log index, and on the leader every write
//! acknowledged before the request is at or below it.

use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use cairn_api::v1::{BackupChunk, BackupHeader, BackupTrailer, backup_chunk};
use cairn_raft::NodeId;
use cairn_raft::types::Snapshot;
use openraft::rt::WatchReceiver;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::error::Error;
use crate::raft_handle::CairnRaft;

/// Bytes per streamed chunk: large enough to keep per-message overhead small, well under
/// the 4 MiB default message limit.
const CHUNK: usize = 256 * 1024;

/// How long to wait for a snapshot build before giving up. A build copies the whole state
/// (about 0.4 s per 100k keys), so this is generous.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Ensures a durable snapshot covers at least everything applied now, and returns it.
pub async fn fresh_snapshot(raft: &CairnRaft, timeout: Duration) -> Result<Snapshot, Error> {
    let target = raft
        .metrics()
        .borrow_watched()
        .last_applied
        .map(|l| l.index);
    let deadline = Instant::now() + timeout;
    loop {
        let have = raft.metrics().borrow_watched().snapshot.map(|l| l.index);
        if have >= target {
            break;
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!(
                "no snapshot covering index {} within {timeout:?}",
                target.unwrap_or(0)
            )));
        }
        // A trigger that arrives while a build runs is dropped, so re-trigger until a build
        // covering the target has finished.
        raft.trigger()
            .snapshot()
            .await
            .map_err(|e| Error::Unavailable(format!("raft stopped: {e}")))?;
        let _ = raft
            .wait(Some(Duration::from_secs(1)))
            .metrics(
                |m| m.snapshot.map(|l| l.index) >= target,
                "snapshot covers target",
            )
            .await;
    }
    raft.get_snapshot()
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?
        .ok_or_else(|| Error::Precondition("this node has no state to back up yet".into()))
}

/// Opens the snapshot's file. A newer snapshot may replace (and delete) it between lookup
/// and open, so look up again a few times; once open, the descriptor stays valid.
pub async fn open_fresh(raft: &CairnRaft) -> Result<(Snapshot, File), Error> {
    let mut last_err = None;
    for _ in 0..3 {
        let snapshot = fresh_snapshot(raft, SNAPSHOT_TIMEOUT).await?;
        match File::open(&snapshot.snapshot.path) {
            Ok(f) => return Ok((snapshot, f)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(Error::Internal(format!(
        "snapshot file vanished while opening it: {}",
        last_err.map(|e| e.to_string()).unwrap_or_default()
    )))
}

pub type BackupStream = ReceiverStream<Result<BackupChunk, Status>>;

/// Streams `file` (the snapshot in `snapshot`) as header, data chunks, trailer. The read runs
/// on a blocking thread; the channel's small buffer makes a slow receiver slow the reader.
pub fn stream(snapshot: &Snapshot, file: File, node_id: NodeId) -> Result<BackupStream, Error> {
    let size = file
        .metadata()
        .map_err(|e| Error::Internal(format!("snapshot file: {e}")))?
        .len();
    let last = snapshot.meta.last_log_id;
    let header = BackupHeader {
        snapshot_index: last.map_or(0, |l| l.index),
        snapshot_term: last.map_or(0, |l| l.leader_id.term),
        size,
        node_id,
    };
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || send_file(file, header, &tx));
    Ok(ReceiverStream::new(rx))
}

fn send_file(mut file: File, header: BackupHeader, tx: &mpsc::Sender<Result<BackupChunk, Status>>) {
    let chunk = |part| Ok(BackupChunk { part: Some(part) });
    if tx
        .blocking_send(chunk(backup_chunk::Part::Header(header)))
        .is_err()
    {
        return;
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let read_failed = Error::Internal(format!("read snapshot: {e}"));
                let _ = tx.blocking_send(Err(read_failed.into()));
                return;
            }
        };
        hasher.update(&buf[..n]);
        // The receiver hung up: nothing left to do.
        if tx
            .blocking_send(chunk(backup_chunk::Part::Data(buf[..n].to_vec())))
            .is_err()
        {
            return;
        }
    }
    let trailer = BackupTrailer {
        crc32: hasher.finalize(),
    };
    let _ = tx.blocking_send(chunk(backup_chunk::Part::Trailer(trailer)));
}
