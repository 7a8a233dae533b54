//! The flags of `cairn bench`: which workload, through which API, and its parameters.

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// KV puts of random keys.
    Put,
    /// Workflow transitions (a flip between two states) of random workflows.
    Transition,
    /// The "active workflows" list query (PENDING|RUNNING, 100 per page).
    List,
    /// Watch event delivery: latency with many watchers, or one watcher's throughput
    /// (see `--watch-mode`).
    Watch,
    /// Checkpoint save+load round trips of `--checkpoint-bytes` JSON agent states.
    Checkpoint,
    /// Lock acquire+release cycles over `--lock-names` names.
    Lock,
    /// Election failover time after the leader stops renewing (`--failover-rounds`).
    ElectionFailover,
    /// Linearizable gets of random keys among `--keys` prefilled ones (`--api etcd`).
    Get,
    /// Compare-and-swap transactions on `--keys` hot keys (`--api etcd`).
    Cas,
    /// Task claim+finish cycles of workers, each under its own lease (see `claims`).
    Claim,
    /// Orchestrator steps (transition, task upsert, variable update, small checkpoint) as
    /// one atomic request and as four calls (see `steps`, `--step-mode`).
    Step,
}

/// Which client API drives the workload.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Cairn's own API through cairn-client.
    Cairn,
    /// The etcd v3 API through the etcd-client crate: works against Cairn and against etcd.
    Etcd,
}

impl Workload {
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Transition => "transition",
            Workload::List => "list",
            Workload::Watch => "watch",
            Workload::Checkpoint => "checkpoint",
            Workload::Lock => "lock",
            Workload::ElectionFailover => "election-failover",
            Workload::Get => "get",
            Workload::Cas => "cas",
            Workload::Claim => "claim",
            Workload::Step => "step",
        }
    }
}

/// Measure throughput and latency against a running cluster.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub(super) endpoints: crate::endpoints_arg::EndpointsArg,
    #[arg(long, value_enum, default_value_t = Workload::Put)]
    pub(super) workload: Workload,
    #[arg(long, value_enum, default_value_t = Api::Cairn)]
    pub(super) api: Api,
    /// Names the system measured in the JSON line (e.g. "etcd" when pointed at etcd).
    #[arg(long, default_value = "cairn")]
    pub(super) system: String,
    /// Concurrent closed-loop tasks.
    #[arg(long, default_value_t = 16)]
    pub(super) clients: usize,
    /// Measured duration in seconds (after warmup).
    #[arg(long, default_value_t = 10)]
    pub(super) duration_secs: u64,
    /// Bytes per value (put).
    #[arg(long, default_value_t = 256)]
    pub(super) value_size: usize,
    /// Size of the key space keys are drawn from uniformly (put).
    #[arg(long, default_value_t = 100_000)]
    pub(super) keys: u64,
    /// Workflows to spread transitions over (transition), or in the listed namespace (list).
    #[arg(long, default_value_t = 10_000)]
    pub(super) workflows: u64,
    /// Send each transition with the version last seen (transition); conflicts are counted.
    #[arg(long)]
    pub(super) expected_version: bool,
    /// Of --workflows, how many stay active (list); the rest are made terminal.
    #[arg(long, default_value_t = 100)]
    pub(super) active: u64,
    /// Seconds of unmeasured load before measuring (connections, leader discovery, caches).
    #[arg(long, default_value_t = 1)]
    pub(super) warmup_secs: u64,
    /// Give every task its own Client (own HTTP/2 connections) instead of sharing one.
    #[arg(long)]
    pub(super) client_per_task: bool,
    /// What the watch workload measures.
    #[arg(long, value_enum, default_value_t = WatchMode::Latency)]
    pub(super) watch_mode: WatchMode,
    /// Concurrent watches (watch latency).
    #[arg(long, default_value_t = 100)]
    pub(super) watchers: usize,
    /// Puts per second, issued open-loop (watch latency).
    #[arg(long, default_value_t = 1000)]
    pub(super) rate: u64,
    /// Events one watcher replays (watch consume); the prefill uses --clients writers.
    #[arg(long, default_value_t = 50_000)]
    pub(super) events: u64,
    /// Raw size of each checkpoint (checkpoint).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub(super) checkpoint_bytes: usize,
    /// Lock names the lock workload picks from at random.
    #[arg(long, default_value_t = 100)]
    pub(super) lock_names: u64,
    /// Lease TTL of the election leader, in ms (election-failover).
    #[arg(long, default_value_t = 2000)]
    pub(super) lease_ttl_ms: u64,
    /// Failovers measured (election-failover).
    #[arg(long, default_value_t = 5)]
    pub(super) failover_rounds: u64,
    /// Namespace whose tasks the workers claim (claim).
    #[arg(long, default_value = "bench-claims")]
    pub(super) namespace: String,
    /// Tasks of each prepared workflow (claim; prepares --workflows workflows).
    #[arg(long, default_value_t = 100)]
    pub(super) tasks_per_workflow: u64,
    /// How long a worker "runs" each claimed task (claim).
    #[arg(long, default_value_t = 0)]
    pub(super) task_ms: u64,
    /// Claim tasks that exist already instead of preparing new ones (claim workers).
    #[arg(long)]
    pub(super) no_prepare: bool,
    /// Worker id prefix (claim): workers are <agent>-<n>.
    #[arg(long, default_value = "bench")]
    pub(super) agent: String,
    /// How steps are sent (step): one atomic request, four calls, or both one after the
    /// other in the same run (one JSON line each).
    #[arg(long, value_enum, default_value_t = StepMode::Both)]
    pub(super) step_mode: StepMode,
    /// Raw size of each step's checkpoint (step).
    #[arg(long, default_value_t = 512)]
    pub(super) step_checkpoint_bytes: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepMode {
    Atomic,
    Separate,
    Both,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    /// Delivery latency with many watchers at a fixed write rate.
    Latency,
    /// Events per second one watcher consumes.
    Consume,
}
