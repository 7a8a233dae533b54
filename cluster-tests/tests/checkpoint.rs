//! Checkpoints on real 3-node clusters, through the client crate: byte-identical round trips
//! (small, 10 MiB, 200 MiB; compressible and not) read back from every node, delta chains,
//! latest / latest valid, typed errors with nothing stored, retried saves and uploads applied
//! once, and rollback within the definition (or forced) recorded in history. Deletion,
//! retention and faults are in `checkpoint_faults.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod checkpoint_support;

use std::time::Duration;

use cairn_api::v1 as pb;
use cairn_api::v1::checkpoints_client::CheckpointsClient;
use cairn_client::serde_json::{self, json};
use cairn_client::{Codec, Error, HistoryKind, SaveOptions, Target, UpdateWorkflow};
use cairn_cluster_tests::{Cluster, ClusterOptions};
use checkpoint_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_are_byte_identical_on_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-rt", "default").await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("tiny", br#"{"step":1}"#.to_vec()),
        ("json-64k", agent_state(64 * 1024, 1)),
        ("noise-64k", noise(64 * 1024, 2)),
        ("noise-one-chunk", noise(MIB, 3)),
        ("noise-one-chunk-plus-one", noise(MIB + 1, 4)),
        // Over 10 MiB (agent_state never exceeds its target): 10 whole chunks and a partial one.
        ("json-10m", agent_state(10 * MIB + MIB / 2, 5)),
        ("noise-10m", noise(10 * MIB, 6)),
    ];
    let mut saved = Vec::new();
    for (label, payload) in &cases {
        let s = c
            .save_checkpoint("wf-rt", payload.clone(), SaveOptions::new().label(*label))
            .await
            .unwrap();
        assert_eq!(s.raw_size, payload.len() as u64, "{label}");
        saved.push(s);
    }
    let ids: Vec<&str> = saved.iter().map(|s| s.id.as_str()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not ordered: {ids:?}"
    );

    let last = saved.iter().map(|s| s.revision).max().unwrap();
    for node in 1..=3 {
        cluster
            .wait_applied(node, last, Duration::from_secs(30))
            .await
            .unwrap();
    }
    for node in 1..=3 {
        let nc = client_for(&cluster, &[node]);
        for ((label, payload), s) in cases.iter().zip(&saved) {
            let (info, bytes) = nc
                .load_checkpoint_with("wf-rt", &s.id, LOCAL)
                .await
                .unwrap();
            assert_same(&format!("{label} on node {node}"), &bytes, payload);
            assert_eq!(info.label, *label);
            assert_eq!(info.raw_size, payload.len() as u64);
            assert_eq!(info.checksum, crc(payload));
        }
    }

    let info = |label: &str| {
        let i = cases.iter().position(|(l, _)| *l == label).unwrap();
        c.checkpoint("wf-rt", &saved[i].id)
    };
    // Small payloads stay raw; JSON compresses well; noise is stored raw when it fits in one
    // entry, and a chunked upload is zstd throughout (zstd stores noise nearly as is).
    assert_eq!(info("tiny").await.unwrap().unwrap().codec, Codec::Raw);
    let json_64k = info("json-64k").await.unwrap().unwrap();
    assert_eq!(json_64k.codec, Codec::Zstd);
    assert!(json_64k.compression_ratio() > 3.0, "{json_64k:?}");
    let json_10m = info("json-10m").await.unwrap().unwrap();
    assert_eq!((json_10m.codec, json_10m.chunks), (Codec::Zstd, 11));
    assert!(json_10m.compression_ratio() > 3.0, "{json_10m:?}");
    let noise_64k = info("noise-64k").await.unwrap().unwrap();
    assert_eq!(
        (noise_64k.codec, noise_64k.stored_size),
        (Codec::Raw, 64 * 1024)
    );
    let noise_10m = info("noise-10m").await.unwrap().unwrap();
    assert_eq!((noise_10m.codec, noise_10m.chunks), (Codec::Zstd, 10));
    assert!(noise_10m.compression_ratio() > 0.99);
    assert_eq!(info("noise-one-chunk").await.unwrap().unwrap().chunks, 1);
    assert_eq!(
        info("noise-one-chunk-plus-one")
            .await
            .unwrap()
            .unwrap()
            .chunks,
        2
    );

    // Listing pages through all of them, oldest first; latest is the last saved.
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = c
            .list_checkpoints("wf-rt", after.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.checkpoints.len() <= 3);
        listed.extend(page.checkpoints.into_iter().map(|i| i.id));
        match page.next_after {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(listed, ids);
    let latest = c.latest_checkpoint("wf-rt").await.unwrap().unwrap();
    assert_eq!(latest.id, *ids.last().unwrap());
    assert_eq!(latest.workflow_status, "RUNNING");
    assert_eq!(
        c.latest_valid_checkpoint("wf-rt")
            .await
            .unwrap()
            .unwrap()
            .id,
        latest.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "moves 200 MiB through a 3-node cluster: about a minute on 2 cores"]
async fn round_trip_of_200_mib_on_every_node() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-big", "default").await;
    // Half realistic JSON, half noise: both codecs' worst and best cases in one payload.
    let mut payload = agent_state(100 * MIB, 11);
    payload.truncate(100 * MIB);
    payload.extend_from_slice(&noise(100 * MIB, 12));
    let s = c
        .save_checkpoint("wf-big", payload.clone(), SaveOptions::new())
        .await
        .unwrap();
    assert_eq!(s.raw_size, 200 * MIB as u64);
    assert!(s.stored_size < s.raw_size, "{s:?}");
    for node in 1..=3 {
        cluster
            .wait_applied(node, s.revision, Duration::from_secs(120))
            .await
            .unwrap();
        let nc = client_for(&cluster, &[node]);
        let (info, bytes) = nc
            .load_checkpoint_with("wf-big", &s.id, LOCAL)
            .await
            .unwrap();
        assert_eq!(info.chunks, 200);
        assert_same(&format!("200 MiB on node {node}"), &bytes, &payload);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_chain_materializes_and_latest_valid_follows_it() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-delta", "default").await;
    assert_eq!(c.latest_checkpoint("wf-delta").await.unwrap(), None);
    assert_eq!(c.latest_valid_checkpoint("wf-delta").await.unwrap(), None);

    let base = json!({"cursor": 1, "plan": {"steps": ["a", "b"], "done": []}, "scratch": "x"});
    let base_id = c
        .save_checkpoint(
            "wf-delta",
            serde_json::to_vec(&base).unwrap(),
            SaveOptions::new(),
        )
        .await
        .unwrap()
        .id;
    let d1 = json!({"cursor": 2, "plan": {"done": ["a"]}});
    let d1_id = c
        .save_checkpoint(
            "wf-delta",
            serde_json::to_vec(&d1).unwrap(),
            SaveOptions::new().delta_of(&base_id),
        )
        .await
        .unwrap()
        .id;
    // A large patch goes through the chunked path like any other payload.
    let big_note = "n".repeat(3 * MIB);
    let d2 = json!({"cursor": 3, "scratch": null, "note": big_note});
    let d2_id = c
        .save_checkpoint(
            "wf-delta",
            serde_json::to_vec(&d2).unwrap(),
            SaveOptions::new().delta_of(&d1_id).label("d2"),
        )
        .await
        .unwrap()
        .id;

    let want = json!({"cursor": 3, "plan": {"steps": ["a", "b"], "done": ["a"]}, "note": big_note});
    for node in 1..=3 {
        let nc = client_for(&cluster, &[node]);
        let (info, full) = nc.load_checkpoint("wf-delta", &d2_id, true).await.unwrap();
        assert!(info.delta);
        assert_eq!(info.parent.as_deref(), Some(d1_id.as_str()));
        let full: serde_json::Value = serde_json::from_slice(&full).unwrap();
        assert!(full == want, "materialized state differs on node {node}");
    }
    // Without materialize, a delta loads as the patch it is.
    let (_, patch) = c.load_checkpoint("wf-delta", &d1_id, false).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&patch).unwrap(),
        d1
    );
    // Materializing a full checkpoint is the checkpoint itself.
    let (_, full) = c.load_checkpoint("wf-delta", &base_id, true).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&full).unwrap(),
        base
    );

    assert_eq!(
        c.latest_checkpoint("wf-delta").await.unwrap().unwrap().id,
        d2_id
    );
    assert_eq!(
        c.latest_valid_checkpoint("wf-delta")
            .await
            .unwrap()
            .unwrap()
            .id,
        d2_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_typed_and_nothing_is_stored() {
    let opts = ClusterOptions {
        extra_args: ["--max-checkpoint-bytes", &(3 * MIB).to_string()]
            .map(String::from)
            .to_vec(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-a", "default").await;
    running_workflow(&c, "wf-b", "default").await;
    let json_base = c
        .save_checkpoint("wf-a", br#"{"k":1}"#.to_vec(), SaveOptions::new())
        .await
        .unwrap()
        .id;
    let binary_base = c
        .save_checkpoint("wf-a", noise(4096, 1), SaveOptions::new())
        .await
        .unwrap()
        .id;
    let patch = br#"{"k":2}"#.to_vec();

    let expect = |r: Result<cairn_client::SavedCheckpoint, Error>, what: &str| match r {
        Err(e) => e,
        Ok(s) => panic!("{what}: saved {s:?}"),
    };
    for (workflow, payload) in [("nope", b"{}".to_vec()), ("nope", noise(2 * MIB, 2))] {
        let e = expect(
            c.save_checkpoint(workflow, payload, SaveOptions::new())
                .await,
            "unknown workflow",
        );
        assert!(
            matches!(e, Error::NotFound(ref m) if m.contains("nope")),
            "{e:?}"
        );
    }
    let e = expect(
        c.save_checkpoint(
            "wf-a",
            patch.clone(),
            SaveOptions::new().parent("ckpt-9999999999999999"),
        )
        .await,
        "unknown parent",
    );
    assert!(
        matches!(e, Error::InvalidArgument(ref m) if m.contains("ckpt-9999999999999999")),
        "{e:?}"
    );
    let e = expect(
        c.save_checkpoint(
            "wf-b",
            patch.clone(),
            SaveOptions::new().delta_of(&json_base),
        )
        .await,
        "parent of another workflow",
    );
    assert!(
        matches!(e, Error::InvalidArgument(ref m) if m.contains("wf-b")),
        "{e:?}"
    );
    let orphan = SaveOptions {
        delta: true,
        ..SaveOptions::new()
    };
    let e = expect(
        c.save_checkpoint("wf-a", patch.clone(), orphan).await,
        "delta without parent",
    );
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = expect(
        c.save_checkpoint(
            "wf-a",
            b"{not json".to_vec(),
            SaveOptions::new().delta_of(&json_base),
        )
        .await,
        "delta that is not JSON",
    );
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = expect(
        c.save_checkpoint(
            "wf-a",
            noise(2 * MIB, 3),
            SaveOptions::new().delta_of(&json_base),
        )
        .await,
        "chunked delta that is not JSON",
    );
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = expect(
        c.save_checkpoint(
            "wf-a",
            patch.clone(),
            SaveOptions::new().delta_of(&binary_base),
        )
        .await,
        "delta over a chain that does not materialize",
    );
    assert!(
        matches!(e, Error::FailedPrecondition(ref m) if m.contains(&binary_base)),
        "{e:?}"
    );
    let e = expect(
        c.save_checkpoint("wf-a", noise(3 * MIB + 1, 4), SaveOptions::new())
            .await,
        "over the limit",
    );
    assert!(
        matches!(e, Error::InvalidArgument(ref m) if m.contains(&(3 * MIB).to_string())),
        "{e:?}"
    );
    let e = expect(
        c.save_checkpoint("a b", b"{}".to_vec(), SaveOptions::new())
            .await,
        "invalid id",
    );
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = expect(
        c.save_checkpoint(
            "wf-a",
            b"{}".to_vec(),
            SaveOptions::new().metadata(json!(["not", "an", "object"])),
        )
        .await,
        "metadata not an object",
    );
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");

    // Nothing but the two good ones was stored, anywhere.
    let ids: Vec<String> = c
        .list_all_checkpoints("wf-a")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [json_base.clone(), binary_base]);
    assert!(c.list_all_checkpoints("wf-b").await.unwrap().is_empty());
    assert!(matches!(
        c.list_all_checkpoints("nope").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        c.load_checkpoint("wf-a", "ckpt-0000000000000001", false)
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        c.checkpoint("wf-a", "ckpt-0000000000000001").await.unwrap(),
        None
    );
}

/// One logical save sent twice with the same idempotency header, as a client retry would:
/// unary and streamed, the second answer is the first, and one checkpoint exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_save_and_upload_are_applied_once() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-retry", "default").await;
    let fields = pb::CheckpointFields {
        workflow_id: "wf-retry".into(),
        ..Default::default()
    };
    let header = |sequence| pb::RequestHeader {
        client_id: "retry-test-client".into(),
        sequence,
        first_incomplete: 0,
    };
    let small = agent_state(10_000, 1);
    let big = agent_state(5 * MIB, 2);
    let mut answers = Vec::new();
    // Through different nodes, as a client failing over would.
    for node in [1u64, 2] {
        let addr = format!("http://{}", cluster.node(node).client_addr);
        let mut rpc = CheckpointsClient::connect(addr).await.unwrap();
        let unary = rpc
            .save(pb::SaveCheckpointRequest {
                header: Some(header(1)),
                fields: Some(fields.clone()),
                payload: small.clone(),
                fence: None,
            })
            .await
            .unwrap()
            .into_inner();
        let start = pb::UploadCheckpointRequest {
            part: Some(pb::upload_checkpoint_request::Part::Start(
                pb::UploadCheckpointStart {
                    header: Some(header(2)),
                    fields: Some(fields.clone()),
                    total_size: big.len() as u64,
                    fence: None,
                },
            )),
        };
        // Odd-sized pieces: the node re-chunks whatever it receives.
        let pieces = big.chunks(700_000).map(|p| pb::UploadCheckpointRequest {
            part: Some(pb::upload_checkpoint_request::Part::Data(p.to_vec())),
        });
        let messages: Vec<_> = std::iter::once(start).chain(pieces).collect();
        let streamed = rpc
            .upload(tonic::codegen::tokio_stream::iter(messages))
            .await
            .unwrap()
            .into_inner();
        answers.push((unary, streamed));
    }
    assert_eq!(answers[0], answers[1]);
    let all = c.list_all_checkpoints("wf-retry").await.unwrap();
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, [answers[0].0.id.as_str(), answers[0].1.id.as_str()]);
    let (_, bytes) = c
        .load_checkpoint("wf-retry", &answers[0].1.id, false)
        .await
        .unwrap();
    assert_same("retried upload", &bytes, &big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_follows_the_definition_unless_forced() {
    let cluster = Cluster::start(3).await.unwrap();
    let c = client_for(&cluster, &[1, 2, 3]);
    running_workflow(&c, "wf-rb", "default").await;
    c.update_workflow(
        "wf-rb",
        UpdateWorkflow::new().metadata_patch(json!({"step": 1})),
    )
    .await
    .unwrap();
    let at_running = c
        .save_checkpoint("wf-rb", br#"{"s":1}"#.to_vec(), SaveOptions::new())
        .await
        .unwrap()
        .id;
    c.update_workflow(
        "wf-rb",
        UpdateWorkflow::new().metadata_patch(json!({"step": 2})),
    )
    .await
    .unwrap();
    let paused = c.pause_workflow("wf-rb").await.unwrap();

    // PAUSED -> RUNNING is legal: no force needed. A stale expected version is refused.
    assert!(matches!(
        c.rollback_workflow("wf-rb", &at_running, Some(paused.version - 1), false, "ops", "")
            .await,
        Err(Error::VersionConflict { current }) if current == paused.version
    ));
    let rolled = c
        .rollback_workflow(
            "wf-rb",
            &at_running,
            Some(paused.version),
            false,
            "ops",
            "resume",
        )
        .await
        .unwrap();
    assert_eq!(rolled.status, "RUNNING");
    assert_eq!(rolled.version, paused.version + 1);
    let wf = c.workflow("wf-rb", false).await.unwrap().unwrap().workflow;
    assert_eq!(wf.metadata, json!({"attempt": 1, "step": 1}));

    // From a terminal status nothing is legal, unless forced.
    let done = c
        .transition("wf-rb", Target::event("finish"), None, "test", "")
        .await
        .unwrap();
    match c
        .rollback_workflow("wf-rb", &at_running, None, false, "ops", "")
        .await
    {
        Err(Error::IllegalTransition {
            current, allowed, ..
        }) => {
            assert_eq!(current, "COMPLETED");
            assert!(allowed.is_empty(), "{allowed:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.workflow("wf-rb", false)
            .await
            .unwrap()
            .unwrap()
            .workflow
            .version,
        done.version,
        "a refused rollback changed the workflow"
    );
    let forced = c
        .rollback_workflow("wf-rb", &at_running, None, true, "ops", "redo")
        .await
        .unwrap();
    assert_eq!(
        (forced.status.as_str(), forced.version),
        ("RUNNING", done.version + 1)
    );

    let history = c.history_all("wf-rb").await.unwrap();
    let rollbacks: Vec<_> = history
        .iter()
        .filter(|e| e.kind == HistoryKind::Rollback)
        .collect();
    assert_eq!(rollbacks.len(), 2, "{history:?}");
    let last = rollbacks[1];
    assert_eq!(
        (last.from.as_str(), last.to.as_str()),
        ("COMPLETED", "RUNNING")
    );
    assert_eq!(last.event.as_deref(), Some(at_running.as_str()));
    assert_eq!((last.actor.as_str(), last.reason.as_str()), ("ops", "redo"));
    assert!(history.windows(2).all(|w| w[1].version == w[0].version + 1));

    assert!(matches!(
        c.rollback_workflow("wf-rb", "ckpt-0000000000000001", None, true, "ops", "")
            .await,
        Err(Error::NotFound(_))
    ));
}

fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
