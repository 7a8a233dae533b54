//! `cairn ctl namespace limits|show|list`: what a namespace may hold (workflows, stored checkpoint
//! bytes) and what it holds. Setting limits is root's while auth is on; a create or save past
//! a limit is refused with RESOURCE_EXHAUSTED (`namespace_full`).

use cairn_client::{Client, NamespaceLimits, NamespaceQuota};
use serde_json::{Value, json};

use super::error::CtlResult;
use super::output::{Report, table};

#[derive(clap::Subcommand, Debug)]
pub enum NamespaceCmd {
    /// Replace NAMESPACE's limits (a limit not given is removed; none given removes all).
    Limits {
        namespace: String,
        #[arg(long)]
        max_workflows: Option<u64>,
        /// Stored (compressed) checkpoint payload bytes, all of the namespace's workflows.
        #[arg(long)]
        max_checkpoint_bytes: Option<u64>,
    },
    /// NAMESPACE's limits and usage.
    Show { namespace: String },
    /// Every namespace that holds something or has limits, with its usage.
    List,
}

fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".to_string(), |v| v.to_string())
}

fn quota_json(namespace: &str, q: &NamespaceQuota) -> Value {
    json!({
        "namespace": namespace,
        "limits": {
            "max_workflows": q.limits.max_workflows,
            "max_checkpoint_bytes": q.limits.max_checkpoint_bytes,
        },
        "usage": {
            "workflows": q.usage.workflows,
            "checkpoint_bytes": q.usage.checkpoint_bytes,
        },
    })
}

fn report(namespace: &str, q: &NamespaceQuota) -> Report {
    let j = quota_json(namespace, q);
    let human = format!(
        "namespace {namespace}\n  workflows         {} of {}\n  checkpoint bytes  {} of {}",
        q.usage.workflows,
        limit(q.limits.max_workflows),
        q.usage.checkpoint_bytes,
        limit(q.limits.max_checkpoint_bytes),
    );
    Report::new(j, human)
}

pub async fn run(client: &Client, cmd: NamespaceCmd) -> CtlResult<Report> {
    match cmd {
        NamespaceCmd::Limits {
            namespace,
            max_workflows,
            max_checkpoint_bytes,
        } => {
            let limits = NamespaceLimits {
                max_workflows,
                max_checkpoint_bytes,
            };
            let q = client.set_namespace_limits(&namespace, limits).await?;
            Ok(report(&namespace, &q))
        }
        NamespaceCmd::Show { namespace } => {
            let q = client.namespace_quota(&namespace).await?;
            Ok(report(&namespace, &q))
        }
        NamespaceCmd::List => {
            let all = client.namespaces().await?;
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|(name, q)| {
                    vec![
                        name.clone(),
                        q.usage.workflows.to_string(),
                        limit(q.limits.max_workflows),
                        q.usage.checkpoint_bytes.to_string(),
                        limit(q.limits.max_checkpoint_bytes),
                    ]
                })
                .collect();
            let human = table(
                &["NAMESPACE", "WORKFLOWS", "MAX", "CHECKPOINT BYTES", "MAX"],
                &rows,
            );
            let list: Vec<Value> = all.iter().map(|(n, q)| quota_json(n, q)).collect();
            Ok(Report::new(json!({ "namespaces": list }), human))
        }
    }
}
