//! `cairn ctl vars get | set | history | rollback`: a workflow's or a namespace's versioned
//! variables (values are JSON).

use cairn_client::{Client, VarScope, VarUpdate, VarVersion, Vars};
use serde_json::{Value, json};

use super::error::{CtlError, CtlResult};
use super::output::{Report, table, time_ms};

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ScopeArg {
    /// A workflow's variables.
    #[arg(long)]
    workflow: Option<String>,
    /// A namespace's variables.
    #[arg(long)]
    namespace: Option<String>,
}

impl ScopeArg {
    fn scope(&self) -> CtlResult<VarScope> {
        match (&self.workflow, &self.namespace) {
            (Some(w), None) => Ok(VarScope::Workflow(w.clone())),
            (None, Some(n)) => Ok(VarScope::Namespace(n.clone())),
            _ => Err(CtlError::Usage(
                "give one of --workflow, --namespace".into(),
            )),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum VarsCmd {
    /// The variables now, or as of a kept --version (exit 4 if none).
    Get {
        #[command(flatten)]
        scope: ScopeArg,
        #[arg(long)]
        version: Option<u64>,
    },
    /// One versioned update: KEY=JSON pairs, deletes, immutable keys, all or nothing.
    Set {
        #[command(flatten)]
        scope: ScopeArg,
        /// KEY=JSON (e.g. retries=3, model='"gpt"').
        pairs: Vec<String>,
        #[arg(long)]
        delete: Vec<String>,
        /// Keys that refuse any change from now on.
        #[arg(long)]
        immutable: Vec<String>,
        /// Only if the variables are at this version (0: none yet).
        #[arg(long)]
        expected_version: Option<u64>,
        #[arg(long)]
        keep_versions: Option<u32>,
        #[arg(long, default_value = "cairn-ctl")]
        actor: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Every kept version, oldest first.
    History {
        #[command(flatten)]
        scope: ScopeArg,
    },
    /// A new version equal to a kept older one.
    Rollback {
        #[command(flatten)]
        scope: ScopeArg,
        #[arg(long)]
        to: u64,
        #[arg(long)]
        expected_version: Option<u64>,
        #[arg(long, default_value = "cairn-ctl")]
        actor: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// A `KEY=JSON` argument.
pub fn var_pair(p: &str) -> CtlResult<(&str, Value)> {
    let Some((k, v)) = p.split_once('=') else {
        return Err(CtlError::Usage(format!("{p:?} is not KEY=JSON")));
    };
    let value = serde_json::from_str(v)
        .map_err(|e| CtlError::Usage(format!("{k}: {v:?} is not JSON: {e}")))?;
    Ok((k, value))
}

fn vars_report(v: &Vars) -> Report {
    let rows: Vec<Vec<String>> = v
        .values
        .iter()
        .map(|(k, val)| {
            let lock = if v.immutable.contains(k) { "yes" } else { "" };
            vec![k.clone(), val.to_string(), lock.to_string()]
        })
        .collect();
    let human = format!(
        "version {} (checksum {:08x}, by {} at {})\n{}",
        v.version,
        v.checksum,
        v.updated_by,
        time_ms(v.updated_ms),
        table(&["NAME", "VALUE", "IMMUTABLE"], &rows)
    );
    Report::new(
        json!({
            "version": v.version, "values": v.values, "immutable": v.immutable,
            "checksum": v.checksum, "floor": v.floor, "keep_versions": v.keep_versions,
            "updated_by": v.updated_by, "updated_ms": v.updated_ms,
        }),
        human,
    )
}

fn version_json(v: &VarVersion) -> Value {
    let changes: serde_json::Map<String, Value> = v
        .changes
        .iter()
        .map(|(k, c)| (k.clone(), json!({"value": c.value, "previous": c.previous})))
        .collect();
    json!({
        "version": v.version, "revision": v.revision, "time_ms": v.time_ms, "actor": v.actor,
        "reason": v.reason, "checksum": v.checksum, "rolled_back_to": v.rolled_back_to,
        "changes": changes,
    })
}

fn written(scope: &VarScope, version: u64, checksum: u32) -> Report {
    Report::new(
        json!({ "version": version, "checksum": checksum }),
        format!("variables of {scope} at version {version}"),
    )
}

pub async fn run(client: &Client, cmd: VarsCmd) -> CtlResult<Report> {
    match cmd {
        VarsCmd::Get { scope, version } => {
            let scope = scope.scope()?;
            let v = client.vars(&scope, version).await?.ok_or_else(|| {
                CtlError::NotFound(match version {
                    Some(n) => format!("version {n} of the variables of {scope}"),
                    None => format!("variables of {scope}"),
                })
            })?;
            Ok(vars_report(&v))
        }
        VarsCmd::Set {
            scope,
            pairs,
            delete,
            immutable,
            expected_version,
            keep_versions,
            actor,
            reason,
        } => {
            let scope = scope.scope()?;
            let mut u = VarUpdate::new().actor(actor).reason(reason);
            for p in &pairs {
                let (k, value) = var_pair(p)?;
                u = u.set(k, value);
            }
            u.delete = delete;
            u.immutable = immutable;
            u.expected_version = expected_version;
            u.keep_versions = keep_versions;
            let w = client.update_vars(&scope, u).await?;
            Ok(written(&scope, w.version, w.checksum))
        }
        VarsCmd::History { scope } => {
            let scope = scope.scope()?;
            let versions = client.var_history(&scope).await?;
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    let keys: Vec<&str> = v.changes.keys().map(String::as_str).collect();
                    vec![
                        v.version.to_string(),
                        v.actor.clone(),
                        time_ms(v.time_ms),
                        keys.join(","),
                        v.rolled_back_to
                            .map_or_else(String::new, |t| format!("rollback to {t}")),
                        v.reason.clone(),
                    ]
                })
                .collect();
            let human = table(
                &["VERSION", "ACTOR", "TIME", "CHANGED", "ROLLBACK", "REASON"],
                &rows,
            );
            Ok(Report::new(
                json!({ "versions": versions.iter().map(version_json).collect::<Vec<_>>() }),
                human,
            ))
        }
        VarsCmd::Rollback {
            scope,
            to,
            expected_version,
            actor,
            reason,
        } => {
            let scope = scope.scope()?;
            let w = client
                .rollback_vars(&scope, to, expected_version, &actor, &reason)
                .await?;
            Ok(written(&scope, w.version, w.checksum))
        }
    }
}
