//! `cairn ctl workflow orphans | adopt | claim | finish`: worker and orchestrator liveness
//! from the command line (operators inspecting orphans, scripts acting as workers).

use cairn_client::{ClaimOptions, Client, ListOptions, RunResult};
use serde_json::{Value, json};

use super::error::{CtlError, CtlResult};
use super::output::Report;
use super::workflow::WorkflowCmd;
use super::workflow_view::{task_json, workflow_json, workflow_rows};

fn json_arg(flag: &str, text: &str) -> CtlResult<Value> {
    serde_json::from_str(text).map_err(|e| CtlError::Usage(format!("{flag} is not JSON: {e}")))
}

/// Whether `cmd` is one of this module's.
pub fn handles(cmd: &WorkflowCmd) -> bool {
    matches!(
        cmd,
        WorkflowCmd::Orphans { .. }
            | WorkflowCmd::Adopt { .. }
            | WorkflowCmd::Claim { .. }
            | WorkflowCmd::Finish { .. }
    )
}

pub async fn run(client: &Client, cmd: WorkflowCmd) -> CtlResult<Report> {
    match cmd {
        WorkflowCmd::Orphans { namespace, limit } => {
            let mut opts = ListOptions::new().limit(limit).orphaned_only();
            if let Some(n) = namespace {
                opts = opts.namespace(n);
            }
            let page = client.list_workflows(&opts).await?;
            let list: Vec<Value> = page.workflows.iter().map(workflow_json).collect();
            Ok(Report::new(
                json!({ "workflows": list, "more": page.next_cursor.is_some() }),
                workflow_rows(&page.workflows),
            ))
        }
        WorkflowCmd::Adopt {
            id,
            owner,
            lease,
            reason,
        } => {
            let a = client.adopt_workflow(&id, &owner, lease, &reason).await?;
            Ok(Report::new(
                json!({
                    "id": a.workflow.id,
                    "version": a.workflow.version,
                    "epoch": a.epoch,
                    "previous_owner": a.previous_owner,
                }),
                format!(
                    "{} owned by {owner} from epoch {} (previously {})",
                    a.workflow.id,
                    a.epoch,
                    if a.previous_owner.is_empty() {
                        "nobody"
                    } else {
                        &a.previous_owner
                    }
                ),
            ))
        }
        WorkflowCmd::Claim {
            agent,
            lease,
            namespace,
            workflow,
            kind,
        } => {
            let mut opts = ClaimOptions::new();
            opts.namespace = namespace;
            opts.workflow_id = workflow;
            opts.kinds = kind;
            let c = client.claim_task(&agent, lease, opts).await?;
            let human = match &c.task {
                Some(t) => format!(
                    "claimed {}/{} (attempt {}, claim {})",
                    t.workflow_id, t.id, t.attempts, t.claim
                ),
                None => "no task ready".to_string(),
            };
            let task = c.task.as_ref().map(|t| {
                let mut j = task_json(t);
                j["workflow_id"] = json!(t.workflow_id);
                j
            });
            Ok(Report::new(
                json!({ "task": task, "next_ready_ms": c.next_ready_ms }),
                human,
            ))
        }
        WorkflowCmd::Finish {
            workflow,
            task,
            claim,
            output,
            error,
        } => {
            let result = match (output, error) {
                (_, Some(e)) => RunResult::Failed(json_arg("--error", &e)?),
                (Some(o), None) => RunResult::Completed(json_arg("--output", &o)?),
                (None, None) => RunResult::Completed(Value::Null),
            };
            let t = client.finish_task(&workflow, &task, claim, result).await?;
            Ok(Report::new(
                json!({ "workflow_id": workflow, "id": t.id, "status": t.status.as_str(),
                        "attempts": t.attempts, "version": t.version }),
                format!("{workflow}/{} is {}", t.id, t.status),
            ))
        }
        _ => Err(CtlError::Usage("not a claim command".into())),
    }
}
