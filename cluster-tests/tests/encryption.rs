//! Encryption at rest on a 3-node cluster started with `--encryption-key-file` (made by
//! `cairn keygen`): checkpoint payloads (single-entry and chunked) load back intact while no
//! file under any node's data directory, no snapshot and no backup holds a byte run of them;
//! snapshots and backups do not even hold key values (which the log and state machine do,
//! proving the scan can find plaintext). A backup restores with the key file, after a
//! rotation too, and is refused clearly without it or with a wrong key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cairn_client::{Client, CreateWorkflow, SaveOptions};
use cairn_cluster_tests::cluster::cairn_bin;
use cairn_cluster_tests::ops::ctl;
use cairn_cluster_tests::{Cluster, ClusterOptions};
use rand::RngCore;

fn keygen(file: &Path) {
    let out = Command::new(cairn_bin().unwrap())
        .arg("keygen")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The files holding `needle`.
fn holding(files: &[PathBuf], needle: &[u8]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|bytes| memchr::memmem::find(&bytes, needle).is_some())
        })
        .cloned()
        .collect()
}

fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rng().fill_bytes(&mut v);
    v
}

async fn restore(
    backup: &Path,
    dir: &Path,
    key_file: Option<&Path>,
) -> cairn_cluster_tests::ops::CtlOut {
    let mut args = vec![
        "restore".to_string(),
        backup.display().to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--id".into(),
        "1".into(),
        "--member".into(),
        "1=127.0.0.1:1/127.0.0.1:2".into(),
    ];
    if let Some(k) = key_file {
        args.push("--encryption-key-file".into());
        args.push(k.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ctl(&[], &args).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_snapshots_and_backups_hold_no_plaintext_and_restore_with_the_key() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("cluster.keys");
    keygen(&key_file);
    let opts = ClusterOptions {
        extra_args: vec![
            "--encryption-key-file".into(),
            key_file.display().to_string(),
        ],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(3, opts).await.unwrap();
    cluster.leader(Duration::from_secs(20)).await.unwrap();
    let eps = cluster.endpoints();
    let c = Client::connect(eps.clone()).unwrap();

    c.create_workflow(CreateWorkflow::new().id("wf"))
        .await
        .unwrap();
    // Random bytes do not compress: unsealed, they would be stored as they are.
    let small = random(4096);
    let large = random(1536 * 1024);
    let mut ids = Vec::new();
    for payload in [&small, &large] {
        let saved = c
            .save_checkpoint("wf", payload.clone(), SaveOptions::new())
            .await
            .unwrap();
        let (info, loaded) = c.load_checkpoint("wf", &saved.id, false).await.unwrap();
        assert_eq!(&loaded, payload, "{} loads back intact", saved.id);
        assert!(info.sealed, "{info:?}");
        ids.push(saved.id);
    }
    let marker = hex_of(&random(24));
    c.put("plain/key", marker.clone()).await.unwrap();

    let out = ctl(&eps, &["snapshot"]).await.unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let backup = cluster.dir().join("sealed.backup");
    let out = ctl(&eps, &["backup", backup.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json["encrypted_with_key"], 1, "{out:?}");

    let mut files = Vec::new();
    files_under(cluster.dir(), &mut files);
    let snapshots: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "snap"))
        .cloned()
        .collect();
    assert!(
        !snapshots.is_empty(),
        "no snapshot file under {:?}",
        cluster.dir()
    );
    // The control: key values are not encrypted in the log and state machine, and the scan
    // finds them there.
    assert!(
        !holding(&files, marker.as_bytes()).is_empty(),
        "the scan finds no plaintext at all"
    );
    let mut sealed_files = snapshots.clone();
    sealed_files.push(backup.clone());
    assert_eq!(
        holding(&sealed_files, marker.as_bytes()),
        Vec::<PathBuf>::new()
    );
    for payload in [&small, &large] {
        for at in [0, payload.len() / 2, payload.len() - 48] {
            let run = &payload[at..at + 48];
            assert_eq!(
                holding(&files, run),
                Vec::<PathBuf>::new(),
                "payload bytes at {at}"
            );
        }
    }

    // Restore: refused without the key or with a wrong one, and nothing written.
    let target = cluster.dir().join("restored");
    let out = restore(&backup, &target, None).await;
    assert_eq!(
        (out.code, out.error_kind()),
        (5, Some("encryption_key")),
        "{out:?}"
    );
    let wrong = keys.path().join("wrong.keys");
    keygen(&wrong);
    let out = restore(&backup, &target, Some(&wrong)).await;
    assert_eq!(
        (out.code, out.error_kind()),
        (5, Some("encryption_key")),
        "{out:?}"
    );
    assert!(!target.exists());
    // With the key file rotated (a new key first, the old one kept): restored.
    keygen(&key_file);
    let out = restore(&backup, &target, Some(&key_file)).await;
    assert_eq!(out.code, 0, "{out:?}");
    let mut restored = Vec::new();
    files_under(&target, &mut restored);
    assert_eq!(holding(&restored, marker.as_bytes()), Vec::<PathBuf>::new());
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
