//! Incarnation records: the first stands until the member leaves.

use std::collections::BTreeSet;

use cairn_model::command::Command;
use cairn_raft::TypeConfig;
use openraft::testing::membership_ent;

use crate::test_util::{membership, normal, req, temp_store};

fn record(node: u64, incarnation: u64, index: u64) -> cairn_raft::types::Entry {
    normal(
        index,
        req(Command::RecordIncarnation { node, incarnation }, 1000, None),
    )
}

#[tokio::test]
async fn the_first_record_stands_until_the_member_leaves() {
    let (_d, _log, sm) = temp_store().await;
    let reader = sm.reader();
    sm.apply_batch(&[
        membership(1),
        record(2, 5, 2),
        record(2, 6, 3),
        record(3, 7, 4),
    ])
    .unwrap();
    assert_eq!(
        reader.incarnation_of(2).unwrap(),
        Some(5),
        "a second record is ignored"
    );
    assert_eq!(reader.incarnation_of(3).unwrap(), Some(7));
    // Node 2 leaves: its record goes, so it may join again later with a new directory.
    let without_2 = membership_ent::<TypeConfig>(1, 1, 5, vec![BTreeSet::from([1, 3])]);
    sm.apply_batch(&[without_2, record(2, 6, 6)]).unwrap();
    assert_eq!(reader.incarnation_of(2).unwrap(), Some(6));
    assert_eq!(reader.incarnation_of(3).unwrap(), Some(7));
}
