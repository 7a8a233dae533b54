//! Status mapping of input refusals (a module of `status`): the same code, kind and message
//! whether this node's gateway refused the input or the leader refused it after forwarding,
//! and the same as the services' own checks give for the field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_api::meta::{self, kind};
use cairn_model::InputError;
use cairn_model::coord::CoordError;
use cairn_model::txn::KvError;
use cairn_model::workflow::WorkflowError;
use cairn_model::workflow::limits::LimitError;
use cairn_raft::ForwardError;
use tonic::{Code, Status};

use crate::error::Error;

fn kind_of(s: &Status) -> Option<&str> {
    s.metadata()
        .get(meta::ERROR_KIND)
        .map(|v| v.to_str().unwrap())
}

fn local(e: InputError) -> Status {
    Error::from(e).into()
}

fn forwarded(e: InputError) -> Status {
    Error::Forward(ForwardError::Refused(e)).into()
}

#[test]
fn refusals_map_alike_here_and_on_the_leader() {
    let cases = [
        (
            InputError::TooLarge {
                field: "value".into(),
                size: 17,
                limit: 16,
            },
            Code::InvalidArgument,
            Some(kind::INVALID_ARGUMENT),
        ),
        (
            InputError::InvalidId {
                field: "id".into(),
                value: "a b".into(),
            },
            Code::InvalidArgument,
            Some(kind::INVALID_ID),
        ),
        (
            InputError::Empty {
                field: "key".into(),
            },
            Code::InvalidArgument,
            Some(kind::INVALID_ARGUMENT),
        ),
        (
            InputError::Workflow(WorkflowError::Limit(LimitError::TooManyLabels {
                count: 3,
                limit: 2,
            })),
            Code::InvalidArgument,
            Some(kind::LIMIT),
        ),
        (
            InputError::Coord(CoordError::InvalidTtl {
                ttl_ms: 1,
                min_ms: 1000,
                max_ms: 2000,
            }),
            Code::InvalidArgument,
            Some(kind::INVALID_ARGUMENT),
        ),
        // etcd's transaction errors carry etcd's message and no kind, as from the machine.
        (
            InputError::Kv(KvError::EmptyKey),
            Code::InvalidArgument,
            None,
        ),
    ];
    for (e, code, k) in cases {
        let here = local(e.clone());
        let there = forwarded(e.clone());
        assert_eq!((here.code(), kind_of(&here)), (code, k), "{e}");
        assert_eq!((there.code(), kind_of(&there)), (code, k), "{e}");
        assert_eq!(here.message(), there.message(), "{e}");
    }
}

#[test]
fn refusals_read_as_the_services_own_checks() {
    // kv.rs refused an oversized value with `status::too_large("value", ..)` before the
    // check moved into the model: the same status now, from either place.
    let before = super::too_large("value", 17, 16);
    let now = forwarded(InputError::TooLarge {
        field: "value".into(),
        size: 17,
        limit: 16,
    });
    assert_eq!(
        (now.code(), now.message(), kind_of(&now)),
        (before.code(), before.message(), kind_of(&before))
    );
    let before = super::invalid("key must not be empty");
    let now = local(InputError::Empty {
        field: "key".into(),
    });
    assert_eq!(now.message(), before.message());
}

#[test]
fn an_internal_command_is_a_bug_here_and_not_allowed_from_a_peer() {
    let e = InputError::Internal {
        command: "coord.renew_leases".into(),
    };
    let here = local(e.clone());
    assert_eq!(here.code(), Code::Internal);
    let there = forwarded(e);
    assert_eq!(there.code(), Code::PermissionDenied);
    assert_eq!(kind_of(&there), Some(kind::INTERNAL_COMMAND));
    assert!(
        there.message().contains("coord.renew_leases"),
        "{}",
        there.message()
    );
}
