//! Checkpoint apply and load: whole and chunked saves, verification (a flipped stored byte is
//! caught and `latest_valid` skips it), delta chains, rollback, retention purge that spares
//! parents, and removal with the workflow. Rejections write nothing.

use cairn_model::checkpoint::{
    CheckpointCommand, CheckpointError, CheckpointKind, CheckpointReply, Codec, RetentionPolicy,
    SaveCheckpoint,
};
use cairn_model::command::{Command, CommandError, Response};
use cairn_model::workflow::command::{CreateWorkflow, TransitionWorkflow};
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{Target, WorkflowCommand, WorkflowError};

use crate::keyspace::Space;
use crate::test_util::{new_workflow, normal, req, temp_store};
use crate::workflow_keys as keys;
use crate::{CheckpointReadError, StateMachineStore};

struct Harness {
    sm: StateMachineStore,
    _dir: tempfile::TempDir,
    next: u64,
}

fn save(
    workflow: &str,
    payload: &[u8],
    parent: Option<&str>,
    delta: bool,
    zstd: bool,
) -> SaveCheckpoint {
    let (codec, stored) = if zstd {
        (Codec::Zstd, zstd::bulk::compress(payload, 3).unwrap())
    } else {
        (Codec::Raw, payload.to_vec())
    };
    SaveCheckpoint {
        workflow_id: workflow.into(),
        kind: CheckpointKind::Manual,
        label: "step".into(),
        metadata: "{}".into(),
        parent: parent.map(String::from),
        delta,
        codec,
        raw_size: payload.len() as u64,
        checksum: crc32fast::hash(payload),
        payload: stored,
    }
}

impl Harness {
    async fn new() -> Self {
        let (dir, _log, sm) = temp_store().await;
        let mut h = Self {
            sm,
            _dir: dir,
            next: 1,
        };
        for id in ["wf", "other"] {
            h.command(Command::Workflow(WorkflowCommand::Create(Box::new(
                CreateWorkflow {
                    metadata: r#"{"step":0}"#.into(),
                    ..new_workflow(id, "ns")
                },
            ))));
        }
        h
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

    fn apply(&mut self, cmd: CheckpointCommand) -> Result<CheckpointReply, CheckpointError> {
        match self.command(Command::Checkpoint(cmd)) {
            Response::Checkpoint { reply, .. } => Ok(reply),
            Response::Rejected(CommandError::Checkpoint(e)) => Err(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn save(&mut self, s: SaveCheckpoint) -> String {
        match self.apply(CheckpointCommand::Save(Box::new(s))).unwrap() {
            CheckpointReply::Saved { id, .. } => id,
            other => panic!("{other:?}"),
        }
    }

    fn transition(&mut self, event: &str) {
        let r = self.command(Command::Workflow(WorkflowCommand::Transition(
            TransitionWorkflow {
                id: "wf".into(),
                target: Target::Event(event.into()),
                expected_version: None,
                actor: String::new(),
                reason: String::new(),
            },
        )));
        assert!(matches!(r, Response::Workflow { .. }), "{r:?}");
    }

    fn checkpoint_state(&self) -> crate::test_util::Dump {
        let spaces = [
            Space::Checkpoints,
            Space::CheckpointData,
            Space::CheckpointDirs,
            Space::Uploads,
        ]
        .map(|s| s as u8);
        self.sm
            .dump()
            .into_iter()
            .filter(|(s, _, _)| spaces.contains(s))
            .collect()
    }
}

#[tokio::test]
async fn saves_load_verified_and_flipped_bytes_are_caught() {
    let mut h = Harness::new().await;
    let json = br#"{"agent":"a1","memory":["x","y"],"step":3}"#.repeat(100);
    let a = h.save(save("wf", &json, None, false, true));
    let b = h.save(save("wf", b"\x00\x01binary", None, false, false));
    assert!(a < b, "later checkpoints sort after earlier ones");
    let reader = h.sm.checkpoint_reader();
    let (rec, payload) = reader.load("wf", &a).unwrap();
    assert_eq!(payload, json);
    assert!(rec.stored_size < rec.raw_size / 5, "compressed: {rec:?}");
    assert_eq!(rec.workflow_status, "PENDING");
    assert_eq!(reader.load("wf", &b).unwrap().1, b"\x00\x01binary");
    assert_eq!(reader.latest("wf").unwrap().unwrap().id, b);

    // Flip one stored byte of b (raw codec): the checksum catches it.
    let data = h.sm.trees().get(Space::CheckpointData);
    let key = keys::chunk(&b, 0);
    let mut bytes = data.get(&key).unwrap().unwrap().to_vec();
    bytes[3] ^= 0x40;
    data.insert(&key, bytes).unwrap();
    match reader.load("wf", &b) {
        Err(CheckpointReadError::Integrity { id, .. }) => assert_eq!(id, b),
        other => panic!("expected an integrity error, got {other:?}"),
    }
    assert_eq!(reader.latest_valid("wf").unwrap().unwrap().id, a);
    assert!(matches!(
        reader.load("wf", "ckpt-nope"),
        Err(CheckpointReadError::NotFound { .. })
    ));
}

#[tokio::test]
async fn delta_chains_materialize_link_by_link() {
    let mut h = Harness::new().await;
    let base = h.save(save("wf", br#"{"a":1,"b":{"c":2}}"#, None, false, true));
    let d1 = h.save(save(
        "wf",
        br#"{"b":{"c":3,"d":4}}"#,
        Some(&base),
        true,
        false,
    ));
    let d2 = h.save(save("wf", br#"{"a":null,"e":5}"#, Some(&d1), true, true));
    let reader = h.sm.checkpoint_reader();
    let (_, full) = reader.materialize("wf", &d2).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&full).unwrap();
    assert_eq!(v, serde_json::json!({"b": {"c": 3, "d": 4}, "e": 5}));
    // Without materialize, a delta loads as the patch itself.
    assert_eq!(reader.load("wf", &d1).unwrap().1, br#"{"b":{"c":3,"d":4}}"#);

    let before = h.checkpoint_state();
    assert_eq!(
        h.apply(CheckpointCommand::Save(Box::new(save(
            "wf", b"{}", None, true, false
        )))),
        Err(CheckpointError::DeltaWithoutParent)
    );
    // A parent from another workflow is not a parent here.
    assert!(matches!(
        h.apply(CheckpointCommand::Save(Box::new(save(
            "other",
            b"{}",
            Some(&base),
            true,
            false
        )))),
        Err(CheckpointError::UnknownParent { .. })
    ));
    assert!(matches!(
        h.apply(CheckpointCommand::Save(Box::new(save(
            "ghost", b"{}", None, false, false
        )))),
        Err(CheckpointError::Workflow(WorkflowError::NotFound(_)))
    ));
    assert_eq!(before, h.checkpoint_state());

    // A broken link makes the chain fail, and latest_valid falls back past it.
    let data = h.sm.trees().get(Space::CheckpointData);
    data.insert(keys::chunk(&d1, 0), &b"garbage"[..]).unwrap();
    assert!(matches!(
        reader.materialize("wf", &d2),
        Err(CheckpointReadError::Integrity { .. })
    ));
    assert_eq!(reader.latest_valid("wf").unwrap().unwrap().id, base);
}

#[tokio::test]
async fn chunked_upload_is_invisible_until_committed() {
    let mut h = Harness::new().await;
    let payload: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let parts: Vec<&[u8]> = payload.chunks(500_000).collect();
    let chunk = |index: u32, data: &[u8]| CheckpointCommand::UploadChunk {
        upload_id: "up-1".into(),
        workflow_id: "wf".into(),
        index,
        data: data.to_vec(),
    };
    h.apply(chunk(0, parts[0])).unwrap();
    // Repeats of a stored chunk are fine if identical; gaps and changes are not.
    h.apply(chunk(0, parts[0])).unwrap();
    assert!(matches!(
        h.apply(chunk(0, b"different")),
        Err(CheckpointError::ChunkMismatch { index: 0, .. })
    ));
    assert!(matches!(
        h.apply(chunk(2, parts[2])),
        Err(CheckpointError::ChunkOutOfOrder {
            expected: 1,
            got: 2,
            ..
        })
    ));
    h.apply(chunk(1, parts[1])).unwrap();
    assert!(h.sm.checkpoint_reader().latest("wf").unwrap().is_none());
    let mut s = save("wf", &payload, None, false, false);
    s.payload.clear();
    let commit = |chunks| CheckpointCommand::CommitUpload {
        upload_id: "up-1".into(),
        chunks,
        save: Box::new(s.clone()),
    };
    assert!(matches!(
        h.apply(commit(3)),
        Err(CheckpointError::MissingChunks { have: 2, .. })
    ));
    h.apply(chunk(2, parts[2])).unwrap();
    let id = match h.apply(commit(3)).unwrap() {
        CheckpointReply::Saved { id, .. } => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.sm.checkpoint_reader().load("wf", &id).unwrap().1, payload);
    assert!(matches!(
        h.apply(commit(3)),
        Err(CheckpointError::UnknownUpload(_))
    ));

    // An abandoned upload is collected with its chunks.
    h.apply(CheckpointCommand::UploadChunk {
        upload_id: "up-2".into(),
        workflow_id: "wf".into(),
        index: 0,
        data: vec![1; 10],
    })
    .unwrap();
    let reader = h.sm.checkpoint_reader();
    assert_eq!(reader.stale_uploads(u64::MAX, 10).unwrap(), ["up-2"]);
    h.apply(CheckpointCommand::AbortUploads {
        upload_ids: vec!["up-2".into()],
    })
    .unwrap();
    assert!(reader.stale_uploads(u64::MAX, 10).unwrap().is_empty());
    assert!(
        h.sm.trees()
            .get(Space::CheckpointData)
            .get(keys::chunk("up-2", 0))
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn rollback_restores_status_and_metadata_within_the_rules() {
    let mut h = Harness::new().await;
    h.transition("start");
    let running = h.save(save("wf", b"{}", None, false, false));
    h.transition("pause");
    let paused = h.save(save("wf", b"{}", None, false, false));
    h.transition("resume");
    // RUNNING -> PAUSED is a legal edge.
    let r = h
        .apply(CheckpointCommand::Rollback {
            workflow_id: "wf".into(),
            checkpoint_id: paused.clone(),
            expected_version: Some(4),
            force: false,
            actor: "ops".into(),
            reason: "undo".into(),
        })
        .unwrap();
    assert!(
        matches!(r, CheckpointReply::RolledBack { ref workflow } if workflow.status == "PAUSED")
    );
    h.transition("cancel");
    let rollback = |force| CheckpointCommand::Rollback {
        workflow_id: "wf".into(),
        checkpoint_id: running.clone(),
        expected_version: None,
        force,
        actor: "ops".into(),
        reason: String::new(),
    };
    // CANCELLED is terminal: only a forced rollback leaves it.
    assert!(matches!(
        h.apply(rollback(false)),
        Err(CheckpointError::Workflow(
            WorkflowError::IllegalTransition { .. }
        ))
    ));
    h.apply(rollback(true)).unwrap();
    let w = h.sm.workflow_reader().workflow("wf").unwrap().unwrap();
    assert_eq!((w.status.as_str(), w.finished_ms), ("RUNNING", None));
    assert_eq!(w.metadata, r#"{"step":0}"#);
    let history = h.sm.workflow_reader().history("wf", 1, 100).unwrap().events;
    let last = history.last().unwrap();
    assert_eq!(
        (last.kind, last.event.as_str()),
        (HistoryKind::Rollback, running.as_str())
    );
}

#[tokio::test]
async fn retention_spares_parents_and_workflow_delete_removes_everything() {
    let mut h = Harness::new().await;
    let empty = h.checkpoint_state();
    let full = h.save(save("wf", br#"{"n":0}"#, None, false, false));
    let mut ids = vec![full.clone()];
    for n in 1..5 {
        let parent = ids.last().cloned();
        ids.push(h.save(save(
            "wf",
            format!(r#"{{"n":{n}}}"#).as_bytes(),
            parent.as_deref(),
            true,
            false,
        )));
    }
    let plain: Vec<String> = (0..3)
        .map(|_| h.save(save("wf", b"{}", None, false, false)))
        .collect();
    h.apply(CheckpointCommand::SetRetention {
        workflow_id: "wf".into(),
        policy: Some(RetentionPolicy {
            keep_last: Some(2),
            max_age_ms: None,
        }),
    })
    .unwrap();
    let reader = h.sm.checkpoint_reader();
    let victims = reader.retention_victims("wf", "ns", u64::MAX).unwrap();
    assert_eq!(victims.len(), 6, "all but the last two");
    let r = h
        .apply(CheckpointCommand::Purge {
            workflow_id: "wf".into(),
            ids: victims,
        })
        .unwrap();
    assert!(matches!(r, CheckpointReply::Purged { ref ids } if ids.len() == 6));
    let (left, _) = reader.list("wf", None, 100).unwrap();
    assert_eq!(
        left.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        plain[1..]
    );

    // Purging a parent of a kept delta spares it (and its own parents).
    let base = h.save(save("wf", br#"{"n":0}"#, None, false, false));
    let d = h.save(save("wf", br#"{"n":1}"#, Some(&base), true, false));
    let r = h
        .apply(CheckpointCommand::Purge {
            workflow_id: "wf".into(),
            ids: vec![base.clone()],
        })
        .unwrap();
    assert_eq!(r, CheckpointReply::Purged { ids: vec![] });
    assert!(reader.materialize("wf", &d).is_ok());

    // Namespace default applies to workflows without their own policy.
    h.save(save("other", b"{}", None, false, false));
    h.save(save("other", b"{}", None, false, false));
    h.apply(CheckpointCommand::SetNamespaceRetention {
        namespace: "ns".into(),
        policy: Some(RetentionPolicy {
            keep_last: Some(1),
            max_age_ms: None,
        }),
    })
    .unwrap();
    assert_eq!(
        reader
            .retention_victims("other", "ns", u64::MAX)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        reader.workflows_with_checkpoints(None, 10).unwrap(),
        ["other", "wf"]
    );

    for id in ["wf", "other"] {
        let r = h.command(Command::Workflow(WorkflowCommand::Delete {
            id: id.into(),
            force: true,
        }));
        assert!(matches!(r, Response::Workflow { .. }), "{r:?}");
    }
    let left: Vec<_> = h
        .checkpoint_state()
        .into_iter()
        .filter(|(s, k, _)| !(*s == Space::CheckpointDirs as u8 && k.first() == Some(&0)))
        .collect();
    assert_eq!(empty, left, "only the namespace policy remains");
}
