//! The watch stream's resume logic against scripted in-process Watch servers: after a
//! disconnect it asks the next node for exactly the revision after the last one it delivered
//! (and drops anything older), a Compacted answer becomes a snapshot `Reset` followed by a
//! watch from the snapshot's revision + 1, and a rejected filter is a final error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_api::v1::watch_server::{Watch, WatchServer};
use cairn_api::v1::{self as pb, watch_event, watch_object, watch_response};
use cairn_client::{
    Client, ClientConfig, Error, WatchChange, WatchFilter, WatchItem, WatchObject, WatchOptions,
};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

/// What a server answers to the `call`-th watch (0-based) that starts at `start`.
type Plan = fn(start: u64, call: usize) -> Result<Vec<watch_response::Kind>, Status>;

#[derive(Clone)]
struct Mock {
    plan: Plan,
    /// Start revisions asked for, in order.
    starts: Arc<Mutex<Vec<u64>>>,
    /// The snapshot served: revision and the objects of each message.
    snapshot: Option<(u64, Vec<Vec<pb::WatchObject>>)>,
}

type Snapshots = Pin<Box<dyn Stream<Item = Result<pb::WatchSnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for Mock {
    type WatchStream = ReceiverStream<Result<pb::WatchResponse, Status>>;
    type SnapshotStream = Snapshots;

    async fn watch(
        &self,
        req: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut inbound = req.into_inner();
        let Some(pb::watch_request::Request::Create(c)) = inbound.message().await?.unwrap().request
        else {
            panic!("expected a create request");
        };
        let call = {
            let mut starts = self.starts.lock().unwrap();
            starts.push(c.start_revision);
            starts.len() - 1
        };
        let kinds = (self.plan)(c.start_revision, call)?;
        let (tx, rx) = tokio::sync::mpsc::channel(kinds.len().max(1));
        for kind in kinds {
            let msg = pb::WatchResponse {
                watch_id: c.watch_id,
                kind: Some(kind),
            };
            tx.try_send(Ok(msg)).unwrap();
        }
        // Dropping `tx` ends the stream after the scripted messages: a disconnect.
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn snapshot(
        &self,
        _: Request<pb::WatchSnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let (revision, chunks) = self.snapshot.clone().expect("no snapshot scripted");
        let last = chunks.len() - 1;
        let msgs = chunks.into_iter().enumerate().map(move |(i, objects)| {
            Ok(pb::WatchSnapshotResponse {
                revision,
                objects,
                done: i == last,
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(msgs))))
    }
}

async fn serve(mock: Mock) -> String {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WatchServer::new(mock))
            .serve_with_incoming(incoming),
    );
    addr.to_string()
}

fn mock(plan: Plan) -> Mock {
    Mock {
        plan,
        starts: Arc::default(),
        snapshot: None,
    }
}

fn kv(key: &str, revision: u64) -> pb::KeyValue {
    pb::KeyValue {
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
        create_revision: revision,
        mod_revision: revision,
        version: 1,
    }
}

fn put(revision: u64) -> pb::WatchEvent {
    pb::WatchEvent {
        revision,
        change: Some(watch_event::Change::KvPut(pb::KvPutChange {
            kv: Some(kv(&format!("k{revision}"), revision)),
            prev_kv: None,
        })),
    }
}

fn created(revision: u64) -> watch_response::Kind {
    watch_response::Kind::Created(pb::WatchCreated { revision })
}

fn events(revision: u64, revs: &[u64]) -> watch_response::Kind {
    watch_response::Kind::Events(pb::WatchEvents {
        events: revs.iter().map(|r| put(*r)).collect(),
        revision,
    })
}

fn config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(500),
        retry_deadline: Duration::from_secs(3),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        connect_timeout: Duration::from_millis(200),
        tls: None,
        credentials: None,
    }
}

fn options() -> WatchOptions {
    WatchOptions {
        progress_notify: None,
        ..WatchOptions::default()
    }
}

async fn next(s: &mut cairn_client::WatchStream) -> WatchItem {
    tokio::time::timeout(Duration::from_secs(5), s.recv())
        .await
        .expect("no item")
        .expect("stream ended")
        .unwrap()
}

fn revisions(item: &WatchItem) -> Vec<u64> {
    match item {
        WatchItem::Events { events, .. } => events.iter().map(|e| e.revision).collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

#[tokio::test]
async fn a_disconnect_resumes_on_the_next_node_from_the_last_revision_plus_one() {
    // A delivers revisions 5..=8 (8 covers 7, which matched nothing), then its stream ends;
    // later it is down.
    let a = mock(|_, call| match call {
        0 => Ok(vec![created(4), events(5, &[5]), events(8, &[6, 8])]),
        _ => Err(Status::unavailable("down")),
    });
    // B repeats revision 8 (which must not be delivered twice), then 9.
    let b = mock(|start, _| Ok(vec![created(start - 1), events(9, &[8, 9])]));
    let (a_starts, b_starts) = (a.starts.clone(), b.starts.clone());
    let client = Client::with_config([serve(a).await, serve(b).await], config()).unwrap();
    let mut s = client.watch_with(WatchFilter::new().kv_prefix(""), 5, options());
    assert_eq!(revisions(&next(&mut s).await), [5]);
    assert_eq!(revisions(&next(&mut s).await), [6, 8]);
    let third = next(&mut s).await;
    assert_eq!(revisions(&third), [9]);
    assert_eq!(third.revision(), 9);
    assert_eq!(a_starts.lock().unwrap()[0], 5);
    assert_eq!(
        b_starts.lock().unwrap()[0],
        9,
        "resume right after revision 8"
    );
    assert!(s.reconnects() >= 1);
}

#[tokio::test]
async fn compacted_becomes_a_reset_then_events_after_the_snapshot() {
    let mut c = mock(|start, _| {
        if start <= 10 {
            let compacted = pb::WatchCompacted {
                compact_revision: 10,
                current_revision: 12,
            };
            Ok(vec![
                created(start - 1),
                watch_response::Kind::Compacted(compacted),
            ])
        } else {
            Ok(vec![created(start - 1), events(13, &[13])])
        }
    });
    let obj = |k: &str| pb::WatchObject {
        object: Some(watch_object::Object::Kv(kv(k, 3))),
    };
    c.snapshot = Some((12, vec![vec![obj("a")], vec![obj("b")]]));
    let starts = c.starts.clone();
    let client = Client::with_config([serve(c).await], config()).unwrap();
    let mut s = client.watch_with(WatchFilter::new().kv_prefix(""), 3, options());
    match next(&mut s).await {
        WatchItem::Reset { revision, objects } => {
            assert_eq!(revision, 12);
            let keys: Vec<_> = objects
                .iter()
                .map(|o| match o {
                    WatchObject::Kv(kv) => kv.key.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    let after = next(&mut s).await;
    assert_eq!(revisions(&after), [13]);
    let WatchItem::Events { events, .. } = after else {
        unreachable!()
    };
    assert!(matches!(&events[0].change, WatchChange::KvPut { kv, .. } if kv.key == b"k13"));
    assert_eq!(*starts.lock().unwrap(), [3, 13]);
}

#[tokio::test]
async fn a_rejected_filter_is_a_final_error() {
    let bad = mock(|_, _| Err(Status::invalid_argument("filter: at least one selector")));
    let client = Client::with_config([serve(bad).await], config()).unwrap();
    let mut s = client.watch_with(WatchFilter::new(), 0, options());
    let first = tokio::time::timeout(Duration::from_secs(5), s.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, Err(Error::InvalidArgument(_))), "{first:?}");
    assert!(
        s.recv().await.is_none(),
        "the stream ends after a final error"
    );
}
