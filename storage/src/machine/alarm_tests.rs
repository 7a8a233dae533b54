//! A standing NOSPACE alarm holds back what can grow the state and nothing else.

use cairn_model::alarm::{Alarm, AlarmCommand, AlarmKind};
use cairn_model::command::{Command, CommandError, Response};

use crate::test_util::{delete, normal, put, req, temp_store};

#[tokio::test]
async fn nospace_refuses_puts_but_lets_reads_deletes_and_disarming_through() {
    let (_d, _log, sm) = temp_store().await;
    let alarm = Alarm {
        member: 2,
        kind: AlarmKind::NoSpace,
    };
    let r = sm
        .apply_batch(&[
            normal(1, req(put("a", "1", None), 1, None)),
            normal(
                2,
                req(Command::Alarm(AlarmCommand::Activate(alarm)), 2, None),
            ),
            normal(3, req(put("b", "2", None), 3, None)),
            normal(4, req(delete("a", None), 4, None)),
            normal(5, req(Command::Compact { revision: 4 }, 5, None)),
        ])
        .unwrap();
    assert_eq!(r[2], Response::Rejected(CommandError::NoSpace));
    assert_eq!(
        r[3],
        Response::Delete {
            revision: 4,
            deleted: true
        }
    );
    assert_eq!(r[4], Response::Compacted { revision: 5 });
    let reader = sm.reader();
    assert_eq!(reader.alarms().unwrap(), vec![alarm]);
    assert!(
        reader.get(b"b").unwrap().is_none(),
        "the refused put wrote nothing"
    );

    let r = sm
        .apply_batch(&[
            normal(
                6,
                req(Command::Alarm(AlarmCommand::Deactivate(alarm)), 6, None),
            ),
            normal(7, req(put("b", "2", None), 7, None)),
        ])
        .unwrap();
    assert_eq!(r[1], Response::Put { revision: 7 });
    assert!(reader.alarms().unwrap().is_empty());
}
