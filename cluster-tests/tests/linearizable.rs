//! Recorded histories under leader kills, checked for linearizability: KV clients put unique
//! values, compare-and-set on the revision they last saw and read; workflow clients race
//! transitions with expected versions and read. Meanwhile the leader is killed with SIGKILL
//! and restarted. Every operation is recorded with invocation and return times; one without a
//! definite answer is recorded as indeterminate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_client::{Client, ClientConfig, CreateWorkflow, Definition, Error, Target};
use cairn_cluster_tests::Cluster;
use cairn_cluster_tests::linearizability::{
    KvInput, KvModel, KvOutput, Model, Operation, Verdict, WorkflowInput, WorkflowModel,
    WorkflowOutput, check,
};

type History = Shared<KvInput, KvOutput>;

/// Writes a history (in invocation order) beside the cluster's logs, which the harness keeps
/// when a test fails, and returns where.
fn dump<I: std::fmt::Debug, O: std::fmt::Debug>(
    cluster: &Cluster,
    history: &[Operation<I, O>],
) -> String {
    let mut ops: Vec<_> = history.iter().collect();
    ops.sort_by_key(|o| o.call);
    let text: String = ops.iter().map(|o| format!("{o:?}\n")).collect();
    let path = cluster.dir().join("history.txt");
    let _ = std::fs::write(&path, text);
    path.display().to_string()
}

const KEYS: [&str; 3] = ["lin/a", "lin/b", "lin/c"];

fn micros(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// One client's loop: a mix of puts, compare-and-sets and reads until `until`.
async fn worker(id: u64, client: Client, start: Instant, until: Instant, history: History) {
    let mut n = 0u64;
    let mut last_rev = [0u64; KEYS.len()];
    while Instant::now() < until {
        n += 1;
        let k = ((id + n) % KEYS.len() as u64) as usize;
        let key = KEYS[k].to_string();
        let value = format!("c{id}-{n}");
        let call = micros(start);
        let (input, result) = match n % 3 {
            0 => (
                KvInput::Put {
                    key: key.clone(),
                    value: value.clone(),
                },
                client
                    .put(key.clone(), value.clone())
                    .await
                    .map(|revision| KvOutput::Put { revision }),
            ),
            1 => (
                KvInput::PutIf {
                    key: key.clone(),
                    value: value.clone(),
                    expected: last_rev[k],
                },
                match client.put_if(key.clone(), value.clone(), last_rev[k]).await {
                    Ok(revision) => Ok(KvOutput::Put { revision }),
                    Err(Error::RevisionMismatch { current }) => Ok(KvOutput::Mismatch { current }),
                    Err(e) => Err(e),
                },
            ),
            _ => (
                KvInput::Get { key: key.clone() },
                client.get(key.clone()).await.map(|kv| {
                    KvOutput::Get(
                        kv.map(|kv| (String::from_utf8(kv.value).unwrap(), kv.mod_revision)),
                    )
                }),
            ),
        };
        let op = match result {
            Ok(output) => {
                match &output {
                    KvOutput::Put { revision } => last_rev[k] = *revision,
                    KvOutput::Mismatch { current } => last_rev[k] = *current,
                    KvOutput::Get(seen) => last_rev[k] = seen.as_ref().map_or(0, |(_, r)| *r),
                    KvOutput::Delete { .. } => {}
                }
                Operation {
                    client: id,
                    input,
                    call,
                    ret: Some(micros(start)),
                    output: Some(output),
                }
            }
            // No definite answer: it may or may not have taken effect.
            Err(_) => Operation {
                client: id,
                input,
                call,
                ret: None,
                output: None,
            },
        };
        history.lock().unwrap().push(op);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_history_under_leader_kills_is_linearizable() {
    kv_history_is_linearizable(Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_history_under_leader_pauses_is_linearizable() {
    kv_history_is_linearizable(Fault::Pause).await;
}

async fn kv_history_is_linearizable(fault: Fault) {
    let mut cluster = Cluster::start(3).await.unwrap();
    let history = record(&mut cluster, fault, worker).await;
    let answered = history.iter().filter(|op| op.ret.is_some()).count();
    assert!(answered > 100, "only {answered} operations answered");
    assert_linearizable(&cluster, &KvModel, &history, |i| i.key().to_string());
}

type Shared<I, O> = Arc<Mutex<Vec<Operation<I, O>>>>;

/// Runs `client_loop` on 6 clients for 8 s while `fault` hits the leader twice, and returns
/// everything they recorded.
async fn record<I, O, W, Fut>(
    cluster: &mut Cluster,
    fault: Fault,
    client_loop: W,
) -> Vec<Operation<I, O>>
where
    I: Send + 'static,
    O: Send + 'static,
    W: Fn(u64, Client, Instant, Instant, Shared<I, O>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let until = start + Duration::from_secs(8);
    let history: Shared<I, O> = Arc::default();
    let config = ClientConfig {
        retry_deadline: Duration::from_secs(3),
        ..ClientConfig::default()
    };
    let mut tasks = Vec::new();
    for id in 0..6 {
        let client = Client::with_config(cluster.endpoints(), config.clone()).unwrap();
        tasks.push(tokio::spawn(client_loop(
            id,
            client,
            start,
            until,
            history.clone(),
        )));
    }
    nemesis(cluster, fault, 2).await;
    for t in tasks {
        t.await.unwrap();
    }
    std::mem::take(&mut *history.lock().unwrap())
}

/// Checks `history` against `model`; on failure the history is kept beside the cluster logs.
fn assert_linearizable<M: Model>(
    cluster: &Cluster,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    key_of: impl Fn(&M::Input) -> String,
) {
    let verdict = check(model, history, key_of, Duration::from_secs(60));
    if verdict != Verdict::Ok {
        panic!("{verdict:?}; history in {}", dump(cluster, history));
    }
}

#[derive(Clone, Copy)]
enum Fault {
    /// SIGKILL the leader, restart it a second later.
    Kill,
    /// SIGSTOP the leader past an election timeout, then SIGCONT: it wakes up believing it
    /// still leads, with requests in flight.
    Pause,
}

/// Hits the leader with `fault` and undoes it, `rounds` times, while the workload runs.
async fn nemesis(cluster: &mut Cluster, fault: Fault, rounds: usize) {
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let leader = cluster.leader(Duration::from_secs(10)).await.unwrap();
        match fault {
            Fault::Kill => cluster.kill(leader),
            Fault::Pause => cluster.pause(leader, true),
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        match fault {
            Fault::Kill => cluster.spawn(leader, &[]).unwrap(),
            Fault::Pause => cluster.pause(leader, false),
        }
    }
}

type WfHistory = Shared<WorkflowInput, WorkflowOutput>;

/// Reads a workflow, then tries to flip it at the version it read.
async fn racer(id: u64, client: Client, start: Instant, until: Instant, history: WfHistory) {
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let wf = if (id + n).is_multiple_of(2) {
            "race-a"
        } else {
            "race-b"
        };
        let call = micros(start);
        let read = client.workflow(wf, false).await;
        let (status, version) = match &read {
            Ok(Some(d)) => (d.workflow.status.clone(), d.workflow.version),
            _ => {
                history.lock().unwrap().push(Operation {
                    client: id,
                    input: WorkflowInput::Read { id: wf.into() },
                    call,
                    ret: None,
                    output: None,
                });
                continue;
            }
        };
        history.lock().unwrap().push(Operation {
            client: id,
            input: WorkflowInput::Read { id: wf.into() },
            call,
            ret: Some(micros(start)),
            output: Some(WorkflowOutput::Read {
                status: status.clone(),
                version,
            }),
        });
        let to = if status == "PING" { "PONG" } else { "PING" };
        let call = micros(start);
        let result = client
            .transition(wf, Target::status(to), Some(version), "racer", "")
            .await;
        let output = WorkflowOutput::of_transition(&result);
        history.lock().unwrap().push(Operation {
            client: id,
            input: WorkflowInput::Transition {
                id: wf.into(),
                to: to.into(),
                expected: Some(version),
            },
            call,
            ret: output.as_ref().map(|_| micros(start)),
            output,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_history_under_leader_kills_is_linearizable() {
    workflow_history_is_linearizable(Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_history_under_leader_pauses_is_linearizable() {
    workflow_history_is_linearizable(Fault::Pause).await;
}

async fn workflow_history_is_linearizable(fault: Fault) {
    let mut cluster = Cluster::start(3).await.unwrap();
    let setup = Client::connect(cluster.endpoints()).unwrap();
    let def = Definition::new("pingpong", ["PING", "PONG"], "PING", Vec::<String>::new())
        .transition("PING", "PONG")
        .transition("PONG", "PING");
    setup.register_definition(&def).await.unwrap();
    for id in ["race-a", "race-b"] {
        setup
            .create_workflow(CreateWorkflow::new().id(id).definition("pingpong"))
            .await
            .unwrap();
    }
    let history = record(&mut cluster, fault, racer).await;
    let moved = history
        .iter()
        .filter(|op| matches!(op.output, Some(WorkflowOutput::Moved { .. })))
        .count();
    assert!(moved > 20, "only {moved} transitions won");
    let model = WorkflowModel::pingpong();
    assert_linearizable(&cluster, &model, &history, |i| i.id().to_string());
}
