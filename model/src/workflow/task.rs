//! Task (agent execution record) rules: the task status machine with retries, and the
//! dependency graph checks (dependencies exist, no cycle, which tasks are ready to start).
//! Pure functions, so the state machine can run them deterministically.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A task's status. Legal moves: PENDING -> RUNNING | SKIPPED | CANCELLED; RUNNING ->
/// COMPLETED | FAILED | CANCELLED | PENDING (retry); FAILED -> PENDING (retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Skipped,
        TaskStatus::Cancelled,
    ];

    /// Statuses this one may move to. `Running|Failed -> Pending` is a retry.
    pub fn legal_targets(self) -> &'static [TaskStatus] {
        use TaskStatus::*;
        match self {
            Pending => &[Running, Skipped, Cancelled],
            Running => &[Completed, Failed, Cancelled, Pending],
            Failed => &[Pending],
            Completed | Skipped | Cancelled => &[],
        }
    }

    /// Whether moving from `self` to `to` counts as a retry (a new attempt).
    pub fn is_retry(self, to: TaskStatus) -> bool {
        to == TaskStatus::Pending && matches!(self, TaskStatus::Running | TaskStatus::Failed)
    }

    /// The status of a wire name (exact, upper case); `None` for anything else.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The wire name, e.g. `"RUNNING"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Skipped => "SKIPPED",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }
}

/// The wire name; honours width and alignment (`{:<10}`).
impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// [`TaskStatus::parse`] with an error naming the input.
impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| format!("unknown task status {s:?}"))
    }
}

/// How a claimed task is retried when its run fails (its worker reports failure or its lease
/// ends): while fewer than `max_attempts` runs were made, the task goes back to PENDING and may
/// be claimed again `backoff_ms * 2^(attempts-1)` (at most [`MAX_RETRY_DELAY_MS`]) after the
/// failure; then it stays FAILED. The default (1 attempt) never retries by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_ms: u64,
}

/// Longest automatic retry delay.
pub const MAX_RETRY_DELAY_MS: u64 = 3_600_000;
/// Most runs a retry policy may allow (a bound on one task's work, not a real limit).
pub const MAX_ATTEMPTS: u32 = 1_000;

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff_ms: 0,
        }
    }
}

impl RetryPolicy {
    /// Whether a run that was attempt number `attempts` may be followed by another.
    pub fn retries_after(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The wait before the run after attempt number `attempts` (>= 1): exponential, capped.
    pub fn delay_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(32);
        self.backoff_ms
            .saturating_mul(1u64 << shift)
            .min(MAX_RETRY_DELAY_MS)
    }
}

/// Why a task transition or a task graph is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TaskError {
    #[error("task {task}: cannot go from {current} to {requested}; legal targets: [{}]",
        allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))]
    IllegalTransition {
        task: String,
        current: TaskStatus,
        requested: TaskStatus,
        allowed: Vec<TaskStatus>,
    },
    #[error("task {task} cannot start: dependencies not completed: [{}]", waiting.join(", "))]
    DependenciesPending { task: String, waiting: Vec<String> },
    #[error("task {task} depends on unknown task {dependency}")]
    UnknownDependency { task: String, dependency: String },
    #[error("task {0} depends on itself")]
    SelfDependency(String),
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Checks `from -> to` for task `task`; returns whether it is a retry.
pub fn check_transition(task: &str, from: TaskStatus, to: TaskStatus) -> Result<bool, TaskError> {
    if from.legal_targets().contains(&to) {
        Ok(from.is_retry(to))
    } else {
        Err(TaskError::IllegalTransition {
            task: task.to_string(),
            current: from,
            requested: to,
            allowed: from.legal_targets().to_vec(),
        })
    }
}

/// A task's place in its workflow's dependency graph.
pub trait TaskNode {
    fn id(&self) -> &str;
    fn status(&self) -> TaskStatus;
    fn dependencies(&self) -> &[String];
}

/// Every dependency names a task of the same workflow, none is the task itself, and the graph
/// has no cycle (the error names one).
pub fn check_graph<T: TaskNode>(tasks: &[T]) -> Result<(), TaskError> {
    let by_id: BTreeMap<&str, &T> = tasks.iter().map(|t| (t.id(), t)).collect();
    for t in tasks {
        for d in t.dependencies() {
            if d == t.id() {
                return Err(TaskError::SelfDependency(d.clone()));
            }
            if !by_id.contains_key(d.as_str()) {
                return Err(TaskError::UnknownDependency {
                    task: t.id().to_string(),
                    dependency: d.clone(),
                });
            }
        }
    }
    // Depth-first search with colours; the path on the stack names the cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        Grey,
        Black,
    }
    let mut colour: BTreeMap<&str, Colour> = BTreeMap::new();
    for start in by_id.keys() {
        if colour.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        colour.insert(start, Colour::Grey);
        while let Some((node, next)) = stack.last_mut() {
            let deps = by_id.get(*node).map_or(&[][..], |t| t.dependencies());
            if let Some(d) = deps.get(*next) {
                *next += 1;
                match colour.get(d.as_str()) {
                    Some(Colour::Grey) => {
                        let at = stack.iter().position(|(n, _)| *n == d).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[at..].iter().map(|(n, _)| n.to_string()).collect();
                        cycle.push(d.clone());
                        return Err(TaskError::Cycle(cycle));
                    }
                    Some(Colour::Black) => {}
                    None => {
                        colour.insert(d.as_str(), Colour::Grey);
                        stack.push((d.as_str(), 0));
                    }
                }
            } else {
                colour.insert(node, Colour::Black);
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Pending tasks whose dependencies have all completed, in id order.
pub fn ready_tasks<T: TaskNode>(tasks: &[T]) -> Vec<&str> {
    let completed: BTreeSet<&str> = tasks
        .iter()
        .filter(|t| t.status() == TaskStatus::Completed)
        .map(|t| t.id())
        .collect();
    let mut ready: Vec<&str> = tasks
        .iter()
        .filter(|t| t.status() == TaskStatus::Pending)
        .filter(|t| {
            t.dependencies()
                .iter()
                .all(|d| completed.contains(d.as_str()))
        })
        .map(|t| t.id())
        .collect();
    ready.sort_unstable();
    ready
}

/// A task may start (go RUNNING) only once its dependencies completed.
pub fn check_can_start<T: TaskNode>(task: &T, tasks: &[T]) -> Result<(), TaskError> {
    let status: BTreeMap<&str, TaskStatus> = tasks.iter().map(|t| (t.id(), t.status())).collect();
    let waiting: Vec<String> = task
        .dependencies()
        .iter()
        .filter(|d| status.get(d.as_str()) != Some(&TaskStatus::Completed))
        .cloned()
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(TaskError::DependenciesPending {
            task: task.id().to_string(),
            waiting,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    struct T(&'static str, TaskStatus, Vec<String>);

    impl TaskNode for T {
        fn id(&self) -> &str {
            self.0
        }
        fn status(&self) -> TaskStatus {
            self.1
        }
        fn dependencies(&self) -> &[String] {
            &self.2
        }
    }

    fn t(id: &'static str, s: TaskStatus, deps: &[&str]) -> T {
        T(id, s, deps.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn status_machine_and_retries() {
        assert_eq!(check_transition("a", Pending, Running), Ok(false));
        assert_eq!(check_transition("a", Running, Failed), Ok(false));
        assert_eq!(check_transition("a", Failed, Pending), Ok(true), "retry");
        assert_eq!(check_transition("a", Running, Pending), Ok(true), "retry");
        let e = check_transition("a", Completed, Running).unwrap_err();
        assert!(matches!(&e, TaskError::IllegalTransition { allowed, .. } if allowed.is_empty()));
        let e = check_transition("a", Pending, Completed).unwrap_err();
        assert!(
            e.to_string()
                .contains("legal targets: [RUNNING, SKIPPED, CANCELLED]"),
            "{e}"
        );
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TaskStatus::parse("running"), None);
    }

    #[test]
    fn status_text_round_trips() {
        for s in TaskStatus::ALL {
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(s));
        }
        assert_eq!(format!("[{:<9}]", Running), "[RUNNING  ]");
        assert_eq!(format!("[{:>9}]", Failed), "[   FAILED]");
        assert_eq!(
            "running".parse::<TaskStatus>(),
            Err(r#"unknown task status "running""#.to_string())
        );
    }

    #[test]
    fn graph_checks() {
        let ok = [
            t("a", Pending, &[]),
            t("b", Pending, &["a"]),
            t("c", Pending, &["a", "b"]),
        ];
        assert_eq!(check_graph(&ok), Ok(()));
        let unknown = [t("a", Pending, &["zz"])];
        assert!(matches!(
            check_graph(&unknown),
            Err(TaskError::UnknownDependency { .. })
        ));
        let selfdep = [t("a", Pending, &["a"])];
        assert_eq!(
            check_graph(&selfdep),
            Err(TaskError::SelfDependency("a".into()))
        );
        let cyclic = [
            t("a", Pending, &["c"]),
            t("b", Pending, &["a"]),
            t("c", Pending, &["b"]),
        ];
        match check_graph(&cyclic) {
            Err(TaskError::Cycle(path)) => {
                assert_eq!(path.first(), path.last(), "{path:?}");
                assert_eq!(path.len(), 4, "{path:?}");
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
    }

    #[test]
    fn readiness_follows_completed_dependencies() {
        let tasks = [
            t("a", Completed, &[]),
            t("b", Pending, &["a"]),
            t("c", Pending, &["a", "d"]),
            t("d", Running, &[]),
            t("e", Pending, &[]),
        ];
        assert_eq!(ready_tasks(&tasks), vec!["b", "e"]);
        assert_eq!(check_can_start(&tasks[1], &tasks), Ok(()));
        assert_eq!(
            check_can_start(&tasks[2], &tasks),
            Err(TaskError::DependenciesPending {
                task: "c".into(),
                waiting: vec!["d".into()]
            })
        );
    }
}
