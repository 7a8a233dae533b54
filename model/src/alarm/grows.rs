//! Which commands a standing NOSPACE alarm holds back ([`Command::grows`]).

use crate::checkpoint::CheckpointCommand;
use crate::command::Command;
use crate::coord::CoordCommand;
use crate::txn::{TxnCommand, TxnOp};
use crate::workflow::WorkflowCommand;

impl Command {
    /// Whether the command can make the state bigger: refused while NOSPACE stands. What only
    /// removes (deletes, compaction, purges, releases, lease revocation and expiry), the
    /// cluster's own bookkeeping and alarms themselves are let through, so an operator can
    /// free space and disarm.
    pub fn grows(&self) -> bool {
        match self {
            Command::Put { .. } => true,
            Command::Delete { .. } | Command::Compact { .. } => false,
            Command::Txn(t) => txn_grows(t),
            Command::Steps(_) => true,
            Command::Workflow(c) => !matches!(
                c,
                WorkflowCommand::Delete { .. }
                    | WorkflowCommand::Purge { .. }
                    | WorkflowCommand::CompactHistory { .. }
                    // Lets an operator raise a limit (or lower one) while NOSPACE stands.
                    | WorkflowCommand::SetNamespaceLimits { .. }
            ),
            Command::Checkpoint(c) => !matches!(
                c,
                CheckpointCommand::AbortUploads { .. } | CheckpointCommand::Purge { .. }
            ),
            Command::Coord(c) => matches!(
                c,
                CoordCommand::GrantLease { .. }
                    | CoordCommand::Acquire { .. }
                    | CoordCommand::Campaign { .. }
                    | CoordCommand::Proclaim { .. }
            ),
            Command::SetClusterId { .. }
            | Command::RecordIncarnation { .. }
            | Command::Auth(_)
            | Command::SetRecordLimits(_)
            | Command::SetQuota { .. }
            | Command::Alarm(_) => false,
        }
    }
}

fn txn_grows(t: &TxnCommand) -> bool {
    t.success.iter().chain(&t.failure).any(|op| match op {
        TxnOp::Put(_) => true,
        TxnOp::Txn(inner) => txn_grows(inner),
        TxnOp::Range(_) | TxnOp::DeleteRange { .. } => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{Alarm, AlarmCommand, AlarmKind};
    use crate::txn::{KeyRange, PutOp};

    #[test]
    fn only_what_can_grow_the_state_is_held_back() {
        let put = Command::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            expected_revision: None,
        };
        assert!(put.grows());
        assert!(
            !Command::Delete {
                key: b"k".to_vec(),
                expected_revision: None
            }
            .grows()
        );
        let delete_only = TxnCommand {
            compare: Vec::new(),
            success: vec![TxnOp::DeleteRange {
                range: KeyRange::prefix("a"),
                prev_kv: false,
            }],
            failure: Vec::new(),
        };
        assert!(!Command::Txn(delete_only.clone()).grows());
        let nested_put = TxnCommand {
            failure: vec![TxnOp::Txn(TxnCommand {
                compare: Vec::new(),
                success: vec![TxnOp::Put(PutOp {
                    key: b"k".to_vec(),
                    value: Vec::new(),
                    lease: 0,
                    prev_kv: false,
                    ignore_value: false,
                    ignore_lease: false,
                })],
                failure: Vec::new(),
            })],
            ..delete_only
        };
        assert!(Command::Txn(nested_put).grows());
        assert!(!Command::Compact { revision: 1 }.grows());
        let disarm = Command::Alarm(AlarmCommand::Deactivate(Alarm {
            member: 1,
            kind: AlarmKind::NoSpace,
        }));
        assert!(!disarm.grows());
    }
}
