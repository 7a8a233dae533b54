//! Known-good and known-bad histories for the checkpoint checker.

use super::checkpoint::{Stored, check, id_at};
use crate::chaos::history::{CheckpointLoad, CheckpointSave, Outcome};

/// A save of `label` to workflow "w" over `call..ret`; acknowledged at `revision` when
/// `outcome` is Ok.
fn save(label: &str, call: u64, ret: u64, outcome: Outcome, revision: u64) -> CheckpointSave {
    CheckpointSave {
        client: 1,
        workflow: "w".into(),
        label: label.into(),
        payload: format!("payload of {label}").into_bytes(),
        call,
        ret: (outcome != Outcome::Indeterminate).then_some(ret),
        outcome,
        saved: (outcome == Outcome::Ok).then(|| (id_at(revision), revision)),
    }
}

/// What the cluster holds for `s`, stored at `revision`, loaded back intact.
fn stored(s: &CheckpointSave, revision: u64) -> Stored {
    Stored {
        workflow: s.workflow.clone(),
        id: id_at(revision),
        revision,
        label: s.label.clone(),
        raw_size: s.payload.len() as u64,
        checksum: crc32fast::hash(&s.payload),
        payload: Ok(s.payload.clone()),
    }
}

fn load(id: &str, call: u64, found: Result<Vec<u8>, String>) -> CheckpointLoad {
    CheckpointLoad {
        client: 2,
        workflow: "w".into(),
        id: id.into(),
        call,
        found,
    }
}

fn classes(
    saves: &[CheckpointSave],
    loads: &[CheckpointLoad],
    found: &[Stored],
) -> Vec<&'static str> {
    let mut c: Vec<&str> = check(saves, loads, found).iter().map(|a| a.class).collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// Acknowledged saves in order; a refused save absent; one of unknown outcome stored and
/// one not; a load after an acknowledgement finds it.
fn good() -> (Vec<CheckpointSave>, Vec<CheckpointLoad>, Vec<Stored>) {
    let a = save("c1-1", 0, 10, Outcome::Ok, 5);
    let b = save("c1-2", 11, 20, Outcome::Ok, 8);
    let refused = save("c1-3", 21, 22, Outcome::Fail, 0);
    let unknown_stored = save("c1-4", 23, 0, Outcome::Indeterminate, 0);
    let unknown_lost = save("c1-5", 30, 0, Outcome::Indeterminate, 0);
    let found = vec![stored(&a, 5), stored(&b, 8), stored(&unknown_stored, 12)];
    let loads = vec![
        load(&id_at(5), 15, Ok(a.payload.clone())),
        // Began before b was acknowledged: not finding it is legal.
        load(&id_at(8), 12, Err("not found".into())),
    ];
    (
        vec![a, b, refused, unknown_stored, unknown_lost],
        loads,
        found,
    )
}

#[test]
fn a_history_the_cluster_kept_passes() {
    let (saves, loads, found) = good();
    let anomalies = check(&saves, &loads, &found);
    assert!(anomalies.is_empty(), "{anomalies:?}");
}

#[test]
fn lost_phantom_and_duplicate_checkpoints_are_caught() {
    let (saves, loads, found) = good();
    // The first acknowledged save is gone.
    assert_eq!(classes(&saves, &loads, &found[1..]), ["checkpoint-lost"]);
    // One nobody saved, and one whose save was refused.
    let mut phantom = found.clone();
    let mut stranger = stored(&saves[0], 14);
    stranger.label = "c9-9".into();
    phantom.push(stranger);
    assert_eq!(classes(&saves, &loads, &phantom), ["checkpoint-phantom"]);
    let mut refused = found.clone();
    refused.push(stored(&saves[2], 15));
    assert_eq!(classes(&saves, &loads, &refused), ["checkpoint-phantom"]);
    // A save of unknown outcome applied twice (a retry not deduplicated).
    let mut twice = found.clone();
    twice.push(stored(&saves[3], 16));
    assert_eq!(classes(&saves, &loads, &twice), ["checkpoint-duplicate"]);
}

#[test]
fn corrupt_unreadable_and_misnumbered_checkpoints_are_caught() {
    let (saves, loads, found) = good();
    let mut bytes = found.clone();
    bytes[0].payload = Ok(b"something else".to_vec());
    assert_eq!(classes(&saves, &loads, &bytes), ["checkpoint-corrupt"]);
    let mut crc = found.clone();
    crc[1].checksum ^= 1;
    assert_eq!(classes(&saves, &loads, &crc), ["checkpoint-corrupt"]);
    let mut unreadable = found.clone();
    unreadable[1].payload = Err("data loss".into());
    assert_eq!(
        classes(&saves, &loads, &unreadable),
        ["checkpoint-unreadable"]
    );
    // Its id does not name its revision.
    let mut id = found.clone();
    id[2].id = id_at(13);
    assert_eq!(classes(&saves, &loads, &id), ["checkpoint-id"]);
    // Stored at another revision than the one acknowledged (id and revision consistent).
    let mut moved = found.clone();
    moved[1] = stored(&saves[1], 9);
    assert_eq!(classes(&saves, &loads, &moved), ["checkpoint-id"]);
}

#[test]
fn out_of_order_listings_and_revisions_are_caught() {
    let (saves, loads, found) = good();
    let mut listing = found.clone();
    listing.swap(0, 1);
    assert_eq!(classes(&saves, &loads, &listing), ["checkpoint-order"]);
    // b began after a was acknowledged, yet was acknowledged at a lower revision.
    let a = save("c1-1", 0, 10, Outcome::Ok, 8);
    let b = save("c1-2", 11, 20, Outcome::Ok, 5);
    let found = [stored(&b, 5), stored(&a, 8)];
    assert_eq!(classes(&[a, b], &[], &found), ["checkpoint-order"]);
    // Concurrent saves may take effect in either order.
    let a = save("c1-1", 0, 10, Outcome::Ok, 8);
    let b = save("c1-2", 5, 20, Outcome::Ok, 5);
    let found = [stored(&b, 5), stored(&a, 8)];
    assert!(check(&[a, b], &[], &found).is_empty());
}

#[test]
fn a_load_missing_or_changing_an_acknowledged_checkpoint_is_caught() {
    let (saves, _, found) = good();
    let missing = [load(&id_at(5), 15, Err("not found".into()))];
    assert_eq!(classes(&saves, &missing, &found), ["checkpoint-lost"]);
    let changed = [load(&id_at(8), 25, Ok(b"other".to_vec()))];
    assert_eq!(classes(&saves, &changed, &found), ["checkpoint-corrupt"]);
}
