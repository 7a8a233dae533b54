//! Retention of finished workflows: on the leader, every interval, find terminal workflows
//! that finished longer ago than the configured age and propose a `Purge` of them. The
//! machine re-checks each id against the cutoff, so a stale find (a new leader, a workflow
//! that changed meanwhile) never deletes anything it should not.

use std::time::Duration;

use cairn_model::workflow::{WorkflowCommand, WorkflowReply};
use cairn_model::{Command, Request, Response};
use cairn_raft::{Proposer, now_ms};
use cairn_storage::{StateMachineStore, WorkflowReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Retention;
use crate::leader_tick::{Ticker, leads};

/// Ids per purge command: bounds one log entry and one apply transaction.
const BATCH: usize = 500;
/// Most purge commands per tick, so a large backlog drains over several ticks instead of
/// holding the log in one burst.
const MAX_BATCHES_PER_TICK: usize = 20;

/// Starts the retention loop if retention is on; it ends when `stop` turns true.
pub fn spawn(
    retention: Retention,
    proposer: Proposer<StateMachineStore>,
    reader: WorkflowReader,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let age = retention.age?;
    let mut ticker = Ticker::new(retention.interval, stop);
    Some(tokio::spawn(async move {
        while ticker.next().await {
            if leads(&proposer) {
                sweep(&proposer, &reader, age).await;
            }
        }
    }))
}

async fn sweep(proposer: &Proposer<StateMachineStore>, reader: &WorkflowReader, age: Duration) {
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    let cutoff = now_ms().saturating_sub(age_ms);
    for _ in 0..MAX_BATCHES_PER_TICK {
        let ids = match reader.finished_before(cutoff, BATCH) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("workflow retention: reading finished workflows: {e}");
                return;
            }
        };
        if ids.is_empty() {
            return;
        }
        let found = ids.len();
        let req = Request::from_node(Command::Workflow(WorkflowCommand::Purge {
            ids,
            finished_before_ms: cutoff,
        }));
        match proposer.write_local(req).await {
            Ok(Response::Workflow {
                reply: WorkflowReply::Purged { ids },
                revision,
            }) => {
                tracing::info!(purged = ids.len(), revision, "workflow retention");
                // Nothing qualified after all (changed meanwhile): do not spin on them.
                if ids.is_empty() || found < BATCH {
                    return;
                }
            }
            Ok(other) => {
                tracing::warn!("workflow retention: unexpected reply {other:?}");
                return;
            }
            // Lost leadership or no quorum: the next leader's tick takes over.
            Err(e) => {
                tracing::debug!("workflow retention: purge not applied: {e}");
                return;
            }
        }
    }
}
