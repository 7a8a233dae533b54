//! The peer port's check of forwarded writes on a real single-node Raft over a real store:
//! `Forward` and `ForwardBatch` refuse internal commands and over-limit input without
//! proposing anything, and still propose a valid write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_model::codec::{decode, encode};
use cairn_model::coord::CoordCommand;
use cairn_model::{Command, InputError, InputLimits, Request, Response};
use cairn_raft::peer_proto::Payload;
use cairn_raft::peer_proto::raft_peer_server::RaftPeer;
use cairn_raft::{
    ChannelPool, ForwardError, NodeInfo, PeerNetworkFactory, PeerService, Proposer,
    SnapshotVerifier,
};
use cairn_storage::{KvReader, StateMachineStore, StorageConfig};
use tempfile::TempDir;

use super::{default_limits, peer_check};
use crate::raft_handle::CairnRaft;

const MAX_VALUE: usize = 1024;

type Outcome = Result<Response, ForwardError>;

/// A one-node cluster and its peer service.
struct Node {
    raft: CairnRaft,
    peer: PeerService<StateMachineStore>,
    reader: KvReader,
    _dir: TempDir,
}

/// `check`: give the peer service the node's full check (else only the default).
async fn node(check: bool) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (log_store, sm) = cairn_storage::open(dir.path(), StorageConfig::default())
        .await
        .unwrap();
    let reader = sm.reader();
    let snapshot_dir = sm.snapshot_dir();
    let pool = ChannelPool::default();
    let config = openraft::Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        ..Default::default()
    }
    .validate()
    .unwrap();
    let network = PeerNetworkFactory::new(1, pool.clone());
    let raft = openraft::Raft::new(1, Arc::new(config), network, log_store, sm)
        .await
        .unwrap();
    let me = NodeInfo {
        peer_addr: "127.0.0.1:1".into(),
        client_addr: "127.0.0.1:1".into(),
    };
    raft.initialize(BTreeMap::from([(1, me)])).await.unwrap();
    raft.wait(Some(Duration::from_secs(10)))
        .current_leader(1, "the only node leads")
        .await
        .unwrap();
    // The new leader's own first entry (index 1) applies in the background: wait for it, so
    // a test's "nothing applied since" baseline does not move under it.
    raft.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(1), "the leader's first entry applied")
        .await
        .unwrap();
    let proposer = Proposer::new(raft.clone(), 1, pool, Duration::from_secs(5));
    let verify: SnapshotVerifier = Arc::new(|_| Err("no snapshots in this test".into()));
    let mut peer = PeerService::new(proposer, snapshot_dir, verify);
    if check {
        let limits = InputLimits {
            max_value_bytes: MAX_VALUE,
            ..default_limits()
        };
        peer = peer.with_check(peer_check(limits));
    }
    Node {
        raft,
        peer,
        reader,
        _dir: dir,
    }
}

fn payload<T: serde::Serialize + ?Sized>(value: &T) -> tonic::Request<Payload> {
    tonic::Request::new(Payload {
        data: encode(value).unwrap().into(),
    })
}

impl Node {
    async fn forward(&self, req: &Request) -> Outcome {
        let reply = self.peer.forward(payload(req)).await.unwrap();
        decode(&reply.into_inner().data).unwrap()
    }

    async fn forward_batch(&self, reqs: &[Request]) -> Vec<Outcome> {
        let reply = self.peer.forward_batch(payload(reqs)).await.unwrap();
        decode(&reply.into_inner().data).unwrap()
    }

    fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.reader.get(key.as_bytes()).unwrap().map(|r| r.value)
    }
}

fn req(command: Command) -> Request {
    Request {
        session: None,
        time_ms: 0,
        fence: None,
        auth: None,
        command,
    }
}

fn put(key: &str, len: usize) -> Request {
    req(Command::Put {
        key: key.into(),
        value: vec![7; len],
        expected_revision: None,
    })
}

/// The three writes a client can never send, each with the leader's refusal.
fn bad_writes() -> Vec<(Request, InputError)> {
    vec![
        (
            req(Command::SetClusterId { id: 42 }),
            InputError::Internal {
                command: "set_cluster_id".into(),
            },
        ),
        (
            req(Command::Coord(CoordCommand::RenewLeases {
                ids: vec![1, 2],
            })),
            InputError::Internal {
                command: "coord.renew_leases".into(),
            },
        ),
        (
            put("big", MAX_VALUE + 1),
            InputError::TooLarge {
                field: "value".into(),
                size: MAX_VALUE + 1,
                limit: MAX_VALUE,
            },
        ),
    ]
}

fn put_revision(outcome: Outcome) -> u64 {
    match outcome {
        Ok(Response::Put { revision }) => revision,
        other => panic!("expected a put, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_internal_commands_and_oversized_values_are_refused_unproposed() {
    let n = node(true).await;
    // A valid forwarded write is proposed: the revision everything else is measured from.
    let first = put_revision(n.forward(&put("a", MAX_VALUE)).await);
    assert_eq!(n.reader.applied_index(), first);

    for (write, refusal) in bad_writes() {
        assert_eq!(
            n.forward(&write).await,
            Err(ForwardError::Refused(refusal)),
            "{write}"
        );
    }
    let (writes, refusals): (Vec<_>, Vec<_>) = bad_writes().into_iter().unzip();
    let expected: Vec<Outcome> = refusals
        .into_iter()
        .map(|r| Err(ForwardError::Refused(r)))
        .collect();
    assert_eq!(n.forward_batch(&writes).await, expected);

    // Nothing was proposed: no entry was applied, the cluster has no id, the key is absent,
    // and the next write directly follows the first.
    assert_eq!(n.reader.applied_index(), first);
    assert_eq!(n.reader.cluster_id().unwrap(), 0);
    assert_eq!(n.value("big"), None);
    let next = put_revision(n.forward(&put("b", 1)).await);
    assert_eq!(next, first + 1);

    // In a batch, each write is answered on its own: the valid ones are still proposed.
    let mixed = [
        put("c", 1),
        req(Command::SetClusterId { id: 42 }),
        put("big", MAX_VALUE + 1),
        put("d", 1),
    ];
    let outcomes = n.forward_batch(&mixed).await;
    assert_eq!(outcomes.len(), 4);
    assert!(matches!(
        &outcomes[1],
        Err(ForwardError::Refused(InputError::Internal { .. }))
    ));
    assert!(matches!(
        &outcomes[2],
        Err(ForwardError::Refused(InputError::TooLarge { .. }))
    ));
    let mut applied = vec![
        put_revision(outcomes[0].clone()),
        put_revision(outcomes[3].clone()),
    ];
    applied.sort_unstable();
    assert_eq!(applied, vec![next + 1, next + 2]);
    assert_eq!(n.value("c"), Some(vec![7]));
    assert_eq!(n.value("big"), None);
    assert_eq!(n.reader.cluster_id().unwrap(), 0);
    n.raft.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_nodes_check_internal_commands_are_still_refused() {
    let n = node(false).await;
    let before = n.reader.applied_index();
    let (writes, _): (Vec<_>, Vec<_>) = bad_writes().into_iter().take(2).unzip();
    for write in &writes {
        assert!(matches!(
            n.forward(write).await,
            Err(ForwardError::Refused(InputError::Internal { .. }))
        ));
    }
    assert!(
        n.forward_batch(&writes)
            .await
            .iter()
            .all(|o| matches!(o, Err(ForwardError::Refused(InputError::Internal { .. }))))
    );
    assert_eq!(n.reader.applied_index(), before);
    assert_eq!(n.reader.cluster_id().unwrap(), 0);
    n.raft.shutdown().await.unwrap();
}
