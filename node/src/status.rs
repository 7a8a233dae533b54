//! The one place where Cairn errors become gRPC statuses. A "not leader"/"unavailable" answer
//! carries the leader's client address in metadata so clients go straight to it.

use cairn_api::meta;
use cairn_raft::{CommandError, ForwardError};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

pub fn forward_error(e: ForwardError) -> Status {
    let leader = e.leader().map(|l| l.client_addr.clone());
    let mut status = match &e {
        ForwardError::NotLeader { .. } => Status::unavailable("not the leader"),
        ForwardError::Unavailable { reason, .. } => Status::unavailable(reason.clone()),
        ForwardError::Timeout(_) => Status::deadline_exceeded(e.to_string()),
    };
    if let Some(addr) = leader.filter(|a| !a.is_empty())
        && let Ok(v) = MetadataValue::try_from(addr.as_str())
    {
        status.metadata_mut().insert(meta::LEADER, v);
    }
    status
}

pub fn command_error(e: CommandError) -> Status {
    match e {
        CommandError::RevisionMismatch { current, .. } => {
            let mut s = Status::new(Code::Aborted, e.to_string());
            s.metadata_mut().insert(
                meta::ERROR_KIND,
                MetadataValue::from_static("revision_mismatch"),
            );
            s.metadata_mut()
                .insert(meta::CURRENT_REVISION, MetadataValue::from(current));
            s
        }
    }
}

/// A read from the state machine failed. A snapshot install in progress is transient (retry,
/// possibly elsewhere); anything else is a server fault.
pub fn storage_error(e: cairn_storage::StorageError) -> Status {
    match e {
        cairn_storage::StorageError::SnapshotInstalling => {
            Status::unavailable("installing a snapshot; retry")
        }
        other => internal(other),
    }
}

/// `what` exceeds its size limit: the message names both sizes.
pub fn too_large(what: &str, size: usize, limit: usize) -> Status {
    invalid(format!(
        "{what} is {size} bytes; the limit is {limit} bytes"
    ))
}

pub fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

pub fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_raft::NodeInfo;

    #[test]
    fn not_leader_carries_leader_address() {
        let s = forward_error(ForwardError::NotLeader {
            leader: Some(NodeInfo {
                peer_addr: "127.0.0.1:2".into(),
                client_addr: "127.0.0.1:1".into(),
            }),
        });
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.metadata().get(meta::LEADER).unwrap(), "127.0.0.1:1");
    }

    #[test]
    fn snapshot_install_is_retryable_and_limits_are_named() {
        let s = storage_error(cairn_storage::StorageError::SnapshotInstalling);
        assert_eq!(s.code(), Code::Unavailable);
        let s = too_large("value", 10, 4);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "value is 10 bytes; the limit is 4 bytes");
    }

    #[test]
    fn revision_mismatch_is_aborted_with_current() {
        let s = command_error(CommandError::RevisionMismatch {
            expected: 3,
            current: 7,
        });
        assert_eq!(s.code(), Code::Aborted);
        assert_eq!(s.metadata().get(meta::CURRENT_REVISION).unwrap(), "7");
        assert_eq!(
            s.metadata().get(meta::ERROR_KIND).unwrap(),
            "revision_mismatch"
        );
    }
}
