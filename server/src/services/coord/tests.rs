//! Input checks of the coordination services: every bad input is a typed status before
//! anything is proposed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use cairn_api::meta::{self, kind};
use cairn_api::v1 as pb;
use cairn_model::coord::{Fence, LeaseChoice};
use tonic::{Code, Status};

use super::*;
use crate::coord_config::CoordConfig;

fn kind_of(s: &Status) -> &str {
    s.metadata()
        .get(meta::ERROR_KIND)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[test]
fn ttl_bounds_are_the_nodes() {
    let c = CoordConfig::default();
    assert!(check_ttl(&c, 1000).is_ok());
    assert!(check_ttl(&c, 3_600_000).is_ok());
    for bad in [0, 999, 3_600_001, u64::MAX] {
        let s = check_ttl(&c, bad).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{bad}");
        assert_eq!(kind_of(&s), kind::INVALID_ARGUMENT);
        assert!(
            s.message().contains("out of range [1000, 3600000]"),
            "{}",
            s.message()
        );
    }
}

#[test]
fn lease_choice_needs_a_positive_id_or_a_ttl_in_range() {
    let c = CoordConfig::default();
    assert_eq!(
        lease_choice(&c, Some(7), None).unwrap(),
        LeaseChoice::Existing(7)
    );
    assert_eq!(
        lease_choice(&c, None, Some(5000)).unwrap(),
        LeaseChoice::New { ttl_ms: 5000 }
    );
    for (id, ttl) in [(Some(0), None), (None, None), (None, Some(0))] {
        let s = lease_choice(&c, id, ttl).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{id:?} {ttl:?}");
    }
}

#[test]
fn wait_timeout_is_bounded() {
    let c = CoordConfig {
        max_wait: Duration::from_secs(10),
        ..Default::default()
    };
    assert_eq!(check_wait(&c, 0).unwrap(), Duration::ZERO);
    assert_eq!(check_wait(&c, 10_000).unwrap(), Duration::from_secs(10));
    let s = check_wait(&c, 10_001).unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("maximum 10000"), "{}", s.message());
}

#[test]
fn names_owners_and_values_are_checked() {
    assert!(check_name("jobs/a-1").is_ok());
    for bad in ["", "has space", &"x".repeat(300)] {
        let s = check_name(bad).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
    }
    assert!(check_owner("host-1/pid-7").is_ok());
    assert_eq!(check_owner("").unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(
        check_owner(&"o".repeat(257)).unwrap_err().code(),
        Code::InvalidArgument
    );
    assert!(check_value(&[0; 1024]).is_ok());
    assert_eq!(
        check_value(&vec![0; MAX_VALUE_BYTES + 1])
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}

#[test]
fn fences_convert_and_token_zero_is_refused() {
    use pb::fence::Target;
    assert_eq!(fence(None).unwrap(), None);
    assert_eq!(
        fence(Some(pb::Fence {
            target: Some(Target::Lock("res".into())),
            token: 9,
        }))
        .unwrap(),
        Some(Fence::Lock {
            name: "res".into(),
            token: 9
        })
    );
    assert_eq!(
        fence(Some(pb::Fence {
            target: Some(Target::Election("coord".into())),
            token: 4,
        }))
        .unwrap(),
        Some(Fence::Election {
            name: "coord".into(),
            term: 4
        })
    );
    for bad in [
        pb::Fence {
            target: Some(Target::Lock("res".into())),
            token: 0,
        },
        pb::Fence {
            target: None,
            token: 3,
        },
        pb::Fence {
            target: Some(Target::Election("bad name".into())),
            token: 3,
        },
    ] {
        assert_eq!(
            fence(Some(bad.clone())).unwrap_err().code(),
            Code::InvalidArgument,
            "{bad:?}"
        );
    }
}

#[test]
fn wait_timeout_is_deadline_exceeded_with_its_kind() {
    let s = waiter::wait_timeout();
    assert_eq!(s.code(), Code::DeadlineExceeded);
    assert_eq!(kind_of(&s), kind::WAIT_TIMEOUT);
}
