//! `cairn ctl checkpoint list | get`, `cairn ctl lock list` and `cairn ctl election leader`:
//! read-only views through cairn-client's typed API.

use cairn_client::{CheckpointInfo, Client, Holder};
use serde_json::{Value, json};

use super::error::{CtlError, CtlResult};
use super::output::{Report, bytes, table, time_ms};

#[derive(clap::Subcommand, Debug)]
pub enum CheckpointCmd {
    /// A workflow's checkpoints, oldest first (metadata only).
    List { workflow: String },
    /// One checkpoint's metadata (exit 4 if it does not exist).
    Get { workflow: String, id: String },
}

#[derive(clap::Subcommand, Debug)]
pub enum LockCmd {
    /// Locks whose name starts with PREFIX: holder, token and waiters.
    List {
        #[arg(default_value = "")]
        prefix: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ElectionCmd {
    /// The election's leader (term, value) and the candidates in line.
    Leader { election: String },
}

fn checkpoint_json(c: &CheckpointInfo) -> Value {
    json!({
        "workflow_id": c.workflow_id,
        "id": c.id,
        "revision": c.revision,
        "created_ms": c.created_ms,
        "kind": format!("{:?}", c.kind),
        "label": c.label,
        "parent": c.parent,
        "delta": c.delta,
        "codec": format!("{:?}", c.codec),
        "encrypted": c.sealed,
        "raw_size": c.raw_size,
        "stored_size": c.stored_size,
    })
}

fn checkpoint_rows(cs: &[CheckpointInfo]) -> String {
    let rows: Vec<Vec<String>> = cs
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                format!("{:?}", c.kind),
                c.label.clone(),
                c.parent.clone().unwrap_or_else(|| "-".into()),
                bytes(c.raw_size),
                bytes(c.stored_size),
                if c.sealed { "yes" } else { "no" }.to_string(),
                time_ms(c.created_ms),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "KIND",
            "LABEL",
            "PARENT",
            "RAW",
            "STORED",
            "ENCRYPTED",
            "CREATED",
        ],
        &rows,
    )
}

fn holder_json(h: &Holder) -> Value {
    json!({
        "owner": h.owner,
        "lease_id": h.lease_id,
        "token": h.token,
        "value": String::from_utf8_lossy(&h.value),
        "since_ms": h.since_ms,
    })
}

pub async fn checkpoint(client: &Client, cmd: CheckpointCmd) -> CtlResult<Report> {
    match cmd {
        CheckpointCmd::List { workflow } => {
            let all = client.list_all_checkpoints(&workflow).await?;
            let list: Vec<Value> = all.iter().map(checkpoint_json).collect();
            Ok(Report::new(
                json!({ "checkpoints": list }),
                checkpoint_rows(&all),
            ))
        }
        CheckpointCmd::Get { workflow, id } => {
            let c = client
                .checkpoint(&workflow, &id)
                .await?
                .ok_or_else(|| CtlError::NotFound(format!("checkpoint {workflow}/{id}")))?;
            Ok(Report::new(
                checkpoint_json(&c),
                checkpoint_rows(std::slice::from_ref(&c)),
            ))
        }
    }
}

pub async fn lock(client: &Client, cmd: LockCmd) -> CtlResult<Report> {
    let LockCmd::List { prefix, limit } = cmd;
    let locks = client.locks(&prefix, limit).await?;
    let rows: Vec<Vec<String>> = locks
        .iter()
        .map(|l| {
            let (owner, token) = l
                .holder
                .as_ref()
                .map_or(("-".to_string(), "-".to_string()), |h| {
                    (h.owner.clone(), h.token.to_string())
                });
            vec![l.name.clone(), owner, token, l.waiters.len().to_string()]
        })
        .collect();
    let list: Vec<Value> = locks
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "holder": l.holder.as_ref().map(holder_json),
                "waiters": l.waiters.iter().map(holder_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Report::new(
        json!({ "locks": list }),
        table(&["NAME", "HOLDER", "TOKEN", "WAITERS"], &rows),
    ))
}

pub async fn election(client: &Client, cmd: ElectionCmd) -> CtlResult<Report> {
    let ElectionCmd::Leader { election } = cmd;
    let state = client.leader(&election).await?;
    let human = match &state.leader {
        Some(h) => table(
            &["ELECTION", "LEADER", "TERM", "VALUE", "CANDIDATES"],
            &[vec![
                election.clone(),
                h.owner.clone(),
                h.token.to_string(),
                String::from_utf8_lossy(&h.value).into_owned(),
                state.candidates.len().to_string(),
            ]],
        ),
        None => format!("{election}: no leader\n"),
    };
    Ok(Report::new(
        json!({
            "election": election,
            "leader": state.leader.as_ref().map(holder_json),
            "candidates": state.candidates.iter().map(holder_json).collect::<Vec<_>>(),
            "revision": state.revision,
        }),
        human,
    ))
}
