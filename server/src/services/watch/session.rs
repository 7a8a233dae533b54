//! One client's watch stream: creates and cancels its watches, and runs each as a task that
//! pulls its changes from the node's `EventHub`.
//!
//! Memory stays bounded whatever the client does: the history is shared (each watch only
//! keeps a position in it), and a stream's outgoing messages wait in one small bounded
//! queue. A watch that cannot send (its consumer reads too slowly) while more than `max_lag`
//! changed revisions behind is cancelled with the revision to resume from; apply never waits
//! for it. Being far behind alone is fine: a watch resuming from older history catches up
//! at full speed as long as its consumer keeps reading.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_api::v1::{self as pb, watch_request, watch_response};
use cairn_storage::watch::{EventHub, Filter, HistoryRead};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::{Status, Streaming};

use super::convert;
use crate::status;

/// Outgoing messages queued per stream. Small: a consumer that stops reading holds at most
/// this many messages (each bounded by `MESSAGE_BYTES`, or one large revision).
pub const OUTBOUND_QUEUE: usize = 16;
/// A message gathers whole revisions until about this many bytes of changes...
const MESSAGE_BYTES: usize = 256 * 1024;
/// ...or this many revisions.
const MESSAGE_REVISIONS: usize = 512;
/// How often a watch blocked on a full queue re-checks how far behind it is.
const LAG_CHECK: Duration = Duration::from_millis(200);
/// How long a cancel notice may wait for queue space before the whole stream is closed
/// (the consumer is not reading at all; closing it frees everything).
const NOTICE_TIMEOUT: Duration = Duration::from_secs(5);
/// Watches one stream may hold.
const MAX_WATCHES: usize = 256;
/// Progress notices no more often than this.
const MIN_PROGRESS: Duration = Duration::from_millis(10);

pub type Outbound = mpsc::Sender<Result<pb::WatchResponse, Status>>;

/// Node-wide watch settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Changed revisions a watch may be behind before it is cancelled as too slow.
    pub max_lag: usize,
    pub max_key_bytes: usize,
}

fn response(watch_id: u64, kind: watch_response::Kind) -> pb::WatchResponse {
    pb::WatchResponse {
        watch_id,
        kind: Some(kind),
    }
}

/// Serves one stream until the client closes it or goes away.
pub async fn run(
    mut inbound: Streaming<pb::WatchRequest>,
    out: Outbound,
    hub: Arc<EventHub>,
    settings: Settings,
    access: super::access::Access,
    mut stop: watch::Receiver<bool>,
) {
    let (fatal_tx, mut fatal) = mpsc::channel::<()>(1);
    let mut watches = Watches {
        tasks: HashMap::new(),
        next_id: 1,
        progress: watch::channel(0).0,
    };
    loop {
        let req = tokio::select! {
            msg = inbound.message() => match msg {
                Ok(Some(req)) => req,
                Ok(None) | Err(_) => break,
            },
            _ = out.closed() => break,
            _ = fatal.recv() => break,
            _ = stop.wait_for(|s| *s) => break,
        };
        watches.tasks.retain(|_, h| !h.is_finished());
        let result = match req.request {
            Some(watch_request::Request::Create(c)) => {
                create(c, &access, &mut watches, &out, &hub, settings, &fatal_tx)
            }
            Some(watch_request::Request::Cancel(c)) => {
                if let Some(h) = watches.tasks.remove(&c.watch_id) {
                    h.abort();
                    let notice = response(
                        c.watch_id,
                        watch_response::Kind::Canceled(pb::WatchCanceled {
                            reason: "canceled by the client".into(),
                            revision: 0,
                        }),
                    );
                    let _ = out.send(Ok(notice)).await;
                }
                Ok(())
            }
            Some(watch_request::Request::Progress(_)) => {
                // Every watch answers once it has delivered all the hub holds now.
                watches.progress.send_modify(|n| *n += 1);
                Ok(())
            }
            None => Err(status::invalid(
                "watch request names no create, cancel or progress",
            )),
        };
        if let Err(e) = result {
            // The client's request is wrong: say why, and end the stream.
            let _ = out.send(Err(e)).await;
            break;
        }
    }
    for (_, h) in watches.tasks {
        h.abort();
    }
}

/// The id of a new watch: the client's choice (`requested`) if free; for 0, the first free
/// id from `next_id`, which then moves past the highest id issued so far, so server-chosen ids
/// stay clear of client-chosen ones. Ids are 1..=u64::MAX: past u64::MAX the search wraps to
/// 1 (a stream holds at most MAX_WATCHES, so a free id is always near).
fn watch_id(
    requested: u64,
    next_id: &mut u64,
    in_use: impl Fn(u64) -> bool,
) -> Result<u64, Status> {
    let id = if requested == 0 {
        let mut id = *next_id;
        while id == 0 || in_use(id) {
            id = id.wrapping_add(1);
        }
        id
    } else if in_use(requested) {
        return Err(status::invalid(format!(
            "watch id {requested} is already in use on this stream"
        )));
    } else {
        requested
    };
    *next_id = (*next_id).max(id).wrapping_add(1);
    Ok(id)
}

/// The watches of one stream, by id, where the search for a free id starts, and the count
/// of progress requests the stream received (each watch follows it).
struct Watches {
    tasks: HashMap<u64, JoinHandle<()>>,
    next_id: u64,
    progress: watch::Sender<u64>,
}

fn create(
    c: pb::WatchCreateRequest,
    access: &super::access::Access,
    watches: &mut Watches,
    out: &Outbound,
    hub: &Arc<EventHub>,
    settings: Settings,
    fatal: &mpsc::Sender<()>,
) -> Result<(), Status> {
    let filter = convert::filter(c.filter, settings.max_key_bytes)?;
    access.check(&filter)?;
    if watches.tasks.len() >= MAX_WATCHES {
        return Err(status::invalid(format!(
            "a stream may hold at most {MAX_WATCHES} watches"
        )));
    }
    let tasks = &watches.tasks;
    let id = watch_id(c.watch_id, &mut watches.next_id, |id| {
        tasks.contains_key(&id)
    })?;
    let next = match c.start_revision {
        0 => hub.current() + 1,
        r => r,
    };
    let progress = (c.progress_notify_ms > 0)
        .then(|| Duration::from_millis(c.progress_notify_ms.into()).max(MIN_PROGRESS));
    let mut requested = watches.progress.subscribe();
    // Requests made before this watch existed are not its to answer.
    requested.borrow_and_update();
    let task = WatchTask {
        id,
        filter,
        next,
        progress,
        requested,
        hub: hub.clone(),
        out: out.clone(),
        max_lag: settings.max_lag,
    };
    let fatal = fatal.clone();
    watches.tasks.insert(
        id,
        tokio::spawn(async move {
            if task.run().await == End::Stuck {
                let _ = fatal.try_send(());
            }
        }),
    );
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The watch is over (compacted, cancelled as slow, client gone, node stopping).
    Done,
    /// A notice could not be queued: the consumer is not reading; close the stream.
    Stuck,
}

struct WatchTask {
    id: u64,
    filter: Filter,
    /// The next revision to deliver.
    next: u64,
    progress: Option<Duration>,
    /// Progress requests of the stream (see `WatchProgressRequest`).
    requested: watch::Receiver<u64>,
    hub: Arc<EventHub>,
    out: Outbound,
    max_lag: usize,
}

impl WatchTask {
    async fn run(mut self) -> End {
        let mut changed = self.hub.subscribe();
        let created = watch_response::Kind::Created(pb::WatchCreated {
            revision: self.next - 1,
        });
        if !self.send(created).await {
            return End::Done;
        }
        let mut last_sent = Instant::now();
        loop {
            // Marked seen before reading, so a publish after the read still wakes the wait.
            changed.borrow_and_update();
            match self.drain(&mut last_sent).await {
                Ok(()) => {}
                Err(end) => return end,
            }
            let tick = self.progress.map(|p| last_sent + p);
            tokio::select! {
                r = changed.changed() => if r.is_err() { return End::Done },
                r = self.requested.changed() => {
                    if r.is_err() {
                        return End::Done;
                    }
                    // Deliver everything the hub holds now, then say how far that is.
                    changed.borrow_and_update();
                    if let Err(end) = self.drain(&mut last_sent).await {
                        return end;
                    }
                    let p = watch_response::Kind::Progress(pb::WatchProgress {
                        revision: self.next - 1,
                    });
                    if !self.send(p).await {
                        return End::Done;
                    }
                    last_sent = Instant::now();
                }
                _ = sleep_until(tick) => {
                    let p = watch_response::Kind::Progress(pb::WatchProgress {
                        revision: self.next - 1,
                    });
                    if !self.send(p).await {
                        return End::Done;
                    }
                    last_sent = Instant::now();
                }
                _ = self.out.closed() => return End::Done,
            }
        }
    }

    /// Delivers everything the hub has from `next` on.
    async fn drain(&mut self, last_sent: &mut Instant) -> Result<(), End> {
        loop {
            let (batches, through, backlog) =
                match self.hub.read(self.next, MESSAGE_REVISIONS, MESSAGE_BYTES) {
                    HistoryRead::Ready {
                        batches,
                        through,
                        backlog,
                    } => (batches, through, backlog),
                    HistoryRead::Compacted { compacted, current } => {
                        metrics::counter!("cairn_watch_compacted_total").increment(1);
                        let c = watch_response::Kind::Compacted(pb::WatchCompacted {
                            compact_revision: compacted,
                            current_revision: current,
                        });
                        return Err(self.notice(c).await);
                    }
                };
            let events: Vec<pb::WatchEvent> = batches
                .iter()
                .flat_map(|b| {
                    b.changes
                        .iter()
                        .filter(|c| self.filter.matches(c))
                        .map(|c| convert::event(b.revision, c))
                })
                .collect();
            let drained = batches.len() == backlog;
            if !events.is_empty() {
                let msg = watch_response::Kind::Events(pb::WatchEvents {
                    events,
                    revision: through,
                });
                self.send_or_slow(msg).await?;
                *last_sent = Instant::now();
            }
            self.next = self.next.max(through + 1);
            if drained {
                return Ok(());
            }
            // Skipping a long stretch that matches nothing never awaits: let other tasks run.
            tokio::task::yield_now().await;
        }
    }

    async fn send(&self, kind: watch_response::Kind) -> bool {
        self.out.send(Ok(response(self.id, kind))).await.is_ok()
    }

    /// Queues `kind`, giving up if the watch falls too far behind while the queue is full.
    async fn send_or_slow(&self, kind: watch_response::Kind) -> Result<(), End> {
        loop {
            tokio::select! {
                permit = self.out.reserve() => {
                    let Ok(permit) = permit else { return Err(End::Done) };
                    permit.send(Ok(response(self.id, kind)));
                    return Ok(());
                }
                _ = tokio::time::sleep(LAG_CHECK) => {
                    let backlog = match self.hub.read(self.next, 1, 0) {
                        HistoryRead::Ready { backlog, .. } => backlog,
                        HistoryRead::Compacted { .. } => usize::MAX,
                    };
                    if backlog > self.max_lag {
                        return Err(self.slow(backlog).await);
                    }
                }
            }
        }
    }

    async fn slow(&self, backlog: usize) -> End {
        metrics::counter!("cairn_watch_slow_cancels_total").increment(1);
        let behind = if backlog == usize::MAX {
            "past the node's history".to_string()
        } else {
            format!("{backlog} changed revisions behind")
        };
        let c = watch_response::Kind::Canceled(pb::WatchCanceled {
            reason: format!(
                "slow consumer: {behind} (limit {}); resume from revision {}",
                self.max_lag, self.next
            ),
            revision: self.next - 1,
        });
        self.notice(c).await
    }

    /// A final notice; if even that cannot be queued, the stream has to go.
    async fn notice(&self, kind: watch_response::Kind) -> End {
        let msg = Ok(response(self.id, kind));
        match tokio::time::timeout(NOTICE_TIMEOUT, self.out.send(msg)).await {
            Ok(_) => End::Done,
            Err(_) => End::Stuck,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Allocates like `create` does, recording the ids taken.
    fn take(used: &mut BTreeSet<u64>, next_id: &mut u64, requested: u64) -> Option<u64> {
        let id = watch_id(requested, next_id, |id| used.contains(&id)).ok()?;
        used.insert(id);
        Some(id)
    }

    #[test]
    fn server_ids_follow_the_highest_and_skip_taken_ones() {
        let (mut used, mut next) = (BTreeSet::new(), 1);
        assert_eq!(take(&mut used, &mut next, 0), Some(1));
        assert_eq!(take(&mut used, &mut next, 7), Some(7));
        assert_eq!(take(&mut used, &mut next, 0), Some(8));
        assert_eq!(take(&mut used, &mut next, 7), None, "7 is in use");
    }

    #[test]
    fn a_client_chosen_max_id_does_not_overflow() {
        let (mut used, mut next) = (BTreeSet::new(), 1);
        assert_eq!(take(&mut used, &mut next, 0), Some(1));
        assert_eq!(take(&mut used, &mut next, u64::MAX), Some(u64::MAX));
        // The next server-chosen id wraps past u64::MAX to the first free one, never 0.
        assert_eq!(take(&mut used, &mut next, 0), Some(2));
        assert_eq!(take(&mut used, &mut next, 0), Some(3));
        assert_eq!(take(&mut used, &mut next, u64::MAX), None);
    }
}
