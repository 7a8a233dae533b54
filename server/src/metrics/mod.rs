//! Prometheus metrics through the `metrics` facade. The exporter only records; `/metrics` on
//! the node's HTTP port (see [`crate::http`]) renders it. Sources:
//!
//! - [`raft`]: Raft state from openraft's metrics watch (term, leader changes, indexes,
//!   replication lag per peer, snapshot builds/installs) and openraft's recorder hooks
//!   (proposals, append and apply batch sizes).
//! - [`grpc`]: a tower layer counting requests and timing them by method and status code.
//! - State gauges refreshed on scrape (workflows by status), and hooks other services set
//!   ([`set_watchers`]).
//!
//! Not yet recorded: WAL append and fsync latency (they need timing inside the storage
//! crate's flush callbacks); see the README's metrics list.

pub mod grpc;
pub mod raft;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_model::workflow::query::ListQuery;
use cairn_storage::WorkflowReader;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// State gauges are recomputed at most this often (counting walks index keys).
const STATE_REFRESH: Duration = Duration::from_secs(10);

/// Latency buckets in seconds: 0.25 ms to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0,
    2.5, 5.0, 10.0,
];

/// Entries per batch: 1 to 4096.
const BATCH_BUCKETS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

pub struct Metrics {
    handle: PrometheusHandle,
    workflows: WorkflowReader,
    refreshed: Mutex<Option<Instant>>,
}

impl Metrics {
    /// Installs the process-wide recorder. Fails if one is installed already (one node per
    /// process is the rule; in-process tests run without metrics).
    pub fn install(workflows: WorkflowReader) -> anyhow::Result<Self> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)?
            .set_buckets_for_metric(Matcher::Suffix("_entries".into()), &BATCH_BUCKETS)?
            .install_recorder()?;
        describe();
        Ok(Self {
            handle,
            workflows,
            refreshed: Mutex::new(None),
        })
    }

    /// The exposition text, with state gauges brought up to date first.
    pub async fn render(&self) -> String {
        let due = {
            let mut last = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= STATE_REFRESH);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let reader = self.workflows.clone();
            // Counting reads sled: keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || refresh_workflow_counts(&reader)).await;
        }
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// Histogram upkeep between scrapes, so memory stays bounded when nobody scrapes.
    pub fn spawn_upkeep(
        self: &std::sync::Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => this.handle.run_upkeep(),
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        })
    }
}

/// Namespaces with per-status gauges: the largest this many (label cardinality stays bounded
/// however many namespaces a cluster has; `cairn_namespace_workflows` covers every one).
const GAUGED_NAMESPACES: usize = 50;

/// `cairn_namespace_workflows{namespace}` for every namespace holding workflows, and
/// `cairn_workflows{namespace,status}` for the largest [`GAUGED_NAMESPACES`] of them, over
/// every status any definition declares (so a status with no workflows reads 0 rather than
/// vanishing).
fn refresh_workflow_counts(reader: &WorkflowReader) {
    let (Ok(definitions), Ok(mut namespaces)) = (reader.definitions(), reader.namespace_quotas())
    else {
        return;
    };
    namespaces.retain(|(_, q)| q.usage.workflows > 0);
    for (name, q) in &namespaces {
        metrics::gauge!("cairn_namespace_workflows", "namespace" => name.clone())
            .set(q.usage.workflows as f64);
    }
    namespaces.sort_by_key(|(_, q)| std::cmp::Reverse(q.usage.workflows));
    // The default namespace always has its gauges, even while empty.
    let default = cairn_model::workflow::command::DEFAULT_NAMESPACE;
    if !namespaces.iter().any(|(n, _)| n == default) {
        namespaces.insert(0, (default.to_string(), Default::default()));
    }
    let statuses: BTreeSet<String> = definitions
        .into_iter()
        .flat_map(|(_, d)| d.states)
        .collect();
    for (name, _) in namespaces.into_iter().take(GAUGED_NAMESPACES) {
        for status in &statuses {
            let q = ListQuery {
                namespace: name.clone(),
                statuses: vec![status.clone()],
                ..ListQuery::default()
            };
            if let Ok(n) = reader.count(&q) {
                metrics::gauge!("cairn_workflows", "namespace" => name.clone(), "status" => status.clone())
                    .set(n as f64);
            }
        }
    }
}

/// Hook for the watch service: the number of open watch streams.
pub fn set_watchers(n: usize) {
    metrics::gauge!("cairn_watchers").set(n as f64);
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("cairn_raft_term", "Current Raft term");
    describe_gauge!("cairn_raft_is_leader", "1 on the leader, else 0");
    describe_gauge!(
        "cairn_raft_state",
        "0 learner, 1 follower, 2 candidate, 3 leader"
    );
    describe_counter!("cairn_raft_leader_changes_total", "Leader changes seen");
    describe_gauge!("cairn_raft_last_log_index", "Last log index appended here");
    describe_gauge!("cairn_raft_commit_index", "Last log index known committed");
    describe_gauge!("cairn_raft_applied_index", "Last log index applied here");
    describe_gauge!(
        "cairn_raft_snapshot_index",
        "Last log index in the snapshot"
    );
    describe_gauge!(
        "cairn_raft_replication_lag_entries",
        "Leader only: entries each peer is behind"
    );
    describe_counter!(
        "cairn_raft_proposals_total",
        "Entries proposed by this node as leader"
    );
    describe_histogram!(
        "cairn_raft_append_batch_entries",
        "Entries per log append batch"
    );
    describe_histogram!(
        "cairn_raft_apply_batch_entries",
        "Entries per state machine apply batch"
    );
    describe_counter!("cairn_raft_snapshot_builds_total", "Snapshots built here");
    describe_counter!(
        "cairn_raft_snapshot_installs_total",
        "Snapshots received from the leader and installed"
    );
    describe_counter!(
        "cairn_grpc_requests_total",
        "Client gRPC requests by method and status code"
    );
    describe_histogram!(
        "cairn_grpc_request_duration_seconds",
        "Client gRPC latency to response headers, by method"
    );
    describe_gauge!(
        "cairn_workflows",
        "Workflows by namespace (the 50 largest) and status"
    );
    describe_gauge!(
        "cairn_namespace_workflows",
        "Workflows in each namespace that holds any"
    );
    describe_gauge!("cairn_watchers", "Open watch streams");
    describe_histogram!(
        cairn_storage::WAL_DURABLE_SECONDS,
        "WAL write handed over -> fdatasync done, by write (append, vote)"
    );
}
