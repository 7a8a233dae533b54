//! Watch: ordered, resumable streams of changes to replicated state.
//!
//! [`Client::watch`] follows the keys, workflows, tasks and checkpoints a [`WatchFilter`]
//! selects and yields [`WatchItem`]s. Every change carries the revision of the write that
//! made it; revisions strictly increase, a revision's changes arrive in one item, and nothing
//! is repeated or skipped — across reconnects too: the stream survives the death, restart or
//! loss of leadership of the node it is connected to by resuming on another node from the
//! last delivered revision + 1. If no node can resume from there any more (their bounded
//! history has moved past it), the stream yields a [`WatchItem::Reset`] with the watched
//! objects as of a revision R and continues with changes after R.
//!
//! ```no_run
//! # async fn demo() -> cairn_client::Result<()> {
//! use cairn_client::{WatchChange, WatchFilter, WatchItem};
//! let client = cairn_client::Client::connect(["127.0.0.1:7001", "127.0.0.1:7002"])?;
//! let mut watch = client.watch(WatchFilter::new().workflows_in("payments", ["FAILED"]), 0);
//! while let Some(item) = watch.recv().await {
//!     if let WatchItem::Events { events, .. } = item? {
//!         for e in events {
//!             if let WatchChange::Workflow { workflow, .. } = e.change {
//!                 println!("{} is now {} (revision {})", workflow.id, workflow.status, e.revision);
//!             }
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

mod convert;
mod stream;
mod types;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use types::*;

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// Watches the changes `filter` selects from revision `from_revision` on (0: from now,
    /// that is, after the serving node's current revision). Resume after your own restart by
    /// passing the last revision you processed + 1.
    ///
    /// Returns at once; the watch connects in the background (it needs a Tokio runtime).
    /// The stream ends only when dropped or on a permanent error (an invalid filter, a server
    /// without the watch API), which it yields first.
    pub fn watch(&self, filter: WatchFilter, from_revision: u64) -> WatchStream {
        self.watch_with(filter, from_revision, WatchOptions::default())
    }

    /// [`Client::watch`] with explicit options.
    pub fn watch_with(
        &self,
        filter: WatchFilter,
        from_revision: u64,
        options: WatchOptions,
    ) -> WatchStream {
        let (tx, rx) = mpsc::channel(options.buffer.max(1));
        let endpoint = Arc::new(Mutex::new(None));
        let connections = Arc::new(AtomicU64::new(0));
        let requests = stream::Requests::default();
        let driver = stream::Driver {
            client: self.clone(),
            filter: convert::filter(&filter),
            options,
            last: from_revision.checked_sub(1),
            tx,
            endpoint: endpoint.clone(),
            connections: connections.clone(),
            requests: requests.clone(),
        };
        WatchStream {
            rx,
            task: tokio::spawn(driver.run()),
            endpoint,
            connections,
            requests,
        }
    }

    /// The objects `filter` selects, exactly as of the returned revision (read
    /// linearizably): with [`Client::watch`] from that revision + 1, a complete view.
    pub async fn watch_snapshot(&self, filter: &WatchFilter) -> Result<(u64, Vec<WatchObject>)> {
        self.snapshot_pb(&convert::filter(filter)).await
    }
}

/// The items of one watch, in order. A `futures` `Stream` (or call [`WatchStream::recv`]).
/// Dropping it ends the watch.
#[derive(Debug)]
pub struct WatchStream {
    rx: mpsc::Receiver<Result<WatchItem>>,
    task: JoinHandle<()>,
    endpoint: Arc<Mutex<Option<String>>>,
    connections: Arc<AtomicU64>,
    requests: stream::Requests,
}

impl WatchStream {
    /// The next item; None once the watch has ended.
    pub async fn recv(&mut self) -> Option<Result<WatchItem>> {
        self.rx.recv().await
    }

    /// The node currently serving the watch, if connected.
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks the serving node for a [`WatchItem::Progress`] as soon as the watch has
    /// delivered every change the node has applied (etcd's RequestProgress); no progress
    /// item follows if that revision was delivered already. False when the watch is between
    /// connections (ask again later).
    pub fn request_progress(&self) -> bool {
        let sender = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let request = cairn_api::v1::WatchRequest {
            request: Some(cairn_api::v1::watch_request::Request::Progress(
                cairn_api::v1::WatchProgressRequest {},
            )),
        };
        // A full queue holds a request already, which answers this one too.
        sender.is_some_and(|tx| {
            !matches!(
                tx.try_send(request),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        })
    }

    /// How many times the watch was opened again after its first connection (node
    /// failures, slow-consumer cancels, catch-ups).
    pub fn reconnects(&self) -> u64 {
        self.connections.load(Ordering::Relaxed).saturating_sub(1)
    }
}

impl tokio_stream::Stream for WatchStream {
    type Item = Result<WatchItem>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
