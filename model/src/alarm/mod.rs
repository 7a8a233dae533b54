//! Alarms (etcd's): a member that finds its data directory over the cluster's space quota
//! raises NOSPACE through the log, and while any NOSPACE alarm stands the machine refuses
//! every write that can grow the state ([`Command::grows`]) with etcd's "database space
//! exceeded"; reads, deletes, compaction and disarming still work. The quota itself is
//! replicated ([`Command::SetQuota`], proposed by the leader from its configuration).

mod grows;

use serde::{Deserialize, Serialize};

/// etcd's alarm types (AlarmType: NONE = 0, NOSPACE = 1, CORRUPT = 2). Add last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlarmKind {
    NoSpace,
}

/// One standing alarm: which member raised which kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Alarm {
    pub member: u64,
    pub kind: AlarmKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmCommand {
    Activate(Alarm),
    Deactivate(Alarm),
}

impl AlarmCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AlarmCommand::Activate(_) => "activate",
            AlarmCommand::Deactivate(_) => "deactivate",
        }
    }
}
