//! After the faults: every node catches up and holds the same state, and the watch delivers
//! everything the store holds.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use super::check::{self, Anomaly, watch::KvMap};
use super::roster::Roster;
use super::roster::client_on;
use super::workload::{PREFIX, WatchLog};
use crate::{Cluster, wait_until};

/// After healing: every voter applies everything and holds the same watched keys (compared
/// node by node through serializable reads of its own state). Returns the store's view.
pub(super) async fn converge(
    cluster: &Cluster,
    roster: &Roster,
    anomalies: &mut Vec<Anomaly>,
) -> KvMap {
    let reader = client_on(roster.endpoints()).ok();
    let mut store = KvMap::new();
    if let Some(r) = &reader {
        match r.range_all(PREFIX).await {
            Ok(kvs) => store = check::watch::store_map(&kvs),
            Err(e) => anomalies.push(Anomaly::new("liveness", format!("final read: {e}"))),
        }
    }
    let target = store.values().map(|(_, r, _)| *r).max().unwrap_or(0);
    let voters = roster.voters();
    let views = local_views(
        cluster,
        &voters,
        target,
        "a serializable range",
        local_range,
    )
    .await;
    for (id, seen) in views {
        match seen {
            Ok(local) if local == store => {}
            Ok(local) => {
                let differ: Vec<String> = local
                    .iter()
                    .filter(|(k, v)| store.get(*k) != Some(*v))
                    .take(5)
                    .map(|(k, v)| {
                        format!(
                            "{}: {:?} vs {:?}",
                            String::from_utf8_lossy(k),
                            v,
                            store.get(k)
                        )
                    })
                    .collect();
                anomalies.push(Anomaly::new(
                    "replica-divergence",
                    format!("node {id} differs from the cluster at {target}: {differ:?}"),
                ));
            }
            Err(e) => anomalies.push(Anomaly::new("convergence", format!("node {id}: {e:#}"))),
        }
    }
    store
}

/// For each voter in turn: waits until it has applied `target`, then reads `what` from its own
/// state with `read(client address)` (retried for a while). A voter that does not catch up is
/// a convergence failure.
pub(super) async fn local_views<T, F, Fut>(
    cluster: &Cluster,
    voters: &[u64],
    target: u64,
    what: &str,
    read: F,
) -> Vec<(u64, anyhow::Result<T>)>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut views = Vec::new();
    for &id in voters {
        let seen = match cluster
            .wait_applied(id, target, Duration::from_secs(30))
            .await
        {
            Ok(()) => {
                let addr = cluster.node(id).client_addr.clone();
                wait_until(Duration::from_secs(10), what, || read(addr.clone())).await
            }
            Err(e) => Err(e),
        };
        views.push((id, seen));
    }
    views
}

/// Node `addr`'s own view of [`PREFIX`] (a serializable range: no read index, no forwarding).
async fn local_range(addr: String) -> Option<KvMap> {
    use cairn_api::v1::RangeRequest;
    use cairn_api::v1::kv_client::KvClient;
    let mut kv = KvClient::connect(format!("http://{addr}")).await.ok()?;
    let mut map = KvMap::new();
    let mut start_after = Vec::new();
    loop {
        let page = kv
            .range(RangeRequest {
                prefix: PREFIX.into(),
                start_after: start_after.clone(),
                limit: 0,
                serializable: true,
            })
            .await
            .ok()?
            .into_inner();
        for p in page.kvs {
            map.insert(p.key, (p.value, p.mod_revision, p.version));
        }
        if page.next_key.is_empty() {
            return Some(map);
        }
        start_after = page.next_key;
    }
}

/// Waits until the watch has delivered everything the store holds; returns how far it got.
pub(super) async fn wait_watch(
    log: &Mutex<WatchLog>,
    store: &KvMap,
    anomalies: &mut Vec<Anomaly>,
) -> u64 {
    let target = store.values().map(|(_, r, _)| *r).max().unwrap_or(0);
    let delivered = || log.lock().unwrap_or_else(|p| p.into_inner()).delivered;
    let reached = wait_until(Duration::from_secs(30), "the watch to catch up", || async {
        (delivered() >= target).then_some(())
    })
    .await;
    if let Err(e) = reached {
        let errors = log.lock().unwrap_or_else(|p| p.into_inner()).errors.clone();
        anomalies.push(Anomaly::new(
            "watch-stalled",
            format!("{e}; errors {errors:?}"),
        ));
    }
    delivered()
}
