//! Valid inputs for each target: the fuzzer mutates from these, so every decoder starts past
//! its first byte. Built from the real types on every run, so they follow format changes.

use cairn_model::codec::encode;
use cairn_model::command::{Request, Response};
use cairn_model::workflow::definition::Definition;
use cairn_raft::types::{Entry, TypeConfig, Vote};
use etcd_client::proto::{
    PbCompare, PbDeleteRequest, PbPutRequest, PbRangeRequest, PbTxnOpRequest as R, PbTxnRequest,
    PbTxnRequestOp,
};
use openraft::EntryPayload;
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::testing::log_id;
use prost::Message;

/// The seeds of the target named `name` (none for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "forwarded_request" => requests().iter().map(encoded).collect(),
        "etcd_request" => etcd(),
        "peer_message" => peer(),
        "definition" => definitions(),
        "merge_patch" => vec![
            br#"{"a":{"b":1,"c":[1,2]},"d":"e"}"#
                .iter()
                .chain([0xff].iter())
                .chain(br#"{"a":{"b":null,"x":{"y":true}},"d":null}"#.iter())
                .copied()
                .collect(),
        ],
        "wal" => vec![cairn_storage::fuzz::wal_seed()],
        "snapshot" => vec![cairn_storage::fuzz::snapshot_seed()],
        "apply" => vec![cairn_storage::fuzz::apply_seed()],
        _ => Vec::new(),
    }
}

fn encoded<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    encode(value).expect("seeds encode")
}

/// The requests of the apply seed, one by one.
fn requests() -> Vec<Request> {
    let all = cairn_storage::fuzz::apply_seed();
    let mut rest = all.as_slice();
    let mut out = Vec::new();
    while let Ok((r, tail)) = postcard::take_from_bytes::<Request>(rest) {
        out.push(r);
        rest = tail;
    }
    out
}

fn with_kind(kind: u8, body: Vec<u8>) -> Vec<u8> {
    std::iter::once(kind).chain(body).collect()
}

fn etcd() -> Vec<Vec<u8>> {
    let put = PbPutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        prev_kv: true,
        ..Default::default()
    };
    let range = PbRangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        limit: 10,
        sort_order: 1,
        ..Default::default()
    };
    let delete = PbDeleteRequest {
        key: b"k".to_vec(),
        range_end: b"l".to_vec(),
        ..Default::default()
    };
    let inner = PbTxnRequest {
        compare: vec![],
        success: vec![PbTxnRequestOp {
            request: Some(R::RequestRange(range.clone())),
        }],
        failure: vec![],
    };
    let txn = PbTxnRequest {
        compare: vec![PbCompare {
            key: b"k".to_vec(),
            result: 0,
            target: 0,
            ..Default::default()
        }],
        success: vec![
            PbTxnRequestOp {
                request: Some(R::RequestPut(put.clone())),
            },
            PbTxnRequestOp {
                request: Some(R::RequestTxn(inner)),
            },
        ],
        failure: vec![PbTxnRequestOp {
            request: Some(R::RequestDeleteRange(delete.clone())),
        }],
    };
    vec![
        with_kind(0, range.encode_to_vec()),
        with_kind(1, put.encode_to_vec()),
        with_kind(2, delete.encode_to_vec()),
        with_kind(3, txn.encode_to_vec()),
    ]
}

fn peer() -> Vec<Vec<u8>> {
    let vote = Vote::new(3, 1);
    let entries: Vec<Entry> = requests()
        .into_iter()
        .enumerate()
        .map(|(i, r)| Entry {
            log_id: log_id::<TypeConfig>(3, 1, i as u64 + 5),
            payload: EntryPayload::Normal(r),
        })
        .collect();
    let append = AppendEntriesRequest::<TypeConfig> {
        vote,
        prev_log_id: Some(log_id::<TypeConfig>(2, 1, 4)),
        entries,
        leader_commit: Some(log_id::<TypeConfig>(2, 1, 3)),
    };
    let vote_request = VoteRequest::<TypeConfig>::new(vote, Some(log_id::<TypeConfig>(2, 1, 4)));
    let forwarded = requests();
    let reply: Result<Response, cairn_raft::ForwardError> = Ok(Response::Put { revision: 7 });
    vec![
        with_kind(0, encoded(&vote_request)),
        with_kind(1, encoded(&append)),
        with_kind(4, encoded(&forwarded[0])),
        with_kind(5, encoded(&forwarded)),
        with_kind(6, encoded(&reply)),
    ]
}

fn definitions() -> Vec<Vec<u8>> {
    let review = Definition::new("review", ["draft", "review", "done"], "draft", ["done"])
        .transition_on("draft", "review", "submit")
        .transition("review", "draft")
        .transition_on("review", "done", "approve");
    [Definition::default_definition(), review]
        .iter()
        .map(|d| serde_json::to_vec(d).expect("definitions encode"))
        .collect()
}
