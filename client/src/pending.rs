//! Writes whose outcome is unknown. When every retry of a write failed transiently, the write
//! may or may not have been applied; the caller gets [`Error::OutcomeUnknown`] holding a
//! [`PendingWrite`], and [`Client::resume`] sends it again with its original idempotency key,
//! so the cluster applies it at most once (within its dedup window, 10 minutes by default).
//!
//! Every write of every service (KV, workflows, checkpoints) goes through
//! [`Client::send_write`], so all of them share the retry loop, the idempotency header and
//! this recovery path. The data of a write ([`WriteOp`], [`PendingWrite`]) is `write_op`'s.

use std::future::Future;
use std::sync::Arc;

use tonic::transport::Channel;
use tonic::{Response, Status};

use crate::checkpoint::SavedCheckpoint;
use crate::client::{Client, request};
use crate::coord::CoordOutcome;
use crate::error::{Error, Result};
use crate::kv::{DeleteResult, KeyValue, TxnOpResult, TxnResult};
use crate::workflow::convert;
use crate::workflow::{
    Adoption, Claimed, CreatedWorkflow, DeletedWorkflow, RegisteredDefinition, StepResult,
    StepsApplied, TaskRef, UpsertedTasks, VarsWritten, WorkflowRef,
};
use crate::write_op::{PendingWrite, SequenceHold, WriteOp};

fn vars_written(r: cairn_api::v1::UpdateVarsResponse) -> VarsWritten {
    VarsWritten {
        version: r.version,
        checksum: r.checksum,
        revision: r.revision,
    }
}

fn txn_result(r: cairn_api::v1::TxnResponse) -> Result<TxnResult> {
    use cairn_api::v1::txn_op_result::Result as R;
    let results = r
        .results
        .into_iter()
        .map(|o| match o.result {
            Some(R::Put(_)) => Ok(TxnOpResult::Put),
            Some(R::Deleted(d)) => Ok(TxnOpResult::Deleted(d)),
            Some(R::Get(g)) => Ok(TxnOpResult::Get(g.kv.map(KeyValue::from))),
            None => Err(mismatched_reply()),
        })
        .collect::<Result<_>>()?;
    Ok(TxnResult {
        succeeded: r.succeeded,
        results,
        revision: r.revision,
    })
}

fn steps_applied(r: cairn_api::v1::ApplyStepsResponse) -> Result<StepsApplied> {
    let results = r
        .results
        .into_iter()
        .map(|s| {
            Ok(StepResult {
                workflow: s
                    .workflow
                    .map(|w| convert::workflow_ref(Some(w)))
                    .transpose()?,
                created: s.created,
                tasks: s
                    .tasks
                    .into_iter()
                    .map(|t| convert::task_ref(Some(t)))
                    .collect::<Result<_>>()?,
                vars: s.vars.map(|v| VarsWritten {
                    version: v.version,
                    checksum: v.checksum,
                    revision: v.revision,
                }),
                checkpoint: s.checkpoint.map(crate::checkpoint::convert::saved),
            })
        })
        .collect::<Result<_>>()?;
    Ok(StepsApplied {
        revision: r.revision,
        results,
    })
}

/// What a resumed write returns: the same as the original call would have.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WriteOutcome {
    Put {
        revision: u64,
    },
    Delete(DeleteResult),
    Definition(RegisteredDefinition),
    Created(CreatedWorkflow),
    /// A transition, an update or a rollback.
    Workflow(WorkflowRef),
    WorkflowDeleted(DeletedWorkflow),
    Tasks(UpsertedTasks),
    Checkpoint(SavedCheckpoint),
    RetentionSet {
        revision: u64,
    },
    /// A lease, lock or election write.
    Coord(CoordOutcome),
    Claimed(Box<Claimed>),
    /// A finished run.
    Finished(TaskRef),
    Adopted(Adoption),
    /// A variables update or rollback.
    Vars(VarsWritten),
    Steps(StepsApplied),
    Txn(TxnResult),
}

/// Turns "retries exhausted" into [`Error::OutcomeUnknown`]: an attempt may have been applied
/// even though no answer came back. Definite answers (invalid input, revision mismatch, ...)
/// pass through unchanged.
pub(crate) fn outcome_unknown(e: Error, op: impl FnOnce() -> WriteOp) -> Error {
    let cause = match e {
        Error::Unavailable(cause) => cause,
        Error::Timeout => "timed out".to_string(),
        Error::Rpc(s) if matches!(s.code(), tonic::Code::Internal | tonic::Code::Unknown) => {
            s.message().to_string()
        }
        other => return other,
    };
    Error::OutcomeUnknown(Box::new(PendingWrite {
        op: op(),
        cause,
        hold: None,
    }))
}

/// A write's answer matched another kind of write; only a client bug gets here.
pub(crate) fn mismatched_reply() -> Error {
    Error::Rpc(Status::internal("write answered with the wrong reply type"))
}

impl Client {
    /// Sends a write whose outcome was unknown again, with its original idempotency key: if
    /// the first attempt was applied, this returns that attempt's result instead of applying
    /// the write twice.
    pub async fn resume(&self, mut pending: PendingWrite) -> Result<WriteOutcome> {
        let hold = pending.hold.take();
        self.settle(pending.op, hold).await
    }

    /// Sends one logical write (retrying with its header unchanged); exhausted retries
    /// become [`Error::OutcomeUnknown`]. Its sequence stays in flight until the write has a
    /// definite answer, or, if the outcome is unknown, until its `PendingWrite` is dropped.
    pub(crate) async fn send_write(&self, op: WriteOp) -> Result<WriteOutcome> {
        let hold = op
            .header()
            .map(|h| Arc::new(SequenceHold::new(self.inner.in_flight.clone(), h.sequence)));
        self.settle(op, hold).await
    }

    async fn settle(&self, op: WriteOp, hold: Option<Arc<SequenceHold>>) -> Result<WriteOutcome> {
        match self.dispatch(op).await {
            Err(Error::OutcomeUnknown(mut pending)) => {
                pending.hold = hold;
                Err(Error::OutcomeUnknown(pending))
            }
            // A definite answer: dropping the hold finishes the sequence.
            other => other,
        }
    }

    /// One logical write through the retry loop with its header unchanged; exhausted retries
    /// become [`Error::OutcomeUnknown`] carrying the same message.
    async fn write<M, R, F, Fut>(
        &self,
        name: &'static str,
        msg: M,
        wrap: fn(M) -> WriteOp,
        rpc: F,
    ) -> Result<R>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = std::result::Result<Response<R>, Status>>,
    {
        let result = self
            .call(name, |ch, t| rpc(ch, request(msg.clone(), t)))
            .await;
        result.map_err(|e| outcome_unknown(e, || wrap(msg)))
    }

    /// The RPC of one logical write.
    async fn dispatch(&self, op: WriteOp) -> Result<WriteOutcome> {
        match op {
            WriteOp::Put(m) => {
                let r = self
                    .write("put", m, WriteOp::Put, |ch, req| async move {
                        Self::kv(ch).put(req).await
                    })
                    .await?;
                Ok(WriteOutcome::Put {
                    revision: r.revision,
                })
            }
            WriteOp::Delete(m) => {
                let r = self
                    .write("delete", m, WriteOp::Delete, |ch, req| async move {
                        Self::kv(ch).delete(req).await
                    })
                    .await?;
                Ok(WriteOutcome::Delete(DeleteResult {
                    revision: r.revision,
                    deleted: r.deleted,
                }))
            }
            WriteOp::RegisterDefinition(m) => {
                let r = self
                    .write(
                        "register_definition",
                        m,
                        WriteOp::RegisterDefinition,
                        |ch, req| async move { Self::workflows(ch).register_definition(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Definition(r.into()))
            }
            WriteOp::CreateWorkflow(m) => {
                let r = self
                    .write(
                        "create_workflow",
                        m,
                        WriteOp::CreateWorkflow,
                        |ch, req| async move { Self::workflows(ch).create_workflow(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Created(CreatedWorkflow {
                    workflow: convert::workflow_ref(r.workflow)?,
                    created: r.created,
                    revision: r.revision,
                }))
            }
            WriteOp::TransitionWorkflow(m) => {
                let r = self
                    .write(
                        "transition_workflow",
                        m,
                        WriteOp::TransitionWorkflow,
                        |ch, req| async move { Self::workflows(ch).transition_workflow(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Workflow(convert::workflow_ref(r.workflow)?))
            }
            WriteOp::UpdateWorkflow(m) => {
                let r = self
                    .write(
                        "update_workflow",
                        m,
                        WriteOp::UpdateWorkflow,
                        |ch, req| async move { Self::workflows(ch).update_workflow(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Workflow(convert::workflow_ref(r.workflow)?))
            }
            WriteOp::DeleteWorkflow(m) => {
                let r = self
                    .write(
                        "delete_workflow",
                        m,
                        WriteOp::DeleteWorkflow,
                        |ch, req| async move { Self::workflows(ch).delete_workflow(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::WorkflowDeleted(DeletedWorkflow {
                    id: r.id,
                    tasks: r.tasks,
                    revision: r.revision,
                }))
            }
            WriteOp::UpsertTasks(m) => {
                let r = self
                    .write(
                        "upsert_tasks",
                        m,
                        WriteOp::UpsertTasks,
                        |ch, req| async move { Self::workflows(ch).upsert_tasks(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Tasks(convert::upserted_tasks(r)?))
            }
            WriteOp::SaveCheckpoint(save) => self.dispatch_save(save).await,
            WriteOp::ClaimTask(m) => {
                let r = self
                    .write("claim_task", m, WriteOp::ClaimTask, |ch, req| async move {
                        Self::workflows(ch).claim_task(req).await
                    })
                    .await?;
                Ok(WriteOutcome::Claimed(Box::new(convert::claimed(r)?)))
            }
            WriteOp::FinishTask(m) => {
                let r = self
                    .write(
                        "finish_task",
                        m,
                        WriteOp::FinishTask,
                        |ch, req| async move { Self::workflows(ch).finish_task(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Finished(convert::task_ref(r.task)?))
            }
            WriteOp::UpdateVars(m) => {
                let r = self
                    .write(
                        "update_vars",
                        m,
                        WriteOp::UpdateVars,
                        |ch, req| async move { Self::workflows(ch).update_vars(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Vars(vars_written(r)))
            }
            WriteOp::Txn(m) => {
                let r = self
                    .write("txn", m, WriteOp::Txn, |ch, req| async move {
                        Self::kv(ch).txn(req).await
                    })
                    .await?;
                Ok(WriteOutcome::Txn(txn_result(r)?))
            }
            WriteOp::ApplySteps(m) => {
                let r = self
                    .write(
                        "apply_steps",
                        m,
                        WriteOp::ApplySteps,
                        |ch, req| async move { Self::steps(ch).apply(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Steps(steps_applied(r)?))
            }
            WriteOp::RollbackVars(m) => {
                let r = self
                    .write(
                        "rollback_vars",
                        m,
                        WriteOp::RollbackVars,
                        |ch, req| async move { Self::workflows(ch).rollback_vars(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Vars(vars_written(r)))
            }
            WriteOp::AdoptWorkflow(m) => {
                let r = self
                    .write(
                        "adopt_workflow",
                        m,
                        WriteOp::AdoptWorkflow,
                        |ch, req| async move { Self::workflows(ch).adopt_workflow(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Adopted(Adoption {
                    workflow: convert::workflow_ref(r.workflow)?,
                    epoch: r.epoch,
                    previous_owner: r.previous_owner,
                }))
            }
            WriteOp::RollbackWorkflow(m) => {
                let r = self
                    .write(
                        "rollback_workflow",
                        m,
                        WriteOp::RollbackWorkflow,
                        |ch, req| async move { Self::checkpoints(ch).rollback(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::Workflow(convert::workflow_ref(r.workflow)?))
            }
            WriteOp::SetRetention(m) => {
                let r = self
                    .write(
                        "set_retention",
                        m,
                        WriteOp::SetRetention,
                        |ch, req| async move { Self::checkpoints(ch).set_retention(req).await },
                    )
                    .await?;
                Ok(WriteOutcome::RetentionSet {
                    revision: r.revision,
                })
            }
            WriteOp::Coord(w) => self.dispatch_coord(w).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Client;
    use crate::write_op::SequenceHold;

    fn hold(c: &Client, sequence: u64) -> Arc<SequenceHold> {
        Arc::new(SequenceHold::new(c.inner.in_flight.clone(), sequence))
    }

    #[test]
    fn first_incomplete_is_the_oldest_unfinished_write() {
        let c = Client::connect(["127.0.0.1:1"]).unwrap();
        let h1 = c.next_header();
        assert_eq!(h1.first_incomplete, h1.sequence);
        let hold1 = hold(&c, h1.sequence);
        let h2 = c.next_header();
        let hold2 = hold(&c, h2.sequence);
        assert_eq!(h2.first_incomplete, h1.sequence);
        // A pending write's clone keeps the sequence in flight until the last one is gone.
        let clone = hold1.clone();
        drop(hold1);
        assert_eq!(c.next_header().first_incomplete, h1.sequence);
        drop(clone);
        let h4 = c.next_header();
        assert_eq!(h4.first_incomplete, h2.sequence);
        drop(hold2);
        // h3 and h4 were never held by a write in this test, so they stay registered.
        assert_eq!(c.next_header().first_incomplete, h2.sequence + 1);
    }
}
