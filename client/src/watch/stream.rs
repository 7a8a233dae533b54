//! The task behind a [`crate::WatchStream`]: keeps one watch alive across connections.
//!
//! It remembers the last revision it delivered; after a disconnect, a node's death or a
//! slow-consumer cancel it opens the watch again (on another node when the last one failed)
//! from that revision + 1, so nothing is delivered twice or skipped. When a node answers that
//! the resume point is older than its history (`Compacted`), it reads a consistent snapshot of
//! the watched objects, hands it over as a `Reset`, and continues from the snapshot's
//! revision + 1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_api::v1::watch_client::WatchClient;
use cairn_api::v1::{self as pb, watch_request, watch_response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status, Streaming};

use super::convert;
use super::types::{WatchItem, WatchObject, WatchOptions};
use crate::client::{Client, MAX_RESPONSE_BYTES, request, with_token};
use crate::endpoints::Node;
use crate::error::{Disposition, Error, Result, classify};
use crate::retry::Backoff;

/// Our one watch's id on its stream.
const WATCH_ID: u64 = 1;

/// How a connection's watch ended.
enum Ended {
    /// The node's history does not reach back to our resume point.
    Compacted,
    /// The node cancelled the watch (e.g. we read too slowly); resume at once.
    Canceled(String),
    Disconnected(Status),
    /// The `WatchStream` was dropped.
    ConsumerGone,
    /// A reply we cannot understand: a server bug, reported to the consumer.
    Failed(Error),
}

pub(crate) struct Driver {
    pub(crate) client: Client,
    pub(crate) filter: pb::WatchFilter,
    pub(crate) options: WatchOptions,
    /// Every revision up to this one has been delivered. None: watching from "now" and not
    /// yet told which revision that is.
    pub(crate) last: Option<u64>,
    pub(crate) tx: mpsc::Sender<Result<WatchItem>>,
    /// The node currently serving the watch (for diagnostics).
    pub(crate) endpoint: Arc<Mutex<Option<String>>>,
    /// Connections on which the watch was created.
    pub(crate) connections: Arc<AtomicU64>,
    /// The current connection's request stream, for progress requests (None between
    /// connections).
    pub(crate) requests: Requests,
}

/// Where [`crate::WatchStream::request_progress`] sends its request.
pub(crate) type Requests = Arc<Mutex<Option<mpsc::Sender<pb::WatchRequest>>>>;

impl Driver {
    pub(crate) async fn run(mut self) {
        let cfg = self.client.config().clone();
        let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
        loop {
            let (idx, node) = self.client.inner.endpoints.pick();
            let (ended, progressed) = self.session(&node).await;
            self.set_endpoint(None);
            *self.requests.lock().unwrap_or_else(|p| p.into_inner()) = None;
            if progressed {
                backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
            }
            let failure = match ended {
                Ended::ConsumerGone => return,
                Ended::Failed(e) => {
                    let _ = self.tx.send(Err(e)).await;
                    return;
                }
                Ended::Canceled(reason) if progressed => {
                    tracing::debug!(endpoint = node.addr(), %reason, "watch cancelled; resuming");
                    continue;
                }
                Ended::Canceled(reason) => reason,
                Ended::Compacted => match self.catch_up().await {
                    Ok(true) => continue,
                    Ok(false) => return,
                    Err(Error::Unavailable(cause)) => cause,
                    Err(Error::Timeout) => "snapshot timed out".to_string(),
                    Err(e) => {
                        let _ = self.tx.send(Err(e)).await;
                        return;
                    }
                },
                // An expired token: log in again on the next connection.
                Ended::Disconnected(status) if self.client.token_refused(&status) => {
                    status.message().to_string()
                }
                Ended::Disconnected(status) => match classify(status) {
                    Disposition::Fail(e) => {
                        let _ = self.tx.send(Err(e)).await;
                        return;
                    }
                    Disposition::Retry { cause, .. } => {
                        // Any node serves watches: move on past the one that failed.
                        self.client.inner.endpoints.on_failure(idx, None);
                        cause
                    }
                },
            };
            tracing::debug!(endpoint = node.addr(), cause = %failure, "watch reconnecting");
            let delay = backoff.next_delay(&mut rand::rng());
            tokio::time::sleep(delay).await;
        }
    }

    fn set_endpoint(&self, addr: Option<String>) {
        *self.endpoint.lock().unwrap_or_else(|p| p.into_inner()) = addr;
    }

    /// One connection: opens the watch from `last + 1` and delivers until it ends. Also says
    /// whether it delivered anything, which resets the backoff.
    async fn session(&mut self, node: &Node) -> (Ended, bool) {
        let cfg = self.client.config();
        // The request stream must stay open while we watch: the server ends the watch when
        // it closes.
        let (req_tx, req_rx) = mpsc::channel(4);
        let create = pb::WatchRequest {
            request: Some(watch_request::Request::Create(pb::WatchCreateRequest {
                filter: Some(self.filter.clone()),
                start_revision: self.last.map_or(0, |l| l + 1),
                progress_notify_ms: self.options.progress_notify.map_or(0, |d| {
                    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
                }),
                watch_id: WATCH_ID,
            })),
        };
        if req_tx.try_send(create).is_err() {
            return (Ended::ConsumerGone, false);
        }
        let mut client =
            WatchClient::new(node.channel()).max_decoding_message_size(MAX_RESPONSE_BYTES);
        let opened = tokio::time::timeout(cfg.request_timeout, async {
            let token = self.client.login_token(node, cfg.request_timeout).await?;
            client
                .watch(with_token(ReceiverStream::new(req_rx), token))
                .await
        })
        .await;
        let mut stream: Streaming<pb::WatchResponse> = match opened {
            Err(_) => {
                let s = Status::deadline_exceeded("watch did not open in time");
                return (Ended::Disconnected(s), false);
            }
            Ok(Err(s)) => return (Ended::Disconnected(s), false),
            Ok(Ok(r)) => r.into_inner(),
        };
        self.set_endpoint(Some(node.addr().to_string()));
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()) = Some(req_tx.clone());
        // With progress notices on, silence for several intervals means the path is dead
        // (HTTP/2 keep-alive would notice too, but later).
        let idle = self
            .options
            .progress_notify
            .map(|p| p * 3 + cfg.request_timeout);
        let mut progressed = false;
        loop {
            let next = match idle {
                Some(limit) => match tokio::time::timeout(limit, stream.message()).await {
                    Ok(r) => r,
                    Err(_) => Err(Status::unavailable(
                        "watch stream silent past its progress interval",
                    )),
                },
                None => stream.message().await,
            };
            let msg = match next {
                Ok(Some(m)) => m,
                Ok(None) => {
                    let s = Status::unavailable("watch stream ended by the server");
                    return (Ended::Disconnected(s), progressed);
                }
                Err(s) => return (Ended::Disconnected(s), progressed),
            };
            let item = match msg.kind {
                Some(watch_response::Kind::Created(c)) => {
                    self.connections.fetch_add(1, Ordering::Relaxed);
                    self.last.get_or_insert(c.revision);
                    None
                }
                Some(watch_response::Kind::Events(e)) => match self.events(e) {
                    Ok(item) => item,
                    Err(e) => return (Ended::Failed(e), progressed),
                },
                Some(watch_response::Kind::Progress(p)) => {
                    (self.last.is_none_or(|l| p.revision > l)).then(|| {
                        self.last = Some(p.revision);
                        WatchItem::Progress {
                            revision: p.revision,
                        }
                    })
                }
                Some(watch_response::Kind::Compacted(_)) => return (Ended::Compacted, progressed),
                Some(watch_response::Kind::Canceled(c)) => {
                    return (Ended::Canceled(c.reason), progressed);
                }
                None => None,
            };
            if let Some(item) = item {
                if self.tx.send(Ok(item)).await.is_err() {
                    return (Ended::ConsumerGone, progressed);
                }
                progressed = true;
            }
        }
    }

    /// The item for one events message; anything at or below `last` was delivered already.
    fn events(&mut self, e: pb::WatchEvents) -> Result<Option<WatchItem>> {
        let last = self.last.unwrap_or(0);
        if e.revision <= last {
            return Ok(None);
        }
        let events = e
            .events
            .into_iter()
            .filter(|ev| ev.revision > last)
            .map(convert::event)
            .collect::<Result<Vec<_>>>()?;
        self.last = Some(e.revision);
        Ok(Some(WatchItem::Events {
            revision: e.revision,
            events,
        }))
    }

    /// Reads a consistent snapshot of the watched objects and hands it over as a `Reset`.
    /// Ok(false): the consumer is gone.
    async fn catch_up(&mut self) -> Result<bool> {
        let (revision, objects) = self.client.snapshot_pb(&self.filter).await?;
        tracing::debug!(
            revision,
            objects = objects.len(),
            "watch caught up from a snapshot"
        );
        self.last = Some(revision);
        Ok(self
            .tx
            .send(Ok(WatchItem::Reset { revision, objects }))
            .await
            .is_ok())
    }
}

impl Client {
    /// The objects `filter` selects, exactly as of the returned revision (linearizable).
    pub(crate) async fn snapshot_pb(
        &self,
        filter: &pb::WatchFilter,
    ) -> Result<(u64, Vec<WatchObject>)> {
        let req = pb::WatchSnapshotRequest {
            filter: Some(filter.clone()),
            serializable: false,
        };
        let (revision, objects) = self
            .call("watch_snapshot", |ch, timeout| {
                let req = request(req.clone(), timeout);
                async move {
                    let mut c = WatchClient::new(ch).max_decoding_message_size(MAX_RESPONSE_BYTES);
                    let (meta, mut stream, ext) = c.snapshot(req).await?.into_parts();
                    let mut objects = Vec::new();
                    while let Some(chunk) = stream.message().await? {
                        objects.extend(chunk.objects);
                        if chunk.done {
                            let got = (chunk.revision, objects);
                            return Ok(Response::from_parts(meta, got, ext));
                        }
                    }
                    Err(Status::unavailable("snapshot stream ended early"))
                }
            })
            .await?;
        let objects = objects
            .into_iter()
            .map(convert::object)
            .collect::<Result<Vec<_>>>()?;
        Ok((revision, objects))
    }
}
