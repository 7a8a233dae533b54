//! Known-good and known-bad histories for the watch and lock checkers: a checker that passes
//! everything is broken.

use std::collections::HashSet;

use cairn_client::{Holder, KeyValue, LockState, WatchChange};

use super::{lock, watch};
use crate::chaos::history::{AckedPut, FencedWrite};
use crate::chaos::workload::WatchRecord;

fn put(rev: u64, key: &str, value: &str) -> WatchRecord {
    WatchRecord::Event {
        revision: rev,
        change: WatchChange::KvPut {
            kv: KeyValue {
                key: key.into(),
                value: value.into(),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
            },
            prev: None,
        },
    }
}

fn grant(rev: u64, token: u64) -> WatchRecord {
    WatchRecord::Event {
        revision: rev,
        change: WatchChange::Lock {
            lock: LockState {
                name: "l".into(),
                holder: Some(Holder {
                    owner: "o".into(),
                    lease_id: 1,
                    token,
                    value: vec![],
                    since_ms: 0,
                }),
                waiters: vec![],
            },
        },
    }
}

fn acked(key: &str, value: &str, revision: u64) -> AckedPut {
    AckedPut {
        key: key.into(),
        value: value.into(),
        revision,
    }
}

fn written(values: &[&str]) -> HashSet<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[test]
fn a_complete_ordered_stream_passes() {
    let records = [put(5, "k", "a"), put(6, "k", "b")];
    let store = watch::store_map(&[KeyValue {
        key: "k".into(),
        value: "b".into(),
        create_revision: 5,
        mod_revision: 6,
        // As the helper's events say (each event is version 1).
        version: 1,
    }]);
    let acks = [acked("k", "a", 5), acked("k", "b", 6)];
    let found = watch::check(&records, 6, &acks, &written(&["a", "b"]), &store);
    assert!(found.is_empty(), "{found:?}");
    assert!(watch::lost_writes(&acks, &store).is_empty());
}

#[test]
fn gaps_duplicates_disorder_phantoms_and_lost_writes_are_caught() {
    let store = watch::store_map(&[]);
    let classes = |records: &[WatchRecord], acks: &[AckedPut]| {
        let mut c: Vec<&str> = watch::check(records, 9, acks, &written(&["a", "b"]), &store)
            .iter()
            .map(|a| a.class)
            .collect();
        c.dedup();
        c
    };
    // Acked at 6 but never delivered, though the watch passed 6.
    assert!(classes(&[put(5, "k", "a")], &[acked("k", "b", 6)]).contains(&"watch-gap"));
    assert!(classes(&[put(5, "k", "a"), put(5, "k", "a")], &[]).contains(&"watch-duplicate"));
    assert!(classes(&[put(6, "k", "a"), put(5, "j", "b")], &[]).contains(&"watch-order"));
    assert!(classes(&[put(5, "k", "zzz")], &[]).contains(&"phantom"));
    // The watch says k exists; the store says it does not.
    assert!(classes(&[put(5, "k", "a")], &[]).contains(&"watch-final-state"));
    let lost = watch::lost_writes(&[acked("k", "a", 5)], &store);
    assert_eq!(lost[0].class, "lost-write");
}

fn fenced(token: u64, revision: u64) -> FencedWrite {
    FencedWrite {
        client: 1,
        token,
        value: format!("c1-t{token}-s0"),
        call: 0,
        ret: Some(1),
        revision: Some(revision),
        stale: None,
    }
}

#[test]
fn fenced_writes_under_the_current_token_pass() {
    let records = [
        grant(3, 3),
        put(4, "d", "c1-t3-s0"),
        grant(7, 7),
        put(8, "d", "c2-t7-s0"),
    ];
    let found = lock::check(&records, "l", "d", &[fenced(3, 4), fenced(7, 8)]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_write_under_a_superseded_token_and_a_token_regress_are_caught() {
    // Token 3's holder writes after token 7 was granted: the two holders overlap.
    let records = [grant(3, 3), grant(7, 7), put(8, "d", "c1-t3-s1")];
    let found = lock::check(&records, "l", "d", &[]);
    assert_eq!(found[0].class, "fence-overlap", "{found:?}");
    let found = lock::check(&[grant(7, 7), grant(9, 5)], "l", "d", &[]);
    assert_eq!(found[0].class, "token-regress", "{found:?}");
    let found = lock::check(&[], "l", "d", &[fenced(7, 8), fenced(3, 9)]);
    assert_eq!(found[0].class, "fence-order", "{found:?}");
}

/// Found by a chaos run under kill -9: the watch could not resume and restated the lock in a
/// reset; the holder it names is the one already known, not a token going back.
#[test]
fn a_watch_reset_restating_the_current_holder_is_not_a_regress() {
    let reset = WatchRecord::Reset {
        revision: 9,
        objects: vec![cairn_client::WatchObject::Lock(LockState {
            name: "l".into(),
            holder: Some(Holder {
                owner: "o".into(),
                lease_id: 1,
                token: 7,
                value: vec![],
                since_ms: 0,
            }),
            waiters: vec![],
        })],
    };
    let records = [grant(7, 7), reset, grant(12, 7), put(13, "d", "c1-t7-s2")];
    let found = lock::check(&records, "l", "d", &[]);
    assert!(found.is_empty(), "{found:?}");
}
