//! The data of a write as sent, kept so it can be sent again unchanged: [`WriteOp`] (with the
//! checkpoint and coordination variants [`CheckpointSave`] and [`CoordWrite`]), and
//! [`PendingWrite`], the write whose outcome is unknown that [`crate::Error::OutcomeUnknown`]
//! carries.
//!
//! Only data lives here, built from API messages and the in-flight set: `error` refers to
//! [`PendingWrite`], so nothing here may refer back to the client, its calls or its errors.
//! Sending and resuming writes is `pending`'s; moving checkpoint payloads is
//! `checkpoint::transfer`'s; coordination RPCs are `coord::write`'s.

use std::fmt;
use std::sync::Arc;

use cairn_api::v1::{
    self as pb, CreateWorkflowRequest, DeleteRequest, DeleteWorkflowRequest, PutRequest,
    RegisterDefinitionRequest, RequestHeader, RollbackWorkflowRequest, SetRetentionRequest,
    TransitionWorkflowRequest, UpdateWorkflowRequest, UpsertTasksRequest,
};

use crate::in_flight::InFlight;

/// One logical write, as sent (header included), so it can be sent again unchanged.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp {
    Put(PutRequest),
    Delete(DeleteRequest),
    RegisterDefinition(RegisterDefinitionRequest),
    CreateWorkflow(CreateWorkflowRequest),
    TransitionWorkflow(TransitionWorkflowRequest),
    UpdateWorkflow(UpdateWorkflowRequest),
    DeleteWorkflow(DeleteWorkflowRequest),
    UpsertTasks(UpsertTasksRequest),
    /// A checkpoint save, unary or streamed by size (see `checkpoint::transfer`).
    SaveCheckpoint(CheckpointSave),
    RollbackWorkflow(RollbackWorkflowRequest),
    SetRetention(SetRetentionRequest),
    /// A lease, lock or election write (see `coord::write`).
    Coord(CoordWrite),
    ClaimTask(pb::ClaimTaskRequest),
    FinishTask(pb::FinishTaskRequest),
    AdoptWorkflow(pb::AdoptWorkflowRequest),
    UpdateVars(pb::UpdateVarsRequest),
    RollbackVars(pb::RollbackVarsRequest),
    ApplySteps(pb::ApplyStepsRequest),
    Txn(pb::TxnRequest),
}

impl WriteOp {
    pub(crate) fn header(&self) -> Option<&RequestHeader> {
        match self {
            WriteOp::Put(r) => r.header.as_ref(),
            WriteOp::Delete(r) => r.header.as_ref(),
            WriteOp::RegisterDefinition(r) => r.header.as_ref(),
            WriteOp::CreateWorkflow(r) => r.header.as_ref(),
            WriteOp::TransitionWorkflow(r) => r.header.as_ref(),
            WriteOp::UpdateWorkflow(r) => r.header.as_ref(),
            WriteOp::DeleteWorkflow(r) => r.header.as_ref(),
            WriteOp::UpsertTasks(r) => r.header.as_ref(),
            WriteOp::SaveCheckpoint(s) => Some(&s.header),
            WriteOp::RollbackWorkflow(r) => r.header.as_ref(),
            WriteOp::SetRetention(r) => r.header.as_ref(),
            WriteOp::Coord(w) => w.header(),
            WriteOp::ClaimTask(r) => r.header.as_ref(),
            WriteOp::FinishTask(r) => r.header.as_ref(),
            WriteOp::AdoptWorkflow(r) => r.header.as_ref(),
            WriteOp::UpdateVars(r) => r.header.as_ref(),
            WriteOp::RollbackVars(r) => r.header.as_ref(),
            WriteOp::ApplySteps(r) => r.header.as_ref(),
            WriteOp::Txn(r) => r.header.as_ref(),
        }
    }
}

/// A save as sent, so it can be sent again unchanged (see `WriteOp`). The payload is shared,
/// not copied, between attempts and a pending write.
#[derive(Clone)]
pub(crate) struct CheckpointSave {
    pub(crate) header: pb::RequestHeader,
    pub(crate) fields: pb::CheckpointFields,
    pub(crate) payload: Arc<Vec<u8>>,
    pub(crate) fence: Option<pb::Fence>,
}

impl fmt::Debug for CheckpointSave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may be hundreds of MiB: its size says enough.
        f.debug_struct("CheckpointSave")
            .field("header", &self.header)
            .field("fields", &self.fields)
            .field("fence", &self.fence)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

/// One logical coordination write, as sent (header included).
#[derive(Debug, Clone)]
pub(crate) enum CoordWrite {
    Grant(pb::LeaseGrantRequest),
    Revoke(pb::LeaseRevokeRequest),
    Acquire(pb::AcquireLockRequest),
    Release(pb::ReleaseLockRequest),
    Refresh(pb::RefreshLockRequest),
    Campaign(pb::CampaignRequest),
    Resign(pb::ResignRequest),
    Proclaim(pb::ProclaimRequest),
}

impl CoordWrite {
    pub(crate) fn header(&self) -> Option<&pb::RequestHeader> {
        match self {
            CoordWrite::Grant(r) => r.header.as_ref(),
            CoordWrite::Revoke(r) => r.header.as_ref(),
            CoordWrite::Acquire(r) => r.header.as_ref(),
            CoordWrite::Release(r) => r.header.as_ref(),
            CoordWrite::Refresh(r) => r.header.as_ref(),
            CoordWrite::Campaign(r) => r.header.as_ref(),
            CoordWrite::Resign(r) => r.header.as_ref(),
            CoordWrite::Proclaim(r) => r.header.as_ref(),
        }
    }
}

/// A write that may or may not have been applied. Resume it with
/// [`Client::resume`](crate::Client::resume).
#[derive(Debug, Clone)]
pub struct PendingWrite {
    pub(crate) op: WriteOp,
    /// The last failure seen before the retries ran out.
    pub cause: String,
    /// Keeps the write's sequence in flight while the write can still be resumed, so the
    /// cluster keeps its reply.
    pub(crate) hold: Option<Arc<SequenceHold>>,
}

impl PendingWrite {
    /// The idempotency key `(client_id, sequence)` every attempt of this write carries.
    pub fn idempotency_key(&self) -> (&str, u64) {
        self.op
            .header()
            .map_or(("", 0), |h| (h.client_id.as_str(), h.sequence))
    }
}

/// A write's sequence, counted as in flight until the last holder drops it.
#[derive(Debug)]
pub(crate) struct SequenceHold {
    // Only the in-flight set, not the client: a pending write needs nothing else of it.
    in_flight: Arc<InFlight>,
    sequence: u64,
}

impl SequenceHold {
    /// Holds `sequence`, which the caller has already registered in `in_flight`.
    pub(crate) fn new(in_flight: Arc<InFlight>, sequence: u64) -> Self {
        Self {
            in_flight,
            sequence,
        }
    }
}

impl Drop for SequenceHold {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.sequence);
    }
}
