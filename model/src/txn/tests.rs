#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::codec::decode;

fn put(key: &str) -> TxnOp {
    TxnOp::Put(PutOp {
        key: key.into(),
        value: b"v".to_vec(),
        lease: 0,
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
    })
}

fn del(key: &str, end: &str) -> TxnOp {
    TxnOp::DeleteRange {
        range: KeyRange {
            key: key.into(),
            range_end: end.into(),
        },
        prev_kv: false,
    }
}

fn txn(success: Vec<TxnOp>, failure: Vec<TxnOp>) -> TxnCommand {
    TxnCommand {
        compare: vec![],
        success,
        failure,
    }
}

fn kv(key: &str, version: u64, create: u64, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        record: KvRecord {
            value: value.into(),
            create_revision: create,
            mod_revision: create + version,
            version,
            lease: 0,
        },
    }
}

#[test]
fn duplicate_writes_on_one_path_are_refused_but_exclusive_branches_may_repeat_a_key() {
    assert_eq!(
        txn(vec![put("a"), put("a")], vec![]).validate(),
        Err(KvError::DuplicateKey)
    );
    assert_eq!(
        txn(vec![put("b"), del("a", "c")], vec![]).validate(),
        Err(KvError::DuplicateKey)
    );
    // A nested transaction's two branches exclude each other.
    let nested = TxnOp::Txn(txn(vec![put("a")], vec![put("a")]));
    assert_eq!(txn(vec![nested.clone()], vec![]).validate(), Ok(()));
    // But they may not collide with a sibling.
    assert_eq!(
        txn(vec![nested, put("a")], vec![]).validate(),
        Err(KvError::DuplicateKey)
    );
    // The outer branches exclude each other too.
    assert_eq!(txn(vec![put("a")], vec![put("a")]).validate(), Ok(()));
    assert_eq!(
        txn(vec![put("a"), del("b", "c")], vec![]).validate(),
        Ok(())
    );
}

#[test]
fn validation_refuses_empty_keys_ignore_flags_with_values_and_deep_nesting() {
    assert_eq!(
        txn(vec![put("")], vec![]).validate(),
        Err(KvError::EmptyKey)
    );
    let mut p = PutOp {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        lease: 0,
        prev_kv: false,
        ignore_value: true,
        ignore_lease: false,
    };
    assert_eq!(
        TxnCommand::put(p.clone()).validate(),
        Err(KvError::ValueProvided)
    );
    p.value.clear();
    p.ignore_value = false;
    p.ignore_lease = true;
    p.lease = 7;
    assert_eq!(TxnCommand::put(p).validate(), Err(KvError::LeaseProvided));
    let mut deep = txn(vec![], vec![]);
    for _ in 0..MAX_TXN_DEPTH {
        deep = txn(vec![TxnOp::Txn(deep)], vec![]);
    }
    assert_eq!(deep.validate(), Err(KvError::TooDeep));
}

#[test]
fn compares_treat_a_missing_key_as_zero_and_fail_value_compares() {
    let c = |op, target| Compare {
        range: KeyRange::single("k"),
        op,
        target,
    };
    assert!(c(CompareOp::Equal, CompareTarget::Version(0)).holds(None));
    assert!(c(CompareOp::Equal, CompareTarget::CreateRevision(0)).holds(None));
    assert!(!c(CompareOp::Equal, CompareTarget::Value(vec![])).holds(None));
    assert!(!c(CompareOp::NotEqual, CompareTarget::Value(vec![])).holds(None));
    let rec = kv("k", 2, 5, "b").record;
    assert!(c(CompareOp::Greater, CompareTarget::Value(b"a".to_vec())).holds(Some(&rec)));
    assert!(c(CompareOp::Less, CompareTarget::ModRevision(8)).holds(Some(&rec)));
    assert!(c(CompareOp::NotEqual, CompareTarget::Lease(3)).holds(Some(&rec)));
}

#[test]
fn key_ranges_follow_etcd_range_end_rules() {
    let single = KeyRange::single("b");
    assert!(single.contains(b"b") && !single.contains(b"ba"));
    let prefix = KeyRange::prefix("b");
    assert!(prefix.contains(b"b") && prefix.contains(b"bzz") && !prefix.contains(b"c"));
    let from = KeyRange {
        key: b"b".to_vec(),
        range_end: vec![0],
    };
    assert!(from.contains(b"zzz") && !from.contains(b"a"));
    let inverted = KeyRange {
        key: b"c".to_vec(),
        range_end: b"a".to_vec(),
    };
    assert!(!inverted.contains(b"b") && !inverted.contains(b"c"));
    assert_eq!(KeyRange::prefix(vec![0xff]).range_end, vec![0]);
}

#[test]
fn range_finish_filters_sorts_and_limits_like_etcd() {
    let all = vec![
        kv("a", 3, 10, "z"),
        kv("b", 1, 30, "y"),
        kv("c", 2, 20, "x"),
    ];
    let spec = RangeSpec {
        range: KeyRange::prefix(""),
        limit: 2,
        ..RangeSpec::default()
    };
    assert!(!spec.needs_all());
    let r = spec.finish(3, all[..3].to_vec());
    assert_eq!(r.count, 3);
    assert!(r.more);
    assert_eq!(r.kvs.len(), 2);

    // etcd's WithLastCreate + WithMaxCreateRev: newest creation at or below a revision.
    let spec = RangeSpec {
        range: KeyRange::prefix(""),
        limit: 1,
        sort_order: SortOrder::Descend,
        sort_target: SortTarget::Create,
        max_create_revision: 25,
        ..RangeSpec::default()
    };
    assert!(spec.needs_all());
    let r = spec.finish(3, all.clone());
    assert_eq!(r.kvs[0].key, b"c");
    assert!(r.more);
    assert_eq!(r.count, 3);

    // A non-key target without an order sorts ascending.
    let spec = RangeSpec {
        range: KeyRange::prefix(""),
        sort_target: SortTarget::Value,
        keys_only: true,
        ..RangeSpec::default()
    };
    let r = spec.finish(3, all.clone());
    let keys: Vec<_> = r.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
    assert!(r.kvs.iter().all(|kv| kv.record.value.is_empty()));

    let spec = RangeSpec {
        range: KeyRange::prefix(""),
        count_only: true,
        ..RangeSpec::default()
    };
    assert_eq!(spec.wanted(), 0);
    let r = spec.finish(3, vec![]);
    assert_eq!((r.count, r.kvs.len(), r.more), (3, 0, false));
}

/// postcard bytes of transactions nested `depth` deep, written by hand: encoding such a value
/// would itself recurse that deep. Each level is a `TxnCommand` with no compares, one success
/// op (`TxnOp::Txn`, variant 3) and no failure ops.
fn nested_txn_bytes(depth: usize) -> Vec<u8> {
    let mut bytes = [0u8, 1, 3].repeat(depth);
    bytes.extend([0, 0, 0]);
    bytes.extend(std::iter::repeat_n(0u8, depth));
    bytes
}

/// The same for replies: `TxnReply { succeeded: false, responses: [OpReply::Txn(..)] }`.
fn nested_reply_bytes(depth: usize) -> Vec<u8> {
    let mut bytes = [0u8, 1, 3].repeat(depth);
    bytes.extend([0, 0]);
    bytes
}

#[test]
fn hostile_nesting_is_refused_while_decoding_not_by_overflowing_the_stack() {
    // Far deeper than the test thread's stack could decode recursively.
    let depth = 200_000;
    assert!(decode::<TxnCommand>(&nested_txn_bytes(depth)).is_err());
    assert!(decode::<TxnReply>(&nested_reply_bytes(depth)).is_err());
    // The bound holds again afterwards (the depth count was unwound).
    assert!(decode::<TxnCommand>(&nested_txn_bytes(3)).is_ok());
}

#[test]
fn nesting_the_validation_refuses_still_decodes_so_it_gets_the_typed_error() {
    let deep: TxnCommand = decode(&nested_txn_bytes(MAX_TXN_DEPTH + 1)).unwrap();
    assert_eq!(deep.validate(), Err(KvError::TooDeep));
    let mut reference = txn(vec![], vec![]);
    for _ in 0..MAX_TXN_DEPTH + 1 {
        reference = txn(vec![TxnOp::Txn(reference)], vec![]);
    }
    assert_eq!(deep, reference);
    assert!(decode::<TxnReply>(&nested_reply_bytes(MAX_TXN_DEPTH + 1)).is_ok());
    assert!(decode::<TxnCommand>(&nested_txn_bytes(MAX_DECODE_DEPTH + 1)).is_err());
}
