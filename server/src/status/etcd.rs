//! The etcd v3 API's statuses. Go's clientv3 (and etcdctl) recognise a server error by its
//! exact message (rpctypes' `errStringToError`) and gRPC code, so where etcd has an error for
//! a situation we answer with its words. The choice is keyed on the error kind that the Cairn
//! map gives every status (typed, and also present on a leader's answer to a forwarded admin
//! call), never on message text. Cairn's metadata (error kind, leader address) stays on the
//! status for anyone who reads it.

use cairn_api::meta::{self, kind};
use tonic::{Code, Status};

use crate::error::{Error, EtcdError};

pub const NO_LEADER: &str = "etcdserver: no leader";
pub const TIMED_OUT: &str = "etcdserver: request timed out";
pub const LEASE_EXISTS: &str = "etcdserver: lease already exists";
pub const LEARNER_NOT_READY: &str =
    "etcdserver: can only promote a learner member which is in sync with leader";
pub const NOT_ENOUGH_STARTED: &str =
    "etcdserver: re-configuration failed due to not enough started members";
/// A watch's cancel reason (not a status) when its start revision was compacted.
pub const WATCH_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// The family of the etcd RPC an error answers: etcd words some refusals per RPC (an unknown
/// member is "member not found" to MemberRemove but "bad leader transferee" to MoveLeader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdCall {
    /// KV and Watch.
    Kv,
    Lease,
    /// Lock and Election (clientv3's recipes, run in the node).
    Recipe,
    /// Cluster's member calls.
    Membership,
    /// Maintenance's MoveLeader.
    Transfer,
    /// The rest of Maintenance.
    Maintenance,
}

/// `e` as the etcd API answers it to `call`.
pub fn etcd(e: Error, call: EtcdCall) -> Status {
    etcd_status(e.into(), call)
}

/// A Cairn status (this node's, or the leader's answer to a forwarded admin call) in etcd's
/// words for `call`. Failures every path shares: no leader, and a proposal whose outcome is
/// unknown, which etcd answers UNAVAILABLE ("request timed out"): to a client
/// DEADLINE_EXCEEDED means its own deadline passed, and it would not retry.
pub fn etcd_status(s: Status, call: EtcdCall) -> Status {
    use Code::{FailedPrecondition, NotFound, Unavailable};
    let error_kind = s
        .metadata()
        .get(meta::ERROR_KIND)
        .and_then(|v| v.to_str().ok());
    let names_leader = s.metadata().get(meta::LEADER).is_some();
    let (code, message) = match (call, error_kind) {
        (_, Some(kind::NO_LEADER)) => (Unavailable, NO_LEADER.to_string()),
        // "Not the leader" with no leader to name: none is elected right now.
        (_, Some(kind::NOT_LEADER)) if !names_leader => (Unavailable, NO_LEADER.to_string()),
        (_, Some(kind::UNKNOWN_LEASE)) => (NotFound, EtcdError::LeaseNotFound.to_string()),
        (EtcdCall::Lease, Some(kind::ALREADY_EXISTS)) => {
            (FailedPrecondition, LEASE_EXISTS.to_string())
        }
        (EtcdCall::Membership, Some(kind::NOT_FOUND)) => {
            (NotFound, EtcdError::MemberNotFound.to_string())
        }
        (EtcdCall::Membership, Some(kind::LEARNER_BEHIND)) => {
            (FailedPrecondition, LEARNER_NOT_READY.to_string())
        }
        // Refusals etcd has no word for (last voter, change in progress) keep Cairn's
        // message, which says what to do.
        (EtcdCall::Membership, Some(kind::QUORUM_AT_RISK | kind::UNREACHABLE)) => {
            (FailedPrecondition, NOT_ENOUGH_STARTED.to_string())
        }
        (EtcdCall::Transfer, Some(kind::NOT_FOUND | kind::WRONG_ROLE | kind::UNREACHABLE)) => (
            FailedPrecondition,
            EtcdError::BadLeaderTransferee.to_string(),
        ),
        _ if s.code() == Code::DeadlineExceeded => (Unavailable, TIMED_OUT.to_string()),
        _ => return s,
    };
    Status::with_metadata(code, message, s.metadata().clone())
}

#[cfg(test)]
mod tests {
    use cairn_model::coord::CoordError;
    use cairn_raft::{ForwardError, NodeInfo};

    use super::*;
    use crate::error::Refusal;

    #[test]
    fn lease_rejections_use_etcds_words() {
        let s = etcd(CoordError::UnknownLease(7).into(), EtcdCall::Lease);
        assert_eq!(
            (s.code(), s.message()),
            (Code::NotFound, "etcdserver: requested lease not found")
        );
        assert!(s.metadata().get(meta::ERROR_KIND).is_some());
        let s = etcd(CoordError::LeaseExists(7).into(), EtcdCall::Lease);
        assert_eq!(
            (s.code(), s.message()),
            (Code::FailedPrecondition, LEASE_EXISTS)
        );
    }

    #[test]
    fn unknown_outcome_and_no_leader_are_unavailable() {
        let timeout = ForwardError::Timeout(std::time::Duration::from_secs(5));
        let s = etcd(timeout.into(), EtcdCall::Kv);
        assert_eq!((s.code(), s.message()), (Code::Unavailable, TIMED_OUT));
        let s = etcd(
            ForwardError::NotLeader { leader: None }.into(),
            EtcdCall::Kv,
        );
        assert_eq!((s.code(), s.message()), (Code::Unavailable, NO_LEADER));
        let s = etcd(ForwardError::NoLeader.into(), EtcdCall::Lease);
        assert_eq!((s.code(), s.message()), (Code::Unavailable, NO_LEADER));
        let leader = Some(NodeInfo {
            peer_addr: "x:2".into(),
            client_addr: "x:1".into(),
        });
        let s = etcd(ForwardError::NotLeader { leader }.into(), EtcdCall::Kv);
        assert_eq!(s.message(), "not the leader");
        assert_eq!(
            s.metadata().get(meta::LEADER).map(|v| v.as_bytes()),
            Some(&b"x:1"[..])
        );
        let s = etcd(Error::Unavailable("installing".into()), EtcdCall::Kv);
        assert_eq!((s.code(), s.message()), (Code::Unavailable, "installing"));
        let s = etcd(Error::invalid("bad"), EtcdCall::Kv);
        assert_eq!(s.code(), Code::InvalidArgument);
    }

    #[test]
    fn membership_refusals_use_etcds_words() {
        let refused = |r| etcd(Error::Membership(r), EtcdCall::Membership);
        let s = refused(Refusal::NotFound("node 9".into()));
        assert_eq!(
            (s.code(), s.message()),
            (Code::NotFound, "etcdserver: member not found")
        );
        let s = refused(Refusal::LearnerBehind("behind".into()));
        assert_eq!(s.message(), LEARNER_NOT_READY);
        let s = refused(Refusal::QuorumAtRisk("risk".into()));
        assert_eq!(s.message(), NOT_ENOUGH_STARTED);
        let s = refused(Refusal::LastVoter("last voter".into()));
        assert_eq!(s.message(), "last voter");
        let s = etcd(
            Error::Transfer(Refusal::WrongRole("x".into())),
            EtcdCall::Transfer,
        );
        assert_eq!(s.message(), "etcdserver: bad leader transferee");
        // The same refusal from a leader, as its status: worded by kind alone.
        let remote: Status = Error::Transfer(Refusal::NotFound("node 9".into())).into();
        let s = etcd_status(remote, EtcdCall::Transfer);
        assert_eq!(s.message(), "etcdserver: bad leader transferee");
    }

    #[test]
    fn etcd_input_errors_have_etcds_codes() {
        let s = etcd(EtcdError::KeyNotProvided.into(), EtcdCall::Kv);
        assert_eq!(
            (s.code(), s.message()),
            (Code::InvalidArgument, "etcdserver: key is not provided")
        );
        let s: Status = Error::from(EtcdError::LeaseTtlTooLarge).into();
        assert_eq!(
            (s.code(), s.message()),
            (Code::OutOfRange, "etcdserver: too large lease TTL")
        );
    }
}
