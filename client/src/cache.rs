//! [`WorkflowCache`]: a local view of one namespace's workflows and variables (the
//! namespace's own and its workflows'), loaded from a consistent snapshot and kept coherent
//! by a watch from that snapshot's revision on. Reads are local and as of a known revision
//! ([`WorkflowCache::revision`]); [`WorkflowCache::sync`] makes the next reads linearizable
//! (a read index from the cluster, then waiting until the watch has delivered that far), and
//! [`WorkflowCache::wait_for`] gives read-your-writes for a revision your own write returned.
//!
//! The watch survives node failures like any [`crate::WatchStream`]; if the history it needs
//! is gone it restarts from a snapshot, which replaces the view whole. A reader never sees
//! half an update: each watch item is applied under one lock, then the revision moves.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cairn_api::v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Client, request};
use crate::error::{Error, Result};
use crate::watch::{WatchChange, WatchFilter, WatchItem, WatchObject, WatchStream};
use crate::workflow::vars::scope_pb;
use crate::workflow::{VarScope, Vars, Workflow};

/// How often a wait asks the watch for progress again while it is short of its revision.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

#[derive(Default)]
struct View {
    workflows: HashMap<String, Workflow>,
    vars: HashMap<VarScope, Vars>,
}

impl View {
    fn apply(&mut self, item: WatchItem) {
        match item {
            WatchItem::Events { events, .. } => {
                for e in events {
                    match e.change {
                        WatchChange::Workflow { workflow, .. } => {
                            self.workflows.insert(workflow.id.clone(), workflow);
                        }
                        WatchChange::WorkflowDeleted { workflow } => {
                            self.workflows.remove(&workflow.id);
                        }
                        WatchChange::Vars { scope, vars, .. } => {
                            self.vars.insert(scope, vars);
                        }
                        WatchChange::VarsDeleted { scope, .. } => {
                            self.vars.remove(&scope);
                        }
                        // Not selected by the cache's filter.
                        _ => {}
                    }
                }
            }
            WatchItem::Reset { objects, .. } => {
                *self = View::default();
                self.load(objects);
            }
            WatchItem::Progress { .. } => {}
        }
    }

    fn load(&mut self, objects: Vec<WatchObject>) {
        for o in objects {
            match o {
                WatchObject::Workflow(w) => {
                    self.workflows.insert(w.id.clone(), w);
                }
                WatchObject::Vars { scope, vars, .. } => {
                    self.vars.insert(scope, vars);
                }
                _ => {}
            }
        }
    }
}

struct Shared {
    view: RwLock<View>,
    /// Every change up to this revision is in `view`.
    revision: watch::Sender<u64>,
    /// Why the watch ended, if it did (a permanent error).
    ended: RwLock<Option<String>>,
}

/// A local, watch-coherent view of a namespace's workflows and variables. Dropping it stops
/// its watch.
pub struct WorkflowCache {
    client: Client,
    namespace: String,
    shared: Arc<Shared>,
    progress: mpsc::Sender<()>,
    task: JoinHandle<()>,
}

impl Client {
    /// A [`WorkflowCache`] of `namespace`: reads a consistent snapshot of its workflows and
    /// variables, then follows their changes.
    pub async fn workflow_cache(&self, namespace: impl Into<String>) -> Result<WorkflowCache> {
        let namespace = namespace.into();
        let filter = WatchFilter::new()
            .workflows_in(namespace.as_str(), Vec::<String>::new())
            .vars_in(namespace.as_str());
        let (revision, objects) = self.watch_snapshot(&filter).await?;
        let mut view = View::default();
        view.load(objects);
        let shared = Arc::new(Shared {
            view: RwLock::new(view),
            revision: watch::channel(revision).0,
            ended: RwLock::new(None),
        });
        let stream = self.watch(filter, revision + 1);
        let (progress, wanted) = mpsc::channel(1);
        let task = tokio::spawn(follow(stream, shared.clone(), wanted));
        Ok(WorkflowCache {
            client: self.clone(),
            namespace,
            shared,
            progress,
            task,
        })
    }

    /// A revision at least as new as every write acknowledged before this call: the serving
    /// node's applied index after a read index (through a linearizable read of `namespace`'s
    /// variables, which needs only read permission on it).
    async fn read_index(&self, namespace: &str) -> Result<u64> {
        let msg = pb::GetVarsRequest {
            scope: Some(scope_pb(&VarScope::Namespace(namespace.to_string()))),
            version: None,
            serializable: false,
        };
        let resp = self
            .call("read_index", |ch, t| {
                let req = request(msg.clone(), t);
                async move { Self::workflows(ch).get_vars(req).await }
            })
            .await?;
        Ok(resp.revision)
    }
}

/// The cache's watch task: applies each item whole, then publishes its revision; asks the
/// watch for progress when a wait wants it.
async fn follow(mut stream: WatchStream, shared: Arc<Shared>, mut wanted: mpsc::Receiver<()>) {
    loop {
        tokio::select! {
            item = stream.recv() => match item {
                Some(Ok(item)) => {
                    let revision = item.revision();
                    shared
                        .view
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .apply(item);
                    shared.revision.send_modify(|r| *r = (*r).max(revision));
                }
                Some(Err(e)) => {
                    *shared.ended.write().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    return;
                }
                None => return,
            },
            Some(()) = wanted.recv() => {
                stream.request_progress();
            }
        }
    }
}

impl WorkflowCache {
    /// Every change up to this revision is reflected in the reads.
    pub fn revision(&self) -> u64 {
        *self.shared.revision.borrow()
    }

    fn view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.shared.view.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Workflow `id` as of [`WorkflowCache::revision`] (local; no RPC).
    pub fn workflow(&self, id: &str) -> Option<Workflow> {
        self.view().workflows.get(id).cloned()
    }

    /// Every workflow of the namespace, by id, as of [`WorkflowCache::revision`].
    pub fn workflows(&self) -> Vec<Workflow> {
        let mut all: Vec<Workflow> = self.view().workflows.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The variables of `scope` (the namespace's, or one of its workflows'), as of
    /// [`WorkflowCache::revision`].
    pub fn vars(&self, scope: &VarScope) -> Option<Vars> {
        self.view().vars.get(scope).cloned()
    }

    /// Waits until the cache reflects `revision` (e.g. one your own write returned), asking
    /// the watch for progress meanwhile. [`Error::Timeout`] after the client's request
    /// timeout; the watch's permanent error if it ended.
    pub async fn wait_for(&self, revision: u64) -> Result<()> {
        let deadline = Instant::now() + self.client.config().request_timeout;
        let mut seen = self.shared.revision.subscribe();
        loop {
            if *seen.borrow_and_update() >= revision {
                return Ok(());
            }
            if let Some(e) = self
                .shared
                .ended
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return Err(Error::Unavailable(format!("the cache's watch ended: {e}")));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            let _ = self.progress.try_send(());
            let _ = tokio::time::timeout(PROGRESS_EVERY, seen.changed()).await;
        }
    }

    /// Makes the next reads linearizable: learns a revision at least as new as every write
    /// acknowledged before this call, then waits until the cache reflects it. Returns it.
    pub async fn sync(&self) -> Result<u64> {
        let revision = self.client.read_index(&self.namespace).await?;
        self.wait_for(revision).await?;
        Ok(revision)
    }
}

impl Drop for WorkflowCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for WorkflowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowCache")
            .field("namespace", &self.namespace)
            .field("revision", &self.revision())
            .finish()
    }
}
