//! The Watch service: bidirectional streams of ordered, resumable change events (see
//! `session`), and the consistent snapshot a client catches up from when its resume point is
//! older than the serving node's history. Every node serves both: each replica's apply
//! produces the same events.

mod access;
mod convert;
pub mod session;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_api::v1::watch_server::Watch;
use cairn_api::v1::{self as pb};
use cairn_storage::watch::WatchReader;
use tokio::sync::watch;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::gateway::Gateway;
use crate::status;

pub use session::Settings;

/// Snapshot objects per message (and roughly bytes, below): keeps messages well under the
/// client's decoding limit.
const SNAPSHOT_CHUNK_OBJECTS: usize = 512;
const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

pub struct WatchService {
    gateway: Gateway,
    reader: WatchReader,
    settings: Settings,
    /// Set when the node stops: open streams end so clients move to another node at once.
    stop: watch::Receiver<bool>,
    streams: Arc<AtomicUsize>,
}

/// One open stream, counted in the `cairn_watchers` gauge while it lives.
pub struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        crate::metrics::set_watchers(n);
        Self(count.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let n = self.0.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        crate::metrics::set_watchers(n);
    }
}

impl WatchService {
    pub fn new(
        gateway: Gateway,
        reader: WatchReader,
        settings: Settings,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            gateway,
            reader,
            settings,
            stop,
            streams: Arc::default(),
        }
    }
}

type SnapshotStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchSnapshotResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = ReceiverStream<Result<pb::WatchResponse, Status>>;
    type SnapshotStream = SnapshotStream;

    async fn watch(
        &self,
        req: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(session::OUTBOUND_QUEUE);
        let open = OpenStream::new(&self.streams);
        let (hub, settings, stop) = (self.reader.hub().clone(), self.settings, self.stop.clone());
        let access = access::Access {
            caller: crate::auth::caller::current(),
            gateway: self.gateway.clone(),
        };
        tokio::spawn(async move {
            session::run(req.into_inner(), tx, hub, settings, access, stop).await;
            drop(open);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn snapshot(
        &self,
        req: Request<pb::WatchSnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let r = req.into_inner();
        let filter = convert::filter(r.filter, self.settings.max_key_bytes)?;
        // Linearizable by default: the snapshot is at least as new as any revision a client
        // has seen, so a catch-up never moves its view backwards.
        self.gateway.before_read(r.serializable).await?;
        access::Access {
            caller: crate::auth::caller::current(),
            gateway: self.gateway.clone(),
        }
        .check(&filter)?;
        let reader = self.reader.clone();
        let (revision, objects) = tokio::task::spawn_blocking(move || reader.snapshot(&filter))
            .await
            .map_err(status::internal)?
            .map_err(status::storage_error)?;
        let mut chunks = Vec::new();
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for o in objects {
            let o = convert::object(o);
            bytes += prost::Message::encoded_len(&o);
            chunk.push(o);
            if chunk.len() >= SNAPSHOT_CHUNK_OBJECTS || bytes >= SNAPSHOT_CHUNK_BYTES {
                chunks.push(std::mem::take(&mut chunk));
                bytes = 0;
            }
        }
        chunks.push(chunk);
        let last = chunks.len() - 1;
        let messages = chunks.into_iter().enumerate().map(move |(i, objects)| {
            Ok(pb::WatchSnapshotResponse {
                revision,
                objects,
                done: i == last,
            })
        });
        Ok(self
            .gateway
            .reply(Box::pin(tokio_stream::iter(messages)) as SnapshotStream))
    }
}
