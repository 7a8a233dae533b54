//! etcd's error answers. Go's clientv3 (and etcdctl) recognise a server error by its exact
//! message (rpctypes' `errStringToError`) and gRPC code, so where etcd has an error for a
//! situation we answer with its words; Cairn's own metadata (error kind, leader address)
//! stays on the status for anyone who reads it.

use cairn_api::meta::{self, kind};
use tonic::{Code, Status};

pub const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
pub const LEASE_EXISTS: &str = "etcdserver: lease already exists";
pub const LEASE_TTL_TOO_LARGE: &str = "etcdserver: too large lease TTL";
pub const MEMBER_NOT_FOUND: &str = "etcdserver: member not found";
pub const MEMBER_NOT_LEARNER: &str = "etcdserver: can only promote a learner member";
pub const LEARNER_NOT_READY: &str =
    "etcdserver: can only promote a learner member which is in sync with leader";
pub const NOT_ENOUGH_STARTED: &str =
    "etcdserver: re-configuration failed due to not enough started members";
pub const BAD_LEADER_TRANSFEREE: &str = "etcdserver: bad leader transferee";
pub const NO_LEADER: &str = "etcdserver: no leader";
pub const TIMED_OUT: &str = "etcdserver: request timed out";

/// `s` with etcd's code and message, keeping Cairn's metadata.
fn reword(s: &Status, code: Code, msg: &str) -> Status {
    Status::with_metadata(code, msg, s.metadata().clone())
}

fn error_kind(s: &Status) -> Option<&str> {
    s.metadata()
        .get(meta::ERROR_KIND)
        .and_then(|v| v.to_str().ok())
}

pub fn lease_not_found() -> Status {
    Status::not_found(LEASE_NOT_FOUND)
}

pub fn lease_ttl_too_large() -> Status {
    Status::out_of_range(LEASE_TTL_TOO_LARGE)
}

/// Failures every path shares: no leader, and a proposal whose outcome is unknown. etcd
/// answers the latter with UNAVAILABLE ("request timed out"): to a client DEADLINE_EXCEEDED
/// means its own deadline passed, and it would not retry.
pub fn common(s: Status) -> Status {
    match s.code() {
        // Cairn's "no leader elected" (the proposer's words), or "not the leader" with no
        // leader to name: none is elected right now.
        Code::Unavailable
            if s.metadata().get(meta::LEADER).is_none()
                && matches!(s.message(), "not the leader" | "no leader elected") =>
        {
            reword(&s, Code::Unavailable, NO_LEADER)
        }
        Code::DeadlineExceeded => reword(&s, Code::Unavailable, TIMED_OUT),
        _ => s,
    }
}

/// A lease command's rejection in etcd's words.
pub fn lease(s: Status) -> Status {
    match error_kind(&s) {
        Some(kind::UNKNOWN_LEASE) => reword(&s, Code::NotFound, LEASE_NOT_FOUND),
        Some(kind::ALREADY_EXISTS) => reword(&s, Code::FailedPrecondition, LEASE_EXISTS),
        _ => common(s),
    }
}

/// A membership change refused by Cairn's admin checks, in etcd's words where etcd refuses
/// the same thing. Refusals etcd has no word for (last voter, change in progress) keep
/// Cairn's message, which says what to do.
pub fn membership(s: Status) -> Status {
    match error_kind(&s) {
        Some(kind::NOT_FOUND) => reword(&s, Code::NotFound, MEMBER_NOT_FOUND),
        Some(kind::LEARNER_BEHIND) => reword(&s, Code::FailedPrecondition, LEARNER_NOT_READY),
        Some(kind::QUORUM_AT_RISK | kind::UNREACHABLE) => {
            reword(&s, Code::FailedPrecondition, NOT_ENOUGH_STARTED)
        }
        _ if s.code() == Code::NotFound => reword(&s, Code::NotFound, MEMBER_NOT_FOUND),
        _ => common(s),
    }
}

/// A leadership transfer refused: etcd has one word for any unfit target.
pub fn transfer(s: Status) -> Status {
    match error_kind(&s) {
        Some(kind::NOT_FOUND | kind::WRONG_ROLE | kind::UNREACHABLE) => {
            reword(&s, Code::FailedPrecondition, BAD_LEADER_TRANSFEREE)
        }
        _ => common(s),
    }
}

/// An etcd RPC Cairn does not serve, with what to use instead.
pub fn unsupported(rpc: &str, instead: &str) -> Status {
    Status::unimplemented(format!("cairn does not support {rpc}: {instead}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::with_kind;

    #[test]
    fn lease_rejections_use_etcds_words() {
        let s = lease(with_kind(
            Code::NotFound,
            kind::UNKNOWN_LEASE,
            "lease 7 unknown",
        ));
        assert_eq!((s.code(), s.message()), (Code::NotFound, LEASE_NOT_FOUND));
        assert!(s.metadata().get(meta::ERROR_KIND).is_some());
        let s = lease(with_kind(Code::AlreadyExists, kind::ALREADY_EXISTS, "x"));
        assert_eq!(
            (s.code(), s.message()),
            (Code::FailedPrecondition, LEASE_EXISTS)
        );
    }

    #[test]
    fn unknown_outcome_and_no_leader_are_unavailable() {
        let s = common(Status::deadline_exceeded("timed out after 5s"));
        assert_eq!((s.code(), s.message()), (Code::Unavailable, TIMED_OUT));
        let s = common(Status::unavailable("not the leader"));
        assert_eq!(s.message(), NO_LEADER);
        let s = common(Status::unavailable("no leader elected"));
        assert_eq!((s.code(), s.message()), (Code::Unavailable, NO_LEADER));
        let mut with_leader = Status::unavailable("not the leader");
        with_leader.metadata_mut().insert(
            meta::LEADER,
            tonic::metadata::MetadataValue::from_static("x:1"),
        );
        assert_eq!(common(with_leader).message(), "not the leader");
        let s = common(Status::unavailable("installing a snapshot; retry"));
        assert_eq!(s.message(), "installing a snapshot; retry");
        let s = common(Status::invalid_argument("bad"));
        assert_eq!(s.code(), Code::InvalidArgument);
    }

    #[test]
    fn membership_refusals_use_etcds_words() {
        let s = membership(with_kind(Code::NotFound, kind::NOT_FOUND, "node 9"));
        assert_eq!(s.message(), MEMBER_NOT_FOUND);
        let s = membership(with_kind(
            Code::FailedPrecondition,
            kind::LEARNER_BEHIND,
            "behind",
        ));
        assert_eq!(s.message(), LEARNER_NOT_READY);
        let s = membership(with_kind(
            Code::FailedPrecondition,
            kind::LAST_VOTER,
            "last voter",
        ));
        assert_eq!(s.message(), "last voter");
        let s = transfer(with_kind(Code::FailedPrecondition, kind::WRONG_ROLE, "x"));
        assert_eq!(s.message(), BAD_LEADER_TRANSFEREE);
    }
}
