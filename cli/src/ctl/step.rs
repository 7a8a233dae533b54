//! `cairn ctl workflow step`: one atomic step from the command line (a create or transition,
//! tasks, variables and a checkpoint file, all or nothing at one revision).

use std::path::PathBuf;

use cairn_client::{Client, CreateWorkflow, SaveOptions, Step, Target, TaskSpec, VarUpdate};
use serde_json::json;

use super::error::{CtlError, CtlResult};
use super::output::Report;
use super::vars::var_pair;

#[derive(clap::Args, Debug)]
pub struct StepArgs {
    /// The workflow.
    id: String,
    /// Create it (in --namespace, following --definition).
    #[arg(long, conflicts_with_all = ["to", "event"])]
    create: bool,
    #[arg(long, requires = "create")]
    namespace: Option<String>,
    #[arg(long, requires = "create")]
    definition: Option<String>,
    /// Move it to this status.
    #[arg(long, conflicts_with = "event")]
    to: Option<String>,
    /// Move it along the edge this event names.
    #[arg(long)]
    event: Option<String>,
    /// Only if the workflow is at this version.
    #[arg(long)]
    expected_version: Option<u64>,
    /// A task to create or change: ID, or ID:DEP,DEP (its dependencies). Repeat.
    #[arg(long = "task", value_name = "ID[:DEPS]")]
    tasks: Vec<String>,
    /// Set a workflow variable (KEY=JSON). Repeat.
    #[arg(long = "set-var", value_name = "KEY=JSON")]
    set_vars: Vec<String>,
    /// Only if the variables are at this version (0: none yet).
    #[arg(long)]
    vars_version: Option<u64>,
    /// Save this file as a checkpoint of the workflow (at most 64 KiB).
    #[arg(long)]
    checkpoint_file: Option<PathBuf>,
    /// The checkpoint's label.
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long, default_value = "cairn-ctl")]
    actor: String,
    #[arg(long, default_value = "")]
    reason: String,
}

fn task(arg: &str) -> TaskSpec {
    match arg.split_once(':') {
        Some((id, deps)) => TaskSpec::new(id).depends_on(deps.split(',').filter(|d| !d.is_empty())),
        None => TaskSpec::new(arg),
    }
}

pub async fn run(client: &Client, a: StepArgs) -> CtlResult<Report> {
    let mut step = Step::new(&a.id);
    if a.create {
        let mut new = CreateWorkflow::new();
        new.namespace = a.namespace;
        new.definition = a.definition;
        new.actor = a.actor.clone();
        step = step.create(new);
    } else if let Some(target) = match (a.to, a.event) {
        (Some(s), _) => Some(Target::status(s)),
        (None, Some(e)) => Some(Target::event(e)),
        (None, None) => None,
    } {
        step = step
            .transition(target, a.expected_version)
            .because(&a.actor, &a.reason);
    }
    if !a.tasks.is_empty() {
        step = step.tasks(a.tasks.iter().map(|t| task(t)));
    }
    if !a.set_vars.is_empty() {
        let mut u = VarUpdate::new().actor(&a.actor).reason(&a.reason);
        for p in &a.set_vars {
            let (k, v) = var_pair(p)?;
            u = u.set(k, v);
        }
        u.expected_version = a.vars_version;
        step = step.vars(u);
    }
    if let Some(path) = &a.checkpoint_file {
        let payload =
            std::fs::read(path).map_err(|e| CtlError::Usage(format!("{}: {e}", path.display())))?;
        step = step.checkpoint(payload, SaveOptions::new().label(a.label));
    }
    let applied = client.apply_steps([step]).await?;
    let revision = applied.revision;
    let r = applied
        .results
        .into_iter()
        .next()
        .ok_or_else(|| CtlError::Other("the cluster answered no step".into()))?;
    let mut human = vec![];
    if let Some(w) = &r.workflow {
        human.push(format!("{} is {} (version {})", w.id, w.status, w.version));
    }
    if !r.tasks.is_empty() {
        human.push(format!("{} task(s) written", r.tasks.len()));
    }
    if let Some(v) = &r.vars {
        human.push(format!("variables at version {}", v.version));
    }
    if let Some(c) = &r.checkpoint {
        human.push(format!("checkpoint {}", c.id));
    }
    human.push(format!("at revision {revision}"));
    Ok(Report::new(
        json!({
            "workflow": r.workflow.as_ref().map(|w| json!({
                "id": w.id, "status": w.status, "version": w.version })),
            "created": r.created,
            "tasks": r.tasks.iter().map(|t| json!({
                "id": t.id, "status": t.status.as_str(), "version": t.version }))
                .collect::<Vec<_>>(),
            "vars_version": r.vars.as_ref().map(|v| v.version),
            "checkpoint": r.checkpoint.as_ref().map(|c| c.id.clone()),
            "revision": revision,
        }),
        human.join("\n"),
    ))
}
