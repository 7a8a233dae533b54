//! Receiving a streamed snapshot into a file. Everything is checked here (length, checksum,
//! header matching the announced meta) before Raft sees the file: openraft treats a failed
//! install as fatal, so a damaged transfer must be rejected as a retryable error instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tonic::Status;

use crate::peer_proto::SnapshotChunk;
use crate::types::{SnapshotMeta, Vote};
use cairn_model::codec::decode;

/// Checks a received snapshot file (checksum, then header) and returns the meta it holds.
/// Supplied by the storage layer, which owns the file format.
pub type SnapshotVerifier = Arc<dyn Fn(&Path) -> Result<SnapshotMeta, String> + Send + Sync>;

/// A received snapshot file that is removed when dropped, whatever happened: rejected,
/// cancelled mid-transfer, skipped by Raft as stale, or installed (the store has renamed it
/// away by then, so the removal finds nothing).
pub(crate) struct IncomingFile(pub(crate) PathBuf);

impl Drop for IncomingFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `install` (Raft installing `file`) to completion in its own task, and removes `file`
/// only after it. The peer call that delivered the file can be cancelled at any moment (the
/// leader timed out, or lost leadership mid-transfer), which drops its handler; had the
/// handler owned the file, Raft could find it gone halfway through an install, and openraft
/// treats a failed install as fatal (the chaos suite caught a follower stopping on ENOENT).
pub(crate) async fn install_detached<F>(file: IncomingFile, install: F) -> Result<F::Output, Status>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(async move {
        let out = install.await;
        drop(file);
        out
    })
    .await
    .map_err(|e| Status::internal(format!("snapshot install task: {e}")))
}

/// Writes the chunks to `<dir>/<index>-<seq>.incoming`, fsyncs, and verifies the file.
/// `admit` sees the header (vote, meta, announced size) before anything is written; the
/// stream may then carry at most the announced size.
pub(crate) async fn receive<S, A>(
    dir: &Path,
    seq: u64,
    verify: &SnapshotVerifier,
    admit: A,
    mut chunks: S,
) -> Result<(Vote, SnapshotMeta, IncomingFile), Status>
where
    S: Stream<Item = Result<SnapshotChunk, Status>> + Unpin,
    A: FnOnce(&Vote, &SnapshotMeta, u64) -> Result<(), Status>,
{
    let first = chunks
        .next()
        .await
        .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
    let (vote, meta): (Vote, SnapshotMeta) =
        decode(&first.header).map_err(|e| Status::invalid_argument(e.to_string()))?;
    admit(&vote, &meta, first.total_size)?;
    let index = meta.last_log_id.map(|l| l.index).unwrap_or(0);
    let incoming = IncomingFile(dir.join(format!("{index}-{seq}.incoming")));
    let written = async {
        let mut file = tokio::fs::File::create(&incoming.0).await?;
        let mut size = 0u64;
        let mut next = Some(first.data);
        loop {
            let Some(data) = next.take() else { break };
            size += data.len() as u64;
            if size > first.total_size {
                // Only what was announced (and admitted) is ever written.
                return Err(std::io::Error::other(format!(
                    "snapshot stream carries more than the announced {} bytes",
                    first.total_size
                )));
            }
            file.write_all(&data).await?;
            next = match chunks.next().await {
                Some(chunk) => Some(chunk.map_err(std::io::Error::other)?.data),
                None => None,
            };
        }
        file.sync_all().await?;
        Ok::<_, std::io::Error>(size)
    }
    .await
    .map_err(|e| Status::unavailable(format!("receive snapshot: {e}")))?;
    if written != first.total_size {
        return Err(Status::unavailable(format!(
            "snapshot stream ended after {written} of {} bytes",
            first.total_size
        )));
    }
    let path = incoming.0.clone();
    let verify = verify.clone();
    let found = tokio::task::spawn_blocking(move || verify(&path))
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::unavailable(format!("received snapshot rejected: {e}")))?;
    if found != meta {
        return Err(Status::invalid_argument(format!(
            "snapshot file holds {found}, header announced {meta}"
        )));
    }
    Ok((vote, meta, incoming))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use bytes::Bytes;
    use openraft::LogId;
    use openraft::vote::RaftLeaderId;

    use super::*;
    use cairn_model::codec::encode;

    const BODY: &[u8] = b"snapshot-bytes-0123456789";

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(LogId::new(
                openraft::impls::leader_id_adv::LeaderId::new(1, 1).to_committed(),
                index,
            )),
            ..Default::default()
        }
    }

    /// Accepts exactly `BODY` and reports `meta(7)`; anything else is "corrupt".
    fn verifier() -> SnapshotVerifier {
        Arc::new(|path| {
            let got = std::fs::read(path).map_err(|e| e.to_string())?;
            if got == BODY {
                Ok(meta(7))
            } else {
                Err("checksum mismatch".into())
            }
        })
    }

    fn chunks(
        announced: SnapshotMeta,
        total_size: u64,
        parts: &[&'static [u8]],
        fail_after: bool,
    ) -> impl Stream<Item = Result<SnapshotChunk, Status>> + Unpin + use<> {
        let header = encode(&(Vote::new(1, 1), announced)).unwrap();
        let mut items = vec![Ok(SnapshotChunk {
            header: Bytes::from(header),
            data: Bytes::new(),
            total_size,
        })];
        for p in parts {
            items.push(Ok(SnapshotChunk {
                header: Bytes::new(),
                data: Bytes::from_static(p),
                total_size: 0,
            }));
        }
        if fail_after {
            items.push(Err(Status::cancelled("sender went away")));
        }
        futures::stream::iter(items)
    }

    fn admit_all(_: &Vote, _: &SnapshotMeta, _: u64) -> Result<(), Status> {
        Ok(())
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn whole_transfer_is_accepted_and_cleaned_up_after_use() {
        let dir = tempfile::tempdir().unwrap();
        let (_, m, file) = receive(
            dir.path(),
            0,
            &verifier(),
            admit_all,
            chunks(meta(7), 25, &[&BODY[..10], &BODY[10..]], false),
        )
        .await
        .unwrap();
        assert_eq!(m, meta(7));
        assert_eq!(std::fs::read(&file.0).unwrap(), BODY);
        drop(file);
        assert_eq!(
            files_in(dir.path()),
            0,
            "the file is removed once Raft is done with it"
        );
    }

    #[tokio::test]
    async fn a_cancelled_call_keeps_the_file_until_the_install_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("7-0.incoming");
        std::fs::write(&path, BODY).unwrap();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (seen, saw) = tokio::sync::oneshot::channel::<bool>();
        let install = {
            let path = path.clone();
            async move {
                let _ = released.await;
                let _ = seen.send(path.exists());
            }
        };
        // The peer call is cancelled while Raft is still installing.
        let call = install_detached(IncomingFile(path.clone()), install);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), call)
                .await
                .is_err()
        );
        assert!(path.exists(), "removed while the install was running");
        release.send(()).unwrap();
        assert!(saw.await.unwrap(), "the install found its file");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while path.exists() {
            assert!(std::time::Instant::now() < deadline, "file left behind");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn damaged_transfers_are_rejected_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "truncated",
                chunks(meta(7), 25, &[&BODY[..10]], false),
                tonic::Code::Unavailable,
            ),
            (
                "stream error",
                chunks(meta(7), 25, &[&BODY[..10]], true),
                tonic::Code::Unavailable,
            ),
            (
                "corrupt",
                chunks(meta(7), 25, &[b"xxxxxxxxxxxxxxxxxxxxxxxxx"], false),
                tonic::Code::Unavailable,
            ),
            (
                "wrong meta",
                chunks(meta(9), 25, &[BODY], false),
                tonic::Code::InvalidArgument,
            ),
            (
                "longer than announced",
                chunks(meta(7), 10, &[BODY], false),
                tonic::Code::Unavailable,
            ),
        ];
        for (what, stream, code) in cases {
            match receive(dir.path(), 1, &verifier(), admit_all, stream).await {
                Err(s) => assert_eq!(s.code(), code, "{what}: {s:?}"),
                Ok(_) => panic!("{what}: accepted"),
            }
            assert_eq!(files_in(dir.path()), 0, "{what}: a file was left behind");
        }
    }

    #[tokio::test]
    async fn a_refused_header_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let refuse = |_: &Vote, _: &SnapshotMeta, size: u64| {
            assert_eq!(size, 25, "admit sees the announced size");
            Err(Status::permission_denied("not the leader"))
        };
        let stream = chunks(meta(7), 25, &[BODY], false);
        let err = match receive(dir.path(), 2, &verifier(), refuse, stream).await {
            Err(s) => s,
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert_eq!(files_in(dir.path()), 0);
    }
}
