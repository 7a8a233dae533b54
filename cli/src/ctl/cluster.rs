//! `cairn ctl status | member ... | leader transfer | snapshot`: cluster state and changes.

use cairn_api::v1::{
    AddLearnerRequest, Member, MembershipResponse, PromoteLearnerRequest, RemoveMemberRequest,
    ReplaceMemberRequest, StatusResponse, TransferLeaderRequest, TriggerSnapshotRequest,
};
use serde_json::{Value, json};

use super::conn::{Conn, Survey};
use super::error::{CtlError, CtlResult};
use super::output::{Report, bytes, table};

/// One member's row: its own status where it answered, the leader's view of its lag.
fn member_json(m: &Member, survey: &Survey, leader: Option<&StatusResponse>) -> Value {
    let status = survey.status_of(m.id);
    let lag = leader.and_then(|l| {
        if l.id == m.id {
            Some(0)
        } else {
            l.replication.iter().find(|r| r.id == m.id).map(|r| r.lag)
        }
    });
    let last_ack_ms = leader.and_then(|l| {
        l.replication
            .iter()
            .find(|r| r.id == m.id)
            .and_then(|r| r.last_ack_ms)
    });
    let error = survey
        .answers
        .get(&m.client_addr)
        .and_then(|a| a.as_ref().err())
        .cloned()
        .or_else(|| status.is_none().then(|| "not reached".to_string()));
    json!({
        "id": m.id,
        "client_addr": m.client_addr,
        "peer_addr": m.peer_addr,
        "voter": m.role == "voter",
        "role": status.map_or("unreachable".to_string(), |s| s.state.clone()),
        "reachable": status.is_some(),
        "term": status.map(|s| s.term),
        "last_log_index": status.map(|s| s.last_log_index),
        "committed": status.map(|s| s.committed),
        "applied": status.map(|s| s.applied),
        "lag": lag,
        "last_ack_ms": last_ack_ms,
        "snapshot_index": status.map(|s| s.snapshot_index),
        "disk_bytes": status.map(|s| s.disk_bytes),
        "http_addr": status.map(|s| s.http_addr.clone()),
        "version": status.map(|s| s.version.clone()),
        "error": error,
    })
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn status(conn: &Conn) -> CtlResult<(Report, Option<CtlError>)> {
    let survey = conn.survey().await;
    let leader = survey.leader();
    let mut members = survey.members.clone();
    members.sort_by_key(|m| m.id);
    let rows_json: Vec<Value> = members
        .iter()
        .map(|m| member_json(m, &survey, leader))
        .collect();
    let mut rows = Vec::new();
    for (m, j) in members.iter().zip(&rows_json) {
        let role = match (j["role"].as_str(), m.role.as_str()) {
            (Some("follower"), "learner") => "learner".to_string(),
            (Some(r), _) => r.to_string(),
            (None, _) => "-".into(),
        };
        rows.push(vec![
            m.id.to_string(),
            role,
            m.client_addr.clone(),
            m.peer_addr.clone(),
            cell(&j["term"]),
            cell(&j["last_log_index"]),
            cell(&j["committed"]),
            cell(&j["applied"]),
            cell(&j["lag"]),
            cell(&j["snapshot_index"]),
            j["disk_bytes"].as_u64().map_or("-".into(), bytes),
            cell(&j["version"]),
        ]);
    }
    let mut human = table(
        &[
            "ID",
            "ROLE",
            "CLIENT",
            "PEER",
            "TERM",
            "LAST LOG",
            "COMMITTED",
            "APPLIED",
            "LAG",
            "SNAPSHOT",
            "DISK",
            "VERSION",
        ],
        &rows,
    );
    // Endpoints that answered but are not members (e.g. a node not joined yet).
    for (addr, answer) in &survey.answers {
        if !members.iter().any(|m| &m.client_addr == addr)
            && let Err(e) = answer
        {
            human.push_str(&format!("endpoint {addr}: {e}\n"));
        }
    }
    let problem = survey
        .require_leader()
        .err()
        .or_else(|| leader.and_then(|l| quorum_problem(l, &members)));
    let changing = leader.is_some_and(|l| l.membership_changing);
    if changing {
        human.push_str("a membership change is in progress\n");
    }
    let cluster_id = leader.map(|l| l.cluster_id).filter(|id| *id != 0);
    if let Some(id) = cluster_id {
        human.push_str(&format!("cluster {id:016x}\n"));
    }
    let json = json!({
        "cluster_id": cluster_id.map(|id| format!("{id:016x}")),
        "leader": leader.map(|l| l.id),
        "term": leader.map(|l| l.term),
        "membership_changing": changing,
        "members": rows_json,
        "error": problem.as_ref().map(|e| e.to_string()),
    });
    Ok((Report::new(json, human), problem))
}

/// A leader keeps its role for a while after losing its followers: report when it has not
/// heard from a majority of the voters recently.
fn quorum_problem(leader: &StatusResponse, members: &[Member]) -> Option<CtlError> {
    const RECENT_MS: u64 = 3000;
    let voters: Vec<u64> = members
        .iter()
        .filter(|m| m.role == "voter")
        .map(|m| m.id)
        .collect();
    let heard = voters
        .iter()
        .filter(|v| {
            **v == leader.id
                || leader
                    .replication
                    .iter()
                    .any(|r| r.id == **v && r.last_ack_ms.is_some_and(|ms| ms <= RECENT_MS))
        })
        .count();
    (heard <= voters.len() / 2).then(|| {
        CtlError::Unavailable(format!(
            "no quorum: leader {} has heard from only {heard} of {} voters in the last {}s",
            leader.id,
            voters.len(),
            RECENT_MS / 1000
        ))
    })
}

fn members_report(members: &[Member], headline: String) -> Report {
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|m| m.id);
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.role.clone(),
                m.client_addr.clone(),
                m.peer_addr.clone(),
            ]
        })
        .collect();
    let list: Vec<Value> = sorted
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "role": m.role,
                "client_addr": m.client_addr,
                "peer_addr": m.peer_addr,
            })
        })
        .collect();
    let mut human = String::new();
    if !headline.is_empty() {
        human.push_str(&headline);
        human.push('\n');
    }
    human.push_str(&table(&["ID", "ROLE", "CLIENT", "PEER"], &rows));
    Report::new(json!({ "members": list, "message": headline }), human)
}

fn change_report(r: MembershipResponse, headline: String) -> Report {
    let mut report = members_report(&r.members, headline);
    report.json["revision"] = json!(r.revision);
    report
}

pub async fn member_list(conn: &Conn) -> CtlResult<Report> {
    let survey = conn.survey().await;
    if survey.members.is_empty() {
        survey.require_leader()?;
    }
    Ok(members_report(&survey.members, String::new()))
}

pub async fn member_add(
    conn: &Conn,
    id: u64,
    peer_addr: String,
    client_addr: String,
) -> CtlResult<Report> {
    let req = AddLearnerRequest {
        id,
        peer_addr,
        client_addr,
    };
    let resp = conn
        .on_leader(|mut c| {
            let req = req.clone();
            async move { c.add_learner(req).await }
        })
        .await?;
    let survey = conn.survey().await;
    let mut report = members_report(
        &survey.members,
        format!("added node {id} as a learner; promote it once it has caught up"),
    );
    report.json["revision"] = json!(resp.revision);
    Ok(report)
}

pub async fn member_promote(conn: &Conn, id: u64, max_lag: u64) -> CtlResult<Report> {
    let req = PromoteLearnerRequest { id, max_lag };
    let r = conn
        .on_leader(|mut c| async move { c.promote_learner(req).await })
        .await?;
    Ok(change_report(r, format!("node {id} is a voter")))
}

pub async fn member_remove(conn: &Conn, id: u64, force: bool) -> CtlResult<Report> {
    let req = RemoveMemberRequest { id, force };
    let r = conn
        .on_leader(|mut c| async move { c.remove_member(req).await })
        .await?;
    Ok(change_report(r, format!("removed node {id}")))
}

pub async fn member_replace(
    conn: &Conn,
    old_id: u64,
    new_id: u64,
    force: bool,
    max_lag: u64,
) -> CtlResult<Report> {
    let req = ReplaceMemberRequest {
        old_id,
        new_id,
        force,
        max_lag,
    };
    let r = conn
        .on_leader(|mut c| async move { c.replace_member(req).await })
        .await?;
    Ok(change_report(
        r,
        format!("replaced voter {old_id} with node {new_id}"),
    ))
}

pub async fn leader_transfer(conn: &Conn, to: Option<u64>) -> CtlResult<Report> {
    let (_, survey) = conn.leader_addr().await?;
    let from = survey.require_leader()?.id;
    let req = TransferLeaderRequest {
        to: to.unwrap_or(0),
    };
    let r = conn
        .on_leader(|mut c| async move { c.transfer_leader(req).await })
        .await?;
    let msg = if r.leader_id == from {
        format!("node {from} already leads")
    } else {
        format!("leadership moved from node {from} to node {}", r.leader_id)
    };
    Ok(Report::new(
        json!({ "from": from, "leader": r.leader_id, "message": msg }),
        msg,
    ))
}

pub async fn snapshot(conn: &Conn) -> CtlResult<Report> {
    let (addr, _) = conn.leader_addr().await?;
    let mut c = cairn_api::v1::admin_client::AdminClient::new(conn.long_channel(&addr).await?);
    // A snapshot build can take longer than an ordinary call's timeout.
    let mut req = tonic::Request::new(TriggerSnapshotRequest {});
    req.set_timeout(std::time::Duration::from_secs(150));
    let r = c
        .trigger_snapshot(req)
        .await
        .map_err(|s| CtlError::from_status(&addr, &s))?
        .into_inner();
    let msg = format!(
        "snapshot at index {} (term {}) on {addr}",
        r.snapshot_index, r.snapshot_term
    );
    Ok(Report::new(
        json!({
            "snapshot_index": r.snapshot_index,
            "snapshot_term": r.snapshot_term,
            "node": addr,
        }),
        msg,
    ))
}

/// Through the etcd API's Compact, which Cairn serves on the client port: a replicated
/// command, applied (history dropped) on every node before it answers.
pub async fn compact(
    endpoints: &[String],
    tls: Option<&cairn_client::TlsOptions>,
    credentials: Option<&cairn_client::Credentials>,
    revision: u64,
) -> CtlResult<Report> {
    let options = Some(crate::endpoints_arg::etcd_options(tls, credentials));
    let mut client = etcd_client::Client::connect(endpoints, options)
        .await
        .map_err(|e| CtlError::Unavailable(e.to_string()))?;
    let rev = i64::try_from(revision)
        .map_err(|_| CtlError::Invalid(format!("revision {revision} is out of range")))?;
    match client.compact(rev, None).await {
        Ok(_) => Ok(Report::new(
            json!({ "compacted": revision }),
            format!("history at and below revision {revision} compacted"),
        )),
        Err(etcd_client::Error::GRpcStatus(s)) if s.code() == tonic::Code::OutOfRange => {
            Err(CtlError::Refused {
                kind: "compaction".into(),
                message: s.message().to_string(),
            })
        }
        Err(e) => Err(CtlError::Unavailable(e.to_string())),
    }
}
