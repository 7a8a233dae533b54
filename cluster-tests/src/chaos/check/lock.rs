//! The lock checker. Fencing promises that a write carrying a lock token is applied only
//! while that token is the lock's current one, and that tokens only grow. So, over the watch
//! stream of the lock and its data key (both in revision order): each grant's token exceeds
//! every earlier one, and each applied data write carries the token current at its revision
//! (a write under an older token after a newer grant means two holders' writes overlap).
//! Independently of the watch, the acknowledged fenced writes ordered by revision must carry
//! non-decreasing tokens.

use cairn_client::{WatchChange, WatchObject};

use super::Anomaly;
use crate::chaos::history::FencedWrite;
use crate::chaos::workload::WatchRecord;

/// The token in a lock-workload value `c{client}-t{token}-s{seq}`.
pub fn token_of(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    s.split('-').find_map(|p| p.strip_prefix('t')?.parse().ok())
}

/// Checks lock `name` and its fenced data key `data` in `records`, and the clients' view.
pub fn check(
    records: &[WatchRecord],
    name: &str,
    data: &str,
    acked: &[FencedWrite],
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut current = 0u64; // 0: free
    let mut highest = 0u64;
    // `restated`: a watch reset states the lock afresh, so the token in force may equal the
    // highest seen; a new grant in an event must exceed it (a token is its grant's revision).
    let mut grant =
        |token: u64, at: u64, restated: bool, current: &mut u64, out: &mut Vec<Anomaly>| {
            let stale = if restated {
                token < highest
            } else {
                token <= highest
            };
            if token != 0 && token != *current && stale {
                out.push(Anomaly::new(
                    "token-regress",
                    format!("{name} granted token {token} at {at} after token {highest}"),
                ));
            }
            highest = highest.max(token);
            *current = token;
        };
    for r in records {
        match r {
            WatchRecord::Reset { revision, objects } => {
                current = 0;
                for o in objects {
                    if let WatchObject::Lock(l) = o
                        && l.name == name
                    {
                        let t = l.holder.as_ref().map_or(0, |h| h.token);
                        grant(t, *revision, true, &mut current, &mut out);
                    }
                }
            }
            WatchRecord::Event { revision, change } => match change {
                WatchChange::Lock { lock } if lock.name == name => {
                    let t = lock.holder.as_ref().map_or(0, |h| h.token);
                    grant(t, *revision, false, &mut current, &mut out);
                }
                WatchChange::LockDeleted { name: n } if n == name => current = 0,
                WatchChange::KvPut { kv, .. } if kv.key == data.as_bytes() => {
                    let token = token_of(&kv.value);
                    if token != Some(current) {
                        out.push(Anomaly::new(
                            "fence-overlap",
                            format!(
                                "{data} written at {revision} with token {token:?} while token \
                                 {current} held {name}"
                            ),
                        ));
                    }
                }
                _ => {}
            },
        }
    }
    let mut by_rev: Vec<(u64, u64)> = acked
        .iter()
        .filter_map(|w| Some((w.revision?, w.token)))
        .collect();
    by_rev.sort_unstable();
    for pair in by_rev.windows(2) {
        let ((r1, t1), (r2, t2)) = (pair[0], pair[1]);
        if t2 < t1 {
            out.push(Anomaly::new(
                "fence-order",
                format!("acked write with token {t2} at {r2} after token {t1} at {r1}"),
            ));
        }
    }
    out
}
