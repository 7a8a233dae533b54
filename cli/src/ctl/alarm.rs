//! `cairn ctl alarm list|disarm`: the cluster's standing alarms (NOSPACE, raised by a member
//! whose data directory passed the quota), through etcd's Maintenance Alarm, as etcdctl's
//! `alarm list` / `alarm disarm`. Disarming is root's while auth is on.

use cairn_client::{Credentials, TlsOptions};
use etcd_client::{AlarmAction, AlarmOptions, AlarmType};
use serde_json::json;

use super::error::{CtlError, CtlResult};
use super::output::Report;

#[derive(clap::Subcommand, Debug)]
pub enum AlarmCmd {
    /// The standing alarms.
    List,
    /// Clear every standing alarm (a member still over the quota raises NOSPACE again: free
    /// space or raise --quota-backend-bytes first).
    Disarm,
}

pub async fn run(
    endpoints: &[String],
    tls: Option<&TlsOptions>,
    credentials: Option<&Credentials>,
    cmd: AlarmCmd,
) -> CtlResult<Report> {
    let options = crate::endpoints_arg::etcd_options(tls, credentials);
    let mut client = etcd_client::Client::connect(endpoints, Some(options))
        .await
        .map_err(|e| CtlError::Unavailable(e.to_string()))?;
    let failed = |e: etcd_client::Error| match e {
        etcd_client::Error::GRpcStatus(s) => CtlError::from_status("cluster", &s),
        other => CtlError::Unavailable(other.to_string()),
    };
    let listed = client
        .alarm(AlarmAction::Get, AlarmType::None, None)
        .await
        .map_err(failed)?;
    let standing: Vec<u64> = listed.alarms().iter().map(|a| a.member_id()).collect();
    if let AlarmCmd::Disarm = cmd {
        for member in &standing {
            let mut options = AlarmOptions::new();
            options.with_member(*member);
            client
                .alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(options))
                .await
                .map_err(failed)?;
        }
    }
    let human = if standing.is_empty() {
        "no alarms".to_string()
    } else {
        let lines: Vec<String> = standing
            .iter()
            .map(|m| format!("memberID:{m} alarm:NOSPACE"))
            .collect();
        lines.join("\n")
    };
    let (key, human) = match cmd {
        AlarmCmd::List => ("alarms", human),
        AlarmCmd::Disarm => ("disarmed", format!("disarmed:\n{human}")),
    };
    let json_alarms: Vec<_> = standing
        .iter()
        .map(|m| json!({ "member": m, "alarm": "NOSPACE" }))
        .collect();
    Ok(Report::new(json!({ key: json_alarms }), human))
}
