//! The watch checker: events arrive in revision order with no duplicates; every acknowledged
//! write the watch has passed was delivered, with its value (a missing one is a gap or a lost
//! write); no value appears that no client wrote (a phantom); and replaying the stream gives
//! exactly what the store holds at the end.

use std::collections::{BTreeMap, HashSet};

use cairn_client::{KeyValue, WatchChange, WatchObject};

use super::Anomaly;
use crate::chaos::history::AckedPut;
use crate::chaos::workload::WatchRecord;

/// key -> (value, mod revision, version). The version counts the writes to the key, so two
/// replicas (or a replica and the watch) that agree on it applied the same number of writes.
pub type KvMap = BTreeMap<Vec<u8>, (Vec<u8>, u64, u64)>;

pub fn record(kv: &KeyValue) -> (Vec<u8>, u64, u64) {
    (kv.value.clone(), kv.mod_revision, kv.version)
}

pub fn store_map(kvs: &[KeyValue]) -> KvMap {
    kvs.iter().map(|kv| (kv.key.clone(), record(kv))).collect()
}

/// Checks `records` (a watch from `from` that delivered every revision up to `delivered`)
/// against the acknowledged puts, the values ever written, and the final `store` of the
/// watched prefix (read after everything was delivered).
pub fn check(
    records: &[WatchRecord],
    delivered: u64,
    acked: &[AckedPut],
    written: &HashSet<String>,
    store: &KvMap,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut view = KvMap::new();
    let mut seen: HashSet<(Vec<u8>, u64)> = HashSet::new();
    let mut last = 0u64;
    // Below this revision the stream was replaced by a snapshot: no per-event promise holds.
    let mut reset_at = 0u64;
    for r in records {
        match r {
            WatchRecord::Reset { revision, objects } => {
                reset_at = *revision;
                last = last.max(*revision);
                view.clear();
                for o in objects {
                    if let WatchObject::Kv(kv) = o {
                        view.insert(kv.key.clone(), record(kv));
                    }
                }
            }
            WatchRecord::Event { revision, change } => {
                if *revision < last {
                    out.push(Anomaly::new(
                        "watch-order",
                        format!("revision {revision} after {last}"),
                    ));
                }
                last = last.max(*revision);
                match change {
                    WatchChange::KvPut { kv, .. } => {
                        if !seen.insert((kv.key.clone(), *revision)) {
                            out.push(Anomaly::new(
                                "watch-duplicate",
                                format!("{} at {revision} twice", lossy(&kv.key)),
                            ));
                        }
                        if !written.contains(&lossy(&kv.value)) {
                            out.push(Anomaly::new(
                                "phantom",
                                format!("{} = {} at {revision}", lossy(&kv.key), lossy(&kv.value)),
                            ));
                        }
                        view.insert(kv.key.clone(), record(kv));
                    }
                    WatchChange::KvDelete { key, .. } => {
                        view.remove(key);
                    }
                    _ => {}
                }
            }
        }
    }
    let delivered_puts: HashSet<(Vec<u8>, u64, Vec<u8>)> = records
        .iter()
        .filter_map(|r| match r {
            WatchRecord::Event {
                revision,
                change: WatchChange::KvPut { kv, .. },
            } => Some((kv.key.clone(), *revision, kv.value.clone())),
            _ => None,
        })
        .collect();
    for a in acked {
        let key = a.key.as_bytes().to_vec();
        let triple = (key.clone(), a.revision, a.value.as_bytes().to_vec());
        if a.revision > reset_at && a.revision <= delivered && !delivered_puts.contains(&triple) {
            out.push(Anomaly::new(
                "watch-gap",
                format!(
                    "acked {} = {} at {} never delivered",
                    a.key, a.value, a.revision
                ),
            ));
        }
    }
    if view != *store {
        let diff: Vec<String> = store
            .keys()
            .chain(view.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| store.get(*k) != view.get(*k))
            .take(5)
            .map(|k| {
                format!(
                    "{}: store {:?} watch {:?}",
                    lossy(k),
                    store.get(k).map(|(v, r, n)| (lossy(v), r, n)),
                    view.get(k).map(|(v, r, n)| (lossy(v), r, n))
                )
            })
            .collect();
        out.push(Anomaly::new("watch-final-state", diff.join("; ")));
    }
    out
}

/// Acknowledged writes the final store contradicts: the key must be at that revision or a
/// later one, and at that revision with that value.
pub fn lost_writes(acked: &[AckedPut], store: &KvMap) -> Vec<Anomaly> {
    acked
        .iter()
        .filter(|a| match store.get(a.key.as_bytes()) {
            None => true,
            Some((v, rev, _)) => {
                *rev < a.revision || (*rev == a.revision && v != a.value.as_bytes())
            }
        })
        .map(|a| {
            Anomaly::new(
                "lost-write",
                format!("acked {} = {} at {}", a.key, a.value, a.revision),
            )
        })
        .collect()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
