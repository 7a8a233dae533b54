//! `Request::check_input`: each limit at and over its bound, ids, JSON, definitions, fences,
//! sessions, and which commands are internal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use super::*;
use crate::checkpoint::command::{
    CHUNK_BYTES, MAX_ENCODED_CHUNK_BYTES, MAX_UPLOADS_PER_ABORT, SaveCheckpoint,
};
use crate::checkpoint::{CheckpointCommand, CheckpointKind, Codec};
use crate::coord::command::{MAX_ELECTION_VALUE_BYTES, MAX_OWNER_BYTES};
use crate::coord::{CoordCommand, LeaseChoice};
use crate::txn::{KeyRange, MAX_TXN_OPS, PutOp, TxnCommand, TxnOp};
use crate::workflow::command::{
    CreateWorkflow, MAX_TASKS_PER_UPSERT, TaskSpec, TransitionWorkflow, UpdateWorkflow, UpsertTasks,
};
use crate::workflow::{Definition, Target, WorkflowCommand};

fn limits() -> InputLimits {
    InputLimits {
        max_key_bytes: 8,
        max_value_bytes: 16,
        records: RecordLimits {
            max_metadata_bytes: 32,
            max_labels: 2,
            max_label_key_bytes: 8,
            max_label_value_bytes: 8,
        },
        min_lease_ttl_ms: 1000,
        max_lease_ttl_ms: 60_000,
        // Three chunks.
        max_checkpoint_bytes: 2 * CHUNK_BYTES as u64 + 1,
    }
}

fn check(command: Command) -> Result<(), InputError> {
    Request {
        session: None,
        time_ms: 0,
        fence: None,
        auth: None,
        command,
    }
    .check_input(&limits())
}

fn put(key: &[u8], value: &[u8]) -> Command {
    Command::Put {
        key: key.to_vec(),
        value: value.to_vec(),
        expected_revision: None,
    }
}

fn too_large(field: &str, size: usize, limit: usize) -> Result<(), InputError> {
    Err(InputError::TooLarge {
        field: field.into(),
        size,
        limit,
    })
}

fn bad_id(field: &str, value: &str) -> Result<(), InputError> {
    Err(InputError::InvalidId {
        field: field.into(),
        value: value.into(),
    })
}

/// Every internal command, with the name its refusal gives.
fn internal_commands() -> Vec<(Command, &'static str)> {
    vec![
        (Command::SetClusterId { id: 7 }, "set_cluster_id"),
        (
            Command::RecordIncarnation {
                node: 2,
                incarnation: 9,
            },
            "record_incarnation",
        ),
        (
            Command::Workflow(WorkflowCommand::Purge {
                ids: vec!["w".into()],
                finished_before_ms: 1,
            }),
            "workflow.purge",
        ),
        (
            Command::Checkpoint(CheckpointCommand::Purge {
                workflow_id: "w".into(),
                ids: vec!["ckpt-1".into()],
            }),
            "checkpoint.purge",
        ),
        (
            Command::Coord(CoordCommand::ExpireLeases { ids: vec![1] }),
            "coord.expire_leases",
        ),
        (
            Command::Coord(CoordCommand::RenewLeases { ids: vec![1] }),
            "coord.renew_leases",
        ),
    ]
}

#[test]
fn internal_commands_are_refused_and_named() {
    for (command, name) in internal_commands() {
        assert!(command.is_internal(), "{name}");
        let refused = Err(InputError::Internal {
            command: name.into(),
        });
        assert_eq!(command.check_not_internal(), refused, "{name}");
        assert_eq!(check(command), refused, "{name}");
    }
}

#[test]
fn client_commands_are_not_internal() {
    let commands = [
        put(b"k", b"v"),
        Command::Delete {
            key: b"k".to_vec(),
            expected_revision: None,
        },
        Command::Compact { revision: 3 },
        Command::Txn(TxnCommand::put(put_op(b"k", b"v"))),
        Command::Coord(CoordCommand::KeepAlive { id: 1 }),
        Command::Coord(CoordCommand::RevokeLease { id: 1 }),
        Command::Workflow(WorkflowCommand::Delete {
            id: "w".into(),
            force: true,
        }),
        // Proposed by the leader's collection, but also by the node running an upload.
        Command::Checkpoint(CheckpointCommand::AbortUploads {
            upload_ids: vec!["up-1".into()],
        }),
    ];
    for command in commands {
        assert!(!command.is_internal(), "{command:?}");
        assert_eq!(command.check_not_internal(), Ok(()));
        assert_eq!(check(command), Ok(()));
    }
}

#[test]
fn kv_keys_and_values_are_bounded() {
    assert_eq!(check(put(&[b'k'; 8], &[0; 16])), Ok(()));
    assert_eq!(check(put(&[b'k'; 9], b"v")), too_large("key", 9, 8));
    assert_eq!(check(put(b"k", &[0; 17])), too_large("value", 17, 16));
    assert_eq!(
        check(put(b"", b"v")),
        Err(InputError::Empty {
            field: "key".into()
        })
    );
    let delete = |key: &[u8]| Command::Delete {
        key: key.to_vec(),
        expected_revision: Some(1),
    };
    assert_eq!(check(delete(&[b'k'; 9])), too_large("key", 9, 8));
    assert!(check(delete(b"")).is_err());
}

#[test]
fn sessions_and_fences_are_checked() {
    let req = |client_id: &str, fence: Option<Fence>| Request {
        session: Some(Session {
            client_id: client_id.into(),
            sequence: 1,
            first_incomplete: 1,
        }),
        time_ms: 0,
        fence,
        auth: None,
        command: put(b"k", b"v"),
    };
    let l = limits();
    assert_eq!(req(&"c".repeat(128), None).check_input(&l), Ok(()));
    assert_eq!(
        req(&"c".repeat(129), None).check_input(&l),
        too_large("header.client_id", 129, 128)
    );
    assert!(matches!(
        req("", None).check_input(&l),
        Err(InputError::Empty { .. })
    ));
    let lock = |name: &str, token| Fence::Lock {
        name: name.into(),
        token,
    };
    assert_eq!(req("c", Some(lock("res", 3))).check_input(&l), Ok(()));
    let zero = req(
        "c",
        Some(Fence::Election {
            name: "e".into(),
            term: 0,
        }),
    );
    assert!(
        matches!(zero.check_input(&l), Err(InputError::Invalid { field, .. }) if field == "fence.token")
    );
    assert_eq!(
        req("c", Some(lock("bad name", 3))).check_input(&l),
        Err(InputError::Coord(CoordError::InvalidName(
            "bad name".into()
        )))
    );
}

fn create() -> CreateWorkflow {
    CreateWorkflow {
        id: Some("w".into()),
        namespace: "default".into(),
        definition: "default".into(),
        definition_version: None,
        metadata: "{}".into(),
        labels: BTreeMap::new(),
        owner_id: String::new(),
        routing_strategy: String::new(),
        max_concurrent: 0,
        total_tasks: 0,
        upsert: false,
        actor: String::new(),
    }
}

fn wf(c: WorkflowCommand) -> Result<(), InputError> {
    check(Command::Workflow(c))
}

fn create_with(f: impl FnOnce(&mut CreateWorkflow)) -> Result<(), InputError> {
    let mut c = create();
    f(&mut c);
    wf(WorkflowCommand::Create(Box::new(c)))
}

#[test]
fn workflow_creates_are_checked() {
    assert_eq!(create_with(|_| {}), Ok(()));
    assert_eq!(create_with(|c| c.id = None), Ok(()));
    assert_eq!(
        create_with(|c| c.id = Some("a b".into())),
        bad_id("id", "a b")
    );
    assert_eq!(
        create_with(|c| c.namespace = String::new()),
        bad_id("namespace", "")
    );
    assert_eq!(
        create_with(|c| c.definition = "x y".into()),
        bad_id("definition", "x y")
    );
    assert_eq!(
        create_with(|c| c.owner_id = "o".repeat(MAX_SHORT_TEXT + 1)),
        too_large("owner_id", MAX_SHORT_TEXT + 1, MAX_SHORT_TEXT)
    );
    // Metadata: a JSON object within 32 bytes (never empty text: the service stores "{}").
    assert_eq!(
        create_with(|c| c.metadata = format!(r#"{{"k":"{}"}}"#, "x".repeat(24))),
        Ok(())
    );
    for (metadata, expected) in [
        (
            format!(r#"{{"k":"{}"}}"#, "x".repeat(25)),
            LimitError::MetadataTooLarge {
                size: 33,
                limit: 32,
            },
        ),
        (
            "[1]".into(),
            LimitError::MetadataNotObject("an array".into()),
        ),
    ] {
        assert_eq!(create_with(|c| c.metadata = metadata), Err(limit(expected)));
    }
    assert!(matches!(
        create_with(|c| c.metadata = String::new()),
        Err(InputError::Workflow(WorkflowError::Limit(
            LimitError::MetadataNotJson(_)
        )))
    ));
    let labels = |n: usize| (0..n).map(|i| (format!("l{i}"), "v".into())).collect();
    assert_eq!(create_with(|c| c.labels = labels(2)), Ok(()));
    assert_eq!(
        create_with(|c| c.labels = labels(3)),
        Err(limit(LimitError::TooManyLabels { count: 3, limit: 2 }))
    );
}

#[test]
fn workflow_changes_are_checked() {
    let transition = |target, reason: usize| {
        wf(WorkflowCommand::Transition(TransitionWorkflow {
            id: "w".into(),
            target,
            expected_version: None,
            actor: "a".into(),
            reason: "r".repeat(reason),
        }))
    };
    assert_eq!(transition(Target::event("pause"), MAX_REASON), Ok(()));
    assert_eq!(
        transition(Target::status("NOT A STATUS"), 0),
        bad_id("status", "NOT A STATUS")
    );
    assert_eq!(
        transition(Target::event("go"), MAX_REASON + 1),
        too_large("reason", MAX_REASON + 1, MAX_REASON)
    );
    let update = |f: fn(&mut UpdateWorkflow)| {
        let mut u = UpdateWorkflow {
            id: "w".into(),
            ..Default::default()
        };
        f(&mut u);
        wf(WorkflowCommand::Update(Box::new(u)))
    };
    assert_eq!(update(|u| u.metadata_patch = Some("{}".into())), Ok(()));
    assert!(matches!(
        update(|u| u.metadata_patch = Some("3".into())),
        Err(InputError::Workflow(WorkflowError::Limit(_)))
    ));
    assert_eq!(
        update(|u| u.remove_labels = vec!["bad key".into()]),
        bad_id("remove_labels", "bad key")
    );
    assert_eq!(
        wf(WorkflowCommand::Delete {
            id: String::new(),
            force: false
        }),
        bad_id("id", "")
    );
    assert!(matches!(
        wf(WorkflowCommand::CompactHistory {
            id: "w".into(),
            keep_last: 0
        }),
        Err(InputError::Invalid { field, .. }) if field == "keep_last"
    ));
    let bad_definition = Definition {
        name: "d".into(),
        ..Default::default()
    };
    assert!(matches!(
        wf(WorkflowCommand::RegisterDefinition(bad_definition)),
        Err(InputError::Workflow(WorkflowError::InvalidDefinition(_)))
    ));
    assert_eq!(
        wf(WorkflowCommand::RegisterDefinition(
            Definition::default_definition()
        )),
        Ok(())
    );
}

fn upsert(tasks: Vec<TaskSpec>) -> Result<(), InputError> {
    wf(WorkflowCommand::UpsertTasks(Box::new(UpsertTasks {
        workflow_id: "w".into(),
        tasks,
    })))
}

fn task(id: &str) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        ..Default::default()
    }
}

#[test]
fn task_upserts_are_checked() {
    assert_eq!(upsert(vec![task("a"), task("b")]), Ok(()));
    assert!(matches!(upsert(vec![]), Err(InputError::Empty { .. })));
    let many = (0..=MAX_TASKS_PER_UPSERT)
        .map(|i| task(&format!("t{i}")))
        .collect();
    assert_eq!(
        upsert(many),
        Err(InputError::TooMany {
            field: "tasks in one upsert".into(),
            count: MAX_TASKS_PER_UPSERT + 1,
            limit: MAX_TASKS_PER_UPSERT,
        })
    );
    assert_eq!(
        upsert(vec![task("a"), task("a")]),
        Err(InputError::Workflow(WorkflowError::DuplicateTask(
            "a".into()
        )))
    );
    let with = |f: fn(&mut TaskSpec)| {
        let mut t = task("a");
        f(&mut t);
        upsert(vec![t])
    };
    assert_eq!(
        with(|t| t.dependencies = Some(vec!["no way".into()])),
        bad_id("dependency", "no way")
    );
    // Empty JSON text clears the field; anything else must be JSON within the limit.
    assert_eq!(with(|t| t.input = Some(String::new())), Ok(()));
    assert_eq!(with(|t| t.output = Some("[1,2]".into())), Ok(()));
    assert!(matches!(
        with(|t| t.error = Some("{nope".into())),
        Err(InputError::Workflow(WorkflowError::InvalidJson { field, .. })) if field == "error"
    ));
    assert_eq!(
        with(|t| t.input = Some(format!("\"{}\"", "x".repeat(31)))),
        too_large("input", 33, 32)
    );
    assert_eq!(
        with(|t| t.name = Some("n".repeat(MAX_SHORT_TEXT + 1))),
        too_large("name", MAX_SHORT_TEXT + 1, MAX_SHORT_TEXT)
    );
}

fn coord(c: CoordCommand) -> Result<(), InputError> {
    check(Command::Coord(c))
}

fn acquire(name: &str, owner: &str, lease: LeaseChoice) -> Result<(), InputError> {
    coord(CoordCommand::Acquire {
        name: name.into(),
        owner: owner.into(),
        lease,
        wait: false,
    })
}

#[test]
fn lease_ttls_are_within_the_nodes_bounds() {
    let grant = |id, ttl_ms| coord(CoordCommand::GrantLease { id, ttl_ms });
    assert_eq!(grant(None, 1000), Ok(()));
    assert_eq!(grant(Some(9), 60_000), Ok(()));
    for ttl_ms in [999, 60_001] {
        assert_eq!(
            grant(None, ttl_ms),
            Err(InputError::Coord(CoordError::InvalidTtl {
                ttl_ms,
                min_ms: 1000,
                max_ms: 60_000
            }))
        );
    }
    assert!(matches!(
        grant(Some(0), 5000),
        Err(InputError::Invalid { .. })
    ));
    assert!(acquire("res", "me", LeaseChoice::New { ttl_ms: 10 }).is_err());
    assert_eq!(acquire("res", "me", LeaseChoice::Existing(7)), Ok(()));
    assert!(matches!(
        acquire("res", "me", LeaseChoice::Existing(0)),
        Err(InputError::Invalid { field, .. }) if field == "lease_id"
    ));
}

#[test]
fn coord_names_owners_values_and_tokens_are_checked() {
    assert_eq!(
        acquire("a b", "me", LeaseChoice::Existing(1)),
        Err(InputError::Coord(CoordError::InvalidName("a b".into())))
    );
    for owner in [String::new(), "o".repeat(MAX_OWNER_BYTES + 1)] {
        assert_eq!(
            acquire("res", &owner, LeaseChoice::Existing(1)),
            Err(InputError::Coord(CoordError::InvalidOwner))
        );
    }
    let campaign = |value: usize| {
        coord(CoordCommand::Campaign {
            election: "e".into(),
            candidate: "me".into(),
            value: vec![0; value],
            lease: LeaseChoice::Existing(1),
        })
    };
    assert_eq!(campaign(MAX_ELECTION_VALUE_BYTES), Ok(()));
    assert_eq!(
        campaign(MAX_ELECTION_VALUE_BYTES + 1),
        too_large(
            "value",
            MAX_ELECTION_VALUE_BYTES + 1,
            MAX_ELECTION_VALUE_BYTES
        )
    );
    let release = |token| {
        coord(CoordCommand::Release {
            name: "res".into(),
            owner: "me".into(),
            token,
        })
    };
    assert_eq!(release(4), Ok(()));
    assert!(release(0).is_err());
    let proclaim = |term| {
        coord(CoordCommand::Proclaim {
            election: "e".into(),
            candidate: "me".into(),
            term,
            value: vec![],
        })
    };
    assert_eq!(proclaim(2), Ok(()));
    assert!(proclaim(0).is_err());
    // Term 0 withdraws a candidacy still in line; id 0 names no lease (UnknownLease at apply).
    assert_eq!(
        coord(CoordCommand::Resign {
            election: "e".into(),
            candidate: "me".into(),
            term: 0
        }),
        Ok(())
    );
    assert_eq!(coord(CoordCommand::KeepAlive { id: 0 }), Ok(()));
}

fn save(raw_size: u64, codec: Codec, payload: usize) -> SaveCheckpoint {
    SaveCheckpoint {
        workflow_id: "w".into(),
        kind: CheckpointKind::Manual,
        label: "l".into(),
        metadata: "{}".into(),
        parent: None,
        delta: false,
        codec,
        raw_size,
        checksum: 0,
        payload: vec![0; payload],
    }
}

fn ckpt(c: CheckpointCommand) -> Result<(), InputError> {
    check(Command::Checkpoint(c))
}

fn save_one(s: SaveCheckpoint) -> Result<(), InputError> {
    ckpt(CheckpointCommand::Save(Box::new(s)))
}

#[test]
fn checkpoint_saves_are_bounded() {
    assert_eq!(save_one(save(10, Codec::Raw, 10)), Ok(()));
    assert_eq!(save_one(save(CHUNK_BYTES as u64, Codec::Zstd, 100)), Ok(()));
    assert!(matches!(
        save_one(save(10, Codec::Raw, 11)),
        Err(InputError::Invalid { .. })
    ));
    assert_eq!(
        save_one(save(CHUNK_BYTES as u64 + 1, Codec::Zstd, 100)),
        too_large(
            "single-entry checkpoint payload",
            CHUNK_BYTES + 1,
            CHUNK_BYTES
        )
    );
    assert_eq!(
        save_one(save(10, Codec::Zstd, MAX_ENCODED_CHUNK_BYTES + 1)),
        too_large(
            "encoded payload",
            MAX_ENCODED_CHUNK_BYTES + 1,
            MAX_ENCODED_CHUNK_BYTES
        )
    );
    let delta = SaveCheckpoint {
        delta: true,
        ..save(1, Codec::Raw, 1)
    };
    assert_eq!(
        save_one(delta),
        Err(InputError::Checkpoint(CheckpointError::DeltaWithoutParent))
    );
    let bad_metadata = SaveCheckpoint {
        metadata: "[]".into(),
        ..save(1, Codec::Raw, 1)
    };
    assert!(matches!(
        save_one(bad_metadata),
        Err(InputError::Workflow(WorkflowError::Limit(_)))
    ));
    let bad_label = SaveCheckpoint {
        label: "l".repeat(MAX_SHORT_TEXT + 1),
        ..save(1, Codec::Raw, 1)
    };
    assert!(save_one(bad_label).is_err());
}

#[test]
fn uploads_are_bounded_by_the_checkpoint_limit() {
    let max = limits().max_checkpoint_bytes;
    let chunk = |index, data: usize| {
        ckpt(CheckpointCommand::UploadChunk {
            upload_id: "up-1".into(),
            workflow_id: "w".into(),
            index,
            data: vec![0; data],
        })
    };
    // The limit is two chunks and a byte: chunks 0, 1 and 2.
    assert_eq!(chunk(2, MAX_ENCODED_CHUNK_BYTES), Ok(()));
    assert_eq!(
        chunk(3, 1),
        Err(InputError::TooMany {
            field: "upload chunks".into(),
            count: 4,
            limit: 3
        })
    );
    assert_eq!(
        chunk(0, MAX_ENCODED_CHUNK_BYTES + 1),
        too_large(
            "chunk",
            MAX_ENCODED_CHUNK_BYTES + 1,
            MAX_ENCODED_CHUNK_BYTES
        )
    );
    let commit = |chunks, s| {
        ckpt(CheckpointCommand::CommitUpload {
            upload_id: "up-1".into(),
            chunks,
            save: Box::new(s),
        })
    };
    assert_eq!(commit(3, save(max, Codec::Zstd, 0)), Ok(()));
    assert_eq!(
        commit(3, save(max + 1, Codec::Zstd, 0)),
        too_large("checkpoint payload", max as usize + 1, max as usize)
    );
    assert!(commit(4, save(max, Codec::Zstd, 0)).is_err());
    assert!(commit(3, save(max, Codec::Zstd, 1)).is_err());
    let abort = |n: usize| {
        ckpt(CheckpointCommand::AbortUploads {
            upload_ids: (0..n).map(|i| format!("up-{i}")).collect(),
        })
    };
    assert_eq!(abort(MAX_UPLOADS_PER_ABORT), Ok(()));
    assert!(abort(MAX_UPLOADS_PER_ABORT + 1).is_err());
    assert_eq!(
        ckpt(CheckpointCommand::AbortUploads {
            upload_ids: vec!["no way".into()]
        }),
        bad_id("upload_ids", "no way")
    );
}

fn put_op(key: &[u8], value: &[u8]) -> PutOp {
    PutOp {
        key: key.to_vec(),
        value: value.to_vec(),
        lease: 0,
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
    }
}

fn txn(success: Vec<TxnOp>) -> Result<(), InputError> {
    check(Command::Txn(TxnCommand {
        compare: vec![],
        success,
        failure: vec![],
    }))
}

#[test]
fn transactions_are_validated_and_bounded_at_every_level() {
    assert_eq!(txn(vec![TxnOp::Put(put_op(b"k", &[0; 16]))]), Ok(()));
    assert_eq!(
        txn(vec![TxnOp::Put(put_op(b"", b"v"))]),
        Err(InputError::Kv(KvError::EmptyKey))
    );
    let nested = |op| {
        TxnOp::Txn(TxnCommand {
            compare: vec![],
            success: vec![op],
            failure: vec![],
        })
    };
    assert_eq!(
        txn(vec![nested(TxnOp::Put(put_op(b"k", &[0; 17])))]),
        too_large("value", 17, 16)
    );
    let range = KeyRange {
        key: b"a".to_vec(),
        range_end: vec![b'z'; 9],
    };
    assert_eq!(
        txn(vec![nested(TxnOp::DeleteRange {
            range,
            prev_kv: false
        })]),
        too_large("range_end", 9, 8)
    );
    let puts = |n: usize| {
        (0..n)
            .map(|i| TxnOp::Put(put_op(format!("k{i}").as_bytes(), b"v")))
            .collect()
    };
    assert_eq!(txn(puts(MAX_TXN_OPS)), Ok(()));
    assert!(matches!(
        txn(puts(MAX_TXN_OPS + 1)),
        Err(InputError::TooMany { .. })
    ));
}

#[test]
fn errors_survive_the_peer_encoding() {
    // The leader sends its refusal back to a forwarding follower.
    let errors = [
        InputError::Internal {
            command: "set_cluster_id".into(),
        },
        InputError::TooLarge {
            field: "value".into(),
            size: 17,
            limit: 16,
        },
        InputError::Workflow(WorkflowError::DuplicateTask("a".into())),
        InputError::Coord(CoordError::InvalidOwner),
        InputError::Kv(KvError::EmptyKey),
    ];
    for e in errors {
        let bytes = crate::codec::encode(&e).unwrap();
        assert_eq!(crate::codec::decode::<InputError>(&bytes).unwrap(), e);
    }
    assert_eq!(
        InputError::TooLarge {
            field: "value".into(),
            size: 17,
            limit: 16
        }
        .to_string(),
        "value is 17 bytes; the limit is 16 bytes"
    );
}
