//! etcd's Watch service (`etcdserverpb.Watch`): many watchers on one bidirectional stream,
//! each over a key range from a start revision, fed from the node's watch history (the same
//! ring Cairn's own watch reads). One task per stream owns its watchers: it takes requests,
//! and whenever the history moves it pulls each watcher forward from its own position, so
//! apply never waits for a watcher. A watcher whose position leaves the history (compacted,
//! or trimmed while its client lagged) is canceled with `compact_revision`, as etcd does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_model::KvRecord;
use cairn_model::txn::KeyRange;
use cairn_storage::watch::{Change, EventHub, HistoryRead};
use etcd_client::proto::{
    PbEvent, PbKeyValue, PbWatchRequest, PbWatchRequestUnion, PbWatchResponse, PbWatchService,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::header::{Headers, to_i64};
use super::kv_convert::pb_key_value;
use crate::error::EtcdError;
use crate::status::WATCH_COMPACTED;

/// Revisions pulled for one watcher per round, so one far-behind watcher cannot starve the
/// others on its stream.
const ROUND_REVISIONS: usize = 1024;
/// Event bytes per response before a `fragment` watcher's response is split (etcd's default
/// request size limit).
const FRAGMENT_BYTES: usize = 1536 * 1024;
/// Responses buffered per stream: beyond it the stream's task waits for its client.
const STREAM_BUFFER: usize = 64;
/// Watchers one stream may carry (etcd sets no bound; a client that wants more opens another
/// stream, which the HTTP/2 stream limit per connection bounds in turn).
pub const MAX_WATCHERS_PER_STREAM: usize = 1024;
const FILTER_NOPUT: i32 = 0;
const FILTER_NODELETE: i32 = 1;

pub struct EtcdWatch {
    hub: Arc<EventHub>,
    headers: Headers,
    /// How often an idle watcher with `progress_notify` hears the current revision (etcd: 10
    /// minutes).
    progress_interval: Duration,
    stop: watch::Receiver<bool>,
}

impl EtcdWatch {
    pub fn new(
        hub: Arc<EventHub>,
        headers: Headers,
        progress_interval: Duration,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            hub,
            headers,
            progress_interval,
            stop,
        }
    }
}

#[tonic::async_trait]
impl PbWatchService for EtcdWatch {
    type WatchStream = ReceiverStream<Result<PbWatchResponse, Status>>;

    async fn watch(
        &self,
        req: Request<Streaming<PbWatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let stream = Stream {
            hub: self.hub.clone(),
            headers: self.headers.clone(),
            out: tx,
            watchers: BTreeMap::new(),
            next_id: 0,
        };
        // As the caller: each watch it creates is checked against its permissions.
        tokio::spawn(crate::auth::caller::inherit(stream.run(
            req.into_inner(),
            self.progress_interval,
            self.stop.clone(),
        )));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Watcher {
    range: KeyRange,
    /// The next revision this watcher has not seen.
    next: u64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    fragment: bool,
    progress_notify: bool,
    /// Something was sent since the last progress tick.
    active: bool,
}

struct Stream {
    hub: Arc<EventHub>,
    headers: Headers,
    out: mpsc::Sender<Result<PbWatchResponse, Status>>,
    watchers: BTreeMap<i64, Watcher>,
    next_id: i64,
}

/// The client went away: the stream's task ends.
struct Gone;

/// What woke a stream's task.
enum Wake {
    Request(Option<Result<PbWatchRequest, Status>>),
    /// The history moved (false: the hub is gone, the node is stopping).
    Moved(bool),
    Tick,
    Stop,
}

impl Stream {
    async fn run(
        mut self,
        mut requests: Streaming<PbWatchRequest>,
        progress_interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut moved = self.hub.subscribe();
        let mut progress = tokio::time::interval(progress_interval);
        progress.tick().await;
        let mut behind = false;
        loop {
            if behind {
                // Catch up before waiting, but still take requests between rounds.
                let alive = match futures::FutureExt::now_or_never(requests.next()) {
                    Some(Some(Ok(req))) => self.handle(req).await.is_ok(),
                    Some(Some(Err(_)) | None) => false,
                    None => true,
                };
                if !alive {
                    return;
                }
            } else {
                let stopping = async {
                    let _ = stop.wait_for(|s| *s).await;
                };
                let wake = tokio::select! {
                    req = requests.next() => Wake::Request(req),
                    changed = moved.changed() => Wake::Moved(changed.is_ok()),
                    _ = progress.tick() => Wake::Tick,
                    () = stopping => Wake::Stop,
                };
                let alive = match wake {
                    Wake::Request(Some(Ok(req))) => self.handle(req).await.is_ok(),
                    Wake::Request(Some(Err(_)) | None) | Wake::Moved(false) | Wake::Stop => false,
                    Wake::Moved(true) => true,
                    Wake::Tick => self.progress_tick().await.is_ok(),
                };
                if !alive {
                    return;
                }
            }
            match self.pump().await {
                Ok(b) => behind = b,
                Err(Gone) => return,
            }
        }
    }

    async fn send(&self, resp: PbWatchResponse) -> Result<(), Gone> {
        self.out.send(Ok(resp)).await.map_err(|_| Gone)
    }

    fn response(&self, watch_id: i64, revision: u64) -> PbWatchResponse {
        PbWatchResponse {
            header: Some(self.headers.at(revision)),
            watch_id,
            ..PbWatchResponse::default()
        }
    }

    async fn handle(&mut self, req: PbWatchRequest) -> Result<(), Gone> {
        match req.request_union {
            Some(PbWatchRequestUnion::CreateRequest(c)) => {
                let current = self.hub.current();
                let id = if c.watch_id != 0 {
                    c.watch_id
                } else {
                    while self.watchers.contains_key(&self.next_id) {
                        self.next_id += 1;
                    }
                    self.next_id
                };
                let refusal = if c.key.is_empty() {
                    Some(EtcdError::KeyNotProvided)
                } else if self.watchers.contains_key(&id) || id < 0 {
                    Some(EtcdError::WatchIdUnavailable(id))
                } else if self.watchers.len() >= MAX_WATCHERS_PER_STREAM {
                    Some(EtcdError::TooManyWatchers(MAX_WATCHERS_PER_STREAM))
                } else if crate::auth::caller::check_read(&KeyRange {
                    key: c.key.clone(),
                    range_end: c.range_end.clone(),
                })
                .is_err()
                {
                    Some(EtcdError::PermissionDenied)
                } else {
                    None
                };
                if let Some(e) = refusal {
                    // etcd answers a create it cannot honour with created + canceled.
                    let mut resp = self.response(id, current);
                    resp.created = true;
                    resp.canceled = true;
                    resp.cancel_reason = e.to_string();
                    return self.send(resp).await;
                }
                let start = u64::try_from(c.start_revision).unwrap_or(0);
                let watcher = Watcher {
                    range: KeyRange {
                        key: c.key,
                        range_end: c.range_end,
                    },
                    next: if start == 0 { current + 1 } else { start },
                    prev_kv: c.prev_kv,
                    no_put: c.filters.contains(&FILTER_NOPUT),
                    no_delete: c.filters.contains(&FILTER_NODELETE),
                    fragment: c.fragment,
                    progress_notify: c.progress_notify,
                    active: false,
                };
                self.watchers.insert(id, watcher);
                let mut resp = self.response(id, current);
                resp.created = true;
                self.send(resp).await
            }
            Some(PbWatchRequestUnion::CancelRequest(c)) => {
                if self.watchers.remove(&c.watch_id).is_some() {
                    let mut resp = self.response(c.watch_id, self.hub.current());
                    resp.canceled = true;
                    self.send(resp).await?;
                }
                Ok(())
            }
            Some(PbWatchRequestUnion::ProgressRequest(_)) => {
                // etcd answers with watch id -1 and the current revision (every watcher here
                // is either caught up or about to be pumped to it).
                self.send(self.response(-1, self.hub.current())).await
            }
            None => Ok(()),
        }
    }

    async fn progress_tick(&mut self) -> Result<(), Gone> {
        let current = self.hub.current();
        let idle: Vec<i64> = self
            .watchers
            .iter_mut()
            .filter(|(_, w)| w.progress_notify)
            .filter_map(|(id, w)| (!std::mem::replace(&mut w.active, false)).then_some(*id))
            .collect();
        for id in idle {
            self.send(self.response(id, current)).await?;
        }
        Ok(())
    }

    /// One round for every watcher; true if some watcher is still behind the history.
    async fn pump(&mut self) -> Result<bool, Gone> {
        let mut behind = false;
        let ids: Vec<i64> = self.watchers.keys().copied().collect();
        for id in ids {
            let Some(w) = self.watchers.get(&id) else {
                continue;
            };
            if w.next > self.hub.current() {
                continue;
            }
            match self.hub.read(w.next, ROUND_REVISIONS, usize::MAX) {
                HistoryRead::Compacted { compacted, current } => {
                    self.watchers.remove(&id);
                    let mut resp = self.response(id, current);
                    resp.compact_revision = to_i64(compacted);
                    resp.canceled = true;
                    resp.cancel_reason = WATCH_COMPACTED.into();
                    self.send(resp).await?;
                }
                HistoryRead::Ready {
                    batches,
                    through,
                    backlog,
                } => {
                    let events: Vec<PbEvent> = batches
                        .iter()
                        .flat_map(|b| b.changes.iter().map(move |c| (b.revision, c)))
                        .filter_map(|(rev, c)| event(w, rev, c))
                        .collect();
                    let fragment = w.fragment;
                    behind |= backlog > batches.len();
                    if let Some(w) = self.watchers.get_mut(&id) {
                        w.next = through + 1;
                        w.active |= !events.is_empty();
                    }
                    if !events.is_empty() {
                        self.send_events(id, through, events, fragment).await?;
                    }
                }
            }
        }
        Ok(behind)
    }

    async fn send_events(
        &self,
        id: i64,
        revision: u64,
        events: Vec<PbEvent>,
        fragment: bool,
    ) -> Result<(), Gone> {
        use prost::Message;
        if !fragment {
            let mut resp = self.response(id, revision);
            resp.events = events;
            return self.send(resp).await;
        }
        let mut chunks: Vec<Vec<PbEvent>> = vec![Vec::new()];
        let mut bytes = 0;
        for e in events {
            let len = e.encoded_len();
            if bytes + len > FRAGMENT_BYTES && chunks.last().is_some_and(|c| !c.is_empty()) {
                chunks.push(Vec::new());
                bytes = 0;
            }
            bytes += len;
            if let Some(last) = chunks.last_mut() {
                last.push(e);
            }
        }
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut resp = self.response(id, revision);
            resp.events = chunk;
            resp.fragment = i + 1 < n;
            self.send(resp).await?;
        }
        Ok(())
    }
}

fn kv(key: &[u8], r: &KvRecord) -> PbKeyValue {
    pb_key_value(key.to_vec(), r.clone())
}

/// The etcd event for `change` at `revision`, if the watcher wants it.
fn event(w: &Watcher, revision: u64, change: &Change) -> Option<PbEvent> {
    match change {
        Change::KvPut { key, record, prev } if !w.no_put && w.range.contains(key) => {
            Some(PbEvent {
                r#type: 0,
                kv: Some(kv(key, record)),
                prev_kv: prev.as_ref().filter(|_| w.prev_kv).map(|p| kv(key, p)),
            })
        }
        Change::KvDelete { key, prev } if !w.no_delete && w.range.contains(key) => {
            Some(PbEvent {
                r#type: 1,
                // etcd's delete event: the key and the deleting revision, nothing else.
                kv: Some(PbKeyValue {
                    key: key.clone(),
                    mod_revision: to_i64(revision),
                    ..PbKeyValue::default()
                }),
                prev_kv: w.prev_kv.then(|| kv(key, prev)),
            })
        }
        _ => None,
    }
}
