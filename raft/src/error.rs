//! The errors of the Raft layer: why a request could not be proposed or read. They travel
//! between nodes (a follower forwards to the leader), so they are serializable.

use std::time::Duration;

use cairn_model::input::InputError;
use serde::{Deserialize, Serialize};

use crate::types::NodeInfo;

/// Why a request could not be served; travels between nodes, so it is serializable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    /// This node cannot serve it; `leader` is the leader it knows of, if any.
    #[error("not the leader")]
    NotLeader { leader: Option<NodeInfo> },
    /// No leader, no quorum, or the node is stopping. The outcome of a write is unknown: retry
    /// with the same idempotency key.
    #[error("unavailable: {reason}")]
    Unavailable {
        reason: String,
        leader: Option<NodeInfo>,
    },
    #[error("timed out after {0:?}; the outcome is unknown")]
    Timeout(Duration),
    /// The leader does not serve that peer call (an older version): nothing was applied.
    #[error("the leader does not implement this call")]
    Unimplemented,
    /// No leader is elected right now.
    #[error("no leader elected")]
    NoLeader,
    /// The leader refused a forwarded write's input (the checks a client's request passes
    /// before proposing, with the leader's limits), or it is an internal command, which only
    /// the leader's own duties propose. Nothing was proposed, and sending it again gets the
    /// same answer: not retried. (Last: variants travel between nodes by index.)
    #[error("refused by the leader: {0}")]
    Refused(InputError),
}

impl ForwardError {
    pub(crate) fn unavailable(reason: impl ToString) -> Self {
        Self::Unavailable {
            reason: reason.to_string(),
            leader: None,
        }
    }

    /// The leader this error points at, if it names one.
    pub fn leader(&self) -> Option<&NodeInfo> {
        match self {
            Self::NotLeader { leader } | Self::Unavailable { leader, .. } => leader.as_ref(),
            Self::Timeout(_) | Self::Unimplemented | Self::NoLeader | Self::Refused(_) => None,
        }
    }
}
