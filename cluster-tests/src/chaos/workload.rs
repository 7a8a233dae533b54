//! The clients of a chaos run: KV registers (put, compare-and-set, read), workflow racers
//! (read, then transition at the version read), fenced lock holders, and one watcher. Each
//! records every operation in the [`Recorder`]; an error without a definite answer is
//! recorded as indeterminate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{
    CreateWorkflow, Error, LockOptions, Target, WatchChange, WatchFilter, WatchItem, WatchObject,
    WatchStream,
};

use super::history::{FencedWrite, Outcome, Recorder};
use super::roster::{Roster, RosterClient};
use crate::linearizability::{KvInput, KvOutput, Operation, WorkflowInput, WorkflowOutput};

/// Registers per generation; the KV workers move to fresh keys (and the racers to fresh
/// workflows) every [`GENERATION_US`], which bounds each key's history, so the
/// linearizability search stays fast however long a run is (linearizability is local: a
/// history is linearizable iff each key's is).
const KV_KEYS: [&str; 3] = ["a", "b", "c"];
const WORKFLOWS: [&str; 2] = ["a", "b"];
pub const GENERATION_US: u64 = 20_000_000;
pub const LOCK: &str = "chaos/lock";
pub const LOCK_DATA: &str = "chaos/lock-data";
/// What the watcher follows: every key the workloads write, and the lock.
pub const PREFIX: &str = "chaos/";

/// Errors that mean the operation did not take effect.
pub(super) fn definite(e: &Error) -> bool {
    if let Error::Step { error, .. } = e {
        return definite(error);
    }
    matches!(
        e,
        Error::RevisionMismatch { .. }
            | Error::VersionConflict { .. }
            | Error::IllegalTransition { .. }
            | Error::StaleFence { .. }
            | Error::StaleClaim(_)
            | Error::Owned(_)
            | Error::Immutable(_)
            | Error::NotHolder(_)
            | Error::InvalidArgument(_)
            | Error::NotFound(_)
            | Error::FailedPrecondition(_)
            | Error::WaitTimeout
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Puts unique values, compare-and-sets on the revision last seen, and reads, over the keys
/// of the current generation, until `stop`.
pub async fn kv_worker(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    let mut last_rev: std::collections::HashMap<String, u64> = Default::default();
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let client = clients.get();
        let generation = rec.now() / GENERATION_US;
        let k = ((id + n) % KV_KEYS.len() as u64) as usize;
        let key = format!("chaos/kv/{generation}/{}", KV_KEYS[k]);
        let last = last_rev.entry(key.clone()).or_default();
        let value = format!("c{id}-{n}");
        let input = match n % 3 {
            0 => KvInput::Put {
                key: key.clone(),
                value: value.clone(),
            },
            1 => KvInput::PutIf {
                key: key.clone(),
                value: value.clone(),
                expected: *last,
            },
            _ => KvInput::Get { key: key.clone() },
        };
        if !matches!(input, KvInput::Get { .. }) {
            rec.wrote(&value);
        }
        let call = rec.invoke(id, "kv", &input);
        let result = match &input {
            KvInput::Put { .. } => client
                .put(key.clone(), value.clone())
                .await
                .map(|revision| KvOutput::Put { revision }),
            KvInput::PutIf { expected, .. } => {
                match client.put_if(key.clone(), value.clone(), *expected).await {
                    Ok(revision) => Ok(KvOutput::Put { revision }),
                    Err(Error::RevisionMismatch { current }) => Ok(KvOutput::Mismatch { current }),
                    Err(e) => Err(e),
                }
            }
            _ => client.get(key.clone()).await.map(|kv| {
                KvOutput::Get(kv.map(|kv| {
                    (
                        String::from_utf8_lossy(&kv.value).into_owned(),
                        kv.mod_revision,
                    )
                }))
            }),
        };
        let (outcome, output) = match result {
            Ok(KvOutput::Mismatch { current }) => {
                (Outcome::Fail, Some(KvOutput::Mismatch { current }))
            }
            Ok(o) => (Outcome::Ok, Some(o)),
            Err(e) => {
                rec.complete(id, "kv", Outcome::Indeterminate, &e);
                lock(&rec.kv).push(Operation {
                    client: id,
                    input,
                    call,
                    ret: None,
                    output: None,
                });
                continue;
            }
        };
        let ret = rec.complete(id, "kv", outcome, &output);
        match &output {
            Some(KvOutput::Put { revision }) => {
                *last = *revision;
                rec.acked(&key, &value, *revision);
            }
            Some(KvOutput::Mismatch { current }) => *last = *current,
            Some(KvOutput::Get(seen)) => *last = seen.as_ref().map_or(0, |(_, r)| *r),
            _ => {}
        }
        lock(&rec.kv).push(Operation {
            client: id,
            input,
            call,
            ret: Some(ret),
            output,
        });
    }
}

/// Reads a workflow of the current generation (creating it first if nobody has), then moves
/// it PING <-> PONG at the version it read, until `stop`.
pub async fn workflow_racer(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    let mut created = std::collections::HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let client = clients.get();
        let generation = rec.now() / GENERATION_US;
        let wf = format!("chaos-{generation}-{}", WORKFLOWS[((id + n) % 2) as usize]);
        if !created.contains(&wf) {
            // Setup, not part of the history: a new workflow starts at PING, version 1.
            let new = CreateWorkflow::new().id(wf.as_str()).definition("pingpong");
            match client.create_workflow(new).await {
                Ok(_) | Err(Error::AlreadyExists(_)) => {
                    created.insert(wf.clone());
                }
                Err(_) => continue,
            }
        }
        let wf = wf.as_str();
        let input = WorkflowInput::Read { id: wf.into() };
        let call = rec.invoke(id, "workflow", &input);
        let (status, version) = match client.workflow(wf, false).await {
            Ok(Some(d)) => (d.workflow.status.clone(), d.workflow.version),
            other => {
                rec.complete(id, "workflow", Outcome::Indeterminate, &other.map(|_| ()));
                lock(&rec.workflow).push(Operation {
                    client: id,
                    input,
                    call,
                    ret: None,
                    output: None,
                });
                continue;
            }
        };
        let output = WorkflowOutput::Read {
            status: status.clone(),
            version,
        };
        let ret = rec.complete(id, "workflow", Outcome::Ok, &output);
        lock(&rec.workflow).push(Operation {
            client: id,
            input,
            call,
            ret: Some(ret),
            output: Some(output),
        });
        let to = if status == "PING" { "PONG" } else { "PING" };
        let input = WorkflowInput::Transition {
            id: wf.into(),
            to: to.into(),
            expected: Some(version),
        };
        let call = rec.invoke(id, "workflow", &input);
        let result = client
            .transition(wf, Target::status(to), Some(version), "chaos", "")
            .await;
        let output = WorkflowOutput::of_transition(&result);
        let outcome = match &output {
            Some(WorkflowOutput::Moved { .. }) => Outcome::Ok,
            Some(_) => Outcome::Fail,
            None => Outcome::Indeterminate,
        };
        let ret = rec.complete(id, "workflow", outcome, &output);
        lock(&rec.workflow).push(Operation {
            client: id,
            input,
            call,
            ret: output.as_ref().map(|_| ret),
            output,
        });
    }
}

/// Takes [`LOCK`] with a lease of `ttl`, writes [`LOCK_DATA`] fenced by its token a few
/// times (pausing between writes, so a lease that lapses early under a skewed clock leaves a
/// holder writing after its successor took over), releases, and again until `stop`.
pub async fn lock_worker(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    ttl: Duration,
) {
    let opts = LockOptions::new()
        .ttl(ttl)
        .wait(Duration::from_secs(2))
        .owner(format!("chaos-{id}"));
    while !stop.load(Ordering::Relaxed) {
        // Between lock cycles only: the guard belongs to the client that took the lock.
        let client = clients.get();
        rec.invoke(id, "lock", &"acquire");
        let guard = match client.lock(LOCK, opts.clone()).await {
            Ok(g) => {
                rec.complete(id, "lock", Outcome::Ok, &format!("token {}", g.token()));
                g
            }
            Err(e) => {
                let outcome = if definite(&e) {
                    Outcome::Fail
                } else {
                    Outcome::Indeterminate
                };
                rec.complete(id, "lock", outcome, &e);
                continue;
            }
        };
        let token = guard.token();
        for seq in 0..4 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let value = format!("c{id}-t{token}-s{seq}");
            rec.wrote(&value);
            let call = rec.invoke(id, "fenced", &value);
            let result = client
                .fenced(&guard.fence())
                .put(LOCK_DATA, value.clone())
                .await;
            let mut w = FencedWrite {
                client: id,
                token,
                value: value.clone(),
                call,
                ret: None,
                revision: None,
                stale: None,
            };
            let stop_holding = match result {
                Ok(rev) => {
                    w.ret = Some(rec.complete(id, "fenced", Outcome::Ok, &rev));
                    w.revision = Some(rev);
                    rec.acked(LOCK_DATA, &value, rev);
                    false
                }
                Err(Error::StaleFence { current }) => {
                    w.ret = Some(rec.complete(id, "fenced", Outcome::Fail, &current));
                    w.stale = Some(current);
                    true
                }
                Err(e) => {
                    rec.complete(id, "fenced", Outcome::Indeterminate, &e);
                    false
                }
            };
            lock(&rec.fenced).push(w);
            if stop_holding {
                break;
            }
            // Work done while holding the lock; its length is the window a lapsed lease opens.
            tokio::time::sleep(ttl / 4).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), guard.release()).await;
    }
}

/// What the watcher saw, in order.
// Events are the common variant and are kept as the client yields them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum WatchRecord {
    Event {
        revision: u64,
        change: WatchChange,
    },
    /// The watch restarted from a snapshot of everything it follows.
    Reset {
        revision: u64,
        objects: Vec<WatchObject>,
    },
}

#[derive(Debug, Default)]
pub struct WatchLog {
    pub records: Vec<WatchRecord>,
    /// Every revision up to this one has been delivered.
    pub delivered: u64,
    pub errors: Vec<String>,
}

/// Follows [`PREFIX`] (keys and locks) from `from` for as long as it is not aborted. When
/// the voter set changes, it resumes on a client of the new voters from the revision after
/// the last one delivered (a stream's own failover only knows the endpoints it started with).
pub async fn watcher(roster: Arc<Roster>, from: u64, log: Arc<Mutex<WatchLog>>) {
    let mut changes = roster.changes();
    let mut from = from;
    loop {
        let Ok(client) = super::roster::client_on(roster.endpoints()) else {
            return;
        };
        let filter = WatchFilter::new().kv_prefix(PREFIX).locks_prefix(PREFIX);
        let stream = client.watch(filter, from);
        tokio::select! {
            () = follow(stream, &log) => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let delivered = lock(&log).delivered;
        from = from.max(delivered + 1);
    }
}

/// Records `stream`'s items in `log` until it ends.
async fn follow(mut stream: WatchStream, log: &Mutex<WatchLog>) {
    while let Some(item) = stream.recv().await {
        let mut log = lock(log);
        match item {
            Ok(WatchItem::Events { revision, events }) => {
                log.records
                    .extend(events.into_iter().map(|e| WatchRecord::Event {
                        revision: e.revision,
                        change: e.change,
                    }));
                log.delivered = revision;
            }
            Ok(WatchItem::Reset { revision, objects }) => {
                log.records.push(WatchRecord::Reset { revision, objects });
                log.delivered = revision;
            }
            Ok(WatchItem::Progress { revision }) => log.delivered = revision,
            Err(e) => log.errors.push(e.to_string()),
        }
    }
}
