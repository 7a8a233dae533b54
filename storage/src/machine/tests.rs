//! Apply semantics: revisions, versions, compare-and-set, dedup, expiry, determinism.

use cairn_model::KvRecord;
use cairn_model::command::{CommandError, Response};
use tempfile::TempDir;

use crate::StorageConfig;
use crate::test_util::{blank, delete, membership, normal, open_in, put, req, temp_store};

fn rec(value: &str, create: u64, modr: u64, version: u64) -> KvRecord {
    KvRecord {
        value: value.as_bytes().to_vec(),
        create_revision: create,
        mod_revision: modr,
        version,
        lease: 0,
    }
}

#[tokio::test]
async fn put_sets_revisions_and_versions() {
    let (_d, _log, sm) = temp_store().await;
    let r = sm
        .apply_batch(&[
            normal(1, req(put("a", "1", None), 10, None)),
            normal(2, req(put("a", "2", None), 11, None)),
            normal(3, req(put("b", "x", None), 12, None)),
        ])
        .unwrap();
    assert_eq!(
        r,
        vec![
            Response::Put { revision: 1 },
            Response::Put { revision: 2 },
            Response::Put { revision: 3 }
        ]
    );
    let reader = sm.reader();
    assert_eq!(reader.get(b"a").unwrap(), Some(rec("2", 1, 2, 2)));
    assert_eq!(reader.get(b"b").unwrap(), Some(rec("x", 3, 3, 1)));
    assert_eq!(reader.applied_index(), 3);
}

#[tokio::test]
async fn cas_mismatch_writes_nothing() {
    let (_d, _log, sm) = temp_store().await;
    sm.apply_batch(&[normal(1, req(put("k", "v1", None), 1, None))])
        .unwrap();
    let before = sm.dump();
    let r = sm
        .apply_batch(&[
            normal(2, req(put("k", "v2", Some(7)), 2, None)),
            normal(3, req(put("k", "v2", Some(0)), 3, None)),
            normal(4, req(put("new", "v", Some(4)), 4, None)),
            normal(5, req(delete("k", Some(9)), 5, None)),
        ])
        .unwrap();
    let mismatch = |expected, current| {
        Response::Rejected(CommandError::RevisionMismatch { expected, current })
    };
    assert_eq!(
        r,
        vec![
            mismatch(7, 1),
            mismatch(0, 1),
            mismatch(4, 0),
            mismatch(9, 1)
        ]
    );
    // Only bookkeeping moved: last_applied and the machine clock.
    let strip = |d: crate::test_util::Dump| {
        use crate::keyspace::meta_key::{CLOCK, LAST_APPLIED};
        d.into_iter()
            .filter(|(_, k, _)| k != LAST_APPLIED && k != CLOCK)
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(before), strip(sm.dump()));

    // Matching expectations succeed: 0 for an absent key, the mod-revision otherwise.
    let r = sm
        .apply_batch(&[
            normal(6, req(put("k", "v3", Some(1)), 6, None)),
            normal(7, req(put("new", "n", Some(0)), 7, None)),
        ])
        .unwrap();
    assert_eq!(
        r,
        vec![Response::Put { revision: 6 }, Response::Put { revision: 7 }]
    );
    assert_eq!(sm.reader().get(b"k").unwrap(), Some(rec("v3", 1, 6, 2)));
}

#[tokio::test]
async fn delete_then_recreate() {
    let (_d, _log, sm) = temp_store().await;
    let r = sm
        .apply_batch(&[
            normal(1, req(delete("k", None), 1, None)),
            normal(2, req(put("k", "a", None), 1, None)),
            normal(3, req(put("k", "b", None), 1, None)),
            normal(4, req(delete("k", Some(3)), 1, None)),
            normal(5, req(put("k", "c", None), 1, None)),
        ])
        .unwrap();
    assert_eq!(
        r[0],
        Response::Delete {
            revision: 1,
            deleted: false
        }
    );
    assert_eq!(
        r[3],
        Response::Delete {
            revision: 4,
            deleted: true
        }
    );
    // A key re-created after a delete starts a new life: new create_revision, version 1.
    assert_eq!(sm.reader().get(b"k").unwrap(), Some(rec("c", 5, 5, 1)));
}

#[tokio::test]
async fn blank_and_membership_reply_empty() {
    let (_d, _log, mut sm) = temp_store().await;
    let r = sm.apply_batch(&[blank(1), membership(2)]).unwrap();
    assert_eq!(
        r,
        vec![
            Response::Empty { revision: 1 },
            Response::Empty { revision: 2 }
        ]
    );
    use openraft::storage::RaftStateMachine;
    let (applied, mem) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index()), Some(2));
    assert_eq!(mem.log_id().map(|l| l.index()), Some(2));
}

#[tokio::test]
async fn duplicate_session_returns_first_result() {
    let (_d, _log, sm) = temp_store().await;
    let s = Some(("client-a", 1));
    let r = sm
        .apply_batch(&[
            normal(1, req(put("k", "first", None), 100, s)),
            normal(2, req(put("k", "second", None), 101, s)),
        ])
        .unwrap();
    assert_eq!(
        r,
        vec![Response::Put { revision: 1 }, Response::Put { revision: 1 }]
    );
    assert_eq!(sm.reader().get(b"k").unwrap(), Some(rec("first", 1, 1, 1)));

    // Across batches, and for rejections too.
    let s2 = Some(("client-a", 2));
    let r1 = sm
        .apply_batch(&[normal(3, req(put("k", "x", Some(99)), 102, s2))])
        .unwrap();
    sm.apply_batch(&[normal(4, req(put("k", "y", None), 103, None))])
        .unwrap();
    let r2 = sm
        .apply_batch(&[normal(5, req(put("k", "x", Some(4)), 104, s2))])
        .unwrap();
    assert_eq!(r1, r2);
    assert_eq!(sm.reader().get(b"k").unwrap(), Some(rec("y", 1, 4, 2)));
    // Another client with the same sequence is a different request.
    let r = sm
        .apply_batch(&[normal(
            6,
            req(delete("k", None), 105, Some(("client-b", 1))),
        )])
        .unwrap();
    assert_eq!(
        r,
        vec![Response::Delete {
            revision: 6,
            deleted: true
        }]
    );
}

#[tokio::test]
async fn expired_dedup_records_are_pruned_by_command_time() {
    let dir = TempDir::new().unwrap();
    let config = StorageConfig {
        dedup_window_ms: 10_000,
        session_prune_interval_ms: 1_000,
        ..StorageConfig::default()
    };
    let (_log, sm) = open_in(&dir, config).await;
    let s = Some(("c", 1));
    sm.apply_batch(&[normal(1, req(put("k", "a", None), 50_000, s))])
        .unwrap();
    // Within the window: still deduplicated.
    let r = sm
        .apply_batch(&[normal(2, req(put("k", "b", None), 59_000, s))])
        .unwrap();
    assert_eq!(r, vec![Response::Put { revision: 1 }]);
    // Idle past the window (rounded up to the prune interval): the session is gone, so the
    // same sequence applies afresh.
    let r = sm
        .apply_batch(&[normal(3, req(put("k", "c", None), 61_000, s))])
        .unwrap();
    assert_eq!(r, vec![Response::Put { revision: 3 }]);
    let sessions = sm.trees().get(crate::keyspace::Space::Sessions).len();
    let expiry = sm.trees().get(crate::keyspace::Space::SessionExpiry).len();
    assert_eq!((sessions, expiry), (1, 1), "only the fresh record remains");
}

/// A leader whose clock runs behind an earlier leader's cannot age dedup records early: the
/// machine's clock only moves forward, so a record it writes counts from the later time.
#[tokio::test]
async fn machine_clock_never_runs_backwards() {
    let dir = TempDir::new().unwrap();
    let config = StorageConfig {
        dedup_window_ms: 10_000,
        session_prune_interval_ms: 1_000,
        ..StorageConfig::default()
    };
    let (_log, sm) = open_in(&dir, config).await;
    // A correct leader at t=100 s, then a slow one at t=80 s recording session (c, 1).
    sm.apply_batch(&[normal(1, req(put("a", "1", None), 100_000, None))])
        .unwrap();
    sm.apply_batch(&[normal(2, req(put("k", "x", None), 80_000, Some(("c", 1))))])
        .unwrap();
    // At t=105 s the record is 5 s old by the machine clock (not 25 s): the retry is
    // still answered from it instead of being applied again.
    let r = sm
        .apply_batch(&[normal(3, req(put("k", "x", None), 105_000, Some(("c", 1))))])
        .unwrap();
    assert_eq!(r, vec![Response::Put { revision: 2 }]);
    let clock = sm
        .trees()
        .get(crate::keyspace::Space::Meta)
        .get(crate::keyspace::meta_key::CLOCK)
        .unwrap()
        .unwrap();
    assert_eq!(
        u64::from_be_bytes(clock.as_ref().try_into().unwrap()),
        105_000
    );
}

/// Replicas group entries into batches differently; state must not depend on it.
#[tokio::test]
async fn state_is_independent_of_batching() {
    let config = StorageConfig {
        dedup_window_ms: 5_000,
        session_prune_interval_ms: 1_000,
        ..StorageConfig::default()
    };
    let mut entries = vec![membership(1)];
    for i in 0..300u64 {
        let index = i + 2;
        let time = 1_000 + i * 137;
        let client = format!("c{}", i % 7);
        let command = match i % 5 {
            0 => delete(&format!("k{}", i % 11), None),
            1 => put(&format!("k{}", i % 11), "cas", Some(i)),
            _ => put(&format!("k{}", i % 11), &i.to_string(), None),
        };
        // Every third request is a retry of an earlier sequence.
        let seq = if i % 3 == 0 { i / 2 } else { i };
        entries.push(normal(
            index,
            req(command, time, Some((client.as_str(), seq))),
        ));
    }

    let (d1, d2) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (_l1, one) = open_in(&d1, config.clone()).await;
    let (_l2, many) = open_in(&d2, config).await;
    let r1 = one.apply_batch(&entries).unwrap();
    let mut r2 = Vec::new();
    for chunk in entries.chunks(7) {
        r2.extend(many.apply_batch(chunk).unwrap());
    }
    assert_eq!(r1, r2);
    assert_eq!(one.dump(), many.dump());
    // The workload spans ~40 s of command time with a 5 s window: pruning must have run.
    let sessions = one.trees().get(crate::keyspace::Space::Sessions).len();
    assert!(
        sessions > 0 && sessions < 100,
        "{sessions} dedup records left"
    );
}

#[tokio::test]
async fn acknowledged_replies_are_forgotten_and_their_retries_refused() {
    let (_d, _log, sm) = temp_store().await;
    let with_ack = |command, time, seq, first_incomplete| {
        let mut r = req(command, time, Some(("c", seq)));
        if let Some(s) = r.session.as_mut() {
            s.first_incomplete = first_incomplete;
        }
        r
    };
    sm.apply_batch(&[
        normal(1, with_ack(put("a", "1", None), 10, 1, 1)),
        normal(2, with_ack(put("b", "2", None), 11, 2, 1)),
        // The client has the answers to 1 and 2 by now.
        normal(3, with_ack(put("c", "3", None), 12, 3, 3)),
    ])
    .unwrap();
    let r = sm
        .apply_batch(&[
            normal(4, with_ack(put("a", "again", None), 13, 1, 1)),
            normal(5, with_ack(put("c", "again", None), 14, 3, 3)),
        ])
        .unwrap();
    assert_eq!(
        r,
        vec![
            Response::Rejected(CommandError::StaleSequence {
                sequence: 1,
                floor: 3
            }),
            Response::Put { revision: 3 }
        ]
    );
    assert_eq!(sm.reader().get(b"a").unwrap(), Some(rec("1", 1, 1, 1)));

    // A client that never acknowledges keeps at most MAX_REPLIES replies.
    let max = super::session::MAX_REPLIES as u64;
    let entries: Vec<_> = (0..max + 5)
        .map(|i| normal(6 + i, req(put("n", "x", None), 20, Some(("quiet", i + 1)))))
        .collect();
    sm.apply_batch(&entries).unwrap();
    let r = sm
        .apply_batch(&[
            normal(max + 11, req(put("n", "y", None), 21, Some(("quiet", 5)))),
            normal(max + 12, req(put("n", "y", None), 21, Some(("quiet", 6)))),
        ])
        .unwrap();
    assert!(matches!(
        r[0],
        Response::Rejected(CommandError::StaleSequence { floor: 6, .. })
    ));
    assert_eq!(r[1], Response::Put { revision: 11 });
}

#[tokio::test]
async fn reader_range_prefix_paging() {
    let (_d, _log, sm) = temp_store().await;
    let keys = ["a", "app/1", "app/2", "app/3", "apq", "b"];
    let entries: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| normal(i as u64 + 1, req(put(k, k, None), 1, None)))
        .collect();
    sm.apply_batch(&entries).unwrap();
    let r = sm.reader();
    let names = |v: Vec<(Vec<u8>, KvRecord)>| {
        v.into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect::<Vec<_>>()
    };

    let (page, more) = r.range(b"app/", b"", 2).unwrap();
    assert_eq!(
        (names(page), more),
        (vec!["app/1".into(), "app/2".into()], true)
    );
    let (page, more) = r.range(b"app/", b"app/2", 2).unwrap();
    assert_eq!((names(page), more), (vec!["app/3".to_string()], false));
    let (page, more) = r.range(b"app/", b"app/3", 2).unwrap();
    assert_eq!((page.len(), more), (0, false));
    let (page, more) = r.range(b"", b"app/3", 10).unwrap();
    assert_eq!((names(page), more), (vec!["apq".into(), "b".into()], false));
    // start_after below the prefix starts at the prefix.
    let (page, _) = r.range(b"app/", b"a", 1).unwrap();
    assert_eq!(names(page), vec!["app/1".to_string()]);
    let (page, more) = r.range(b"app/", b"", 0).unwrap();
    assert_eq!((page.len(), more), (0, true));
}
