//! The checkpoint workload: a couple of clients save small checkpoints, each with a unique
//! label and payload, to a few workflows at a low rate (it must not starve the other
//! workloads on 2 cores), and now and then load back one whose save was acknowledged. After
//! healing, every checkpoint of those workflows is listed and loaded back for the checker,
//! and each voter's own listing is compared with the cluster's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_api::v1::ListCheckpointsRequest;
use cairn_api::v1::checkpoints_client::CheckpointsClient;
use cairn_client::{Client, CreateWorkflow, Error, SaveOptions};

use super::check::Anomaly;
use super::check::checkpoint::Stored;
use super::history::{CheckpointLoad, CheckpointSave, Outcome, Recorder};
use super::rng::Rng;
use super::roster::RosterClient;
use super::settle::local_views;
use super::workload::definite;
use crate::{Cluster, Deadline, wait_until};

/// The workflows checkpoints are saved to (created at setup, never moved).
pub const WORKFLOWS: [&str; 3] = ["chaos-ckpt-a", "chaos-ckpt-b", "chaos-ckpt-c"];
/// The pause between two operations of one client.
const PACE: Duration = Duration::from_millis(300);

/// Creates [`WORKFLOWS`] (with `definition`, registered already).
pub async fn create_workflows(client: &Client, definition: &str) -> anyhow::Result<()> {
    for wf in WORKFLOWS {
        let new = CreateWorkflow::new().id(wf).definition(definition);
        match client.create_workflow(new).await {
            Ok(_) | Err(Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Save `n` of client `id`: a small JSON document naming its save, padded to 64..1024
/// bytes with filler derived from both, so no two payloads are alike.
pub fn payload(id: u64, n: u64) -> Vec<u8> {
    let mut rng = Rng::new((id << 32) ^ n);
    let len = 64 + rng.below(960) as usize;
    let mut doc = format!("{{\"client\":{id},\"save\":{n},\"state\":\"");
    while doc.len() < len {
        doc.push_str(&format!("{:016x}", rng.next_u64()));
    }
    doc.push_str("\"}");
    doc.into_bytes()
}

/// Saves (two operations in three) and loads back the last acknowledged save (the third)
/// until `stop`.
pub async fn worker(id: u64, mut clients: RosterClient, rec: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    let mut last_acked: Option<(String, String)> = None;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let client = clients.get();
        match &last_acked {
            Some((wf, ckpt)) if n.is_multiple_of(3) => load(id, &client, &rec, wf, ckpt).await,
            _ => {
                let wf = WORKFLOWS[((id + n) % WORKFLOWS.len() as u64) as usize];
                if let Some(ckpt) = save(id, n, &client, &rec, wf).await {
                    last_acked = Some((wf.to_string(), ckpt));
                }
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// One recorded save; returns the checkpoint id when acknowledged.
async fn save(id: u64, n: u64, client: &Client, rec: &Recorder, wf: &str) -> Option<String> {
    let label = format!("c{id}-{n}");
    let payload = payload(id, n);
    let op = format!("save {wf} {label} ({} bytes)", payload.len());
    let call = rec.invoke(id, "checkpoint", &op);
    let result = client
        .save_checkpoint(
            wf,
            payload.clone(),
            SaveOptions::new().label(label.as_str()),
        )
        .await;
    let (outcome, saved, ret) = match result {
        Ok(s) => {
            let ret = rec.complete(id, "checkpoint", Outcome::Ok, &s);
            (Outcome::Ok, Some((s.id, s.revision)), Some(ret))
        }
        Err(e) => {
            let outcome = if definite(&e) {
                Outcome::Fail
            } else {
                Outcome::Indeterminate
            };
            let ret = rec.complete(id, "checkpoint", outcome, &e);
            (outcome, None, (outcome == Outcome::Fail).then_some(ret))
        }
    };
    let acked = saved.as_ref().map(|(ckpt, _)| ckpt.clone());
    lock(&rec.checkpoint_saves).push(CheckpointSave {
        client: id,
        workflow: wf.to_string(),
        label,
        payload,
        call,
        ret,
        outcome,
        saved,
    });
    acked
}

/// One recorded linearizable load of checkpoint `ckpt` of `wf`.
async fn load(id: u64, client: &Client, rec: &Recorder, wf: &str, ckpt: &str) {
    let call = rec.invoke(id, "checkpoint", &format!("load {wf}/{ckpt}"));
    let found = match client.load_checkpoint(wf, ckpt, false).await {
        Ok((_, bytes)) => {
            rec.complete(
                id,
                "checkpoint",
                Outcome::Ok,
                &format!("{} bytes", bytes.len()),
            );
            Ok(bytes)
        }
        Err(e @ (Error::NotFound(_) | Error::DataLoss(_))) => {
            rec.complete(id, "checkpoint", Outcome::Ok, &e);
            Err(e.to_string())
        }
        Err(e) => {
            rec.complete(id, "checkpoint", Outcome::Indeterminate, &e);
            return;
        }
    };
    lock(&rec.checkpoint_loads).push(CheckpointLoad {
        client: id,
        workflow: wf.to_string(),
        id: ckpt.to_string(),
        call,
        found,
    });
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// After healing: every checkpoint of [`WORKFLOWS`], listed and loaded back through the
/// cluster (linearizable reads).
pub async fn read_back(client: &Client, anomalies: &mut Vec<Anomaly>) -> Vec<Stored> {
    let mut stored = Vec::new();
    for wf in WORKFLOWS {
        let listed = wait_until(Duration::from_secs(30), "a checkpoint listing", || async {
            client.list_all_checkpoints(wf).await.ok()
        })
        .await;
        let infos = match listed {
            Ok(infos) => infos,
            Err(e) => {
                anomalies.push(Anomaly::new("liveness", format!("{wf}: {e}")));
                continue;
            }
        };
        for info in infos {
            let payload = load_back(client, wf, &info.id).await;
            stored.push(Stored {
                workflow: wf.to_string(),
                id: info.id,
                revision: info.revision,
                label: info.label,
                raw_size: info.raw_size,
                checksum: info.checksum,
                payload,
            });
        }
    }
    stored
}

/// A checkpoint's payload, retried through transient errors for up to 10 s.
async fn load_back(client: &Client, wf: &str, id: &str) -> Result<Vec<u8>, String> {
    let deadline = Deadline::after(Duration::from_secs(10));
    loop {
        match client.load_checkpoint(wf, id, false).await {
            Ok((_, bytes)) => return Ok(bytes),
            Err(e @ (Error::NotFound(_) | Error::DataLoss(_))) => return Err(e.to_string()),
            Err(e) if deadline.passed() => return Err(format!("no answer within 10 s: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Each voter, once it has applied every stored checkpoint, lists the same checkpoints from
/// its own state (serializable listings) as the cluster did.
pub async fn compare_replicas(
    cluster: &Cluster,
    voters: &[u64],
    stored: &[Stored],
    anomalies: &mut Vec<Anomaly>,
) {
    let target = stored.iter().map(|s| s.revision).max().unwrap_or(0);
    let want: Vec<(String, String, u64, u32, u64)> = stored.iter().map(summary).collect();
    let views = local_views(
        cluster,
        voters,
        target,
        "a serializable listing",
        local_listing,
    )
    .await;
    for (id, local) in views {
        match local {
            Ok(local) => {
                let got: Vec<_> = local.iter().map(summary).collect();
                if got != want {
                    let differ: Vec<_> = got
                        .iter()
                        .zip(&want)
                        .filter(|(a, b)| a != b)
                        .take(3)
                        .collect();
                    anomalies.push(Anomaly::new(
                        "replica-divergence",
                        format!(
                            "node {id} lists {} checkpoints, the cluster {}: {differ:?}",
                            got.len(),
                            want.len()
                        ),
                    ));
                }
            }
            Err(e) => anomalies.push(Anomaly::new("convergence", format!("node {id}: {e:#}"))),
        }
    }
}

/// What a listing says of a checkpoint: (workflow, id, revision, checksum, raw size).
fn summary(s: &Stored) -> (String, String, u64, u32, u64) {
    (
        s.workflow.clone(),
        s.id.clone(),
        s.revision,
        s.checksum,
        s.raw_size,
    )
}

/// Node `addr`'s own listing of [`WORKFLOWS`] (serializable: no read index, no forwarding),
/// without payloads.
async fn local_listing(addr: String) -> Option<Vec<Stored>> {
    let mut c = CheckpointsClient::connect(format!("http://{addr}"))
        .await
        .ok()?;
    let mut out = Vec::new();
    for wf in WORKFLOWS {
        let mut after = String::new();
        loop {
            let page = c
                .list(ListCheckpointsRequest {
                    workflow_id: wf.to_string(),
                    after: after.clone(),
                    limit: 1000,
                    serializable: true,
                })
                .await
                .ok()?
                .into_inner();
            out.extend(page.checkpoints.into_iter().map(|p| Stored {
                workflow: p.workflow_id,
                id: p.id,
                revision: p.revision,
                label: p.label,
                raw_size: p.raw_size,
                checksum: p.checksum,
                payload: Ok(Vec::new()),
            }));
            match page.next_after {
                Some(next) => after = next,
                None => break,
            }
        }
    }
    Some(out)
}
