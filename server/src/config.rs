//! Node configuration: command-line flags, `CAIRN_*` environment variables and an optional TOML
//! file, in that order of precedence, resolved into one validated [`NodeConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_model::workflow::limits::RecordLimits;
use cairn_raft::{NodeId, NodeInfo};
use cairn_storage::seal::KeyRing;
use serde::Deserialize;

use crate::coord_config::{CoordArgs, CoordConfig, CoordFile};
use crate::tls::{TlsArgs, TlsConfig, TlsFile};
use crate::watch_config::{WatchArgs, WatchConfig, WatchFile};

/// See `ServeArgs::quota_backend_bytes`.
const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 8 << 30;
/// See `ServeArgs::min_free_disk_bytes`: room for the writes in flight when the alarm rises
/// (it is measured once a second) and for a snapshot of a small state.
const DEFAULT_MIN_FREE_DISK_BYTES: u64 = 64 << 20;

/// See `ServeArgs::wal_batch_wait_us`.
const DEFAULT_WAL_BATCH_WAIT_US: u64 = 0;

/// `cairn serve` flags. Every flag is optional here so a TOML file can supply it instead.

#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (flags and env override it).
    #[arg(long, env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long, env = "CAIRN_ID")]
    pub id: Option<u64>,
    /// Directory holding the Raft log, state machine and snapshots.
    #[arg(long, env = "CAIRN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Client-facing gRPC listen address (`host:port`).
    #[arg(long, env = "CAIRN_CLIENT_ADDR")]
    pub client_addr: Option<String>,
    /// Peer (Raft) gRPC listen address (`host:port`).
    #[arg(long, env = "CAIRN_PEER_ADDR")]
    pub peer_addr: Option<String>,
    /// HTTP listen address (`host:port`) for /livez, /readyz and /metrics; none if unset.
    #[arg(long, env = "CAIRN_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Initial members, `ID=PEER_ADDR/CLIENT_ADDR`, repeated or comma-separated. The first start
    /// of a listed node bootstraps the cluster with exactly these voters.
    #[arg(long = "member", env = "CAIRN_MEMBERS", value_delimiter = ',')]
    pub members: Vec<String>,
    /// Client endpoints of an existing cluster to join as a learner (instead of `--member`).
    #[arg(long, env = "CAIRN_JOIN", value_delimiter = ',')]
    pub join: Vec<String>,
    #[arg(long, env = "CAIRN_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    #[arg(long, env = "CAIRN_ELECTION_MIN_MS")]
    pub election_min_ms: Option<u64>,
    #[arg(long, env = "CAIRN_ELECTION_MAX_MS")]
    pub election_max_ms: Option<u64>,
    /// Build a snapshot after this many new log entries.
    #[arg(long, env = "CAIRN_SNAPSHOT_LOGS")]
    pub snapshot_logs: Option<u64>,
    /// Log entries kept behind a snapshot (so slightly lagging followers avoid a snapshot).
    #[arg(long, env = "CAIRN_KEEP_LOGS")]
    pub keep_logs: Option<u64>,
    /// How long the WAL flush thread waits for more appends before one fdatasync, in µs
    /// (default 0). Every append queued during the previous fdatasync joins the next one
    /// anyway, so under load batches form without a wait, and a lone write pays none.
    #[arg(long, env = "CAIRN_WAL_BATCH_WAIT_US")]
    pub wal_batch_wait_us: Option<u64>,
    /// How long a token from Authenticate is valid, in seconds (default 300, etcd's).
    #[arg(long, env = "CAIRN_AUTH_TOKEN_TTL")]
    pub auth_token_ttl: Option<u64>,
    /// Data-directory size (WAL, state machine, snapshots) at which a member raises the
    /// NOSPACE alarm, after which the cluster refuses writes that can grow its state until an
    /// operator disarms it (etcd's flag; default 8 GiB, 0 = no quota). Replicated from the
    /// leader's value: give every node the same.
    #[arg(long, env = "CAIRN_QUOTA_BACKEND_BYTES")]
    pub quota_backend_bytes: Option<u64>,
    /// Free space below which this member raises the NOSPACE alarm, measured on the file
    /// system holding its data directory (default 64 MiB, 0 = never): the cluster stops
    /// growing before that disk fills, whatever the quota says.
    #[arg(long, env = "CAIRN_MIN_FREE_DISK_BYTES")]
    pub min_free_disk_bytes: Option<u64>,
    /// Most connections one client address may hold open on the client port (and on the peer
    /// port); more are closed as they arrive (default 512).
    #[arg(long, env = "CAIRN_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Encryption at rest: a key file (`<id> <64 hex digits>` per line, the first key seals
    /// new data; `cairn keygen` makes one). Checkpoint payloads are sealed before they are
    /// proposed, snapshots and backups as they are written. Give every node the same file.
    #[arg(long, env = "CAIRN_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// Largest accepted value, in bytes.
    #[arg(long, env = "CAIRN_MAX_VALUE_BYTES")]
    pub max_value_bytes: Option<usize>,
    /// Largest workflow metadata (a JSON object) and task input/output/error, in bytes.
    /// Checked by this node before proposing; the limit merged metadata meets at apply is
    /// the cluster's, which the leader sets from its own value (give every node the same).
    #[arg(long, env = "CAIRN_MAX_METADATA_BYTES")]
    pub max_metadata_bytes: Option<usize>,
    /// Most labels on one workflow (like `--max-metadata-bytes`, replicated from the leader's).
    #[arg(long, env = "CAIRN_MAX_LABELS")]
    pub max_labels: Option<usize>,
    /// Purge terminal workflows (with their tasks and history) this many seconds after they
    /// finished. 0 (the default) keeps them forever.
    #[arg(long, env = "CAIRN_WORKFLOW_RETENTION_SECS")]
    pub workflow_retention_secs: Option<u64>,
    /// How often the leader looks for workflows past retention.
    #[arg(long, env = "CAIRN_WORKFLOW_RETENTION_INTERVAL_MS")]
    pub workflow_retention_interval_ms: Option<u64>,
    #[command(flatten)]
    pub watch: WatchArgs,
    #[command(flatten)]
    pub coord: CoordArgs,
    /// Largest checkpoint payload (raw, before compression), in bytes (default 256 MiB).
    #[arg(long, env = "CAIRN_MAX_CHECKPOINT_BYTES")]
    pub max_checkpoint_bytes: Option<u64>,
    /// zstd level checkpoints are compressed with (1-22, default 3). Keep it equal on every
    /// node: a retried upload re-sent through another node must produce the same chunks.
    #[arg(long, env = "CAIRN_CHECKPOINT_COMPRESSION_LEVEL")]
    pub checkpoint_compression_level: Option<i32>,
    /// Single-chunk checkpoints smaller than this many bytes are stored raw (default 1024).
    #[arg(long, env = "CAIRN_CHECKPOINT_RAW_THRESHOLD")]
    pub checkpoint_raw_threshold: Option<usize>,
    /// Chunked uploads not committed within this many seconds are collected (default 3600).
    #[arg(long, env = "CAIRN_CHECKPOINT_UPLOAD_TIMEOUT_SECS")]
    pub checkpoint_upload_timeout_secs: Option<u64>,
    /// How often the leader applies checkpoint retention and collects stale uploads.
    #[arg(long, env = "CAIRN_CHECKPOINT_RETENTION_INTERVAL_MS")]
    pub checkpoint_retention_interval_ms: Option<u64>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The TOML file's shape: same names as the flags, with `members` as a table list.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    id: Option<u64>,
    data_dir: Option<PathBuf>,
    client_addr: Option<String>,
    peer_addr: Option<String>,
    http_addr: Option<String>,
    #[serde(default)]
    members: Vec<FileMember>,
    #[serde(default)]
    join: Vec<String>,
    heartbeat_ms: Option<u64>,
    election_min_ms: Option<u64>,
    election_max_ms: Option<u64>,
    snapshot_logs: Option<u64>,
    keep_logs: Option<u64>,
    wal_batch_wait_us: Option<u64>,
    auth_token_ttl: Option<u64>,
    quota_backend_bytes: Option<u64>,
    min_free_disk_bytes: Option<u64>,
    max_connections_per_address: Option<usize>,
    encryption_key_file: Option<PathBuf>,
    max_value_bytes: Option<usize>,
    max_metadata_bytes: Option<usize>,
    max_labels: Option<usize>,
    workflow_retention_secs: Option<u64>,
    workflow_retention_interval_ms: Option<u64>,
    watch: Option<WatchFile>,
    coord: Option<CoordFile>,
    max_checkpoint_bytes: Option<u64>,
    checkpoint_compression_level: Option<i32>,
    checkpoint_raw_threshold: Option<usize>,
    checkpoint_upload_timeout_secs: Option<u64>,
    checkpoint_retention_interval_ms: Option<u64>,
    tls: Option<TlsFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileMember {
    id: u64,
    peer_addr: String,
    client_addr: String,
}

/// Resolved, validated configuration of one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    pub data_dir: PathBuf,
    pub client_addr: String,
    pub peer_addr: String,
    /// Where /livez, /readyz and /metrics are served, if anywhere.
    pub http_addr: Option<String>,
    pub members: Vec<(NodeId, NodeInfo)>,
    pub join: Vec<String>,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_logs: u64,
    pub keep_logs: u64,
    pub wal_batch_wait_us: u64,
    /// Lifetime of auth tokens.
    pub auth_token_ttl: Duration,
    /// Connections one client address may hold open on a port.
    pub max_connections_per_address: usize,
    /// The quota this node proposes when it leads (0: none).
    pub quota_backend_bytes: u64,
    /// Free space on the data directory's file system below which this member raises
    /// NOSPACE (0: never).
    pub min_free_disk_bytes: u64,
    /// Encryption-at-rest keys, from `--encryption-key-file`.
    pub encryption: Option<Arc<KeyRing>>,
    pub limits: Limits,
    pub retention: Retention,
    pub watch: WatchConfig,
    pub coord: CoordConfig,
    pub checkpoints: CheckpointConfig,
    pub tls: TlsConfig,
}

/// Checkpoint ingest limits and the leader's checkpoint housekeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Largest raw payload.
    pub max_bytes: u64,
    pub compression_level: i32,
    /// Single-chunk payloads below this size are stored raw.
    pub raw_threshold: usize,
    /// Uploads older than this and never committed are collected.
    pub upload_timeout: Duration,
    /// How often retention and upload collection run on the leader.
    pub interval: Duration,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            compression_level: 3,
            raw_threshold: 1024,
            upload_timeout: Duration::from_secs(3600),
            interval: Duration::from_secs(60),
        }
    }
}

impl CheckpointConfig {
    fn resolve(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let mut c = Self::default();
        if let Some(v) = args.max_checkpoint_bytes.or(file.max_checkpoint_bytes) {
            c.max_bytes = v;
        }
        if let Some(v) = args
            .checkpoint_compression_level
            .or(file.checkpoint_compression_level)
        {
            if !(1..=22).contains(&v) {
                bail!("--checkpoint-compression-level must be 1-22");
            }
            c.compression_level = v;
        }
        if let Some(v) = args
            .checkpoint_raw_threshold
            .or(file.checkpoint_raw_threshold)
        {
            c.raw_threshold = v;
        }
        if let Some(v) = args
            .checkpoint_upload_timeout_secs
            .or(file.checkpoint_upload_timeout_secs)
        {
            if v == 0 {
                bail!("--checkpoint-upload-timeout-secs must be positive");
            }
            c.upload_timeout = Duration::from_secs(v);
        }
        if let Some(v) = args
            .checkpoint_retention_interval_ms
            .or(file.checkpoint_retention_interval_ms)
        {
            if v == 0 {
                bail!("--checkpoint-retention-interval-ms must be positive");
            }
            c.interval = Duration::from_millis(v);
        }
        Ok(c)
    }
}

/// Purging of finished workflows by the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long a terminal workflow is kept after it finished; None keeps it forever.
    pub age: Option<Duration>,
    pub interval: Duration,
}

/// Input size limits enforced before anything is proposed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_range_limit: u32,
    /// Workflow metadata and labels.
    pub records: RecordLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: 4096,
            max_value_bytes: 1024 * 1024,
            max_range_limit: 10_000,
            records: RecordLimits::default(),
        }
    }
}

impl NodeConfig {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let checkpoints = CheckpointConfig::resolve(&args, &file)?;
        let id = args.id.or(file.id).context("--id is required")?;
        if id == 0 {
            bail!("--id must be a positive integer");
        }
        let client_addr = args
            .client_addr
            .or(file.client_addr)
            .unwrap_or_else(|| "127.0.0.1:7001".into());
        let peer_addr = args
            .peer_addr
            .or(file.peer_addr)
            .unwrap_or_else(|| "127.0.0.1:7101".into());
        check_addr(&client_addr).context("--client-addr")?;
        check_addr(&peer_addr).context("--peer-addr")?;
        let http_addr = args.http_addr.or(file.http_addr);
        if let Some(addr) = &http_addr {
            check_addr(addr).context("--http-addr")?;
        }
        let members = if args.members.is_empty() {
            file.members
                .into_iter()
                .map(|m| {
                    let info = NodeInfo {
                        peer_addr: m.peer_addr,
                        client_addr: m.client_addr,
                    };
                    check_member(m.id, &info).map(|()| (m.id, info))
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            args.members
                .iter()
                .map(|m| parse_member(m))
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        let election_min_ms = args.election_min_ms.or(file.election_min_ms).unwrap_or(500);
        let election_max_ms = args
            .election_max_ms
            .or(file.election_max_ms)
            .unwrap_or(election_min_ms * 2);
        let heartbeat_ms = args.heartbeat_ms.or(file.heartbeat_ms).unwrap_or(100);
        if heartbeat_ms >= election_min_ms || election_min_ms >= election_max_ms {
            bail!("timeouts must satisfy heartbeat < election-min < election-max");
        }
        let mut limits = Limits::default();
        if let Some(v) = args.max_value_bytes.or(file.max_value_bytes) {
            limits.max_value_bytes = v;
        }
        if let Some(v) = args.max_metadata_bytes.or(file.max_metadata_bytes) {
            limits.records.max_metadata_bytes = v;
        }
        if let Some(v) = args.max_labels.or(file.max_labels) {
            limits.records.max_labels = v;
        }
        let retention_interval_ms = args
            .workflow_retention_interval_ms
            .or(file.workflow_retention_interval_ms)
            .unwrap_or(60_000);
        if retention_interval_ms == 0 {
            bail!("--workflow-retention-interval-ms must be positive");
        }
        let retention = Retention {
            age: args
                .workflow_retention_secs
                .or(file.workflow_retention_secs)
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            interval: Duration::from_millis(retention_interval_ms),
        };
        Ok(Self {
            id,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(format!("cairn-data/node-{id}"))),
            client_addr,
            peer_addr,
            http_addr,
            members,
            join: if args.join.is_empty() {
                file.join
            } else {
                args.join
            },
            heartbeat_ms,
            election_min_ms,
            election_max_ms,
            snapshot_logs: args.snapshot_logs.or(file.snapshot_logs).unwrap_or(100_000),
            keep_logs: args.keep_logs.or(file.keep_logs).unwrap_or(5_000),
            wal_batch_wait_us: args
                .wal_batch_wait_us
                .or(file.wal_batch_wait_us)
                .unwrap_or(DEFAULT_WAL_BATCH_WAIT_US),
            auth_token_ttl: {
                let secs = args.auth_token_ttl.or(file.auth_token_ttl).unwrap_or(300);
                if secs == 0 {
                    bail!("--auth-token-ttl must be at least 1 second");
                }
                Duration::from_secs(secs)
            },
            quota_backend_bytes: args
                .quota_backend_bytes
                .or(file.quota_backend_bytes)
                .unwrap_or(DEFAULT_QUOTA_BACKEND_BYTES),
            min_free_disk_bytes: args
                .min_free_disk_bytes
                .or(file.min_free_disk_bytes)
                .unwrap_or(DEFAULT_MIN_FREE_DISK_BYTES),
            max_connections_per_address: match args
                .max_connections_per_address
                .or(file.max_connections_per_address)
                .unwrap_or(512)
            {
                0 => bail!("--max-connections-per-address must be at least 1"),
                n => n,
            },
            encryption: match args.encryption_key_file.or(file.encryption_key_file) {
                Some(path) => Some(Arc::new(KeyRing::load(&path)?)),
                None => None,
            },
            limits,
            retention,
            watch: WatchConfig::resolve(&args.watch, file.watch)?,
            coord: CoordConfig::resolve(&args.coord, file.coord)?,
            checkpoints,
            tls: TlsConfig::resolve(&args.tls, file.tls)?,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("read config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parse config {}", path.display()))
}

/// `host:port` where host is an IP address or a DNS name and port is numeric.
pub fn check_addr(addr: &str) -> anyhow::Result<()> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    match addr.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && port.parse::<u16>().is_ok()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
        {
            Ok(())
        }
        _ => bail!("malformed address {addr:?}: expected host:port"),
    }
}

fn check_member(id: NodeId, info: &NodeInfo) -> anyhow::Result<()> {
    if id == 0 {
        bail!("member id must be a positive integer");
    }
    check_addr(&info.peer_addr)?;
    check_addr(&info.client_addr)
}

/// Parses `ID=PEER_ADDR/CLIENT_ADDR`.
pub fn parse_member(spec: &str) -> anyhow::Result<(NodeId, NodeInfo)> {
    let parse = || -> Option<(NodeId, NodeInfo)> {
        let (id, addrs) = spec.split_once('=')?;
        let (peer, client) = addrs.split_once('/')?;
        Some((
            id.trim().parse().ok()?,
            NodeInfo {
                peer_addr: peer.trim().to_string(),
                client_addr: client.trim().to_string(),
            },
        ))
    };
    let (id, info) = parse()
        .with_context(|| format!("malformed member {spec:?}: expected ID=PEER_ADDR/CLIENT_ADDR"))?;
    check_member(id, &info)?;
    Ok((id, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_specs() {
        let (id, info) = parse_member("3=127.0.0.1:7103/127.0.0.1:7003").unwrap();
        assert_eq!(id, 3);
        assert_eq!(info.peer_addr, "127.0.0.1:7103");
        assert_eq!(info.client_addr, "127.0.0.1:7003");
        assert!(parse_member("3=127.0.0.1:7103").is_err());
        assert!(parse_member("x=a:1/b:2").is_err());
        assert!(parse_member("0=a:1/b:2").is_err());
        assert!(parse_member("1=a:1/b:notaport").is_err());
    }

    #[test]
    fn addresses() {
        assert!(check_addr("127.0.0.1:80").is_ok());
        assert!(check_addr("node-1.cairn:7001").is_ok());
        assert!(check_addr("[::1]:7001").is_ok());
        assert!(check_addr("nohost").is_err());
        assert!(check_addr(":7001").is_err());
        assert!(check_addr("a b:1").is_err());
    }

    #[test]
    fn toml_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "id = 2\nheartbeat_ms = 50\nmax_labels = 3\nworkflow_retention_secs = 60\n[[members]]\nid = 2\npeer_addr = \"127.0.0.1:1\"\nclient_addr = \"127.0.0.1:2\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            heartbeat_ms: Some(70),
            ..Default::default()
        };
        let c = NodeConfig::resolve(args).unwrap();
        assert_eq!(c.id, 2);
        assert_eq!(c.heartbeat_ms, 70, "flag overrides file");
        assert_eq!(c.members.len(), 1);
        assert_eq!(c.limits.records.max_labels, 3);
        assert_eq!(c.retention.age, Some(Duration::from_secs(60)));
        assert_eq!(c.retention.interval, Duration::from_secs(60));
    }

    #[test]
    fn retention_is_off_by_default() {
        let args = ServeArgs {
            id: Some(1),
            workflow_retention_secs: Some(0),
            ..Default::default()
        };
        let c = NodeConfig::resolve(args).unwrap();
        assert_eq!(c.retention.age, None);
        assert_eq!(c.limits.records, RecordLimits::default());
        let args = ServeArgs {
            id: Some(1),
            workflow_retention_interval_ms: Some(0),
            ..Default::default()
        };
        assert!(NodeConfig::resolve(args).is_err());
    }

    #[test]
    fn checkpoint_settings_default_and_are_checked() {
        let c = NodeConfig::resolve(ServeArgs {
            id: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.checkpoints, CheckpointConfig::default());
        assert_eq!(c.checkpoints.max_bytes, 256 * 1024 * 1024);
        assert_eq!(c.checkpoints.compression_level, 3);
        let c = NodeConfig::resolve(ServeArgs {
            id: Some(1),
            max_checkpoint_bytes: Some(1000),
            checkpoint_compression_level: Some(9),
            checkpoint_upload_timeout_secs: Some(5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.checkpoints.max_bytes, 1000);
        assert_eq!(c.checkpoints.compression_level, 9);
        assert_eq!(c.checkpoints.upload_timeout, Duration::from_secs(5));
        for bad in [
            ServeArgs {
                checkpoint_compression_level: Some(0),
                ..Default::default()
            },
            ServeArgs {
                checkpoint_upload_timeout_secs: Some(0),
                ..Default::default()
            },
            ServeArgs {
                checkpoint_retention_interval_ms: Some(0),
                ..Default::default()
            },
        ] {
            let args = ServeArgs { id: Some(1), ..bad };
            assert!(NodeConfig::resolve(args).is_err());
        }
    }
}
