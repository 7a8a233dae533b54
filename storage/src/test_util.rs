//! Test helpers: building entries and requests, opening stores in temp dirs, appending
//! durably, dumping state. The fuzz targets (`fuzz.rs`) use them too.

// A helper that cannot do its part fails the test (or the fuzz input) that called it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_model::command::{Command, Request, Session};
use cairn_model::workflow::WorkflowCommand;
use cairn_model::workflow::command::CreateWorkflow;
use cairn_raft::TypeConfig;
use cairn_raft::types::Entry;
use openraft::EntryPayload;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::{blank_ent, log_id, membership_ent};
use openraft::type_config::TypeConfigExt;
use tempfile::TempDir;

use crate::keyspace::{Space, meta_key};
use crate::{LogStore, StateMachineStore, StorageConfig};

pub(crate) fn put(key: &str, value: &str, expected: Option<u64>) -> Command {
    Command::Put {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        expected_revision: expected,
    }
}

pub(crate) fn delete(key: &str, expected: Option<u64>) -> Command {
    Command::Delete {
        key: key.as_bytes().to_vec(),
        expected_revision: expected,
    }
}

/// Workflow `id` (default definition, no metadata) in `namespace`; tests change fields with
/// struct update syntax.
pub(crate) fn new_workflow(id: &str, namespace: &str) -> CreateWorkflow {
    CreateWorkflow {
        id: Some(id.into()),
        namespace: namespace.into(),
        definition: "default".into(),
        definition_version: None,
        metadata: "{}".into(),
        labels: Default::default(),
        owner_id: String::new(),
        routing_strategy: String::new(),
        max_concurrent: 0,
        total_tasks: 0,
        upsert: false,
        actor: String::new(),
    }
}

/// The command creating [`new_workflow`].
pub(crate) fn create_workflow(id: &str, namespace: &str) -> Command {
    Command::Workflow(WorkflowCommand::Create(Box::new(new_workflow(
        id, namespace,
    ))))
}

pub(crate) fn req(command: Command, time_ms: u64, session: Option<(&str, u64)>) -> Request {
    Request {
        session: session.map(|(c, s)| Session {
            client_id: c.to_string(),
            sequence: s,
            first_incomplete: 0,
        }),
        time_ms,
        fence: None,
        auth: None,
        command,
    }
}

pub(crate) fn normal(index: u64, request: Request) -> Entry {
    Entry {
        log_id: log_id::<TypeConfig>(1, 1, index),
        payload: EntryPayload::Normal(request),
    }
}

pub(crate) fn blank(index: u64) -> Entry {
    blank_ent::<TypeConfig>(1, 1, index)
}

pub(crate) fn membership(index: u64) -> Entry {
    membership_ent::<TypeConfig>(1, 1, index, vec![BTreeSet::from([1, 2, 3])])
}

pub(crate) async fn open_in(dir: &TempDir, config: StorageConfig) -> (LogStore, StateMachineStore) {
    crate::open(dir.path(), config).await.expect("open storage")
}

pub(crate) async fn temp_store() -> (TempDir, LogStore, StateMachineStore) {
    let dir = TempDir::new().expect("temp dir");
    let (log, sm) = open_in(&dir, StorageConfig::default()).await;
    (dir, log, sm)
}

/// Appends `entries` and waits for the WAL's fsync of them.
pub(crate) async fn append_durably(log: &mut LogStore, entries: Vec<Entry>) {
    let (tx, rx) = TypeConfig::oneshot();
    log.append(entries, IOFlushed::signal(tx)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("flush callback within deadline")
        .unwrap()
        .unwrap();
}

/// Every replicated record (all trees, minus the local install marker).
pub(crate) type Dump = Vec<(u8, Vec<u8>, Vec<u8>)>;

impl StateMachineStore {
    pub(crate) fn dump(&self) -> Dump {
        let mut out = Vec::new();
        for space in Space::ALL {
            for item in self.trees().get(space).iter() {
                let (k, v) = item.expect("sled read");
                if space == Space::Meta && k == meta_key::INSTALL_MARKER {
                    continue;
                }
                out.push((space.id(), k.to_vec(), v.to_vec()));
            }
        }
        out
    }

    /// The claim queue as apply keeps it, and as a rebuild from the trees makes it: equal
    /// whenever apply keeps it exact.
    pub(crate) fn claim_queues(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let all = cairn_model::txn::KeyRange::prefix(Vec::new());
        let none = Default::default();
        let kept = self.key_sets().claims.range(&all, &none);
        let rebuilt = crate::claim_queue::rebuild(self.trees())
            .expect("rebuild claim queue")
            .range(&all, &none);
        (kept, rebuilt)
    }
}
