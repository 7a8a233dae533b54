//! `cairn ctl workflow get | list | history | transition`, through cairn-client's typed API
//! (leader discovery and retries included).

use cairn_client::{Client, HistoryEvent, ListOptions, Target, Task, Workflow};
use serde_json::{Value, json};

use super::error::{CtlError, CtlResult};
use super::output::{Report, table, time_ms};

#[derive(clap::Subcommand, Debug)]
pub enum WorkflowCmd {
    /// Show one workflow (exit 4 if it does not exist).
    Get {
        id: String,
        /// Include its tasks.
        #[arg(long)]
        tasks: bool,
    },
    /// List workflows (newest first by default).
    List {
        /// Only these statuses (repeat or comma-separate).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long)]
        definition: Option<String>,
        /// At most this many (0: the server's page size).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// A workflow's change history, oldest first.
    History { id: String },
    /// Forget a workflow's oldest history events, keeping the last --keep-last versions'.
    CompactHistory {
        id: String,
        #[arg(long, default_value_t = 100)]
        keep_last: u64,
    },
    /// Move a workflow to a status (or along the edge an event selects).
    Transition {
        id: String,
        /// Target status.
        #[arg(long, conflicts_with = "event", required_unless_present = "event")]
        to: Option<String>,
        /// Event naming the edge to take.
        #[arg(long)]
        event: Option<String>,
        /// Only if the workflow is at this version (optimistic concurrency).
        #[arg(long)]
        expected_version: Option<u64>,
        #[arg(long, default_value = "cairn-ctl")]
        actor: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn workflow_json(w: &Workflow) -> Value {
    json!({
        "id": w.id,
        "namespace": w.namespace,
        "definition": w.definition,
        "definition_version": w.definition_version,
        "status": w.status,
        "version": w.version,
        "create_revision": w.create_revision,
        "mod_revision": w.mod_revision,
        "created_ms": w.created_ms,
        "updated_ms": w.updated_ms,
        "started_ms": w.started_ms,
        "finished_ms": w.finished_ms,
        "metadata": w.metadata,
        "labels": w.labels,
        "owner_id": w.owner_id,
    })
}

fn task_json(t: &Task) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "status": t.status.as_str(),
        "attempts": t.attempts,
        "dependencies": t.dependencies,
        "version": t.version,
        "agent_id": t.agent_id,
    })
}

fn event_json(e: &HistoryEvent) -> Value {
    json!({
        "version": e.version,
        "revision": e.revision,
        "time_ms": e.time_ms,
        "kind": e.kind.as_str(),
        "from": e.from,
        "to": e.to,
        "event": e.event,
        "actor": e.actor,
        "reason": e.reason,
    })
}

fn workflow_rows(ws: &[Workflow]) -> String {
    let rows: Vec<Vec<String>> = ws
        .iter()
        .map(|w| {
            vec![
                w.id.clone(),
                w.status.clone(),
                w.version.to_string(),
                format!("{}@{}", w.definition, w.definition_version),
                w.namespace.clone(),
                time_ms(w.updated_ms),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATUS",
            "VERSION",
            "DEFINITION",
            "NAMESPACE",
            "UPDATED",
        ],
        &rows,
    )
}

pub async fn run(client: &Client, cmd: WorkflowCmd) -> CtlResult<Report> {
    match cmd {
        WorkflowCmd::Get { id, tasks } => {
            let d = client
                .workflow(&id, tasks)
                .await?
                .ok_or_else(|| CtlError::NotFound(format!("workflow {id:?}")))?;
            let mut human = workflow_rows(std::slice::from_ref(&d.workflow));
            if !d.tasks.is_empty() {
                let rows: Vec<Vec<String>> = d
                    .tasks
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.status.as_str().to_string(),
                            t.attempts.to_string(),
                            t.dependencies.join(","),
                        ]
                    })
                    .collect();
                human.push('\n');
                human.push_str(&table(&["TASK", "STATUS", "ATTEMPTS", "DEPENDS ON"], &rows));
            }
            let mut j = workflow_json(&d.workflow);
            j["tasks"] = d.tasks.iter().map(task_json).collect();
            Ok(Report::new(j, human))
        }
        WorkflowCmd::List {
            status,
            namespace,
            definition,
            limit,
        } => {
            let mut opts = ListOptions::new().limit(limit);
            for s in status {
                opts = opts.status(s);
            }
            if let Some(n) = namespace {
                opts = opts.namespace(n);
            }
            if let Some(d) = definition {
                opts = opts.definition(d);
            }
            let page = client.list_workflows(&opts).await?;
            let list: Vec<Value> = page.workflows.iter().map(workflow_json).collect();
            let mut human = workflow_rows(&page.workflows);
            if page.next_cursor.is_some() {
                human.push_str("(more; raise --limit)\n");
            }
            Ok(Report::new(
                json!({ "workflows": list, "more": page.next_cursor.is_some() }),
                human,
            ))
        }
        WorkflowCmd::History { id } => {
            let events = client.history_all(&id).await?;
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        e.version.to_string(),
                        e.kind.as_str().to_string(),
                        if e.from.is_empty() {
                            "-".into()
                        } else {
                            e.from.clone()
                        },
                        e.to.clone(),
                        e.event.clone().unwrap_or_else(|| "-".into()),
                        e.actor.clone(),
                        time_ms(e.time_ms),
                        e.reason.clone(),
                    ]
                })
                .collect();
            let human = table(
                &[
                    "VERSION", "KIND", "FROM", "TO", "EVENT", "ACTOR", "TIME", "REASON",
                ],
                &rows,
            );
            Ok(Report::new(
                json!({ "id": id, "events": events.iter().map(event_json).collect::<Vec<_>>() }),
                human,
            ))
        }
        WorkflowCmd::CompactHistory { id, keep_last } => {
            if keep_last == 0 {
                return Err(CtlError::Usage("--keep-last must be at least 1".into()));
            }
            let floor = client.compact_history(&id, keep_last).await?;
            Ok(Report::new(
                json!({ "id": id, "history_floor": floor }),
                format!("{id}: history before version {floor} compacted"),
            ))
        }
        WorkflowCmd::Transition {
            id,
            to,
            event,
            expected_version,
            actor,
            reason,
        } => {
            let target = match (to, event) {
                (Some(s), None) => Target::status(s),
                (None, Some(e)) => Target::event(e),
                _ => return Err(CtlError::Usage("give exactly one of --to, --event".into())),
            };
            let r = client
                .transition(&id, target, expected_version, &actor, &reason)
                .await?;
            Ok(Report::new(
                json!({ "id": r.id, "status": r.status, "version": r.version, "revision": r.revision }),
                format!("{} is {} (version {})", r.id, r.status, r.version),
            ))
        }
    }
}
