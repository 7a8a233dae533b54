//! `cairn ctl`: the operator CLI (in the etcdctl tradition) over the Admin service and the
//! typed client: status, membership, leadership, snapshots, backup/restore and workflows.
//!
//! Output is a human table by default and one JSON document with `-o json`. Failures print a
//! message on stderr (and, with `-o json`, `{"error": {"kind", "message"}}` on stdout) and
//! exit with a code from [`error::exit`]: 3 unavailable, 4 not found, 5 refused, 6 invalid
//! input, 7 corrupt backup, 1 anything else.

mod alarm;
mod backup;
mod claims;
mod cluster;
mod conn;
mod coord;
pub mod error;
mod namespace;
mod output;
mod role;
mod step;
mod vars;
mod workflow;
mod workflow_view;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use self::conn::Conn;
use self::error::{CtlError, CtlResult};
use self::output::{Format, Report};

#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// Client addresses of cluster members (any subset; the rest are found from membership).
    #[arg(
        long = "endpoints",
        env = "CAIRN_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
        global = true
    )]
    endpoints: Vec<String>,
    #[command(flatten)]
    tls: crate::endpoints_arg::TlsArgs,
    #[command(flatten)]
    auth: crate::endpoints_arg::AuthArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 5000, global = true)]
    timeout_ms: u64,
    #[command(subcommand)]
    cmd: CtlCmd,
}

#[derive(clap::Subcommand, Debug)]
enum CtlCmd {
    /// Every member: role, term, log/commit/apply indexes, lag, snapshot, disk, version.
    Status,
    /// List, add, promote, remove or replace members.
    Member {
        #[command(subcommand)]
        cmd: MemberCmd,
    },
    /// Leadership.
    Leader {
        #[command(subcommand)]
        cmd: LeaderCmd,
    },
    /// Build a snapshot on the leader now.
    Snapshot,
    /// Forget key history at and below REVISION on every node: watches and reads from before
    /// it answer "compacted" (etcd's compact; the node's history window is also bounded by
    /// count, bytes and age).
    Compact { revision: u64 },
    /// Stream a consistent snapshot of the whole state from the leader into FILE.
    Backup {
        file: PathBuf,
        /// The cluster's key file, to read an encrypted backup's header too (without it, an
        /// encrypted backup is checked by its checksum only).
        #[arg(long)]
        encryption_key_file: Option<PathBuf>,
    },
    /// Seed a new, empty data directory from a backup (checksum verified first).
    Restore {
        file: PathBuf,
        /// Opens an encrypted backup, and encrypts the restored snapshot with its first key
        /// (start the new nodes with the same file).
        #[arg(long)]
        encryption_key_file: Option<PathBuf>,
        /// The new node's data directory (must be absent or empty).
        #[arg(long = "data-dir", alias = "data")]
        data_dir: PathBuf,
        /// The node this directory is for.
        #[arg(long)]
        id: u64,
        /// The new cluster's voters, `ID=PEER_ADDR/CLIENT_ADDR`, repeated or comma-separated
        /// (the same list for every member).
        #[arg(long = "member", value_delimiter = ',', required = true)]
        members: Vec<String>,
    },
    /// Read and move workflows.
    Workflow {
        #[command(subcommand)]
        cmd: workflow::WorkflowCmd,
    },
    /// A workflow's or a namespace's versioned variables.
    Vars {
        #[command(subcommand)]
        cmd: vars::VarsCmd,
    },
    /// Namespace limits (workflows, stored checkpoint bytes) and usage.
    Namespace {
        #[command(subcommand)]
        cmd: namespace::NamespaceCmd,
    },
    /// Read checkpoints (metadata).
    Checkpoint {
        #[command(subcommand)]
        cmd: coord::CheckpointCmd,
    },
    /// Read locks.
    Lock {
        #[command(subcommand)]
        cmd: coord::LockCmd,
    },
    /// Read elections.
    Election {
        #[command(subcommand)]
        cmd: coord::ElectionCmd,
    },
    /// Standing alarms (NOSPACE): list or disarm.
    Alarm {
        #[command(subcommand)]
        cmd: alarm::AlarmCmd,
    },
    /// Namespace permissions of a role (users, roles and key permissions: etcdctl).
    Role {
        #[command(subcommand)]
        cmd: role::RoleCmd,
    },
}

#[derive(clap::Subcommand, Debug)]
enum MemberCmd {
    /// Members and their roles.
    List,
    /// Add a node as a learner (it catches up without voting).
    Add {
        id: u64,
        #[arg(long)]
        peer_addr: String,
        #[arg(long)]
        client_addr: String,
    },
    /// Make a caught-up learner a voter.
    Promote {
        id: u64,
        /// Refuse if it is more entries behind than this (0: server default, 1000).
        #[arg(long, default_value_t = 0)]
        max_lag: u64,
    },
    /// Remove a voter or learner.
    Remove {
        id: u64,
        /// Even if the remaining reachable voters would be fewer than a quorum.
        #[arg(long)]
        force: bool,
    },
    /// Replace voter OLD (e.g. dead) with learner NEW in one change.
    Replace {
        old: u64,
        new: u64,
        #[arg(long)]
        force: bool,
        #[arg(long, default_value_t = 0)]
        max_lag: u64,
    },
}

#[derive(clap::Subcommand, Debug)]
enum LeaderCmd {
    /// Hand leadership to voter ID, or (without ID) to the best other voter.
    Transfer { id: Option<u64> },
}

pub async fn run(args: CtlArgs) -> ExitCode {
    let format = args.output;
    match dispatch(args).await {
        Ok((report, problem)) => {
            report.print(format);
            match problem {
                Some(e) => {
                    eprintln!("cairn ctl: {e}");
                    ExitCode::from(e.exit_code())
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            if format == Format::Json {
                let j = json!({ "error": { "kind": e.kind(), "message": e.to_string() } });
                Report::new(j, "").print(format);
            }
            eprintln!("cairn ctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn keys(file: Option<PathBuf>) -> CtlResult<Option<std::sync::Arc<cairn_storage::seal::KeyRing>>> {
    file.map(|f| {
        cairn_storage::seal::KeyRing::load(&f)
            .map(std::sync::Arc::new)
            .map_err(|e| CtlError::Usage(e.to_string()))
    })
    .transpose()
}

/// The report to print, and a problem to report after printing it (status prints its table
/// even when there is no leader, then exits non-zero).
async fn dispatch(args: CtlArgs) -> CtlResult<(Report, Option<CtlError>)> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let tls = args
        .tls
        .options()
        .map_err(|e| CtlError::Usage(format!("{e:#}")))?;
    let credentials = args
        .auth
        .credentials()
        .map_err(|e| CtlError::Usage(format!("{e:#}")))?;
    let conn = || {
        Conn::new(
            args.endpoints.clone(),
            timeout,
            tls.clone(),
            credentials.clone(),
        )
    };
    // The data commands go through cairn-client (leader discovery and retries included).
    let client = || -> CtlResult<cairn_client::Client> {
        let config = cairn_client::ClientConfig {
            request_timeout: timeout,
            tls: tls.clone(),
            credentials: credentials.clone(),
            ..Default::default()
        };
        Ok(cairn_client::Client::with_config(
            args.endpoints.clone(),
            config,
        )?)
    };
    let report = match args.cmd {
        CtlCmd::Status => return cluster::status(&conn()?).await,
        CtlCmd::Member { cmd } => {
            let conn = conn()?;
            match cmd {
                MemberCmd::List => cluster::member_list(&conn).await?,
                MemberCmd::Add {
                    id,
                    peer_addr,
                    client_addr,
                } => cluster::member_add(&conn, id, peer_addr, client_addr).await?,
                MemberCmd::Promote { id, max_lag } => {
                    cluster::member_promote(&conn, id, max_lag).await?
                }
                MemberCmd::Remove { id, force } => cluster::member_remove(&conn, id, force).await?,
                MemberCmd::Replace {
                    old,
                    new,
                    force,
                    max_lag,
                } => cluster::member_replace(&conn, old, new, force, max_lag).await?,
            }
        }
        CtlCmd::Leader {
            cmd: LeaderCmd::Transfer { id },
        } => cluster::leader_transfer(&conn()?, id).await?,
        CtlCmd::Snapshot => cluster::snapshot(&conn()?).await?,
        CtlCmd::Compact { revision } => {
            cluster::compact(
                &args.endpoints,
                tls.as_ref(),
                credentials.as_ref(),
                revision,
            )
            .await?
        }
        CtlCmd::Backup {
            file,
            encryption_key_file,
        } => backup::backup(&conn()?, &file, keys(encryption_key_file)?).await?,
        CtlCmd::Restore {
            file,
            encryption_key_file,
            data_dir,
            id,
            members,
        } => backup::restore(file, data_dir, id, members, keys(encryption_key_file)?).await?,
        CtlCmd::Workflow { cmd } if claims::handles(&cmd) => claims::run(&client()?, cmd).await?,
        CtlCmd::Workflow { cmd } => workflow::run(&client()?, cmd).await?,
        CtlCmd::Namespace { cmd } => namespace::run(&client()?, cmd).await?,
        CtlCmd::Vars { cmd } => vars::run(&client()?, cmd).await?,
        CtlCmd::Checkpoint { cmd } => coord::checkpoint(&client()?, cmd).await?,
        CtlCmd::Lock { cmd } => coord::lock(&client()?, cmd).await?,
        CtlCmd::Election { cmd } => coord::election(&client()?, cmd).await?,
        CtlCmd::Role { cmd } => role::run(&conn()?, cmd).await?,
        CtlCmd::Alarm { cmd } => {
            alarm::run(&args.endpoints, tls.as_ref(), credentials.as_ref(), cmd).await?
        }
    };
    Ok((report, None))
}
