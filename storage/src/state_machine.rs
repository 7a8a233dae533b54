//! `StateMachineStore`: openraft's state machine on sled. Applies committed entries in
//! batches (one multi-tree transaction per batch, replies sent only after it commits),
//! builds and installs snapshots, and hands out `KvReader`s.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cairn_model::command::Response;
use cairn_raft::types::{Entry, LogId, Snapshot, SnapshotMeta, StoredMembership};
use cairn_raft::{SnapshotFile, TypeConfig};
use futures::{FutureExt, Stream, StreamExt};
use openraft::EntryPayload;
use openraft::storage::{EntryResponder, RaftStateMachine};
use sled::Transactional;
use sled::transaction::TransactionError;

use crate::auth_reader::AuthReader;
use crate::checkpoint_reader::CheckpointReader;
use crate::config::StorageConfig;
use crate::coord_reader::CoordReader;
use crate::error::StorageError;
use crate::key_set::KeySet;
use crate::keyspace::{Space, Trees, Tx, meta_key};
use crate::load::{load_snapshot, read_applied};
use crate::machine::{self, BatchCtx, MachineConfig};
use crate::reader::{KvReader, ReadGate};
use crate::snapshot;
use crate::snapshot_builder::SnapshotBuilder;
use crate::snapshot_dir::SnapshotDir;
use crate::watch::{EventHub, WatchReader};
use crate::workflow_index::WorkflowIndex;
use crate::workflow_reader::WorkflowReader;

/// The derived key sets apply ranges over, behind one lock: only apply and snapshot install
/// use them.
#[derive(Debug, Default)]
pub(crate) struct KeySets {
    pub(crate) kv: KeySet,
    pub(crate) claims: KeySet,
}

impl KeySets {
    pub(crate) fn rebuild(trees: &Trees) -> Result<Self, StorageError> {
        Ok(Self {
            kv: KeySet::rebuild_kv(trees)?,
            claims: crate::claim_queue::rebuild(trees)?,
        })
    }
}

/// openraft's `RaftStateMachine`. Created by [`crate::open`].
pub struct StateMachineStore {
    trees: Trees,
    gate: Arc<ReadGate>,
    snapshots: Arc<SnapshotDir>,
    machine: MachineConfig,
    apply_batch_max: usize,
    /// Watch events of committed batches (see `crate::watch`).
    hub: Arc<EventHub>,
    /// Only apply and snapshot install use it; the mutex just makes the store `Sync`.
    keys: Arc<Mutex<KeySets>>,
}

impl StateMachineStore {
    pub(crate) fn new(
        trees: Trees,
        snapshots: Arc<SnapshotDir>,
        config: &StorageConfig,
    ) -> Result<Self, StorageError> {
        crate::namespace_usage::ensure_counted(&trees)?;
        let (applied, _) = read_applied(&trees)?;
        let applied_index = applied.as_ref().map_or(0, |l| l.index());
        Ok(Self {
            hub: Arc::new(EventHub::new(applied_index, config.watch_history)),
            gate: Arc::new(ReadGate::new(
                applied.map_or(0, |l| l.index()),
                WorkflowIndex::rebuild(&trees)?,
            )),
            keys: Arc::new(Mutex::new(KeySets::rebuild(&trees)?)),
            trees,
            snapshots,
            machine: MachineConfig {
                dedup_window_ms: config.dedup_window_ms,
                prune_interval_ms: config.session_prune_interval_ms,
            },
            apply_batch_max: config.apply_batch_max.max(1),
        })
    }

    /// Users, roles and the auth switch, concurrently with apply.
    pub fn auth_reader(&self) -> AuthReader {
        AuthReader::new(self.trees.clone(), self.gate.clone())
    }

    /// Leases, locks and elections, concurrently with apply.
    pub fn coord_reader(&self) -> CoordReader {
        CoordReader::new(self.trees.clone(), self.gate.clone())
    }

    /// Checkpoint loads (verified, materialized) and listings, concurrently with apply.
    pub fn checkpoint_reader(&self) -> CheckpointReader {
        CheckpointReader::new(
            self.trees.clone(),
            self.gate.clone(),
            self.snapshots.keys().cloned(),
        )
    }

    /// The change history and catch-up snapshots that watches are served from.
    pub fn watch_reader(&self) -> WatchReader {
        WatchReader::new(self.trees.clone(), self.gate.clone(), self.hub.clone())
    }

    /// A read-only view of the workflow spaces, usable concurrently with apply.
    pub fn workflow_reader(&self) -> WorkflowReader {
        WorkflowReader::new(self.trees.clone(), self.gate.clone())
    }

    /// A read-only view of the key-value space, usable concurrently with apply.
    pub fn reader(&self) -> KvReader {
        KvReader::new(
            self.trees.get(Space::Kv).clone(),
            self.trees.get(Space::Meta).clone(),
            self.gate.clone(),
            self.hub.clone(),
        )
    }

    /// Where the peer transport writes incoming snapshot files (name them `*.incoming`).
    pub fn snapshot_dir(&self) -> PathBuf {
        self.snapshots.path().to_path_buf()
    }

    /// Applies `entries`, normally in one transaction that also records last_applied and
    /// membership. Returns one response per entry; nothing is visible before its
    /// transaction commits. (A due dedup prune can split the batch, see `machine::BatchCtx`.)
    pub(crate) fn apply_batch(&self, entries: &[Entry]) -> Result<Vec<Response>, StorageError> {
        fail::fail_point!("apply", |_| Err(StorageError::Internal(
            "failpoint apply".into()
        )));
        let mut responses = Vec::with_capacity(entries.len());
        let clock = match self.trees.get(Space::Meta).get(meta_key::CLOCK)? {
            Some(b) => crate::keyspace::decode_u64(&b, "machine clock")?,
            None => 0,
        };
        let times = machine::entry_times(clock, entries);
        let mut start = 0;
        while let Some(first) = entries.get(start) {
            let prescanned =
                machine::prescan_expired(&self.trees, self.machine, first, times[start])?;
            let (out, end) = self.apply_run(&entries[start..], &times[start..], &prescanned)?;
            responses.extend(out);
            start += end;
        }
        Ok(responses)
    }

    /// One transaction over a prefix of `entries` (all of them unless a later one must
    /// prune, or a step is refused). Returns the responses and the prefix length.
    fn apply_run(
        &self,
        entries: &[Entry],
        times: &[u64],
        prescanned: &Option<Vec<Vec<u8>>>,
    ) -> Result<(Vec<Response>, usize), StorageError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut index = self.gate.commit_lock();
        // A step refused after its earlier parts wrote aborts the transaction (see
        // `machine/step.rs`): apply again with it refused, ending the run at that entry so
        // the work redone is at most the prefix already done (refusals come in log order:
        // the prefix before one applies the same way again).
        let mut refused = BTreeMap::new();
        let mut end_at = None;
        let (out, last, index_ops, events, (kv_written, claims_written), compact_to) = loop {
            let attempt = self.trees.all().transaction(|view| {
                let mut ctx = BatchCtx::new(
                    Tx::new(view),
                    (&keys.kv, &keys.claims),
                    self.machine,
                    prescanned.clone(),
                    &refused,
                );
                let mut out = Vec::with_capacity(entries.len());
                let mut membership = None;
                for (i, (entry, now)) in entries.iter().zip(times).enumerate() {
                    if i > 0 && machine::prune_due(&ctx, entry, *now)? {
                        break;
                    }
                    out.push(machine::apply_entry(&mut ctx, entry, *now)?);
                    if let EntryPayload::Membership(m) = &entry.payload {
                        membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    }
                    if end_at == Some(entry.log_id.index()) {
                        break;
                    }
                }
                machine::finish_run(&mut ctx)?;
                let Some(last) = entries.get(out.len().saturating_sub(1)) else {
                    return Ok((out, None, Vec::new(), Vec::new(), Default::default(), None));
                };
                let meta = ctx.tx.tree(Space::Meta);
                meta.insert(meta_key::LAST_APPLIED, machine::encode(&last.log_id)?)?;
                let clock = times[out.len() - 1];
                meta.insert(meta_key::CLOCK, &clock.to_be_bytes()[..])?;
                if let Some(m) = &membership {
                    meta.insert(meta_key::MEMBERSHIP, machine::encode(m)?)?;
                }
                Ok((
                    out,
                    Some(last.log_id.index()),
                    ctx.index_ops,
                    ctx.events.take(),
                    (ctx.kv_written.take(), ctx.claims_written.take()),
                    ctx.compact_to.get(),
                ))
            });
            match attempt {
                Err(TransactionError::Abort(StorageError::StepRefused { revision, error })) => {
                    refused.insert(revision, *error);
                    end_at = Some(revision);
                }
                other => break other?,
            }
        };
        index.apply(index_ops);
        keys.kv.apply(kv_written);
        keys.claims.apply(claims_written);
        // Still under the commit lock: a watch snapshot sees the hub's revision and the
        // trees of the same applied state.
        if let Some(last) = last {
            self.hub.publish(last, events);
        }
        if let Some(floor) = compact_to {
            self.hub.compact(floor);
        }
        drop(index);
        if let Some(index) = last {
            self.gate.set_applied(index);
        }
        let n = out.len();
        Ok((out, n))
    }

    fn install_blocking(&self, meta: &SnapshotMeta, path: &Path) -> Result<(), StorageError> {
        fail::fail_point!("snapshot-install", |_| Err(StorageError::Internal(
            "failpoint snapshot-install".into()
        )));
        // Verify before touching anything: a bad file leaves the state machine as it was.
        let verified = snapshot::verify(path, self.snapshots.keys()).and_then(|found| {
            if found == *meta {
                Ok(())
            } else {
                Err(StorageError::corrupt(
                    path,
                    format!("holds snapshot {found}, expected {meta}"),
                ))
            }
        });
        if let Err(e) = verified {
            let incoming = path.parent() == Some(self.snapshots.path())
                && path.extension().is_some_and(|x| x == "incoming");
            if incoming {
                // Useless now; the transport writes a fresh file for its next attempt.
                let _ = snapshot::remove_file_if_exists(path);
            }
            tracing::warn!(path = %path.display(), error = %e, "rejected snapshot");
            return Err(e);
        }
        let canonical = self.snapshots.canonical_path(meta);
        if path != canonical {
            let staged = if path.parent() == Some(self.snapshots.path()) {
                File::open(path)?.sync_all()?;
                path.to_path_buf()
            } else {
                // Not the transport's file (e.g. a snapshot handed over in-process): copy it
                // so the source stays untouched.
                let tmp = self.snapshots.tmp_path(meta);
                fs::copy(path, &tmp)?;
                File::open(&tmp)?.sync_all()?;
                tmp
            };
            // Published before loading: if we crash mid-load, the install marker makes the
            // next open rebuild sled from exactly this snapshot.
            let published = self.snapshots.publish(meta, &staged)?;
            if published.meta != *meta {
                // A newer snapshot is already current and `staged` was discarded: loading
                // this one would move the state machine backwards.
                return Err(StorageError::Internal(format!(
                    "snapshot {meta} is older than the current snapshot {}; not installed",
                    published.meta
                )));
            }
        }

        self.gate.begin_install();
        load_snapshot(&self.trees, &canonical, meta, self.snapshots.keys())?;
        crate::namespace_usage::ensure_counted(&self.trees)?;
        let snapshot_index = meta.last_log_id.as_ref().map_or(0, |l| l.index());
        {
            let mut index = self.gate.commit_lock();
            *index = WorkflowIndex::rebuild(&self.trees)?;
            *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = KeySets::rebuild(&self.trees)?;
            // The entries the snapshot covers were never applied here: no events for them.
            self.hub.reset(snapshot_index);
        }
        // On failure the gate stays closed: the trees are half-loaded and must not be read.
        self.gate
            .end_install(meta.last_log_id.as_ref().map_or(0, |l| l.index()));
        tracing::info!(%meta, "snapshot installed");
        Ok(())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok(read_applied(&self.trees)?)
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        let mut batch = Vec::new();
        let mut responders = Vec::new();
        // Wait for one entry, then take whatever else is ready without waiting: under load
        // many entries share one transaction; when idle, latency stays one entry's.
        while let Some(first) = entries.next().await {
            let (entry, responder) = first?;
            batch.push(entry);
            responders.push(responder);
            let mut ended = false;
            while batch.len() < self.apply_batch_max {
                match entries.next().now_or_never() {
                    Some(Some(item)) => {
                        let (entry, responder) = item?;
                        batch.push(entry);
                        responders.push(responder);
                    }
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }

            let responses = self.apply_batch(&batch)?;
            batch.clear();
            for (responder, response) in responders.drain(..).zip(responses) {
                if let Some(responder) = responder {
                    responder.send(response);
                }
            }
            if ended {
                break;
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // The copy reads every record: do it on a blocking thread so the runtime keeps
        // serving heartbeats, but await it here so no apply interleaves (a consistent view).
        let trees = self.trees.clone();
        let dir = self.snapshots.clone();
        let fallback = dir.clone();
        tokio::task::spawn_blocking(move || SnapshotBuilder::capture(&trees, dir))
            .await
            .unwrap_or_else(|e| SnapshotBuilder::failed(format!("snapshot capture: {e}"), fallback))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        // Loading is long blocking I/O; keep it off the async worker threads.
        let this = self.blocking_handle();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || this.install_blocking(&meta, &snapshot.path))
            .await
            .map_err(StorageError::from)??;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.snapshots.current()?.map(|c| Snapshot {
            meta: c.meta,
            snapshot: SnapshotFile { path: c.path },
        }))
    }
}

impl StateMachineStore {
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn key_sets(&self) -> std::sync::MutexGuard<'_, KeySets> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn trees(&self) -> &Trees {
        &self.trees
    }

    /// A handle sharing all state, for work moved onto a blocking thread.
    fn blocking_handle(&self) -> StateMachineStore {
        StateMachineStore {
            trees: self.trees.clone(),
            gate: self.gate.clone(),
            snapshots: self.snapshots.clone(),
            machine: self.machine,
            apply_batch_max: self.apply_batch_max,
            hub: self.hub.clone(),
            keys: self.keys.clone(),
        }
    }
}
