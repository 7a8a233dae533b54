//! The claim checker. Workers record every claim that answered with a task (its claim
//! token) and how they ended its run; a completed run's output names the worker and the
//! claim that finished it. After healing, once every worker's lease has ended:
//!
//! - every task of an acknowledged task upsert exists (`lost-task`);
//! - no task is left RUNNING: a lease's end releases its runs (`stuck-run`);
//! - a COMPLETED task was finished by a run a worker claimed with that very token, whose
//!   finish was not refused, and that token is the task's last claim (`foreign-finish`,
//!   `refused-finish-applied`);
//! - every acknowledged finish is what the task holds (`lost-finish`), and no task has two
//!   acknowledged finishes (`double-finish`): a task runs to completion once.

use std::collections::{BTreeMap, HashMap};

use super::Anomaly;

/// How a claimed run ended, as the worker saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The finish was acknowledged.
    Acked,
    /// The cluster refused the finish (stale claim, terminal workflow, ...).
    Refused(String),
    /// No definite answer.
    Unknown,
    /// The worker "died" holding it: no finish was sent, its lease left to expire.
    Abandoned,
}

/// One claim that answered with a task.
#[derive(Clone, Debug)]
pub struct Run {
    pub worker: String,
    pub workflow: String,
    pub task: String,
    pub claim: u64,
    pub finish: Finish,
}

/// A task as read back after healing.
#[derive(Clone, Debug)]
pub struct TaskState {
    pub workflow: String,
    pub task: String,
    pub status: String,
    pub claim: u64,
    /// The completing run's worker and claim, from the task's output.
    pub finished_by: Option<(String, u64)>,
}

/// Checks the tasks read back (`tasks`: of the workflows whose upsert was acknowledged,
/// `expected`, workflow -> task ids, and of any other workflow a run names) against the
/// runs.
pub fn check(
    expected: &BTreeMap<String, Vec<String>>,
    tasks: &[TaskState],
    runs: &[Run],
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let by_key: HashMap<(&str, &str), &TaskState> = tasks
        .iter()
        .map(|t| ((t.workflow.as_str(), t.task.as_str()), t))
        .collect();
    for (wf, ids) in expected {
        for id in ids {
            if !by_key.contains_key(&(wf.as_str(), id.as_str())) {
                out.push(Anomaly::new("lost-task", format!("{wf}/{id} is gone")));
            }
        }
    }
    let runs_by_claim: HashMap<(&str, &str, u64), &Run> = runs
        .iter()
        .map(|r| ((r.workflow.as_str(), r.task.as_str(), r.claim), r))
        .collect();
    for t in tasks {
        let key = format!("{}/{}", t.workflow, t.task);
        if t.status == "RUNNING" {
            out.push(Anomaly::new(
                "stuck-run",
                format!(
                    "{key} is RUNNING (claim {}) after every lease ended",
                    t.claim
                ),
            ));
        }
        if t.status != "COMPLETED" {
            continue;
        }
        let Some((worker, claim)) = &t.finished_by else {
            out.push(Anomaly::new(
                "foreign-finish",
                format!("{key} is COMPLETED without a worker's output"),
            ));
            continue;
        };
        match runs_by_claim.get(&(t.workflow.as_str(), t.task.as_str(), *claim)) {
            None => out.push(Anomaly::new(
                "foreign-finish",
                format!("{key} completed by claim {claim} of {worker}, which no worker claimed"),
            )),
            Some(r) if r.worker != *worker => out.push(Anomaly::new(
                "foreign-finish",
                format!(
                    "{key}: claim {claim} was {}'s, output names {worker}",
                    r.worker
                ),
            )),
            Some(r) if matches!(r.finish, Finish::Refused(_) | Finish::Abandoned) => {
                out.push(Anomaly::new(
                    "refused-finish-applied",
                    format!(
                        "{key} completed by claim {claim}, whose finish was {:?}",
                        r.finish
                    ),
                ))
            }
            Some(_) => {}
        }
        if *claim != t.claim {
            out.push(Anomaly::new(
                "foreign-finish",
                format!(
                    "{key} completed by claim {claim}, but its last claim is {}",
                    t.claim
                ),
            ));
        }
    }
    let mut acked: HashMap<(&str, &str), Vec<u64>> = HashMap::new();
    for r in runs.iter().filter(|r| r.finish == Finish::Acked) {
        acked
            .entry((r.workflow.as_str(), r.task.as_str()))
            .or_default()
            .push(r.claim);
    }
    for ((wf, id), claims) in acked {
        if claims.len() > 1 {
            out.push(Anomaly::new(
                "double-finish",
                format!("{wf}/{id} finished by claims {claims:?}"),
            ));
        }
        let held = by_key
            .get(&(wf, id))
            .and_then(|t| (t.status == "COMPLETED").then_some(t.finished_by.as_ref()))
            .flatten();
        if !claims.iter().any(|c| held.is_some_and(|(_, h)| h == c)) {
            out.push(Anomaly::new(
                "lost-finish",
                format!("{wf}/{id}: acknowledged finish by claim {claims:?}, task holds {held:?}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(worker: &str, task: &str, claim: u64, finish: Finish) -> Run {
        Run {
            worker: worker.into(),
            workflow: "wf".into(),
            task: task.into(),
            claim,
            finish,
        }
    }

    fn state(task: &str, status: &str, claim: u64, by: Option<(&str, u64)>) -> TaskState {
        TaskState {
            workflow: "wf".into(),
            task: task.into(),
            status: status.into(),
            claim,
            finished_by: by.map(|(w, c)| (w.to_string(), c)),
        }
    }

    fn classes(a: &[Anomaly]) -> Vec<&'static str> {
        a.iter().map(|a| a.class).collect()
    }

    #[test]
    fn a_clean_history_passes() {
        let expected = BTreeMap::from([("wf".to_string(), vec!["a".into(), "b".into()])]);
        let runs = [
            run("w1", "a", 5, Finish::Abandoned),
            run("w2", "a", 9, Finish::Acked),
            run("w1", "b", 7, Finish::Unknown),
        ];
        let tasks = [
            state("a", "COMPLETED", 9, Some(("w2", 9))),
            state("b", "COMPLETED", 7, Some(("w1", 7))),
        ];
        assert!(check(&expected, &tasks, &runs).is_empty());
        // A workflow whose upsert's outcome was unknown but whose tasks ran: read back too.
        let runs = [run("w1", "a", 4, Finish::Acked)];
        let tasks = [state("a", "COMPLETED", 4, Some(("w1", 4)))];
        assert!(check(&BTreeMap::new(), &tasks, &runs).is_empty());
    }

    #[test]
    fn each_violation_is_named() {
        let expected = BTreeMap::from([(
            "wf".to_string(),
            vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "d".into(),
                "gone".into(),
            ],
        )]);
        let runs = [
            // a: refused finish took effect anyway.
            run("w1", "a", 5, Finish::Refused("stale".into())),
            // b: two acknowledged finishes.
            run("w1", "b", 6, Finish::Acked),
            run("w2", "b", 8, Finish::Acked),
            // c: acknowledged finish not held.
            run("w1", "c", 3, Finish::Acked),
        ];
        let tasks = [
            state("a", "COMPLETED", 5, Some(("w1", 5))),
            state("b", "COMPLETED", 8, Some(("w2", 8))),
            state("c", "PENDING", 0, None),
            state("d", "RUNNING", 11, None),
        ];
        let mut got = classes(&check(&expected, &tasks, &runs));
        got.sort_unstable();
        assert_eq!(
            got,
            [
                "double-finish",
                "lost-finish",
                "lost-task",
                "refused-finish-applied",
                "stuck-run"
            ]
        );
    }
}
