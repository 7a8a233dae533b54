//! `cairn ctl workflow get | list | history | transition`, through cairn-client's typed API
//! (leader discovery and retries included).

use cairn_client::{Client, ListOptions, Target};
use serde_json::{Value, json};

use super::error::{CtlError, CtlResult};
use super::output::{Report, table, time_ms};
use super::workflow_view::{event_json, task_json, workflow_json, workflow_rows};

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
        /// Every namespace one may read, merged (--namespace is then ignored).
        #[arg(long)]
        all_namespaces: bool,
        /// Also each workflow's task progress.
        #[arg(long)]
        progress: bool,
    },
    /// A workflow's change history, oldest first.
    History {
        id: String,
        /// Only events of the last this many seconds.
        #[arg(long)]
        since_secs: Option<u64>,
    },
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
    /// One atomic step: a change (create, transition), tasks, variables and a checkpoint,
    /// applied all or nothing at one revision.
    Step(super::step::StepArgs),
    /// Workflows whose owner's lease ended and that nobody adopted since.
    Orphans {
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Own a workflow under a lease (an orphan, or one nobody owns); prints the epoch that
    /// fences the previous owner out.
    Adopt {
        id: String,
        #[arg(long)]
        owner: String,
        /// The lease to own it under (`cairn ctl lease grant`).
        #[arg(long)]
        lease: u64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Claim the oldest ready task of a namespace (or one workflow) under a lease.
    Claim {
        #[arg(long)]
        agent: String,
        #[arg(long)]
        lease: u64,
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long)]
        workflow: Option<String>,
        /// Only tasks of these kinds (repeat or comma-separate).
        #[arg(long, value_delimiter = ',')]
        kind: Vec<String>,
    },
    /// End a claimed run: completed with --output, or failed with --error (retried under
    /// the task's policy).
    Finish {
        workflow: String,
        task: String,
        /// The claim token `claim` printed.
        #[arg(long)]
        claim: u64,
        /// JSON output of a completed run.
        #[arg(long, conflicts_with = "error")]
        output: Option<String>,
        /// JSON error of a failed run.
        #[arg(long)]
        error: Option<String>,
    },
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
        WorkflowCmd::Orphans { .. }
        | WorkflowCmd::Adopt { .. }
        | WorkflowCmd::Claim { .. }
        | WorkflowCmd::Finish { .. } => Err(CtlError::Usage("a claim command (see claims)".into())),
        WorkflowCmd::Step(args) => super::step::run(client, args).await,
        WorkflowCmd::List {
            status,
            namespace,
            definition,
            limit,
            all_namespaces,
            progress,
        } => {
            let mut opts = ListOptions::new().limit(limit);
            if all_namespaces {
                opts = opts.all_namespaces();
            }
            if progress {
                opts = opts.with_progress();
            }
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
            let mut list: Vec<Value> = page.workflows.iter().map(workflow_json).collect();
            for (j, p) in list.iter_mut().zip(&page.progress) {
                j["progress"] = json!({
                    "total": p.total, "pending": p.pending, "running": p.running,
                    "completed": p.completed, "failed": p.failed, "skipped": p.skipped,
                    "cancelled": p.cancelled,
                });
            }
            let mut human = workflow_rows(&page.workflows);
            if page.next_cursor.is_some() {
                human.push_str("(more; raise --limit)\n");
            }
            Ok(Report::new(
                json!({ "workflows": list, "more": page.next_cursor.is_some() }),
                human,
            ))
        }
        WorkflowCmd::History { id, since_secs } => {
            let since = since_secs.map(|s| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                now.saturating_sub(s.saturating_mul(1000))
            });
            let events = client.history_between(&id, since, None).await?;
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
