//! Fuzz target bodies over the server's request conversions (compiled with the `fuzzing`
//! feature; `fuzz/` runs them under libFuzzer and replays their seeds in the default tests).
//! A panic is a finding; a refusal is an answer. Each returns whether the input decoded.
//!
//! - [`forwarded_request`]: a write a follower forwards, as the peer port decodes and checks
//!   it before proposing (the node's default limits).
//! - [`etcd_request`]: an etcd KV request (protobuf, its kind picked by the first byte) as the
//!   etcd service converts it, then the checks the gateway runs on the command it becomes.

// A target reports a broken invariant by panicking: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use cairn_model::codec::{decode, encode};
use cairn_model::command::{Command, Request};
use etcd_client::proto::{PbDeleteRequest, PbPutRequest, PbRangeRequest, PbTxnRequest};
use prost::Message;

use crate::config::Limits;
use crate::etcd::kv_convert::Convert;
use crate::input::{default_limits, peer_check};

pub fn forwarded_request(data: &[u8]) -> bool {
    let Ok(request) = decode::<Request>(data) else {
        return false;
    };
    let checked = peer_check(default_limits())(&request);
    if request.command.is_internal() {
        assert!(
            checked.is_err(),
            "an internal command passed the peer check"
        );
    }
    let bytes = encode(&request).expect("a decoded request encodes");
    let again: Request = decode(&bytes).expect("an encoded request decodes");
    assert_eq!(again, request, "round trip changed the request");
    true
}

pub fn etcd_request(data: &[u8]) -> bool {
    let Some((kind, rest)) = data.split_first() else {
        return false;
    };
    let limits = Limits::default();
    let convert = Convert { limits: &limits };
    match kind % 4 {
        0 => PbRangeRequest::decode(rest).is_ok_and(|r| {
            let _ = convert.range_request(r);
            true
        }),
        1 => PbPutRequest::decode(rest).is_ok_and(|r| {
            let _ = convert.put(r);
            true
        }),
        2 => PbDeleteRequest::decode(rest).is_ok_and(|r| {
            let _ = convert.delete(r);
            true
        }),
        _ => PbTxnRequest::decode(rest).is_ok_and(|t| {
            if let Ok(txn) = convert.txn(t)
                && txn.validate().is_ok()
            {
                let _ = Command::Txn(txn).check_input(&default_limits());
            }
            true
        }),
    }
}
