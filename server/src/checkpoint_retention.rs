//! Checkpoint housekeeping on the leader, every interval: apply each workflow's retention
//! policy (its own, else its namespace's) by proposing a `Purge` of the checkpoints it does
//! not keep, and collect chunked uploads never committed within the upload timeout with an
//! `AbortUploads`. The machine re-checks what it is asked to delete (a purge spares parents
//! of kept deltas; only uploads still uncommitted are aborted), so a stale find is harmless.

use std::time::Duration;

use cairn_model::checkpoint::{CheckpointCommand, CheckpointReply};
use cairn_model::{Command, Request, Response};
use cairn_raft::{Proposer, now_ms};
use cairn_storage::{CheckpointReader, StateMachineStore, WorkflowReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::CheckpointConfig;
use crate::leader_tick::{Ticker, leads};

/// Workflows read per page of the sweep.
const PAGE: usize = 500;
/// Most purge proposals per tick: a large backlog drains over several ticks instead of
/// holding the log in one burst.
const MAX_PURGES_PER_TICK: usize = 200;
/// Uploads aborted per command (as many as a client's abort may name).
const ABORT_BATCH: usize = cairn_model::checkpoint::command::MAX_UPLOADS_PER_ABORT;

/// Starts the housekeeping loop; it ends when `stop` turns true.
pub fn spawn(
    config: CheckpointConfig,
    proposer: Proposer<StateMachineStore>,
    checkpoints: CheckpointReader,
    workflows: WorkflowReader,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut ticker = Ticker::new(config.interval, stop);
    tokio::spawn(async move {
        let sweeper = Sweeper {
            proposer,
            checkpoints,
            workflows,
            upload_timeout: config.upload_timeout,
        };
        while ticker.next().await {
            if leads(&sweeper.proposer) {
                sweeper.collect_uploads().await;
                sweeper.apply_retention().await;
            }
        }
    })
}

struct Sweeper {
    proposer: Proposer<StateMachineStore>,
    checkpoints: CheckpointReader,
    workflows: WorkflowReader,
    upload_timeout: Duration,
}

impl Sweeper {
    /// Proposes `command` here (the leader); `None` when it was not applied (lost
    /// leadership, no quorum: the next leader's tick takes over).
    async fn propose(&self, command: CheckpointCommand) -> Option<CheckpointReply> {
        let req = Request::from_node(Command::Checkpoint(command));
        match self.proposer.write_local(req).await {
            Ok(Response::Checkpoint { reply, .. }) => Some(reply),
            Ok(other) => {
                tracing::warn!("checkpoint housekeeping: unexpected reply {other:?}");
                None
            }
            Err(e) => {
                tracing::debug!("checkpoint housekeeping: not applied: {e}");
                None
            }
        }
    }

    async fn collect_uploads(&self) {
        let timeout_ms = u64::try_from(self.upload_timeout.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms().saturating_sub(timeout_ms);
        let stale = match self.checkpoints.stale_uploads(cutoff, ABORT_BATCH) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("checkpoint housekeeping: reading uploads: {e}");
                return;
            }
        };
        if stale.is_empty() {
            return;
        }
        if let Some(CheckpointReply::UploadsAborted { upload_ids }) = self
            .propose(CheckpointCommand::AbortUploads { upload_ids: stale })
            .await
        {
            tracing::info!(
                aborted = upload_ids.len(),
                "collected stale checkpoint uploads"
            );
        }
    }

    async fn apply_retention(&self) {
        let now = now_ms();
        let mut after: Option<String> = None;
        let mut purges = 0;
        loop {
            let page = match self
                .checkpoints
                .workflows_with_checkpoints(after.as_deref(), PAGE)
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("checkpoint retention: listing workflows: {e}");
                    return;
                }
            };
            let Some(last) = page.last().cloned() else {
                return;
            };
            for workflow_id in page {
                if purges == MAX_PURGES_PER_TICK {
                    return;
                }
                let victims = match self.victims(&workflow_id, now) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(workflow_id, "checkpoint retention: {e}");
                        continue;
                    }
                };
                if victims.is_empty() {
                    continue;
                }
                purges += 1;
                let command = CheckpointCommand::Purge {
                    workflow_id: workflow_id.clone(),
                    ids: victims,
                };
                match self.propose(command).await {
                    Some(CheckpointReply::Purged { ids }) => {
                        tracing::info!(workflow_id, purged = ids.len(), "checkpoint retention");
                    }
                    Some(_) => {}
                    None => return,
                }
            }
            after = Some(last);
        }
    }

    fn victims(
        &self,
        workflow_id: &str,
        now: u64,
    ) -> Result<Vec<String>, cairn_storage::StorageError> {
        // A directory can outlive nothing: deleting a workflow deletes it. A missing
        // workflow here is one deleted since the page was read.
        let Some(wf) = self.workflows.workflow(workflow_id)? else {
            return Ok(Vec::new());
        };
        self.checkpoints
            .retention_victims(workflow_id, &wf.namespace, now)
    }
}
