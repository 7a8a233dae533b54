//! TLS on a real 3-node cluster (`ClusterOptions::tls`: every port TLS, client certificates
//! required, peer certificates naming their node): certified clients are served through any
//! node (writes forwarded over the peer port's mutual TLS), everyone else is refused; the peer
//! port takes calls from members only and only for themselves; certificates replaced on disk
//! are served without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_client::{Client, ClientConfig, TlsOptions};
use cairn_cluster_tests::ops::{http_get, https_get};
use cairn_cluster_tests::ports::free_addr;
use cairn_cluster_tests::{Cluster, ClusterOptions, wait_until};
use cairn_model::codec::{decode, encode};
use cairn_model::{Command, Request, Response};
use cairn_raft::peer_proto::Payload;
use cairn_raft::peer_proto::raft_peer_client::RaftPeerClient;
use cairn_raft::types::Vote;
use cairn_raft::{ForwardError, TypeConfig};
use cairn_testdata::pki::{self, CertPair, Pki};
use openraft::raft::VoteRequest;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

async fn tls_cluster() -> Cluster {
    let opts = ClusterOptions {
        tls: true,
        ..ClusterOptions::default()
    };
    Cluster::start_with(3, opts).await.unwrap()
}

/// Client settings that give up quickly: the refusals below are expected.
fn quick(tls: Option<TlsOptions>) -> ClientConfig {
    ClientConfig {
        retry_deadline: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        tls,
        ..ClientConfig::default()
    }
}

fn options(ca: &Pki, identity: Option<&CertPair>) -> TlsOptions {
    TlsOptions::from_files(
        Some(&ca.ca),
        identity.map(|p| p.cert.as_path()),
        identity.map(|p| p.key.as_path()),
    )
    .unwrap()
}

/// A PKI no node trusts.
fn foreign_pki(dir: &tempfile::TempDir) -> Pki {
    pki::generate(dir.path(), &[1, 2, 3], &["root"]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_need_a_certificate_the_cluster_trusts() {
    let cluster = tls_cluster().await;
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let own = cluster.pki().unwrap().clone();

    // Through a follower only: the write reaches the leader over the peer port's mTLS.
    let via_follower = vec![cluster.node(follower).client_addr.clone()];
    let c = Client::with_config(via_follower.clone(), cluster.client_config().unwrap()).unwrap();
    let rev = c.put("greeting", "hello").await.unwrap();
    for id in 1..=3 {
        cluster
            .wait_applied(id, rev, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let kv = c.get("greeting").await.unwrap().unwrap();
    assert_eq!(kv.value, b"hello");

    // Any user with a certificate from the cluster's CA gets in.
    let alice = own.client("alice");
    let c = Client::with_config(
        via_follower.clone(),
        quick(Some(options(&own, Some(&alice)))),
    )
    .unwrap();
    assert_eq!(c.get("greeting").await.unwrap().unwrap().value, b"hello");

    // Refused: no client certificate, one from another CA, and plain HTTP/2.
    let other_dir = tempfile::tempdir().unwrap();
    let other = foreign_pki(&other_dir);
    let foreign_identity = TlsOptions {
        ca_pem: options(&own, None).ca_pem,
        ..options(&other, Some(&other.client("root")))
    };
    let refused = [
        ("no certificate", Some(options(&own, None))),
        ("a foreign certificate", Some(foreign_identity)),
        ("plain HTTP/2", None),
    ];
    for (what, tls) in refused {
        let c = Client::with_config(via_follower.clone(), quick(tls)).unwrap();
        let got = c.get("greeting").await;
        assert!(got.is_err(), "{what}: expected a refusal, got {got:?}");
        let put = c.put("intruder", "x").await;
        assert!(put.is_err(), "{what}: expected a refusal, got {put:?}");
    }
    // A server the client does not trust is refused by the client, too.
    let c = Client::with_config(via_follower, quick(Some(options(&other, Some(&alice))))).unwrap();
    assert!(c.get("greeting").await.is_err());

    let c = Client::with_config(cluster.endpoints(), cluster.client_config().unwrap()).unwrap();
    assert_eq!(c.get("intruder").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_clients_connect_with_the_etcdctl_certificate_flags() {
    let cluster = tls_cluster().await;
    let pki = cluster.pki().unwrap();
    let root = pki.client("root");
    let tls = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(
            std::fs::read(&pki.ca).unwrap(),
        ))
        .identity(etcd_client::Identity::from_pem(
            std::fs::read(&root.cert).unwrap(),
            std::fs::read(&root.key).unwrap(),
        ));
    let endpoints: Vec<String> = cluster
        .endpoints()
        .iter()
        .map(|e| format!("https://{e}"))
        .collect();
    let mut c = etcd_client::Client::connect(
        &endpoints,
        Some(etcd_client::ConnectOptions::new().with_tls(tls)),
    )
    .await
    .unwrap();
    c.put("etcd-key", "etcd-value", None).await.unwrap();
    let got = c.get("etcd-key", None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), b"etcd-value");
    // Clients that sync endpoints from the member list must be told to use TLS.
    let members = c.member_list().await.unwrap();
    assert_eq!(members.members().len(), 3);
    for m in members.members() {
        assert!(
            m.client_urls().iter().all(|u| u.starts_with("https://"))
                && m.peer_urls().iter().all(|u| u.starts_with("https://")),
            "{m:?}"
        );
    }
}

/// A peer-port client of node `id` presenting `identity`.
async fn peer_client(
    cluster: &Cluster,
    id: u64,
    identity: Option<&CertPair>,
) -> Result<RaftPeerClient<tonic::transport::Channel>, tonic::transport::Error> {
    let pki = cluster.pki().unwrap();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&pki.ca).unwrap()));
    if let Some(p) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&p.cert).unwrap(),
            std::fs::read(&p.key).unwrap(),
        ));
    }
    let channel = Endpoint::from_shared(format!("https://{}", cluster.node(id).peer_addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?;
    Ok(RaftPeerClient::new(channel))
}

fn payload<T: serde::Serialize>(value: &T) -> Payload {
    Payload {
        data: encode(value).unwrap().into(),
    }
}

fn request(command: Command) -> Request {
    Request {
        session: None,
        time_ms: 0,
        fence: None,
        auth: None,
        command,
    }
}

fn put(key: &str) -> Request {
    request(Command::Put {
        key: key.into(),
        value: b"x".to_vec(),
        expected_revision: None,
    })
}

/// `Forward` of `req` through a peer client: the transport's status, or the leader's answer.
async fn forward(
    peer: &mut RaftPeerClient<tonic::transport::Channel>,
    req: &Request,
) -> Result<Result<Response, ForwardError>, tonic::Status> {
    let reply = peer.forward(payload(req)).await?;
    Ok(decode(&reply.into_inner().data).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_port_takes_members_only_each_for_itself() {
    let cluster = tls_cluster().await;
    let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
    let member = (1..=3).find(|id| *id != leader).unwrap();
    let third = (1..=3).find(|id| *id != leader && *id != member).unwrap();
    let pki = cluster.pki().unwrap().clone();

    // A user's certificate, signed by the same CA, names no node.
    let mut user = peer_client(&cluster, leader, Some(&pki.client("alice")))
        .await
        .unwrap();
    let denied = forward(&mut user, &put("from-a-user")).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");

    // A node certificate of a node that is not a member.
    let mut stranger = peer_client(&cluster, leader, Some(&pki.node(9)))
        .await
        .unwrap();
    let denied = forward(&mut stranger, &put("from-a-stranger"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("not a member"), "{denied:?}");

    // Without a certificate the handshake itself is refused.
    let anonymous = match peer_client(&cluster, leader, None).await {
        Err(_) => None,
        Ok(mut c) => Some(forward(&mut c, &put("from-nobody")).await),
    };
    assert!(
        anonymous.as_ref().is_none_or(|r| r.is_err()),
        "an anonymous peer call was served: {anonymous:?}"
    );

    // A member's certificate: it may forward writes, but only speak for itself and never
    // send internal commands.
    let mut peer = peer_client(&cluster, leader, Some(&pki.node(member)))
        .await
        .unwrap();
    let vote = VoteRequest::<TypeConfig>::new(Vote::new(1, third), None);
    let denied = peer.vote(payload(&vote)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let internal = forward(&mut peer, &request(Command::SetClusterId { id: 7 }))
        .await
        .unwrap();
    assert!(
        matches!(internal, Err(ForwardError::Refused(_))),
        "{internal:?}"
    );
    let ok = forward(&mut peer, &put("from-a-member")).await.unwrap();
    assert!(matches!(ok, Ok(Response::Put { .. })), "{ok:?}");

    let c = Client::with_config(cluster.endpoints(), cluster.client_config().unwrap()).unwrap();
    assert!(c.get("from-a-member").await.unwrap().is_some());
    for key in ["from-a-user", "from-a-stranger", "from-nobody"] {
        assert_eq!(c.get(key).await.unwrap(), None, "{key} was written");
    }
    let status = cluster.status(leader).await.unwrap();
    assert_ne!(status.cluster_id, 7, "an internal command was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificates_are_served_without_a_restart() {
    let cluster = tls_cluster().await;
    let own = cluster.pki().unwrap().clone();
    let new_dir = tempfile::tempdir().unwrap();
    let new = foreign_pki(&new_dir);
    let node = 1;
    let addr = vec![cluster.node(node).client_addr.clone()];
    // Trusts only the new CA for the server, still presents a certificate the node trusts.
    let expects_new = TlsOptions {
        ca_pem: options(&new, None).ca_pem,
        ..options(&own, Some(&own.client("root")))
    };
    let c = Client::with_config(addr, quick(Some(expects_new))).unwrap();
    // Serializable reads: node 1's own answer. Once it presents the new certificate on its
    // peer port too, the other members (trusting the old CA only) stop talking to it, so a
    // linearizable read through it would fail for that reason.
    assert!(
        c.get_serializable("k").await.is_err(),
        "the new CA signs nothing yet"
    );
    let pid = cluster.node(node).pid();

    // Rotate node 1's files in place (key first: a cert without its key fails to load and is
    // retried when the next file changes).
    let (from, to) = (new.node(node), own.node(node));
    std::fs::copy(&from.key, &to.key).unwrap();
    std::fs::copy(&from.cert, &to.cert).unwrap();
    wait_until(
        Duration::from_secs(15),
        "the new certificate served",
        || {
            let c = &c;
            async move { c.get_serializable("k").await.ok() }
        },
    )
    .await
    .unwrap();
    assert_eq!(cluster.node(node).pid(), pid, "the node was not restarted");
    assert!(cluster.exited().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_port_speaks_https_without_asking_probes_for_certificates() {
    let http = free_addr().unwrap();
    let opts = ClusterOptions {
        tls: true,
        extra_args: vec!["--http-addr".into(), http.clone()],
    };
    let cluster = Cluster::start_with(1, opts).await.unwrap();
    let ca = cluster.pki().unwrap().ca.clone();
    let (code, _) = https_get(&http, "/livez", &ca).await.unwrap();
    assert_eq!(code, 200);
    let (code, body) = https_get(&http, "/metrics", &ca).await.unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("cairn_raft_term"), "{body}");
    // Plain HTTP gets no answer.
    assert!(http_get(&http, "/livez").await.is_err());
}
