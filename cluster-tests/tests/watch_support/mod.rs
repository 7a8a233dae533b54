//! Helpers for the watch tests: a view of the cluster rebuilt from watch items, with the order
//! checks every item must pass, the same view read from the cluster's own read API, a raw
//! gRPC watch, and a small deterministic generator.

use std::collections::{BTreeMap, BTreeSet};

use cairn_api::v1::watch_client::WatchClient;
use cairn_api::v1::{self as pb, watch_request, watch_response};
use cairn_client::{
    Client, KeyValue, ListOptions, TaskFilter, WatchChange, WatchItem, WatchObject,
};

/// Plain state: key -> (value, mod revision), workflow -> (status, version), task -> version.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct View {
    pub kv: BTreeMap<Vec<u8>, (Vec<u8>, u64)>,
    pub workflows: BTreeMap<String, (String, u64)>,
    pub tasks: BTreeMap<(String, String), u64>,
}

impl View {
    fn put_kv(&mut self, kv: KeyValue) {
        self.kv.insert(kv.key, (kv.value, kv.mod_revision));
    }

    pub fn from_objects(objects: Vec<WatchObject>) -> Self {
        let mut v = View::default();
        for o in objects {
            match o {
                WatchObject::Kv(kv) => v.put_kv(kv),
                WatchObject::Workflow(w) => {
                    v.workflows.insert(w.id, (w.status, w.version));
                }
                WatchObject::Task(t) => {
                    v.tasks.insert((t.workflow_id, t.id), t.version);
                }
                WatchObject::Checkpoint(_)
                | WatchObject::Lock(_)
                | WatchObject::Election(_)
                | WatchObject::Vars { .. } => {}
            }
        }
        v
    }

    fn apply(&mut self, c: WatchChange) {
        match c {
            WatchChange::KvPut { kv, .. } => self.put_kv(kv),
            WatchChange::KvDelete { key, .. } => {
                self.kv.remove(&key);
            }
            WatchChange::Workflow { workflow: w, .. } => {
                self.workflows.insert(w.id, (w.status, w.version));
            }
            WatchChange::WorkflowDeleted { workflow } => {
                self.workflows.remove(&workflow.id);
            }
            WatchChange::Task { task } => {
                self.tasks.insert((task.workflow_id, task.id), task.version);
            }
            WatchChange::TaskDeleted {
                workflow_id,
                task_id,
            } => {
                self.tasks.remove(&(workflow_id, task_id));
            }
            WatchChange::Checkpoint { .. }
            | WatchChange::CheckpointDeleted { .. }
            | WatchChange::Lock { .. }
            | WatchChange::LockDeleted { .. }
            | WatchChange::Election { .. }
            | WatchChange::ElectionDeleted { .. }
            | WatchChange::Vars { .. }
            | WatchChange::VarsDeleted { .. } => {}
        }
    }

    /// The cluster's state through its read API (namespace `ns` for workflows).
    pub async fn read(c: &Client, ns: &str) -> anyhow::Result<Self> {
        let mut v = View::default();
        for kv in c.range_all("").await? {
            v.put_kv(kv);
        }
        let mut cursor = None;
        loop {
            let page = c
                .list_workflows(&ListOptions::new().namespace(ns).limit(1000).cursor(cursor))
                .await?;
            for w in page.workflows {
                for t in c.tasks(&w.id, &TaskFilter::default()).await? {
                    v.tasks.insert((t.workflow_id, t.id), t.version);
                }
                v.workflows.insert(w.id, (w.status, w.version));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(v)
    }
}

/// Everything one watcher saw, checked as it arrives.
#[derive(Debug, Default)]
pub struct Seen {
    pub view: View,
    /// Every revision up to this one has been delivered.
    pub last: u64,
    /// Revisions that carried events.
    pub revisions: BTreeSet<u64>,
    /// (before, at): revisions in `before+1..=at` were covered by a snapshot.
    pub resets: Vec<(u64, u64)>,
    pub items: u64,
}

impl Seen {
    /// Applies one item, failing on any order violation: events must come after everything
    /// already delivered (so none repeats), in non-decreasing order within an item, and no
    /// item may move the delivered revision backwards.
    pub fn record(&mut self, item: WatchItem) -> anyhow::Result<()> {
        self.items += 1;
        match item {
            WatchItem::Events { revision, events } => {
                let mut prev = self.last;
                for e in events {
                    anyhow::ensure!(
                        e.revision > self.last && e.revision >= prev,
                        "event at revision {} after revision {} was delivered (previous event {prev})",
                        e.revision,
                        self.last
                    );
                    anyhow::ensure!(e.revision <= revision, "event past its item's revision");
                    prev = e.revision;
                    self.revisions.insert(e.revision);
                    self.view.apply(e.change);
                }
                anyhow::ensure!(revision > self.last, "events item does not advance");
                self.last = revision;
            }
            WatchItem::Reset { revision, objects } => {
                anyhow::ensure!(revision >= self.last, "reset moves backwards");
                self.resets.push((self.last, revision));
                self.view = View::from_objects(objects);
                self.last = revision;
            }
            WatchItem::Progress { revision } => {
                anyhow::ensure!(revision >= self.last, "progress moves backwards");
                self.last = revision;
            }
        }
        Ok(())
    }

    /// Every acknowledged write revision was delivered as an event or covered by a reset.
    pub fn check_complete(&self, acked: &[u64]) -> anyhow::Result<()> {
        for r in acked {
            let covered = self.revisions.contains(r)
                || self.resets.iter().any(|(from, to)| from < r && r <= to);
            anyhow::ensure!(
                covered,
                "acknowledged write at revision {r} was never delivered"
            );
        }
        Ok(())
    }
}

/// A raw watch on `addr` from `start`: the first answer after `Created`.
pub async fn first_answer(addr: &str, start: u64) -> watch_response::Kind {
    let mut c = WatchClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let create = pb::WatchRequest {
        request: Some(watch_request::Request::Create(pb::WatchCreateRequest {
            filter: Some(pb::WatchFilter {
                selectors: vec![pb::WatchSelector {
                    target: Some(pb::watch_selector::Target::Kv(pb::KvSelector {
                        prefix: b"c/".to_vec(),
                    })),
                }],
            }),
            start_revision: start,
            ..Default::default()
        })),
    };
    // The request stream stays open (the server ends a watch whose stream closes).
    let requests =
        tokio_stream::StreamExt::chain(tokio_stream::iter(vec![create]), tokio_stream::pending());
    let mut stream = c.watch(requests).await.unwrap().into_inner();
    let created = stream.message().await.unwrap().unwrap().kind.unwrap();
    assert!(
        matches!(created, watch_response::Kind::Created(_)),
        "{created:?}"
    );
    stream.message().await.unwrap().unwrap().kind.unwrap()
}
