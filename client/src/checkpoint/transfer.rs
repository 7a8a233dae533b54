//! Moving checkpoint payloads: a save sends up to one chunk in a unary `Save` and anything
//! larger as an `Upload` stream, both under the write's idempotency header (a retried upload
//! continues the same upload on the cluster); a load assembles the `Load` stream and checks
//! the CRC-32 end to end. Both get attempt timeouts that grow with the payload.

use std::time::Duration;

use cairn_api::v1 as pb;
use cairn_api::v1::checkpoints_client::CheckpointsClient;
use cairn_api::v1::load_checkpoint_response::Part as LoadPart;
use cairn_api::v1::upload_checkpoint_request::Part as UploadPart;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use super::convert;
use super::types::CheckpointInfo;
use crate::client::{Client, MAX_RESPONSE_BYTES, request};
use crate::error::Result;
use crate::pending::{WriteOutcome, outcome_unknown};
use crate::write_op::{CheckpointSave, WriteOp};

/// Raw payload bytes per upload message, and the largest payload sent in one `Save`: the
/// node's chunk size, so a unary save is exactly one log entry.
pub(crate) const CHUNK: usize = 1024 * 1024;

/// The slowest transfer rate an attempt is given time for before it counts as failed.
const MIN_BYTES_PER_SEC: f64 = 2.0 * 1024.0 * 1024.0;

/// The largest payload a load is given time for (the cluster's default limit).
const MAX_EXPECTED_LOAD: usize = 256 * 1024 * 1024;

impl Client {
    pub(crate) fn checkpoints(channel: Channel) -> CheckpointsClient<Channel> {
        CheckpointsClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// (per-attempt timeout, total budget) for moving `bytes` bytes.
    fn transfer_timing(&self, bytes: usize) -> (Duration, Duration) {
        let cfg = self.config();
        let per_try =
            cfg.request_timeout + Duration::from_secs_f64(bytes as f64 / MIN_BYTES_PER_SEC);
        (per_try, cfg.retry_deadline + 2 * per_try)
    }

    /// One attempt sequence of a save; exhausted retries become `OutcomeUnknown`.
    pub(crate) async fn dispatch_save(&self, save: CheckpointSave) -> Result<WriteOutcome> {
        let (per_try, budget) = self.transfer_timing(save.payload.len());
        let result = if save.payload.len() <= CHUNK {
            let msg = pb::SaveCheckpointRequest {
                header: Some(save.header.clone()),
                fields: Some(save.fields.clone()),
                payload: save.payload.to_vec(),
                fence: save.fence.clone(),
            };
            self.call_with("save_checkpoint", per_try, budget, |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::checkpoints(ch).save(req).await }
            })
            .await
        } else {
            self.call_with("upload_checkpoint", per_try, budget, |ch, t| {
                let req = request(upload_stream(&save), t);
                async move { Self::checkpoints(ch).upload(req).await }
            })
            .await
        };
        match result {
            Ok(r) => Ok(WriteOutcome::Checkpoint(convert::saved(r))),
            Err(e) => Err(outcome_unknown(e, || WriteOp::SaveCheckpoint(save))),
        }
    }

    /// Loads and assembles one checkpoint (see [`Client::load_checkpoint_with`]).
    pub(crate) async fn fetch(
        &self,
        msg: pb::LoadCheckpointRequest,
    ) -> Result<(CheckpointInfo, Vec<u8>)> {
        let idle = self.config().request_timeout;
        let materialize = msg.materialize;
        let (per_try, budget) = self.transfer_timing(MAX_EXPECTED_LOAD);
        let (info, payload) = self
            .call_with("load_checkpoint", per_try, budget, |ch, t| {
                let req = request(msg.clone(), t);
                async move {
                    let stream = Self::checkpoints(ch).load(req).await?.into_inner();
                    let loaded = assemble(stream, materialize, idle).await?;
                    Ok(tonic::Response::new(loaded))
                }
            })
            .await?;
        Ok((convert::checkpoint(info)?, payload))
    }
}

/// The messages of one upload attempt, built lazily from the shared payload.
fn upload_stream(
    save: &CheckpointSave,
) -> impl tokio_stream::Stream<Item = pb::UploadCheckpointRequest> + Send + 'static {
    let start = pb::UploadCheckpointRequest {
        part: Some(UploadPart::Start(pb::UploadCheckpointStart {
            header: Some(save.header.clone()),
            fields: Some(save.fields.clone()),
            total_size: save.payload.len() as u64,
            fence: save.fence.clone(),
        })),
    };
    let payload = save.payload.clone();
    let pieces = payload.len().div_ceil(CHUNK);
    let data = (0..pieces).map(move |i| {
        let end = ((i + 1) * CHUNK).min(payload.len());
        pb::UploadCheckpointRequest {
            part: Some(UploadPart::Data(payload[i * CHUNK..end].to_vec())),
        }
    });
    tokio_stream::iter(std::iter::once(start).chain(data))
}

/// Reads a `Load` stream to its end: metadata first, then the payload, which must have the
/// announced size and (unless it is a materialized delta) the saved checksum. Each message
/// must arrive within `idle`.
async fn assemble(
    mut stream: Streaming<pb::LoadCheckpointResponse>,
    materialize: bool,
    idle: Duration,
) -> std::result::Result<(pb::Checkpoint, Vec<u8>), Status> {
    let first = next(&mut stream, idle).await?;
    let Some(pb::LoadCheckpointResponse {
        part: Some(LoadPart::Checkpoint(info)),
        size,
        ..
    }) = first
    else {
        return Err(Status::internal(
            "malformed server reply: load without metadata",
        ));
    };
    let expected = usize::try_from(size).unwrap_or(usize::MAX);
    let mut payload = Vec::with_capacity(expected.min(MAX_EXPECTED_LOAD * 2));
    while let Some(msg) = next(&mut stream, idle).await? {
        match msg.part {
            Some(LoadPart::Data(bytes)) => payload.extend_from_slice(&bytes),
            _ => return Err(Status::internal("malformed server reply: metadata twice")),
        }
        if payload.len() > expected {
            break;
        }
    }
    let name = format!("checkpoint {}/{}", info.workflow_id, info.id);
    if payload.len() != expected {
        // The server verifies before it ends a stream OK: a short or long one means the
        // transfer broke, which a retry may fix.
        return Err(Status::new(
            Code::Unavailable,
            format!("{name}: received {} of {expected} bytes", payload.len()),
        ));
    }
    // A materialized delta is a new document; the server verified every link of its chain.
    let materialized = materialize && info.delta;
    if !materialized && crc32fast::hash(&payload) != info.checksum {
        return Err(Status::data_loss(format!(
            "{name}: the received payload does not match its checksum"
        )));
    }
    Ok((info, payload))
}

/// The next message of a load, which must arrive within `idle`.
async fn next(
    stream: &mut Streaming<pb::LoadCheckpointResponse>,
    idle: Duration,
) -> std::result::Result<Option<pb::LoadCheckpointResponse>, Status> {
    tokio::time::timeout(idle, stream.message())
        .await
        .map_err(|_| Status::deadline_exceeded(format!("load stalled for {idle:?}")))?
}
