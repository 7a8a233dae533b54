//! End-to-end behaviour of the client's retry loop against scripted in-process gRPC servers:
//! leader redirects, idempotency keys reused across retries, rotation past dead endpoints,
//! per-attempt timeouts, and typed final errors. (Real-cluster tests live in cluster-tests.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_api::meta;
use cairn_api::v1::admin_server::{Admin, AdminServer};
use cairn_api::v1::kv_server::{Kv, KvServer};
use cairn_api::v1::*;
use cairn_client::{Client, ClientConfig, Error};
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct State {
    /// Answer every request with Unavailable naming this leader.
    redirect_to: Option<String>,
    /// Fail this many upcoming requests with Unavailable (no hint).
    fail_next: u32,
    /// Sleep this long on this many upcoming requests.
    slow_next: u32,
    slow_for: Duration,
    hits: u32,
    headers: Vec<(String, u64)>,
    kvs: BTreeMap<Vec<u8>, pb_kv::Kv>,
    dedup: HashMap<(String, u64), u64>,
    revision: u64,
}

mod pb_kv {
    pub type Kv = cairn_api::v1::KeyValue;
}

#[derive(Clone, Default)]
struct Mock(Arc<Mutex<State>>);

impl Mock {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }

    /// Common gate for every RPC: count, delay, redirect, scripted failure.
    async fn gate(&self) -> Result<(), Status> {
        let (slow, redirect, fail) = self.with(|s| {
            s.hits += 1;
            let slow = (s.slow_next > 0).then(|| {
                s.slow_next -= 1;
                s.slow_for
            });
            let fail = s.fail_next > 0;
            if fail {
                s.fail_next -= 1;
            }
            (slow, s.redirect_to.clone(), fail)
        });
        if let Some(d) = slow {
            tokio::time::sleep(d).await;
        }
        if let Some(leader) = redirect {
            let mut st = Status::unavailable("not the leader");
            st.metadata_mut().insert(
                meta::LEADER,
                MetadataValue::try_from(leader.as_str()).unwrap(),
            );
            return Err(st);
        }
        if fail {
            return Err(Status::unavailable("no leader yet"));
        }
        Ok(())
    }
}

fn mismatch(current: u64) -> Status {
    let mut s = Status::aborted("revision mismatch");
    s.metadata_mut().insert(
        meta::ERROR_KIND,
        MetadataValue::from_static("revision_mismatch"),
    );
    s.metadata_mut()
        .insert(meta::CURRENT_REVISION, MetadataValue::from(current));
    s
}

#[tonic::async_trait]
impl Kv for Mock {
    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let r = req.into_inner();
        let h = r.header.unwrap_or_default();
        // Recorded before the gate, so attempts that fail or time out are seen too.
        self.with(|s| s.headers.push((h.client_id.clone(), h.sequence)));
        self.gate().await?;
        if r.key.is_empty() {
            return Err(Status::invalid_argument("key is empty"));
        }
        self.with(|s| {
            if let Some(rev) = s.dedup.get(&(h.client_id.clone(), h.sequence)) {
                return Ok(Response::new(PutResponse { revision: *rev }));
            }
            let current = s.kvs.get(&r.key).map_or(0, |kv| kv.mod_revision);
            if let Some(expected) = r.expected_revision
                && expected != current
            {
                return Err(mismatch(current));
            }
            s.revision += 1;
            let rev = s.revision;
            let prev = s.kvs.get(&r.key).cloned();
            s.kvs.insert(
                r.key.clone(),
                KeyValue {
                    key: r.key,
                    value: r.value,
                    create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                    mod_revision: rev,
                    version: prev.map_or(1, |p| p.version + 1),
                },
            );
            s.dedup.insert((h.client_id, h.sequence), rev);
            Ok(Response::new(PutResponse { revision: rev }))
        })
    }

    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        self.gate().await?;
        let r = req.into_inner();
        Ok(self.with(|s| {
            Response::new(GetResponse {
                kv: s.kvs.get(&r.key).cloned(),
                revision: s.revision,
            })
        }))
    }

    async fn delete(
        &self,
        req: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        self.gate().await?;
        let r = req.into_inner();
        self.with(|s| {
            let current = s.kvs.get(&r.key).map_or(0, |kv| kv.mod_revision);
            if let Some(expected) = r.expected_revision
                && expected != current
            {
                return Err(mismatch(current));
            }
            s.revision += 1;
            let deleted = s.kvs.remove(&r.key).is_some();
            Ok(Response::new(DeleteResponse {
                revision: s.revision,
                deleted,
            }))
        })
    }

    async fn txn(
        &self,
        _: Request<cairn_api::v1::TxnRequest>,
    ) -> Result<Response<cairn_api::v1::TxnResponse>, Status> {
        Err(Status::unimplemented(
            "the mock cluster serves no transactions",
        ))
    }

    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        self.gate().await?;
        let r = req.into_inner();
        let limit = if r.limit == 0 { 2 } else { r.limit as usize };
        self.with(|s| {
            let mut kvs: Vec<KeyValue> = s
                .kvs
                .values()
                .filter(|kv| kv.key.starts_with(&r.prefix) && kv.key > r.start_after)
                .take(limit + 1)
                .cloned()
                .collect();
            let next_key = if kvs.len() > limit {
                kvs.truncate(limit);
                kvs.last().map(|kv| kv.key.clone()).unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok(Response::new(RangeResponse {
                kvs,
                next_key,
                revision: s.revision,
            }))
        })
    }
}

#[tonic::async_trait]
impl Admin for Mock {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        self.gate().await?;
        Ok(Response::new(StatusResponse {
            id: 7,
            state: "leader".into(),
            ..Default::default()
        }))
    }
    async fn add_learner(
        &self,
        _: Request<AddLearnerRequest>,
    ) -> Result<Response<AddLearnerResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn change_membership(
        &self,
        _: Request<ChangeMembershipRequest>,
    ) -> Result<Response<ChangeMembershipResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn transfer_leader(
        &self,
        _: Request<cairn_api::v1::TransferLeaderRequest>,
    ) -> Result<Response<cairn_api::v1::TransferLeaderResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn promote_learner(
        &self,
        _: Request<cairn_api::v1::PromoteLearnerRequest>,
    ) -> Result<Response<cairn_api::v1::MembershipResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn remove_member(
        &self,
        _: Request<cairn_api::v1::RemoveMemberRequest>,
    ) -> Result<Response<cairn_api::v1::MembershipResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn replace_member(
        &self,
        _: Request<cairn_api::v1::ReplaceMemberRequest>,
    ) -> Result<Response<cairn_api::v1::MembershipResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn trigger_snapshot(
        &self,
        _: Request<cairn_api::v1::TriggerSnapshotRequest>,
    ) -> Result<Response<cairn_api::v1::TriggerSnapshotResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    type BackupStream = tonic::codegen::BoxStream<cairn_api::v1::BackupChunk>;
    async fn backup(
        &self,
        _: Request<cairn_api::v1::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        Err(Status::unimplemented("mock"))
    }
}

async fn serve(mock: Mock) -> String {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(KvServer::new(mock.clone()))
            .add_service(AdminServer::new(mock))
            .serve_with_incoming(incoming),
    );
    addr.to_string()
}

/// An address nothing listens on.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn fast_config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(300),
        retry_deadline: Duration::from_secs(3),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(300),
        tls: None,
        credentials: None,
    }
}

#[tokio::test]
async fn follower_redirect_reaches_leader_with_same_idempotency_key() {
    let leader = Mock::default();
    let leader_addr = serve(leader.clone()).await;
    let follower = Mock::default();
    follower.with(|s| s.redirect_to = Some(leader_addr.clone()));
    let follower_addr = serve(follower.clone()).await;

    let c = Client::with_config([follower_addr.clone()], fast_config()).unwrap();
    let rev = c.put("k", "v").await.unwrap();
    assert_eq!(rev, 1);
    // The hinted leader was added and is now preferred.
    assert_eq!(c.endpoints(), [follower_addr, leader_addr]);
    let kv = c.get("k").await.unwrap().unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision, kv.version),
        (&b"v"[..], 1, 1)
    );
    assert_eq!(
        follower.with(|s| s.hits),
        1,
        "second call should go straight to the leader"
    );
    let headers = leader.with(|s| s.headers.clone());
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].0, c.client_id());
}

#[tokio::test]
async fn retries_reuse_the_idempotency_key_and_new_writes_get_a_new_one() {
    let leader = Mock::default();
    leader.with(|s| s.fail_next = 3);
    let addr = serve(leader.clone()).await;
    let c = Client::with_config([addr], fast_config()).unwrap();
    c.put("a", "1").await.unwrap();
    let headers = leader.with(|s| std::mem::take(&mut s.headers));
    assert_eq!(headers.len(), 4, "{headers:?}");
    assert!(
        headers.iter().all(|h| *h == headers[0]),
        "retries must reuse the key: {headers:?}"
    );
    assert_eq!(headers[0].0, c.client_id());

    // A slow attempt times out on the client; the retry carries the same key.
    leader.with(|s| {
        s.slow_next = 1;
        s.slow_for = Duration::from_millis(500);
    });
    let r2 = c.put("b", "2").await.unwrap();
    let retried = leader.with(|s| std::mem::take(&mut s.headers));
    assert_eq!(retried.len(), 2, "{retried:?}");
    assert_eq!(retried[0], retried[1]);
    assert_eq!(
        retried[0].1,
        headers[0].1 + 1,
        "a new write takes the next sequence"
    );
    let kv = c.get("b").await.unwrap().unwrap();
    assert_eq!((r2, kv.version, kv.mod_revision), (2, 1, 2));
}

#[tokio::test]
async fn dead_endpoint_is_skipped() {
    let leader = Mock::default();
    let addr = serve(leader.clone()).await;
    let c = Client::with_config([dead_addr(), addr.clone()], fast_config()).unwrap();
    assert_eq!(c.put("k", "v").await.unwrap(), 1);
    // Clones share the preference: they start on the live node.
    let before = leader.with(|s| s.hits);
    c.clone().get("k").await.unwrap();
    assert_eq!(leader.with(|s| s.hits), before + 1);
}

#[tokio::test]
async fn typed_final_errors_are_not_retried() {
    let leader = Mock::default();
    let addr = serve(leader.clone()).await;
    let c = Client::with_config([addr], fast_config()).unwrap();
    match c.put(Vec::new(), "v").await {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("empty")),
        other => panic!("{other:?}"),
    }
    assert_eq!(leader.with(|s| s.hits), 1);
    let r1 = c.put_if("cas", "a", 0).await.unwrap();
    match c.put_if("cas", "b", 0).await {
        Err(Error::RevisionMismatch { current }) => assert_eq!(current, r1),
        other => panic!("{other:?}"),
    }
    match c.delete_if("cas", r1 + 10).await {
        Err(Error::RevisionMismatch { current }) => assert_eq!(current, r1),
        other => panic!("{other:?}"),
    }
    let d = c.delete_if("cas", r1).await.unwrap();
    assert!(d.deleted);
    assert!(!c.delete("cas").await.unwrap().deleted);
    assert_eq!(leader.with(|s| s.hits), 6);
}

#[tokio::test]
async fn exhausted_retries_report_last_cause_or_timeout() {
    let down = Mock::default();
    down.with(|s| s.fail_next = u32::MAX);
    let addr = serve(down.clone()).await;
    let cfg = ClientConfig {
        retry_deadline: Duration::from_millis(400),
        ..fast_config()
    };
    let c = Client::with_config([addr], cfg.clone()).unwrap();
    let started = Instant::now();
    match c.get("k").await {
        Err(Error::Unavailable(cause)) => assert!(cause.contains("no leader yet"), "{cause}"),
        // On a starved machine the last attempt may time out before the mock answers.
        Err(Error::Timeout) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert!(down.with(|s| s.hits) > 2, "should have retried");

    let slow = Mock::default();
    slow.with(|s| {
        s.slow_next = u32::MAX;
        s.slow_for = Duration::from_secs(5);
    });
    let addr = serve(slow).await;
    let c = Client::with_config([addr], cfg).unwrap();
    let started = Instant::now();
    match c.put("k", "v").await {
        Err(Error::OutcomeUnknown(p)) => assert_eq!(p.cause, "timed out"),
        other => panic!("a write that timed out has an unknown outcome: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

/// A write whose retries ran out is reported as possibly applied, and resuming it sends the
/// very same idempotency key, so the cluster can answer it without applying it twice.
#[tokio::test]
async fn unknown_outcome_resumes_with_the_same_key() {
    let flaky = Mock::default();
    flaky.with(|s| s.fail_next = u32::MAX);
    let addr = serve(flaky.clone()).await;
    let cfg = ClientConfig {
        retry_deadline: Duration::from_millis(300),
        ..fast_config()
    };
    let c = Client::with_config([addr], cfg).unwrap();
    let pending = match c.put("k", "v").await {
        Err(Error::OutcomeUnknown(p)) => *p,
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    };
    let (client_id, sequence) = pending.idempotency_key();
    assert_eq!(client_id, c.client_id());
    let (client_id, sequence) = (client_id.to_string(), sequence);
    flaky.with(|s| s.fail_next = 0);
    let outcome = c.resume(pending).await.unwrap();
    assert!(
        matches!(outcome, cairn_client::WriteOutcome::Put { .. }),
        "{outcome:?}"
    );
    let headers = flaky.with(|s| s.headers.clone());
    assert!(headers.len() >= 2, "{headers:?}");
    assert!(
        headers.iter().all(|h| *h == (client_id.clone(), sequence)),
        "every attempt and the resume share one key: {headers:?}"
    );
}

#[tokio::test]
async fn range_pages_and_range_all() {
    let leader = Mock::default();
    let addr = serve(leader).await;
    let c = Client::with_config([addr], fast_config()).unwrap();
    for k in ["p/1", "p/2", "p/3", "p/4", "p/5", "q/1"] {
        c.put(k, "x").await.unwrap();
    }
    let page = c.range("p/", b"", 3).await.unwrap();
    assert_eq!(page.kvs.len(), 3);
    assert_eq!(page.next_key.as_deref(), Some(&b"p/3"[..]));
    let rest = c
        .range("p/", page.next_key.as_deref().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(rest.kvs.len(), 2);
    assert!(rest.next_key.is_none());
    // The mock's default page is 2 keys, so this takes three pages.
    let all = c.range_all("p/").await.unwrap();
    let keys: Vec<_> = all.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(
        keys,
        ["p/1", "p/2", "p/3", "p/4", "p/5"].map(|k| k.as_bytes().to_vec())
    );
}

#[tokio::test]
async fn status_per_endpoint() {
    let node = Mock::default();
    let addr = serve(node).await;
    let dead = dead_addr();
    let c = Client::with_config([addr.clone(), dead.clone()], fast_config()).unwrap();
    assert_eq!(c.status(0).await.unwrap().id, 7);
    assert!(matches!(c.status(1).await, Err(Error::Unavailable(_))));
    assert!(matches!(c.status(9).await, Err(Error::InvalidEndpoint(_))));
    let all = c.status_all().await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0, addr);
    assert!(all[0].1.is_ok());
    assert_eq!(all[1].0, dead);
    assert!(all[1].1.is_err());
}

#[tokio::test]
async fn connect_validates_without_a_runtime_connection() {
    assert!(matches!(
        Client::connect(Vec::<String>::new()),
        Err(Error::InvalidEndpoint(_))
    ));
    assert!(matches!(
        Client::connect(["bad address"]),
        Err(Error::InvalidEndpoint(_))
    ));
    // Nothing listens here, yet connecting is fine: channels are lazy.
    assert!(Client::connect([dead_addr()]).is_ok());
}
