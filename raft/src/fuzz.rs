//! Fuzz target body over everything the peer port and the peer client decode (compiled with
//! the `fuzzing` feature; `fuzz/` runs it under libFuzzer and replays its seeds in the
//! default tests). A panic (a stack overflow while decoding, an allocation from a length
//! prefix) is a finding. Returns whether the input decoded.

// A target reports a broken invariant by panicking: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use cairn_model::codec::{decode, encode};
use cairn_model::command::{Request, Response};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, StreamAppendResult, TransferLeaderRequest,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ForwardError;
use crate::types::{SnapshotMeta, TypeConfig, Vote};

/// Decodes `data` as `T`; a value that decodes encodes again, and that encoding decodes to
/// the same encoding (the codec is deterministic and loses nothing it accepted).
fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) -> bool {
    let Ok(value) = decode::<T>(data) else {
        return false;
    };
    let once = encode(&value).expect("a decoded peer message encodes");
    let again: T = decode(&once).expect("an encoded peer message decodes");
    assert_eq!(
        encode(&again).expect("encodes"),
        once,
        "round trip changed it"
    );
    true
}

/// The peer message kinds, by the first byte of a fuzz input; [`peer_message`] decodes the
/// rest as that kind.
pub const KINDS: [&str; 9] = [
    "vote",
    "append",
    "transfer_leader",
    "snapshot_header",
    "forward",
    "forward_batch",
    "forward_reply",
    "vote_reply",
    "append_reply",
];

/// `data[0]` picks a kind of [`KINDS`]; the rest is decoded as it.
pub fn peer_message(data: &[u8]) -> bool {
    let Some((kind, rest)) = data.split_first() else {
        return false;
    };
    match usize::from(*kind) % KINDS.len() {
        0 => round_trip::<VoteRequest<TypeConfig>>(rest),
        1 => round_trip::<AppendEntriesRequest<TypeConfig>>(rest),
        2 => round_trip::<TransferLeaderRequest<TypeConfig>>(rest),
        3 => round_trip::<(Vote, SnapshotMeta)>(rest),
        4 => round_trip::<Request>(rest),
        5 => round_trip::<Vec<Request>>(rest),
        6 => round_trip::<Result<Response, ForwardError>>(rest),
        7 => round_trip::<VoteResponse<TypeConfig>>(rest),
        _ => {
            // Both answer an append; either decoding counts.
            let plain = round_trip::<AppendEntriesResponse<TypeConfig>>(rest);
            round_trip::<StreamAppendResult<TypeConfig>>(rest) || plain
        }
    }
}
