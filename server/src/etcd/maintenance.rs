//! etcd's Maintenance service. Status reports this node's Raft state (the same report as
//! `cairn ctl status`); Alarm lists, raises and clears the replicated alarms (members raise
//! NOSPACE when their data directory passes the cluster's quota); Defragment
//! succeeds without doing anything (sled compacts its files itself; there is nothing to
//! defragment on request); MoveLeader is Cairn's leadership transfer. Hash, HashKV, Snapshot
//! and Downgrade are refused with UNIMPLEMENTED: an answer would not mean what it means in
//! etcd (see docs/etcd-compat.md).

use std::sync::Arc;

use cairn_api::v1::admin_server::Admin;
use cairn_api::v1::{StatusRequest, TransferLeaderRequest};
use cairn_model::Command;
use cairn_model::alarm::{Alarm, AlarmCommand, AlarmKind};
use cairn_model::txn::{KeyRange, RangeSpec};
use etcd_client::proto::{
    PbAlarmMember, PbAlarmRequest, PbAlarmResponse, PbDefragmentRequest, PbDefragmentResponse,
    PbDowngradeRequest, PbDowngradeResponse, PbHashKvRequest, PbHashKvResponse, PbHashRequest,
    PbHashResponse, PbMaintenanceService, PbMoveLeaderRequest, PbMoveLeaderResponse,
    PbSnapshotRequest, PbSnapshotResponse, PbStatusRequest, PbStatusResponse,
};
use tonic::{Request, Response, Status};

use super::admin_route::on_leader;
use super::header::{Headers, to_i64};
use super::reply::{Reply, answer, unsupported};
use super::store::EtcdStore;
use crate::error::{Error, EtcdError};
use crate::services::admin::AdminService;
use crate::status::{self, EtcdCall};

/// The etcd version Status reports. Clients compare it against the API they need (etcdctl
/// and clientv3 want 3.x; 3.4 covers every RPC Cairn serves); Cairn's own version is in
/// `cairn ctl status`.
pub const ETCD_VERSION: &str = "3.4.0";

/// AlarmRequest.AlarmAction values.
const ALARM_GET: i32 = 0;
const ALARM_ACTIVATE: i32 = 1;
const ALARM_DEACTIVATE: i32 = 2;
/// AlarmType NOSPACE.
const ALARM_NOSPACE: i32 = 1;

pub struct MaintenanceService {
    admin: Arc<AdminService>,
    headers: Headers,
    store: EtcdStore,
}

impl MaintenanceService {
    pub fn new(admin: Arc<AdminService>, headers: Headers, store: EtcdStore) -> Self {
        Self {
            admin,
            headers,
            store,
        }
    }
}

#[tonic::async_trait]
impl PbMaintenanceService for MaintenanceService {
    async fn alarm(&self, req: Request<PbAlarmRequest>) -> Reply<PbAlarmResponse> {
        answer(EtcdCall::Maintenance, async {
            let r = req.into_inner();
            let alarm = |member_id: u64| -> Result<Alarm, Error> {
                match r.alarm {
                    ALARM_NOSPACE => Ok(Alarm {
                        member: member_id,
                        kind: AlarmKind::NoSpace,
                    }),
                    other => Err(Error::invalid(format!(
                        "cairn: alarm type {other} is not raised by Cairn (NOSPACE=1 is)"
                    ))),
                }
            };
            let command = match r.action {
                ALARM_GET => None,
                ALARM_ACTIVATE => Some(AlarmCommand::Activate(alarm(r.member_id)?)),
                ALARM_DEACTIVATE => Some(AlarmCommand::Deactivate(alarm(r.member_id)?)),
                other => {
                    return Err(Error::invalid(format!(
                        "cairn: unknown alarm action {other} (GET=0, ACTIVATE=1, DEACTIVATE=2)"
                    )));
                }
            };
            let revision = match command {
                Some(c) => self
                    .store
                    .gateway
                    .propose(None, Command::Alarm(c))
                    .await?
                    .revision(),
                None => {
                    self.store.gateway.before_read(false).await?;
                    None
                }
            };
            let alarms = self
                .store
                .alarms()?
                .into_iter()
                .map(|a| PbAlarmMember {
                    member_id: a.member,
                    alarm: match a.kind {
                        AlarmKind::NoSpace => ALARM_NOSPACE,
                    },
                })
                .collect();
            Ok(PbAlarmResponse {
                header: Some(match revision {
                    Some(rev) => self.headers.at(rev),
                    None => self.headers.current(),
                }),
                alarms,
            })
        })
        .await
    }

    async fn status(&self, _req: Request<PbStatusRequest>) -> Reply<PbStatusResponse> {
        let s = self
            .admin
            .status(Request::new(StatusRequest {}))
            .await?
            .into_inner();
        let leader = s.leader_id.unwrap_or(0);
        // etcd lists "no leader" among a member's errors; etcdctl prints them.
        let errors = if leader == 0 {
            vec![status::NO_LEADER.to_string()]
        } else {
            Vec::new()
        };
        let db_size = i64::try_from(s.disk_bytes).unwrap_or(i64::MAX);
        Ok(Response::new(PbStatusResponse {
            header: Some(self.headers.current()),
            version: ETCD_VERSION.to_string(),
            // The whole data directory (log, state machine, snapshots): Cairn cannot tell
            // used from free pages inside sled's files, so "in use" is the same number.
            db_size,
            db_size_in_use: db_size,
            leader,
            raft_index: s.last_log_index,
            raft_term: s.term,
            raft_applied_index: s.applied,
            errors,
            is_learner: s.state == "learner",
            ..Default::default()
        }))
    }

    async fn defragment(&self, _req: Request<PbDefragmentRequest>) -> Reply<PbDefragmentResponse> {
        Ok(Response::new(PbDefragmentResponse {
            header: Some(self.headers.current()),
        }))
    }

    async fn hash(&self, _req: Request<PbHashRequest>) -> Reply<PbHashResponse> {
        unsupported(
            "Hash",
            "it hashes etcd's bbolt backend file, which Cairn does not have; compare members \
             with `cairn ctl status` (applied index) instead",
        )
    }

    /// CRC-32 of every key and record (value, revisions, version, lease) in key order, at
    /// `revision` (0: this member's applied state, no read index) or at a past one inside the
    /// history window. Members at the same revision agree exactly; the number is not etcd's
    /// (that hashes etcd's own MVCC encoding).
    async fn hash_kv(&self, req: Request<PbHashKvRequest>) -> Reply<PbHashKvResponse> {
        let revision = u64::try_from(req.into_inner().revision)
            .map_err(|_| status::etcd(EtcdError::NegativeRevision.into(), EtcdCall::Maintenance))?;
        let all = RangeSpec {
            range: KeyRange {
                key: vec![0],
                range_end: vec![0],
            },
            ..RangeSpec::default()
        };
        let (reply, current) = self
            .store
            .local_range(&all, revision)
            .map_err(|e| status::etcd(e, EtcdCall::Maintenance))?;
        let mut crc = crc32fast::Hasher::new();
        for kv in &reply.kvs {
            for part in [&kv.key, &kv.record.value] {
                crc.update(&(part.len() as u64).to_be_bytes());
                crc.update(part);
            }
            let r = &kv.record;
            for n in [r.create_revision, r.mod_revision, r.version, r.lease] {
                crc.update(&n.to_be_bytes());
            }
        }
        let (compacted, _) = self.store.history_window();
        Ok(Response::new(PbHashKvResponse {
            header: Some(self.headers.at(current)),
            hash: crc.finalize(),
            compact_revision: to_i64(compacted),
            hash_revision: to_i64(if revision == 0 { current } else { revision }),
        }))
    }

    type SnapshotStream = tokio_stream::Empty<Result<PbSnapshotResponse, Status>>;

    async fn snapshot(&self, _req: Request<PbSnapshotRequest>) -> Reply<Self::SnapshotStream> {
        unsupported(
            "Snapshot",
            "etcd's snapshot is a bbolt database file; back Cairn up with `cairn ctl backup`",
        )
    }

    async fn move_leader(&self, req: Request<PbMoveLeaderRequest>) -> Reply<PbMoveLeaderResponse> {
        let to = req.into_inner().target_id;
        // Cairn reads 0 as "pick a voter"; etcd needs a named transferee.
        if to == 0 {
            return Err(status::etcd(
                EtcdError::BadLeaderTransferee.into(),
                EtcdCall::Transfer,
            ));
        }
        let request = TransferLeaderRequest { to };
        let resp = on_leader(
            &self.admin,
            |a| async move { a.transfer_leader(Request::new(request)).await },
            |mut c| async move { c.transfer_leader(request).await },
        )
        .await
        .map_err(|s| status::etcd_status(s, EtcdCall::Transfer))?;
        tracing::info!(
            leader = resp.leader_id,
            "etcd MoveLeader: leadership transferred"
        );
        Ok(Response::new(PbMoveLeaderResponse {
            header: Some(self.headers.current()),
        }))
    }

    async fn downgrade(&self, _req: Request<PbDowngradeRequest>) -> Reply<PbDowngradeResponse> {
        unsupported(
            "Downgrade",
            "Cairn versions its data itself and has no etcd cluster version to lower",
        )
    }
}
