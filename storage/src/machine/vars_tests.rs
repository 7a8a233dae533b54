//! Versioned variables at apply: versions count updates, CAS on the version, immutable keys,
//! rollback as a new version, values as of a kept version (checked against its checksum),
//! retention, refusals that write nothing, and a workflow's variables going with it.

use std::collections::BTreeMap;

use cairn_model::command::{Command, CommandError, Response};
use cairn_model::workflow::command::CreateWorkflow;
use cairn_model::workflow::vars::{RollbackVars, UpdateVars, VarScope, checksum};
use cairn_model::workflow::{WorkflowCommand, WorkflowError, WorkflowReply};

use crate::StateMachineStore;
use crate::test_util::{Dump, new_workflow, normal, req, temp_store};

struct Harness {
    sm: StateMachineStore,
    _dir: tempfile::TempDir,
    next: u64,
}

impl Harness {
    async fn new() -> Self {
        let (dir, _log, sm) = temp_store().await;
        Self {
            sm,
            _dir: dir,
            next: 1,
        }
    }

    fn apply(&mut self, cmd: WorkflowCommand) -> Result<WorkflowReply, WorkflowError> {
        let index = self.next;
        self.next += 1;
        let r = req(Command::Workflow(cmd), 1_000 * index, None);
        match self.sm.apply_batch(&[normal(index, r)]).unwrap().remove(0) {
            Response::Workflow { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Workflow(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }

    fn update(
        &mut self,
        scope: &VarScope,
        f: impl FnOnce(&mut UpdateVars),
    ) -> Result<u64, WorkflowError> {
        let mut u = UpdateVars {
            scope: scope.clone(),
            expected_version: None,
            set: BTreeMap::new(),
            delete: vec![],
            immutable: vec![],
            keep_versions: None,
            actor: "t".into(),
            reason: String::new(),
        };
        f(&mut u);
        self.apply(WorkflowCommand::UpdateVars(Box::new(u)))
            .map(|r| match r {
                WorkflowReply::Vars { version, .. } => version,
                other => panic!("{other:?}"),
            })
    }

    fn values(&self, scope: &VarScope, version: Option<u64>) -> Option<BTreeMap<String, String>> {
        self.sm
            .workflow_reader()
            .vars(scope, version)
            .unwrap()
            .map(|v| v.values)
    }

    fn state(&self) -> Dump {
        use crate::keyspace::Space;
        self.sm
            .dump()
            .into_iter()
            .filter(|(s, _, _)| {
                ![
                    Space::Meta as u8,
                    Space::Sessions as u8,
                    Space::SessionExpiry as u8,
                ]
                .contains(s)
            })
            .collect()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn updates_are_versions_with_cas_history_and_rollback() {
    let mut h = Harness::new().await;
    let ns = VarScope::Namespace("ns".into());
    let v1 = h
        .update(&ns, |u| {
            u.expected_version = Some(0);
            u.set = map(&[("a", "1"), ("b", r#""x""#)]);
        })
        .unwrap();
    assert_eq!(v1, 1);
    let v2 = h
        .update(&ns, |u| {
            u.expected_version = Some(1);
            u.set = map(&[("a", "2")]);
            u.delete = vec!["b".into()];
        })
        .unwrap();
    assert_eq!(v2, 2);
    // A stale CAS is refused and writes nothing.
    let before = h.state();
    let stale = h.update(&ns, |u| {
        u.expected_version = Some(1);
        u.set = map(&[("a", "3")]);
    });
    assert!(
        matches!(
            stale,
            Err(WorkflowError::VarsVersionConflict { current: 2, .. })
        ),
        "{stale:?}"
    );
    assert_eq!(h.state(), before);
    assert_eq!(h.values(&ns, None).unwrap(), map(&[("a", "2")]));
    assert_eq!(
        h.values(&ns, Some(1)).unwrap(),
        map(&[("a", "1"), ("b", r#""x""#)])
    );
    // Rollback to 1: a new version 3 with version 1's values.
    let r = h
        .apply(WorkflowCommand::RollbackVars(Box::new(RollbackVars {
            scope: ns.clone(),
            to_version: 1,
            expected_version: Some(2),
            actor: "ops".into(),
            reason: "bad deploy".into(),
        })))
        .unwrap();
    assert!(matches!(r, WorkflowReply::Vars { version: 3, .. }), "{r:?}");
    let now = h.sm.workflow_reader().vars(&ns, None).unwrap().unwrap();
    assert_eq!(now.values, map(&[("a", "1"), ("b", r#""x""#)]));
    assert_eq!(now.checksum, checksum(&now.values));
    let history = h.sm.workflow_reader().var_history(&ns, 1, 100).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1].changes.get("b"), Some(&None));
    assert_eq!(
        history[1].previous.get("b"),
        Some(&Some(r#""x""#.to_string()))
    );
    assert_eq!(
        (history[2].rolled_back_to, history[2].actor.as_str()),
        (Some(1), "ops")
    );
}

#[tokio::test]
async fn immutable_keys_refuse_change_and_retention_forgets_old_versions() {
    let mut h = Harness::new().await;
    let ns = VarScope::Namespace("ns".into());
    h.update(&ns, |u| {
        u.set = map(&[("model", r#""gpt""#), ("n", "0")]);
        u.immutable = vec!["model".into()];
        u.keep_versions = Some(3);
    })
    .unwrap();
    let before = h.state();
    for attempt in [
        Box::new(|u: &mut UpdateVars| u.set = map(&[("model", r#""other""#), ("n", "1")]))
            as Box<dyn FnOnce(&mut UpdateVars)>,
        Box::new(|u: &mut UpdateVars| u.delete = vec!["model".into()]),
    ] {
        let refused = h.update(&ns, attempt);
        assert!(
            matches!(&refused, Err(WorkflowError::ImmutableVar { key, .. }) if key == "model"),
            "{refused:?}"
        );
        assert_eq!(h.state(), before, "a refused update wrote something");
    }
    for n in 1..=5 {
        h.update(&ns, |u| u.set = map(&[("n", &n.to_string())]))
            .unwrap();
    }
    let set = h.sm.workflow_reader().vars(&ns, None).unwrap().unwrap();
    assert_eq!((set.version, set.floor), (6, 4));
    assert!(h.values(&ns, Some(3)).is_none(), "version 3 is forgotten");
    assert_eq!(h.values(&ns, Some(4)).unwrap()["n"], "3");
    let gone = h.apply(WorkflowCommand::RollbackVars(Box::new(RollbackVars {
        scope: ns.clone(),
        to_version: 2,
        expected_version: None,
        actor: String::new(),
        reason: String::new(),
    })));
    assert!(
        matches!(gone, Err(WorkflowError::VarsVersionGone { .. })),
        "{gone:?}"
    );
    assert_eq!(
        h.sm.workflow_reader()
            .var_history(&ns, 1, 100)
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn workflow_variables_need_the_workflow_and_go_with_it() {
    let mut h = Harness::new().await;
    let wf = VarScope::Workflow("wf-1".into());
    let missing = h.update(&wf, |u| u.set = map(&[("a", "1")]));
    assert!(
        matches!(missing, Err(WorkflowError::NotFound(_))),
        "{missing:?}"
    );
    h.apply(WorkflowCommand::Create(Box::new(CreateWorkflow {
        actor: "t".into(),
        ..new_workflow("wf-1", "ns")
    })))
    .unwrap();
    h.update(&wf, |u| u.set = map(&[("a", "1")])).unwrap();
    h.update(&wf, |u| u.set = map(&[("a", "2")])).unwrap();
    h.apply(WorkflowCommand::Delete {
        id: "wf-1".into(),
        force: true,
    })
    .unwrap();
    assert!(h.values(&wf, None).is_none());
    assert!(
        h.sm.workflow_reader()
            .var_history(&wf, 1, 100)
            .unwrap()
            .is_empty()
    );
}
