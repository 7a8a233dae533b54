//! Streaming loads: the checkpoint's metadata first, then its payload chunk by chunk, decoded
//! and checksummed as it goes. The checksum is verified before the last data message is
//! sent, so a stream that ends OK carried exactly the saved bytes and a damaged checkpoint
//! ends in DATA_LOSS naming it. A materialized delta is built whole (the chain has to be
//! applied as JSON) and then streamed in pieces.

use cairn_api::v1 as pb;
use cairn_api::v1::load_checkpoint_response::Part;
use cairn_model::checkpoint::CheckpointRecord;
use cairn_storage::{CheckpointReadError, CheckpointReader};
use tokio::sync::mpsc;
use tonic::Status;

use super::ingest::{CHUNK, blocking};
use super::{convert, stats};
use crate::error::Error;
use crate::status;

pub type Item = Result<pb::LoadCheckpointResponse, Status>;

/// Messages buffered ahead of a slow reader: bounds memory to a few chunks per load.
const AHEAD: usize = 2;

fn first(rec: CheckpointRecord, size: u64, revision: u64) -> pb::LoadCheckpointResponse {
    pb::LoadCheckpointResponse {
        part: Some(Part::Checkpoint(convert::checkpoint(rec, true))),
        size,
        revision,
    }
}

fn data(bytes: Vec<u8>) -> pb::LoadCheckpointResponse {
    pb::LoadCheckpointResponse {
        part: Some(Part::Data(bytes)),
        ..Default::default()
    }
}

/// Starts streaming `rec` (already known to exist) into a channel whose receiver is the
/// response stream. Ends early when the client goes away.
pub fn spawn(
    reader: CheckpointReader,
    rec: CheckpointRecord,
    materialize: bool,
    revision: u64,
) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(AHEAD);
    tokio::spawn(async move {
        let result = if materialize && rec.delta {
            materialized(&reader, rec, revision, &tx).await
        } else {
            chunked(&reader, rec, revision, &tx).await
        };
        if let Err(s) = result {
            let _ = tx.send(Err(s)).await;
        }
    });
    rx
}

/// The status of a failed read, counting verification failures.
pub fn read_error(e: CheckpointReadError) -> Status {
    if matches!(e, CheckpointReadError::Integrity { .. }) {
        stats::verify_failed();
    }
    status::checkpoint_read_error(e)
}

/// Gone means the client hung up: stop quietly.
struct Gone;

impl From<Gone> for Status {
    fn from(_: Gone) -> Self {
        Error::Cancelled.into()
    }
}

async fn send(tx: &mpsc::Sender<Item>, msg: pb::LoadCheckpointResponse) -> Result<(), Gone> {
    tx.send(Ok(msg)).await.map_err(|_| Gone)
}

async fn chunked(
    reader: &CheckpointReader,
    rec: CheckpointRecord,
    revision: u64,
    tx: &mpsc::Sender<Item>,
) -> Result<(), Status> {
    let chunks = rec.chunks;
    send(tx, first(rec.clone(), rec.raw_size, revision)).await?;
    let mut crc = crc32fast::Hasher::new();
    let mut size = 0u64;
    for index in 0..chunks {
        let (r, record) = (reader.clone(), rec.clone());
        let chunk = blocking(move || r.chunk(&record, index))
            .await?
            .map_err(read_error)?;
        crc.update(&chunk);
        size += chunk.len() as u64;
        if index + 1 == chunks {
            CheckpointReader::verify(&rec, size, crc.clone().finalize()).map_err(read_error)?;
        }
        send(tx, data(chunk)).await?;
    }
    if chunks == 0 {
        CheckpointReader::verify(&rec, 0, crc.finalize()).map_err(read_error)?;
    }
    stats::loaded(size);
    Ok(())
}

async fn materialized(
    reader: &CheckpointReader,
    rec: CheckpointRecord,
    revision: u64,
    tx: &mpsc::Sender<Item>,
) -> Result<(), Status> {
    let r = reader.clone();
    let (workflow_id, id) = (rec.workflow_id.clone(), rec.id.clone());
    let (rec, full) = blocking(move || r.materialize(&workflow_id, &id))
        .await?
        .map_err(read_error)?;
    send(tx, first(rec, full.len() as u64, revision)).await?;
    for piece in full.chunks(CHUNK) {
        send(tx, data(piece.to_vec())).await?;
    }
    stats::loaded(full.len() as u64);
    Ok(())
}

/// The newest checkpoint whose chain verifies; reads payloads, so off the runtime.
pub async fn latest_valid(
    reader: &CheckpointReader,
    workflow_id: String,
) -> Result<Option<CheckpointRecord>, Status> {
    let r = reader.clone();
    blocking(move || r.latest_valid(&workflow_id))
        .await?
        .map_err(status::storage_error)
}

/// `NOT_FOUND` for a missing checkpoint.
pub fn not_found(workflow_id: &str, id: &str) -> Status {
    status::checkpoint_read_error(CheckpointReadError::NotFound {
        workflow_id: workflow_id.to_string(),
        id: id.to_string(),
    })
}
