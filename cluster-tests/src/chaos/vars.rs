//! The variables workload: writers compare-and-swap a counter in one namespace's versioned
//! variables (read the set, write `n + 1` at the version read), so every version must hold
//! `n == version`: a lost update, a duplicated one or a gap in the history breaks it. After
//! healing the whole history is read back for the checker below.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{Client, Error, VarScope, VarUpdate};
use serde_json::json;

use super::check::Anomaly;
use super::history::{Outcome, Recorder};
use super::roster::RosterClient;
use super::workload::definite;

pub const NAMESPACE: &str = "chaos-vars";
const PACE: Duration = Duration::from_millis(200);

fn scope() -> VarScope {
    VarScope::Namespace(NAMESPACE.into())
}

/// Acknowledged writes: (version, counter written, writer).
#[derive(Default)]
pub struct VarsLog {
    pub acked: Mutex<Vec<(u64, u64, String)>>,
}

pub async fn writer(
    id: u64,
    mut clients: RosterClient,
    rec: Arc<Recorder>,
    log: Arc<VarsLog>,
    stop: Arc<AtomicBool>,
) {
    let actor = format!("vars-{id}");
    while !stop.load(Ordering::Relaxed) {
        let client = clients.get();
        if let Ok(now) = client.vars(&scope(), None).await {
            let (version, n) = now.map_or((0, 0), |v| {
                (
                    v.version,
                    v.values.get("n").and_then(|n| n.as_u64()).unwrap_or(0),
                )
            });
            let update = VarUpdate::new()
                .set("n", json!(n + 1))
                .expected_version(version)
                .keep_versions(100_000)
                .actor(actor.as_str());
            rec.invoke(
                id,
                "vars",
                &format!("n {n} -> {} at version {version}", n + 1),
            );
            match client.update_vars(&scope(), update).await {
                Ok(w) => {
                    rec.complete(id, "vars", Outcome::Ok, &w.version);
                    log.acked.lock().unwrap_or_else(|p| p.into_inner()).push((
                        w.version,
                        n + 1,
                        actor.clone(),
                    ));
                }
                Err(e) if definite(&e) => {
                    rec.complete(id, "vars", Outcome::Fail, &e);
                }
                Err(e) => {
                    rec.complete(id, "vars", Outcome::Indeterminate, &e);
                }
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// After healing: the history must be gap-free with `n == version` at every version, and
/// every acknowledged write must be the version it was acknowledged as. Returns how many
/// versions were checked.
pub async fn check(client: &Client, log: &VarsLog, anomalies: &mut Vec<Anomaly>) -> u64 {
    let history = match client.var_history(&scope()).await {
        Ok(h) => h,
        Err(Error::NotFound(_)) => Vec::new(),
        Err(e) => {
            anomalies.push(Anomaly::new("harness", format!("variable history: {e}")));
            return 0;
        }
    };
    let current = client.vars(&scope(), None).await.ok().flatten();
    let mut expected_version = 1;
    for v in &history {
        if v.version != expected_version {
            anomalies.push(Anomaly::new(
                "vars-gap",
                format!("version {} follows {}", v.version, expected_version - 1),
            ));
        }
        expected_version = v.version + 1;
        let n = v
            .changes
            .get("n")
            .and_then(|c| c.value.as_ref())
            .and_then(|n| n.as_u64());
        if n != Some(v.version) {
            anomalies.push(Anomaly::new(
                "vars-lost-update",
                format!("version {} wrote n = {n:?}", v.version),
            ));
        }
    }
    if let Some(c) = &current
        && (c.version != history.last().map_or(0, |v| v.version)
            || c.values.get("n").and_then(|n| n.as_u64()) != Some(c.version))
    {
        anomalies.push(Anomaly::new(
            "vars-lost-update",
            format!(
                "current version {} holds n = {:?}",
                c.version,
                c.values.get("n")
            ),
        ));
    }
    for (version, n, actor) in log.acked.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let held = history.iter().find(|v| v.version == *version);
        let ok = held.is_some_and(|v| {
            v.actor == *actor
                && v.changes.get("n").and_then(|c| c.value.as_ref()) == Some(&json!(n))
        });
        if !ok {
            anomalies.push(Anomaly::new(
                "vars-lost-write",
                format!("{actor}'s acknowledged version {version} (n = {n}) is {held:?}"),
            ));
        }
    }
    history.len() as u64
}
