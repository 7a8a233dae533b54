//! Namespace limits: creates and checkpoint saves past a limit are refused and write nothing,
//! removals give usage back, and usage counted by a scan (data from before usage was kept)
//! equals usage kept by apply.

use cairn_model::checkpoint::{
    CheckpointCommand, CheckpointError, CheckpointKind, CheckpointReply, Codec, SaveCheckpoint,
};
use cairn_model::command::{Command, CommandError, Response};
use cairn_model::workflow::quota::{
    NamespaceFull, NamespaceLimits, NamespaceQuota, NamespaceUsage, QuotaResource,
};
use cairn_model::workflow::{WorkflowCommand, WorkflowError, WorkflowReply};

use crate::StateMachineStore;
use crate::keyspace::{Space, meta_key};
use crate::test_util::{new_workflow, normal, req, temp_store};

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

    fn command(&mut self, cmd: Command) -> Response {
        let index = self.next;
        self.next += 1;
        let r = self
            .sm
            .apply_batch(&[normal(index, req(cmd, 1000 * index, None))])
            .unwrap();
        r.into_iter().next().unwrap()
    }

    fn workflow(&mut self, cmd: WorkflowCommand) -> Result<WorkflowReply, WorkflowError> {
        match self.command(Command::Workflow(cmd)) {
            Response::Workflow { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Workflow(e)) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn checkpoint(&mut self, cmd: CheckpointCommand) -> Result<CheckpointReply, CheckpointError> {
        match self.command(Command::Checkpoint(cmd)) {
            Response::Checkpoint { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Checkpoint(e)) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn create(&mut self, id: &str, namespace: &str) -> Result<WorkflowReply, WorkflowError> {
        self.workflow(WorkflowCommand::Create(Box::new(new_workflow(
            id, namespace,
        ))))
    }

    fn delete(&mut self, id: &str) {
        self.workflow(WorkflowCommand::Delete {
            id: id.into(),
            force: true,
        })
        .unwrap();
    }

    fn limit(&mut self, namespace: &str, limits: NamespaceLimits) -> NamespaceQuota {
        match self.workflow(WorkflowCommand::SetNamespaceLimits {
            namespace: namespace.into(),
            limits,
        }) {
            Ok(WorkflowReply::NamespaceLimitsSet { quota, .. }) => quota,
            other => panic!("{other:?}"),
        }
    }

    fn quota(&self, namespace: &str) -> NamespaceQuota {
        self.sm
            .workflow_reader()
            .namespace_quota(namespace)
            .unwrap()
    }

    fn save(&mut self, workflow: &str, bytes: usize) -> Result<CheckpointReply, CheckpointError> {
        let payload = vec![7u8; bytes];
        self.checkpoint(CheckpointCommand::Save(Box::new(SaveCheckpoint {
            workflow_id: workflow.into(),
            kind: CheckpointKind::Manual,
            label: String::new(),
            metadata: "{}".into(),
            parent: None,
            delta: false,
            codec: Codec::Raw,
            raw_size: bytes as u64,
            checksum: crc32fast::hash(&payload),
            payload,
        })))
    }

    /// Every replicated record except the apply bookkeeping in Meta and dedup sessions.
    fn state(&self) -> crate::test_util::Dump {
        self.sm
            .dump()
            .into_iter()
            .filter(|(s, _, _)| {
                ![Space::Meta, Space::Sessions, Space::SessionExpiry]
                    .iter()
                    .any(|x| x.id() == *s)
            })
            .collect()
    }
}

fn full(e: WorkflowError) -> NamespaceFull {
    match e {
        WorkflowError::NamespaceFull(f) => f,
        other => panic!("not namespace full: {other:?}"),
    }
}

fn ckpt_full(e: CheckpointError) -> NamespaceFull {
    match e {
        CheckpointError::Workflow(w) => full(w),
        other => panic!("not namespace full: {other:?}"),
    }
}

#[tokio::test]
async fn workflow_limit_refuses_creates_past_it_and_a_delete_makes_room() {
    let mut h = Harness::new().await;
    h.create("old", "ns").unwrap();
    let q = h.limit(
        "ns",
        NamespaceLimits {
            max_workflows: Some(2),
            max_checkpoint_bytes: None,
        },
    );
    // Usage counted before the limit existed counts against it.
    assert_eq!(q.usage.workflows, 1);
    h.create("a", "ns").unwrap();
    let before = h.state();
    let e = full(h.create("b", "ns").unwrap_err());
    assert_eq!(
        (e.resource, e.limit, e.used, e.requested),
        (QuotaResource::Workflows, 2, 2, 1)
    );
    assert_eq!(h.state(), before, "a refused create writes nothing");
    // Other namespaces are not limited by it; an upsert of an existing one is no create.
    h.create("b", "other").unwrap();
    assert_eq!(h.quota("other").usage.workflows, 1);

    h.delete("old");
    assert_eq!(h.quota("ns").usage.workflows, 1);
    h.create("b2", "ns").unwrap();
    assert_eq!(
        h.quota("ns"),
        NamespaceQuota {
            limits: NamespaceLimits {
                max_workflows: Some(2),
                max_checkpoint_bytes: None
            },
            usage: NamespaceUsage {
                workflows: 2,
                checkpoint_bytes: 0
            },
        }
    );

    // Removing the limits keeps counting; an empty, unlimited namespace leaves no record.
    h.limit("ns", NamespaceLimits::default());
    h.delete("a");
    h.delete("b2");
    h.delete("b");
    assert!(
        h.sm.trees().get(Space::Namespaces).is_empty(),
        "no record left for empty, unlimited namespaces"
    );
}

#[tokio::test]
async fn checkpoint_bytes_limit_holds_for_saves_and_uploads_and_removals_give_back() {
    let mut h = Harness::new().await;
    h.create("wf", "ns").unwrap();
    h.limit(
        "ns",
        NamespaceLimits {
            max_workflows: None,
            max_checkpoint_bytes: Some(100),
        },
    );
    let first = match h.save("wf", 60).unwrap() {
        CheckpointReply::Saved { id, .. } => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.quota("ns").usage.checkpoint_bytes, 60);
    let before = h.state();
    let e = ckpt_full(h.save("wf", 41).unwrap_err());
    assert_eq!(
        (e.resource, e.used, e.requested),
        (QuotaResource::CheckpointBytes, 60, 41)
    );
    // An upload is refused at the chunk that could no longer fit.
    let chunk = |index: u32, len: usize| CheckpointCommand::UploadChunk {
        upload_id: "up-1".into(),
        workflow_id: "wf".into(),
        index,
        data: vec![1u8; len],
    };
    h.checkpoint(chunk(0, 30)).unwrap();
    let e = ckpt_full(h.checkpoint(chunk(1, 11)).unwrap_err());
    assert_eq!((e.used, e.requested), (60, 41));
    h.checkpoint(CheckpointCommand::AbortUploads {
        upload_ids: vec!["up-1".into()],
    })
    .unwrap();
    assert_eq!(
        h.state(),
        before,
        "refusals and the aborted upload left nothing"
    );

    h.save("wf", 40).unwrap();
    assert_eq!(h.quota("ns").usage.checkpoint_bytes, 100);
    h.checkpoint(CheckpointCommand::Purge {
        workflow_id: "wf".into(),
        ids: vec![first],
    })
    .unwrap();
    assert_eq!(h.quota("ns").usage.checkpoint_bytes, 40);
    h.delete("wf");
    assert_eq!(
        h.quota("ns").usage,
        NamespaceUsage::default(),
        "deleting the workflow gives back its count and its checkpoints' bytes"
    );
}

#[tokio::test]
async fn usage_counted_by_a_scan_equals_usage_kept_by_apply() {
    let mut h = Harness::new().await;
    for (id, ns) in [("a", "x"), ("b", "x"), ("c", "y")] {
        h.create(id, ns).unwrap();
    }
    h.save("a", 10).unwrap();
    h.save("b", 5).unwrap();
    h.save("c", 7).unwrap();
    h.delete("b");
    let kept = h.sm.dump();

    // As an older build left it: no counts, no marker.
    let trees = h.sm.trees();
    trees.get(Space::Namespaces).clear().unwrap();
    trees
        .get(Space::Meta)
        .remove(meta_key::NAMESPACE_USAGE)
        .unwrap();
    crate::namespace_usage::ensure_counted(trees).unwrap();
    assert_eq!(h.sm.dump(), kept);
    assert_eq!(
        h.quota("x").usage,
        NamespaceUsage {
            workflows: 1,
            checkpoint_bytes: 10
        }
    );
}
