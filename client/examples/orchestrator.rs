//! A small orchestrator loop on a running cluster (`cairn up` starts one locally): create a
//! workflow, give it tasks with dependencies (a -> b, c -> d), start it, run whatever is
//! ready until every task completed (pausing and resuming once on the way, and showing the
//! typed error an illegal transition gets), finish it, and print its history.
//!
//! Usage: `CAIRN_ENDPOINTS=host:port,... cargo run -p cairn-client --example orchestrator`

use std::time::{SystemTime, UNIX_EPOCH};

use cairn_client::serde_json::json;
use cairn_client::{
    Client, CreateWorkflow, Error, HistoryEvent, Target, TaskFilter, TaskSpec, TaskStatus,
};

/// What `cairn up` serves on.
const DEFAULT_ENDPOINTS: &str = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";
const ACTOR: &str = "orchestrator-example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = std::env::var("CAIRN_ENDPOINTS").unwrap_or_else(|_| DEFAULT_ENDPOINTS.into());
    let client = Client::connect(
        endpoints
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty()),
    )?;

    let millis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let id = format!("example-{millis}");
    let created = client
        .create_workflow(
            CreateWorkflow::new()
                .id(&id)
                .metadata(json!({"pipeline": "etl", "source": "s3://bucket/day"}))
                .label("team", "data")
                .owner_id("runtime-1")
                .routing_strategy("round_robin")
                .max_concurrent(2)
                .total_tasks(4)
                .actor(ACTOR),
        )
        .await?;
    println!(
        "created {} ({}, version {})",
        id, created.workflow.status, created.workflow.version
    );

    // a -> b, c -> d: b and c wait for a; d waits for both. One atomic write.
    let tasks = [
        TaskSpec::new("a").name("extract").kind("io"),
        TaskSpec::new("b").name("transform-left").depends_on(["a"]),
        TaskSpec::new("c").name("transform-right").depends_on(["a"]),
        TaskSpec::new("d")
            .name("load")
            .kind("io")
            .depends_on(["b", "c"]),
    ];
    let upserted = client
        .upsert_tasks(&id, tasks.map(|t| t.input(json!({"attempt": 1}))))
        .await?;
    println!("{} tasks created", upserted.tasks.len());

    let mut wf = client
        .transition(
            &id,
            Target::event("start"),
            Some(created.workflow.version),
            ACTOR,
            "tasks ready",
        )
        .await?;
    println!("started: {} (version {})", wf.status, wf.version);

    let mut paused_once = false;
    loop {
        let ready = client.ready_tasks(&id).await?;
        if ready.is_empty() {
            let open = client
                .tasks(
                    &id,
                    &TaskFilter::default()
                        .status(TaskStatus::Pending)
                        .status(TaskStatus::Running),
                )
                .await?;
            if open.is_empty() {
                break;
            }
            return Err(format!("stuck: {} open tasks but none ready", open.len()).into());
        }
        let names: Vec<&str> = ready.iter().map(|t| t.id.as_str()).collect();
        println!("ready: {names:?}");
        // Start every ready task in one write; the cluster refuses (and changes nothing) if any
        // dependency had not completed.
        client
            .upsert_tasks(
                &id,
                ready.iter().map(|t| {
                    TaskSpec::new(&t.id)
                        .status(TaskStatus::Running)
                        .agent_id(format!("agent-{}", t.id))
                        .expected_version(t.version)
                }),
            )
            .await?;
        for t in &ready {
            client
                .upsert_tasks(
                    &id,
                    [TaskSpec::new(&t.id)
                        .status(TaskStatus::Completed)
                        .output(json!({"rows": 100 * (t.id.len() + t.name.len())}))],
                )
                .await?;
            println!("  {} ({}) completed", t.id, t.name);
        }

        if !paused_once {
            paused_once = true;
            let paused = client.pause_workflow(&id).await?;
            println!("paused: {} (version {})", paused.status, paused.version);
            // Finishing a paused workflow is not a legal edge: the error names the legal ones.
            match client
                .transition(&id, Target::event("finish"), None, ACTOR, "too early")
                .await
            {
                Err(Error::IllegalTransition {
                    current, allowed, ..
                }) => {
                    println!("  finish refused while {current}; legal targets: {allowed:?}")
                }
                other => {
                    return Err(format!("expected an illegal transition, got {other:?}").into());
                }
            }
            wf = client.resume_workflow(&id).await?;
            println!("resumed: {} (version {})", wf.status, wf.version);
        }
    }

    wf = client
        .transition(
            &id,
            Target::event("finish"),
            Some(wf.version),
            ACTOR,
            "all tasks completed",
        )
        .await?;
    println!("finished: {} (version {})", wf.status, wf.version);

    if let Some(details) = client.workflow(&id, false).await? {
        let p = details.progress;
        println!(
            "progress: {}/{} completed, {} failed, success rate {}, duration {} ms",
            p.completed,
            p.total,
            p.failed,
            p.success_rate
                .map_or("n/a".to_string(), |r| format!("{:.0}%", r * 100.0)),
            p.duration_ms
        );
    }

    print_history(&client.history_all(&id).await?);
    Ok(())
}

fn print_history(events: &[HistoryEvent]) {
    println!();
    println!(
        "{:>3}  {:>8}  {:<10}  {:<9}  {:<9}  {:<7}  {:<20}  reason",
        "ver", "revision", "kind", "from", "to", "event", "actor"
    );
    for e in events {
        println!(
            "{:>3}  {:>8}  {:<10}  {:<9}  {:<9}  {:<7}  {:<20}  {}",
            e.version,
            e.revision,
            e.kind,
            if e.from.is_empty() { "-" } else { &e.from },
            e.to,
            e.event.as_deref().unwrap_or("-"),
            if e.actor.is_empty() { "-" } else { &e.actor },
            e.reason
        );
    }
}
