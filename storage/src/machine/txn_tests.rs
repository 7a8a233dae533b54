//! etcd transactions in the machine: compares against the pre-transaction state, atomic
//! refusal, range operations over keys written earlier in the same batch, lease-attached keys
//! deleted with their lease, and the compaction floor.

use cairn_model::command::{Command, CommandError, Response};
use cairn_model::coord::CoordCommand;
use cairn_model::txn::{
    Compare, CompareOp, CompareTarget, KeyRange, KvError, OpReply, PutOp, RangeSpec, TxnCommand,
    TxnOp, TxnReply,
};

use crate::StateMachineStore;
use crate::test_util::{normal, req, temp_store};
use crate::watch::{Change, HistoryRead};

fn put_op(key: &str, value: &str, lease: u64) -> TxnOp {
    TxnOp::Put(PutOp {
        key: key.into(),
        value: value.into(),
        lease,
        prev_kv: true,
        ignore_value: false,
        ignore_lease: false,
    })
}

fn range_op(key: &str, end: &str) -> TxnOp {
    TxnOp::Range(RangeSpec {
        range: KeyRange {
            key: key.into(),
            range_end: end.into(),
        },
        ..RangeSpec::default()
    })
}

fn version_is(key: &str, v: u64) -> Compare {
    Compare {
        range: KeyRange::single(key),
        op: CompareOp::Equal,
        target: CompareTarget::Version(v),
    }
}

fn txn(compare: Vec<Compare>, success: Vec<TxnOp>, failure: Vec<TxnOp>) -> Command {
    Command::Txn(TxnCommand {
        compare,
        success,
        failure,
    })
}

struct Machine {
    sm: StateMachineStore,
    _dir: tempfile::TempDir,
    next: u64,
}

impl Machine {
    async fn new() -> Self {
        let (dir, _log, sm) = temp_store().await;
        Self {
            sm,
            _dir: dir,
            next: 1,
        }
    }

    /// Applies `commands` as one batch (one sled transaction), like a busy leader would.
    fn batch(&mut self, commands: Vec<Command>) -> Vec<Response> {
        let entries: Vec<_> = commands
            .into_iter()
            .map(|c| {
                self.next += 1;
                normal(self.next - 1, req(c, 1_000, None))
            })
            .collect();
        self.sm.apply_batch(&entries).unwrap()
    }

    fn one(&mut self, command: Command) -> Response {
        self.batch(vec![command]).remove(0)
    }

    fn txn_ok(&mut self, command: Command) -> TxnReply {
        match self.one(command) {
            Response::Txn { reply, .. } => reply,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn keys(&mut self, prefix: &str) -> Vec<String> {
        let reply = self.txn_ok(txn(vec![], vec![range_op(prefix, "\u{7f}")], vec![]));
        match &reply.responses[0] {
            OpReply::Range(r) => r
                .kvs
                .iter()
                .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
                .collect(),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn compare_and_swap_takes_the_branch_the_pre_state_decides() {
    let mut m = Machine::new().await;
    let create = txn(
        vec![version_is("k", 0)],
        vec![put_op("k", "1", 0)],
        vec![range_op("k", "")],
    );
    let first = m.txn_ok(create.clone());
    assert!(first.succeeded);
    let second = m.txn_ok(create);
    assert!(!second.succeeded);
    match &second.responses[0] {
        OpReply::Range(r) => {
            assert_eq!(r.count, 1);
            assert_eq!(r.kvs[0].record.value, b"1");
            assert_eq!(r.kvs[0].record.version, 1);
        }
        other => panic!("{other:?}"),
    }
    // Nested compares see the state before the transaction, not the outer put.
    let nested = txn(
        vec![],
        vec![
            put_op("k", "2", 0),
            TxnOp::Txn(TxnCommand {
                compare: vec![version_is("k", 1)],
                success: vec![put_op("n", "pre-state", 0)],
                failure: vec![put_op("n", "post-state", 0)],
            }),
        ],
        vec![],
    );
    let reply = m.txn_ok(nested);
    match &reply.responses[1] {
        OpReply::Txn(inner) => assert!(inner.succeeded),
        other => panic!("{other:?}"),
    }
    // The put returned the previous record.
    match &reply.responses[0] {
        OpReply::Put { prev: Some(prev) } => assert_eq!(prev.record.value, b"1"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refused_transaction_writes_nothing_and_leaves_its_batch_intact() {
    let mut m = Machine::new().await;
    let out = m.batch(vec![
        txn(vec![], vec![put_op("a", "1", 0)], vec![]),
        // The second put names a lease that does not exist: nothing of this entry applies.
        txn(
            vec![],
            vec![put_op("b", "1", 0), put_op("c", "1", 99)],
            vec![],
        ),
        txn(vec![], vec![put_op("d", "1", 0)], vec![]),
    ]);
    assert!(matches!(
        out[1],
        Response::Rejected(CommandError::Kv(KvError::LeaseNotFound(99)))
    ));
    assert_eq!(m.keys(""), vec!["a", "d"]);
}

#[tokio::test]
async fn range_operations_see_keys_written_earlier_in_the_same_batch() {
    let mut m = Machine::new().await;
    m.one(txn(
        vec![],
        vec![put_op("p/1", "x", 0), put_op("p/2", "x", 0)],
        vec![],
    ));
    let out = m.batch(vec![
        txn(vec![], vec![put_op("p/3", "x", 0)], vec![]),
        txn(
            vec![],
            vec![TxnOp::DeleteRange {
                range: KeyRange::prefix("p/"),
                prev_kv: true,
            }],
            vec![],
        ),
        txn(
            vec![],
            vec![put_op("p/9", "x", 0), range_op("p/", "p0")],
            vec![],
        ),
    ]);
    match &out[1] {
        Response::Txn { reply, .. } => match &reply.responses[0] {
            OpReply::DeleteRange { deleted, prev } => {
                assert_eq!(*deleted, 3);
                assert_eq!(prev.len(), 3);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match &out[2] {
        Response::Txn { reply, .. } => match &reply.responses[1] {
            OpReply::Range(r) => {
                assert_eq!(r.count, 1);
                assert_eq!(r.kvs[0].key, b"p/9");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    // And once committed, the key index agrees.
    assert_eq!(m.keys("p/"), vec!["p/9"]);
}

#[tokio::test]
async fn revoking_a_lease_deletes_its_keys_but_not_keys_moved_off_it() {
    let mut m = Machine::new().await;
    let lease = match m.one(Command::Coord(CoordCommand::GrantLease {
        id: Some(7),
        ttl_ms: 60_000,
    })) {
        Response::Coord { .. } => 7,
        other => panic!("{other:?}"),
    };
    m.one(txn(
        vec![],
        vec![put_op("l/a", "1", lease), put_op("l/b", "1", lease)],
        vec![],
    ));
    // l/b is rewritten without the lease: it no longer belongs to it.
    m.one(txn(vec![], vec![put_op("l/b", "2", 0)], vec![]));
    let from = m.sm.watch_reader().hub().current() + 1;
    m.one(Command::Coord(CoordCommand::RevokeLease { id: lease }));
    assert_eq!(m.keys("l/"), vec!["l/b"]);
    match m.sm.watch_reader().hub().read(from, 10, usize::MAX) {
        HistoryRead::Ready { batches, .. } => {
            let deletes: Vec<_> = batches
                .iter()
                .flat_map(|b| &b.changes)
                .filter_map(|c| match c {
                    Change::KvDelete { key, prev } => Some((key.clone(), prev.lease)),
                    _ => None,
                })
                .collect();
            assert_eq!(deletes, vec![(b"l/a".to_vec(), lease)]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn compaction_only_moves_forward_and_not_past_the_current_revision() {
    let mut m = Machine::new().await;
    m.one(txn(vec![], vec![put_op("a", "1", 0)], vec![]));
    m.one(txn(vec![], vec![put_op("a", "2", 0)], vec![]));
    assert!(matches!(
        m.one(Command::Compact { revision: 100 }),
        Response::Rejected(CommandError::Kv(KvError::FutureRevision { .. }))
    ));
    assert!(matches!(
        m.one(Command::Compact { revision: 2 }),
        Response::Compacted { .. }
    ));
    assert!(matches!(
        m.one(Command::Compact { revision: 2 }),
        Response::Rejected(CommandError::Kv(KvError::Compacted { compacted: 2, .. }))
    ));
    assert!(matches!(
        m.sm.watch_reader().hub().read(1, 10, usize::MAX),
        HistoryRead::Compacted { compacted: 2, .. }
    ));
}

#[tokio::test]
async fn reads_at_an_earlier_revision_undo_the_history_since() {
    let mut m = Machine::new().await;
    let rev = |r: &Response| r.revision().unwrap();
    let r1 = rev(&m.one(txn(vec![], vec![put_op("h/a", "1", 0)], vec![])));
    let r2 = rev(&m.one(txn(vec![], vec![put_op("h/b", "1", 0)], vec![])));
    m.one(txn(
        vec![],
        vec![
            put_op("h/a", "2", 0),
            TxnOp::DeleteRange {
                range: KeyRange::single("h/b"),
                prev_kv: false,
            },
        ],
        vec![],
    ));
    let reader = m.sm.reader();
    let spec = RangeSpec {
        range: KeyRange::prefix("h/"),
        ..RangeSpec::default()
    };
    let at = |revision| {
        let (reply, at) = reader.range_at(&spec, revision).unwrap().unwrap();
        let kvs: Vec<_> = reply
            .kvs
            .iter()
            .map(|kv| (kv.key.clone(), kv.record.value.clone()))
            .collect();
        (kvs, at)
    };
    assert_eq!(at(r1).0, vec![(b"h/a".to_vec(), b"1".to_vec())]);
    assert_eq!(
        at(r2).0,
        vec![
            (b"h/a".to_vec(), b"1".to_vec()),
            (b"h/b".to_vec(), b"1".to_vec())
        ]
    );
    let (now, current) = at(0);
    assert_eq!(now, vec![(b"h/a".to_vec(), b"2".to_vec())]);
    assert!(matches!(
        reader.range_at(&spec, current + 5).unwrap(),
        Err(KvError::FutureRevision { .. })
    ));
    m.one(Command::Compact { revision: r2 });
    assert!(matches!(
        reader.range_at(&spec, r1).unwrap(),
        Err(KvError::Compacted { .. })
    ));
}
