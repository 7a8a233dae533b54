//! The checkpoint service: saves (whole or streamed; compressed and checksummed here, see
//! `ingest`), streaming verified loads (`load`), listings, rollback of a workflow to a
//! checkpoint and retention policies. Writes go through the shared [`Gateway`] under the
//! request's idempotency header; reads follow a read index unless serializable.

mod convert;
mod ingest;
mod load;
mod stats;
mod validate;

pub(crate) use ingest::{blocking, encode_save};
pub(crate) use validate::{Fields, fields as checkpoint_fields};

use cairn_api::v1 as pb;
use cairn_api::v1::checkpoints_server::Checkpoints;
use cairn_api::v1::upload_checkpoint_request::Part;
use cairn_model::checkpoint::{CheckpointCommand, CheckpointReply};
use cairn_model::coord::Fence;
use cairn_model::workflow::WorkflowError;
use cairn_model::workflow::limits::RecordLimits;
use cairn_model::{Command, Response};
use cairn_storage::{CheckpointReader, WorkflowReader};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status, Streaming};

use self::ingest::{CHUNK, Ingest, Saved};
use super::coord;
use super::gateway::{Gateway, unexpected};
use crate::auth::caller;
use crate::config::CheckpointConfig;
use crate::services::fields;
use crate::status;

/// List page size when a request sets none, and the largest page served.
const DEFAULT_LIST_LIMIT: u32 = 100;
const MAX_LIST_LIMIT: u32 = 1000;

type Reply<T> = Result<tonic::Response<T>, Status>;

pub struct CheckpointService {
    ingest: Ingest,
    workflows: WorkflowReader,
    limits: RecordLimits,
}

impl CheckpointService {
    pub fn new(
        gateway: Gateway,
        reader: CheckpointReader,
        workflows: WorkflowReader,
        config: CheckpointConfig,
        limits: RecordLimits,
    ) -> Self {
        Self {
            ingest: Ingest {
                gateway,
                reader,
                config,
            },
            workflows,
            limits,
        }
    }

    /// The largest request message: a whole payload at the limit plus its fields.
    pub fn message_limit(config: &CheckpointConfig, limits: &RecordLimits) -> usize {
        let payload = usize::try_from(config.max_bytes).unwrap_or(usize::MAX);
        payload
            .saturating_add(2 * limits.max_metadata_bytes)
            .saturating_add(64 * 1024)
    }

    fn gateway(&self) -> &Gateway {
        &self.ingest.gateway
    }

    fn reader(&self) -> &CheckpointReader {
        &self.ingest.reader
    }

    /// `NOT_FOUND` unless workflow `id` exists: an empty answer about a missing workflow
    /// would hide a typo.
    fn require_workflow(&self, id: &str) -> Result<(), Status> {
        match self.workflows.workflow(id).map_err(status::storage_error)? {
            Some(_) => Ok(()),
            None => Err(status::workflow_error(WorkflowError::NotFound(
                id.to_string(),
            ))),
        }
    }

    async fn propose(
        &self,
        header: Option<pb::RequestHeader>,
        fence: Option<Fence>,
        command: CheckpointCommand,
    ) -> Result<(u64, CheckpointReply), Status> {
        match self
            .gateway()
            .propose_fenced(header, fence, Command::Checkpoint(command))
            .await?
        {
            Response::Checkpoint { revision, reply } => Ok((revision, reply)),
            other => Err(unexpected(other).into()),
        }
    }

    /// The rest of an Upload stream after its start message.
    async fn receive_upload(
        &self,
        start: pb::UploadCheckpointStart,
        stream: &mut Streaming<pb::UploadCheckpointRequest>,
    ) -> Result<Saved, Status> {
        let fields = validate::fields(&self.limits, start.fields)?;
        let fence = coord::fence(start.fence)?;
        let total = start.total_size;
        validate::size(total, self.ingest.config.max_bytes)?;
        self.ingest.check_parent(&fields).await?;
        let too_much = |received: u64| {
            status::invalid(format!(
                "the upload carries more than its total_size of {total} bytes (at least {received})"
            ))
        };
        let too_little = |received: u64| {
            status::invalid(format!(
                "the upload ended after {received} bytes; total_size is {total}"
            ))
        };
        if total <= CHUNK as u64 {
            let mut payload = Vec::with_capacity(total as usize);
            while let Some(bytes) = next_data(stream).await? {
                payload.extend_from_slice(&bytes);
                if payload.len() as u64 > total {
                    return Err(too_much(payload.len() as u64));
                }
            }
            if (payload.len() as u64) < total {
                return Err(too_little(payload.len() as u64));
            }
            if fields.delta {
                validate::delta_payload(&payload)?;
            }
            return self
                .ingest
                .save_single(start.header, fence, &fields, payload)
                .await;
        }
        let mut upload = self.ingest.start_upload(start.header, fence, fields)?;
        upload.resume().await?;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut received = 0u64;
        while let Some(bytes) = next_data(stream).await? {
            received += bytes.len() as u64;
            if received > total {
                upload.abort().await;
                return Err(too_much(received));
            }
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let take = (CHUNK - buf.len()).min(rest.len());
                buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if buf.len() == CHUNK {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK));
                    upload.push(full).await?;
                }
            }
        }
        if received < total {
            // Not aborted: a client whose attempt was cancelled (its timeout, say) ends the
            // stream cleanly too, and its retry resumes this upload. Never resumed, it is
            // collected after the upload timeout.
            return Err(too_little(received));
        }
        if !buf.is_empty() {
            upload.push(buf).await?;
        }
        upload.finish().await
    }
}

/// The next data message of an upload; `None` at the end of the stream.
async fn next_data(
    stream: &mut Streaming<pb::UploadCheckpointRequest>,
) -> Result<Option<Vec<u8>>, Status> {
    match stream.message().await? {
        None => Ok(None),
        Some(pb::UploadCheckpointRequest {
            part: Some(Part::Data(bytes)),
        }) => Ok(Some(bytes)),
        Some(_) => Err(status::invalid(
            "an upload has one start message, followed only by data messages",
        )),
    }
}

fn saved(s: Saved) -> pb::SaveCheckpointResponse {
    pb::SaveCheckpointResponse {
        id: s.id,
        raw_size: s.raw_size,
        stored_size: s.stored_size,
        revision: s.revision,
    }
}

#[tonic::async_trait]
impl Checkpoints for CheckpointService {
    async fn save(
        &self,
        req: Request<pb::SaveCheckpointRequest>,
    ) -> Reply<pb::SaveCheckpointResponse> {
        let r = req.into_inner();
        let fields = validate::fields(&self.limits, r.fields)?;
        let fence = coord::fence(r.fence)?;
        let s = self.ingest.save(r.header, fence, fields, r.payload).await?;
        Ok(self.gateway().reply(saved(s)))
    }

    async fn upload(
        &self,
        req: Request<Streaming<pb::UploadCheckpointRequest>>,
    ) -> Reply<pb::SaveCheckpointResponse> {
        let mut stream = req.into_inner();
        let start = match stream.message().await? {
            Some(pb::UploadCheckpointRequest {
                part: Some(Part::Start(start)),
            }) => start,
            _ => return Err(status::invalid("an upload starts with a start message")),
        };
        let s = self.receive_upload(start, &mut stream).await?;
        Ok(self.gateway().reply(saved(s)))
    }

    async fn get(
        &self,
        req: Request<pb::GetCheckpointRequest>,
    ) -> Reply<pb::GetCheckpointResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        fields::id("id", &r.id)?;
        self.gateway().before_read(r.serializable).await?;
        caller::check_workflow_read(&self.workflows, &r.workflow_id)?;
        let revision = self.workflows.applied_index();
        let checkpoint = self
            .reader()
            .record(&r.workflow_id, &r.id)
            .map_err(status::storage_error)?
            .map(|c| convert::checkpoint(c, true));
        Ok(self.gateway().reply(pb::GetCheckpointResponse {
            checkpoint,
            revision,
        }))
    }

    type LoadStream = ReceiverStream<load::Item>;

    async fn load(&self, req: Request<pb::LoadCheckpointRequest>) -> Reply<Self::LoadStream> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        fields::id("id", &r.id)?;
        self.gateway().before_read(r.serializable).await?;
        caller::check_workflow_read(&self.workflows, &r.workflow_id)?;
        let revision = self.workflows.applied_index();
        let rec = self
            .reader()
            .record(&r.workflow_id, &r.id)
            .map_err(status::storage_error)?
            .ok_or_else(|| load::not_found(&r.workflow_id, &r.id))?;
        let rx = load::spawn(self.reader().clone(), rec, r.materialize, revision);
        Ok(self.gateway().reply(ReceiverStream::new(rx)))
    }

    async fn latest(
        &self,
        req: Request<pb::LatestCheckpointRequest>,
    ) -> Reply<pb::LatestCheckpointResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        self.gateway().before_read(r.serializable).await?;
        caller::check_workflow_read(&self.workflows, &r.workflow_id)?;
        let revision = self.workflows.applied_index();
        let latest = self
            .reader()
            .latest(&r.workflow_id)
            .map_err(status::storage_error)?;
        if latest.is_none() {
            self.require_workflow(&r.workflow_id)?;
        }
        Ok(self.gateway().reply(pb::LatestCheckpointResponse {
            checkpoint: latest.map(|c| convert::checkpoint(c, true)),
            revision,
        }))
    }

    async fn latest_valid(
        &self,
        req: Request<pb::LatestCheckpointRequest>,
    ) -> Reply<pb::LatestCheckpointResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        self.gateway().before_read(r.serializable).await?;
        caller::check_workflow_read(&self.workflows, &r.workflow_id)?;
        let revision = self.workflows.applied_index();
        let latest = load::latest_valid(self.reader(), r.workflow_id.clone()).await?;
        if latest.is_none() {
            self.require_workflow(&r.workflow_id)?;
        }
        Ok(self.gateway().reply(pb::LatestCheckpointResponse {
            checkpoint: latest.map(|c| convert::checkpoint(c, true)),
            revision,
        }))
    }

    async fn list(
        &self,
        req: Request<pb::ListCheckpointsRequest>,
    ) -> Reply<pb::ListCheckpointsResponse> {
        let r = req.into_inner();
        fields::id("workflow_id", &r.workflow_id)?;
        let after = Some(r.after).filter(|a| !a.is_empty());
        if let Some(a) = &after {
            fields::id("after", a)?;
        }
        let limit = match r.limit {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        };
        self.gateway().before_read(r.serializable).await?;
        caller::check_workflow_read(&self.workflows, &r.workflow_id)?;
        let revision = self.workflows.applied_index();
        let (records, next_after) = self
            .reader()
            .list(&r.workflow_id, after.as_deref(), limit as usize)
            .map_err(status::storage_error)?;
        if records.is_empty() {
            self.require_workflow(&r.workflow_id)?;
        }
        Ok(self.gateway().reply(pb::ListCheckpointsResponse {
            checkpoints: records
                .into_iter()
                .map(|c| convert::checkpoint(c, false))
                .collect(),
            next_after,
            revision,
        }))
    }

    async fn rollback(
        &self,
        req: Request<pb::RollbackWorkflowRequest>,
    ) -> Reply<pb::RollbackWorkflowResponse> {
        let mut r = req.into_inner();
        let header = r.header.take();
        let fence = coord::fence(r.fence.take())?;
        let command = validate::rollback(r)?;
        match self.propose(header, fence, command).await? {
            (revision, CheckpointReply::RolledBack { workflow }) => {
                Ok(self.gateway().reply(pb::RollbackWorkflowResponse {
                    workflow: Some(pb::WorkflowRef {
                        id: workflow.id,
                        status: workflow.status,
                        version: workflow.version,
                        revision: workflow.revision,
                    }),
                    revision,
                }))
            }
            (_, other) => Err(status::internal(format!(
                "unexpected checkpoint reply: {other:?}"
            ))),
        }
    }

    async fn set_retention(
        &self,
        req: Request<pb::SetRetentionRequest>,
    ) -> Reply<pb::SetRetentionResponse> {
        let mut r = req.into_inner();
        let header = r.header.take();
        let command = validate::retention(r)?;
        match self.propose(header, None, command).await? {
            (revision, CheckpointReply::RetentionSet) => {
                Ok(self.gateway().reply(pb::SetRetentionResponse { revision }))
            }
            (_, other) => Err(status::internal(format!(
                "unexpected checkpoint reply: {other:?}"
            ))),
        }
    }
}
