//! Our v3lock/v3election protos against etcd-client's compiled copies of etcd's: a message
//! encoded with one decodes with the other to the same fields, so the packages, field numbers
//! and types agree on the wire.

#![cfg(feature = "etcd")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_api::etcd::etcd_client::proto::{
    PbCampaignResponse, PbKeyValue, PbLeaderKey, PbLeaderResponse, PbLockResponse, PbResponseHeader,
};
use cairn_api::etcd::{v3electionpb as election, v3lockpb as lock};
use prost::Message;

fn header() -> PbResponseHeader {
    PbResponseHeader {
        cluster_id: 0xfeed,
        member_id: 3,
        revision: 42,
        raft_term: 7,
    }
}

fn leader_key() -> election::LeaderKey {
    election::LeaderKey {
        name: b"jobs".to_vec(),
        key: b"jobs/694d".to_vec(),
        rev: 40,
        lease: 0x694d,
    }
}

#[test]
fn lock_response_matches_etcd() {
    let ours = lock::LockResponse {
        header: Some(header()),
        key: b"locks/a/694d".to_vec(),
    };
    let theirs = PbLockResponse::decode(ours.encode_to_vec().as_slice()).unwrap();
    assert_eq!(theirs.header, Some(header()));
    assert_eq!(theirs.key, ours.key);
}

#[test]
fn campaign_and_leader_responses_match_etcd() {
    let ours = election::CampaignResponse {
        header: Some(header()),
        leader: Some(leader_key()),
    };
    let theirs = PbCampaignResponse::decode(ours.encode_to_vec().as_slice()).unwrap();
    let k = theirs.leader.unwrap();
    let expected = leader_key();
    assert_eq!(
        (k.name, k.key, k.rev, k.lease),
        (expected.name, expected.key, expected.rev, expected.lease)
    );

    let kv = PbKeyValue {
        key: b"jobs/694d".to_vec(),
        create_revision: 40,
        mod_revision: 41,
        version: 2,
        value: b"node-1".to_vec(),
        lease: 0x694d,
    };
    let ours = election::LeaderResponse {
        header: Some(header()),
        kv: Some(kv.clone()),
    };
    let theirs = PbLeaderResponse::decode(ours.encode_to_vec().as_slice()).unwrap();
    assert_eq!(theirs.kv, Some(kv));
}

#[test]
fn etcd_leader_key_decodes_as_ours() {
    let theirs = PbLeaderKey {
        name: b"jobs".to_vec(),
        key: b"jobs/694d".to_vec(),
        rev: 40,
        lease: 0x694d,
    };
    let ours = election::LeaderKey::decode(theirs.encode_to_vec().as_slice()).unwrap();
    assert_eq!(ours, leader_key());
}
