//! Record limits are replicated state: the entry that sets them decides from where on they
//! hold, on every replica and however entries are batched.

use cairn_model::workflow::limits::RecordLimits;

use super::*;

#[tokio::test]
async fn record_limits_hold_from_the_entry_that_sets_them_however_entries_are_batched() {
    let limits = RecordLimits {
        max_labels: 2,
        ..RecordLimits::default()
    };
    let three_labels = |id: &str| {
        Command::Workflow(create_cmd(
            id,
            "default",
            &[("a", "1"), ("b", "2"), ("c", "3")],
        ))
    };
    let entries = [
        normal(1, req(three_labels("before"), 1, None)),
        normal(2, req(Command::SetRecordLimits(limits), 2, None)),
        normal(3, req(three_labels("after"), 3, None)),
    ];

    let (_d1, _log1, batched) = temp_store().await;
    let r = batched.apply_batch(&entries).unwrap();
    assert!(matches!(r[0], Response::Workflow { .. }), "{:?}", r[0]);
    assert_eq!(r[1], Response::Empty { revision: 2 });
    assert!(
        matches!(
            r[2],
            Response::Rejected(CommandError::Workflow(WorkflowError::Limit(_)))
        ),
        "{:?}",
        r[2]
    );
    assert_eq!(batched.reader().record_limits().unwrap(), Some(limits));

    let (_d2, _log2, one_by_one) = temp_store().await;
    for e in &entries {
        one_by_one.apply_batch(std::slice::from_ref(e)).unwrap();
    }
    assert_eq!(batched.dump(), one_by_one.dump());
}
