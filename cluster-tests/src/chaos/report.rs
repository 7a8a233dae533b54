//! The result of a chaos run: a human report and one JSON line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::check::Anomaly;

#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    pub scenarios: Vec<String>,
    pub duration: Duration,
    pub faults: BTreeMap<String, u64>,
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub ops_indeterminate: u64,
    /// Operations the linearizability checker searched (KV and workflow).
    pub ops_checked: u64,
    pub fenced_writes: u64,
    /// Fenced writes the cluster refused as stale: a holder wrote after losing its lock.
    pub fenced_refused: u64,
    pub watch_events: u64,
    /// Checkpoint saves acknowledged, and checkpoints found and loaded back after healing.
    pub checkpoints_acked: u64,
    pub checkpoints_checked: u64,
    /// Claimed runs, those whose finish was acknowledged, those abandoned by a "dying"
    /// worker, and tasks read back for the claim checker.
    pub claim_runs: u64,
    pub claim_finished: u64,
    pub claim_abandoned: u64,
    pub claim_tasks_checked: u64,
    /// Versions of the variables workload's counter, checked gap-free with n == version.
    pub var_versions: u64,
    /// Atomic steps read back and checked whole (transition, variables, checkpoint, task).
    pub steps: u64,
    /// The voters at the end (replacements change them).
    pub members: Vec<u64>,
    pub status_samples: u64,
    pub checker_time: Duration,
    /// "ok", or "illegal"/"timeout" with the partition that failed.
    pub linearizability: String,
    pub anomalies: Vec<Anomaly>,
    pub lost_acked_writes: u64,
    pub recovery_max: Option<Duration>,
    pub recovery_mean: Option<Duration>,
    /// Where the evidence was kept (on failure, or when asked).
    pub kept: Option<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.anomalies.is_empty() && self.linearizability == "ok"
    }

    pub fn anomalies_by_class(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for a in &self.anomalies {
            *m.entry(a.class).or_default() += 1;
        }
        m
    }

    pub fn json(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        json!({
            "seed": self.seed,
            "nodes": self.nodes,
            "scenarios": self.scenarios,
            "duration_s": self.duration.as_secs_f64().round(),
            "faults": self.faults,
            "ops": {"ok": self.ops_ok, "failed": self.ops_failed,
                    "indeterminate": self.ops_indeterminate},
            "ops_checked": self.ops_checked,
            "fenced_writes": self.fenced_writes,
            "fenced_refused": self.fenced_refused,
            "watch_events": self.watch_events,
            "checkpoints": {"acked": self.checkpoints_acked, "checked": self.checkpoints_checked},
            "claims": {"runs": self.claim_runs, "finished": self.claim_finished,
                       "abandoned": self.claim_abandoned, "tasks_checked": self.claim_tasks_checked},
            "var_versions": self.var_versions,
            "steps": self.steps,
            "members": self.members,
            "status_samples": self.status_samples,
            "checker_ms": self.checker_time.as_millis() as u64,
            "linearizability": self.linearizability,
            "verdict": if self.passed() { "pass" } else { "fail" },
            "anomalies": self.anomalies_by_class(),
            "lost_acked_writes": self.lost_acked_writes,
            "recovery_ms": {"max": ms(self.recovery_max), "mean": ms(self.recovery_mean)},
            "kept": self.kept,
        })
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "chaos run: seed {} | {} nodes | {:?} | scenarios {}\n",
            self.seed,
            self.nodes,
            self.duration,
            self.scenarios.join(",")
        );
        s += &format!("faults: {:?}\n", self.faults);
        s += &format!(
            "ops: {} ok, {} failed, {} indeterminate; {} checked for linearizability in {:?}: {}\n",
            self.ops_ok,
            self.ops_failed,
            self.ops_indeterminate,
            self.ops_checked,
            self.checker_time,
            self.linearizability
        );
        s += &format!(
            "fenced writes {} ({} refused as stale), watch events {}, status samples {}, \
             lost acked writes {}\n",
            self.fenced_writes,
            self.fenced_refused,
            self.watch_events,
            self.status_samples,
            self.lost_acked_writes
        );
        s += &format!(
            "checkpoints: {} saves acknowledged, {} found and loaded back; members at the end {:?}\n",
            self.checkpoints_acked, self.checkpoints_checked, self.members
        );
        s += &format!(
            "claims: {} runs, {} finishes acknowledged, {} abandoned by dying workers; {} tasks checked\n",
            self.claim_runs, self.claim_finished, self.claim_abandoned, self.claim_tasks_checked
        );
        s += &format!(
            "variables: {} versions checked (gap-free, n == version); {} atomic steps checked whole\n",
            self.var_versions, self.steps
        );
        s += &format!(
            "recovery after heal: max {:?}, mean {:?}\n",
            self.recovery_max, self.recovery_mean
        );
        for a in self.anomalies.iter().take(20) {
            s += &format!("ANOMALY {}: {}\n", a.class, a.detail);
        }
        s += &format!("verdict: {}\n", if self.passed() { "PASS" } else { "FAIL" });
        if let Some(k) = &self.kept {
            s += &format!("evidence kept in {k}\n");
        }
        s
    }
}
