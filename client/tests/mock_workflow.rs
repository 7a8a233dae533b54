//! The client's workflow methods against a scripted in-process Workflows server: typed errors
//! built from the server's metadata, one idempotency key across retries and a resume, and
//! conversion of JSON fields. (Real-cluster tests live in cluster-tests.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_api::meta::{self, kind};
use cairn_api::v1::workflows_server::{Workflows, WorkflowsServer};
use cairn_api::v1::*;
use cairn_client::serde_json::json;
use cairn_client::{
    Client, ClientConfig, CreateWorkflow, Error, HistoryKind, Target, TaskSpec, TaskStatus,
    WriteOutcome,
};
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// One workflow on the default definition, enough to script the answers.
#[derive(Default)]
struct State {
    fail_next: u32,
    headers: Vec<(String, u64)>,
    workflows: BTreeMap<String, (String, u64)>,
    applied: u32,
    compactions: u64,
}

#[derive(Clone, Default)]
struct Mock(Arc<Mutex<State>>);

impl Mock {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }

    fn gate(&self, header: Option<&RequestHeader>) -> Result<(), Status> {
        self.with(|s| {
            if let Some(h) = header {
                s.headers.push((h.client_id.clone(), h.sequence));
            }
            if s.fail_next > 0 {
                s.fail_next -= 1;
                return Err(Status::unavailable("no leader yet"));
            }
            Ok(())
        })
    }
}

fn typed(code: Code, msg: &str, pairs: &[(&'static str, String)]) -> Status {
    let mut s = Status::new(code, msg);
    for (k, v) in pairs {
        s.metadata_mut()
            .insert(*k, MetadataValue::try_from(v.as_str()).unwrap());
    }
    s
}

fn legal(status: &str) -> &'static [&'static str] {
    match status {
        "PENDING" => &["RUNNING", "CANCELLED"],
        "RUNNING" => &["PAUSED", "COMPLETED", "FAILED", "CANCELLED"],
        "PAUSED" => &["RUNNING", "CANCELLED"],
        _ => &[],
    }
}

#[tonic::async_trait]
impl Workflows for Mock {
    async fn register_definition(
        &self,
        _: Request<RegisterDefinitionRequest>,
    ) -> Result<Response<RegisterDefinitionResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn get_definition(
        &self,
        _: Request<GetDefinitionRequest>,
    ) -> Result<Response<GetDefinitionResponse>, Status> {
        Ok(Response::new(GetDefinitionResponse::default()))
    }
    async fn list_definitions(
        &self,
        _: Request<ListDefinitionsRequest>,
    ) -> Result<Response<ListDefinitionsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn create_workflow(
        &self,
        req: Request<CreateWorkflowRequest>,
    ) -> Result<Response<CreateWorkflowResponse>, Status> {
        let r = req.into_inner();
        self.gate(r.header.as_ref())?;
        self.with(|s| {
            if s.workflows.contains_key(&r.id) {
                return Err(typed(
                    Code::AlreadyExists,
                    &format!("workflow {} already exists", r.id),
                    &[(meta::ERROR_KIND, kind::ALREADY_EXISTS.into())],
                ));
            }
            s.workflows.insert(r.id.clone(), ("PENDING".into(), 1));
            Ok(Response::new(CreateWorkflowResponse {
                workflow: Some(WorkflowRef {
                    id: r.id,
                    status: "PENDING".into(),
                    version: 1,
                    revision: 10,
                }),
                created: true,
                revision: 10,
            }))
        })
    }

    async fn get_workflow(
        &self,
        req: Request<GetWorkflowRequest>,
    ) -> Result<Response<GetWorkflowResponse>, Status> {
        let r = req.into_inner();
        let Some((status, version)) = self.with(|s| s.workflows.get(&r.id).cloned()) else {
            return Ok(Response::new(GetWorkflowResponse::default()));
        };
        Ok(Response::new(GetWorkflowResponse {
            workflow: Some(Workflow {
                id: r.id.clone(),
                status,
                version,
                metadata: r#"{"job":{"step":2}}"#.into(),
                ..Default::default()
            }),
            progress: Some(WorkflowProgress {
                total: 1,
                completed: 1,
                success_rate: Some(1.0),
                ..Default::default()
            }),
            tasks: vec![Task {
                workflow_id: r.id,
                id: "a".into(),
                status: "COMPLETED".into(),
                output: r#"{"rows":3}"#.into(),
                ..Default::default()
            }],
            revision: 11,
        }))
    }

    async fn list_workflows(
        &self,
        _: Request<ListWorkflowsRequest>,
    ) -> Result<Response<ListWorkflowsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
    async fn count_workflows(
        &self,
        _: Request<CountWorkflowsRequest>,
    ) -> Result<Response<CountWorkflowsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn transition_workflow(
        &self,
        req: Request<TransitionWorkflowRequest>,
    ) -> Result<Response<TransitionWorkflowResponse>, Status> {
        let r = req.into_inner();
        self.gate(r.header.as_ref())?;
        self.with(|s| {
            let Some((status, version)) = s.workflows.get(&r.id).cloned() else {
                return Err(typed(
                    Code::NotFound,
                    &format!("workflow {} not found", r.id),
                    &[(meta::ERROR_KIND, kind::NOT_FOUND.into())],
                ));
            };
            if let Some(expected) = r.expected_version
                && expected != version
            {
                return Err(typed(
                    Code::Aborted,
                    "version conflict",
                    &[
                        (meta::ERROR_KIND, kind::VERSION_CONFLICT.into()),
                        (meta::CURRENT_VERSION, version.to_string()),
                    ],
                ));
            }
            let to = match r.target {
                Some(transition_workflow_request::Target::Status(to)) => to,
                Some(transition_workflow_request::Target::Event(e)) if e == "start" => {
                    "RUNNING".into()
                }
                _ => String::new(),
            };
            if !legal(&status).contains(&to.as_str()) {
                return Err(typed(
                    Code::FailedPrecondition,
                    &format!("workflow {}: cannot go from {status} via {to}", r.id),
                    &[
                        (meta::ERROR_KIND, kind::ILLEGAL_TRANSITION.into()),
                        (meta::CURRENT_STATUS, status.clone()),
                        (meta::ALLOWED, legal(&status).join(",")),
                    ],
                ));
            }
            s.applied += 1;
            s.workflows.insert(r.id.clone(), (to.clone(), version + 1));
            Ok(Response::new(TransitionWorkflowResponse {
                workflow: Some(WorkflowRef {
                    id: r.id,
                    status: to,
                    version: version + 1,
                    revision: 20,
                }),
                revision: 20,
            }))
        })
    }

    async fn update_workflow(
        &self,
        _: Request<UpdateWorkflowRequest>,
    ) -> Result<Response<UpdateWorkflowResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn delete_workflow(
        &self,
        req: Request<DeleteWorkflowRequest>,
    ) -> Result<Response<DeleteWorkflowResponse>, Status> {
        let r = req.into_inner();
        Err(typed(
            Code::FailedPrecondition,
            &format!(
                "workflow {} is RUNNING, not terminal; delete it with force",
                r.id
            ),
            &[
                (meta::ERROR_KIND, kind::NOT_TERMINAL.into()),
                (meta::CURRENT_STATUS, "RUNNING".into()),
            ],
        ))
    }

    async fn get_history(
        &self,
        req: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        let r = req.into_inner();
        // Two pages of one event each, to exercise history_all's continuation.
        let event = |version: u64| HistoryEvent {
            version,
            kind: if version == 1 {
                cairn_api::v1::HistoryKind::Created as i32
            } else {
                cairn_api::v1::HistoryKind::Transition as i32
            },
            to: "RUNNING".into(),
            event: if version == 2 {
                "start".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        Ok(Response::new(match r.from_version {
            0 | 1 => GetHistoryResponse {
                events: vec![event(1)],
                next_version: Some(2),
                revision: 5,
                compacted_before: 0,
            },
            _ => GetHistoryResponse {
                events: vec![event(2)],
                next_version: None,
                revision: 5,
                compacted_before: 0,
            },
        }))
    }

    async fn compact_history(
        &self,
        req: Request<CompactHistoryRequest>,
    ) -> Result<Response<CompactHistoryResponse>, Status> {
        let r = req.into_inner();
        // Two bounded rounds: the first stops short, the second finishes.
        let round = self.with(|s| {
            s.compactions += 1;
            s.compactions
        });
        Ok(Response::new(CompactHistoryResponse {
            floor: round * 10 + r.keep_last,
            removed: 10,
            done: round >= 2,
            revision: 9,
        }))
    }

    async fn upsert_tasks(
        &self,
        req: Request<UpsertTasksRequest>,
    ) -> Result<Response<UpsertTasksResponse>, Status> {
        let r = req.into_inner();
        self.gate(r.header.as_ref())?;
        Ok(Response::new(UpsertTasksResponse {
            workflow_id: r.workflow_id,
            tasks: r
                .tasks
                .into_iter()
                .map(|t| TaskRef {
                    id: t.id,
                    status: t.status.unwrap_or_else(|| "PENDING".into()),
                    version: 1,
                    attempts: 0,
                })
                .collect(),
            revision: 30,
        }))
    }

    async fn list_tasks(
        &self,
        _: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn set_namespace_limits(
        &self,
        _: Request<cairn_api::v1::SetNamespaceLimitsRequest>,
    ) -> Result<Response<cairn_api::v1::SetNamespaceLimitsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn get_namespace_quota(
        &self,
        _: Request<cairn_api::v1::GetNamespaceQuotaRequest>,
    ) -> Result<Response<cairn_api::v1::GetNamespaceQuotaResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn list_namespaces(
        &self,
        _: Request<cairn_api::v1::ListNamespacesRequest>,
    ) -> Result<Response<cairn_api::v1::ListNamespacesResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn update_vars(
        &self,
        _: Request<cairn_api::v1::UpdateVarsRequest>,
    ) -> Result<Response<cairn_api::v1::UpdateVarsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn rollback_vars(
        &self,
        _: Request<cairn_api::v1::RollbackVarsRequest>,
    ) -> Result<Response<cairn_api::v1::UpdateVarsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn get_vars(
        &self,
        _: Request<cairn_api::v1::GetVarsRequest>,
    ) -> Result<Response<cairn_api::v1::GetVarsResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn var_history(
        &self,
        _: Request<cairn_api::v1::VarHistoryRequest>,
    ) -> Result<Response<cairn_api::v1::VarHistoryResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn claim_task(
        &self,
        _: Request<cairn_api::v1::ClaimTaskRequest>,
    ) -> Result<Response<cairn_api::v1::ClaimTaskResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn finish_task(
        &self,
        _: Request<cairn_api::v1::FinishTaskRequest>,
    ) -> Result<Response<cairn_api::v1::FinishTaskResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }

    async fn adopt_workflow(
        &self,
        _: Request<cairn_api::v1::AdoptWorkflowRequest>,
    ) -> Result<Response<cairn_api::v1::AdoptWorkflowResponse>, Status> {
        Err(Status::unimplemented("mock"))
    }
}

async fn serve(mock: Mock) -> String {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkflowsServer::new(mock))
            .serve_with_incoming(incoming),
    );
    addr.to_string()
}

fn fast_config(retry_deadline: Duration) -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(300),
        retry_deadline,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(300),
        tls: None,
        credentials: None,
    }
}

#[tokio::test]
async fn rejections_become_typed_errors() {
    let mock = Mock::default();
    let c = Client::with_config(
        [serve(mock.clone()).await],
        fast_config(Duration::from_secs(3)),
    )
    .unwrap();
    let created = c
        .create_workflow(CreateWorkflow::new().id("w1"))
        .await
        .unwrap();
    assert!(created.created);
    assert_eq!(created.workflow.status, "PENDING");

    match c.create_workflow(CreateWorkflow::new().id("w1")).await {
        Err(Error::AlreadyExists(m)) => assert!(m.contains("w1"), "{m}"),
        other => panic!("{other:?}"),
    }
    match c
        .transition("w1", Target::status("PAUSED"), None, "t", "")
        .await
    {
        Err(Error::IllegalTransition {
            current, allowed, ..
        }) => {
            assert_eq!(current, "PENDING");
            assert_eq!(allowed, ["RUNNING", "CANCELLED"]);
        }
        other => panic!("{other:?}"),
    }
    match c
        .transition("w1", Target::event("start"), Some(7), "t", "")
        .await
    {
        Err(Error::VersionConflict { current }) => assert_eq!(current, 1),
        other => panic!("{other:?}"),
    }
    let moved = c
        .transition("w1", Target::event("start"), Some(1), "t", "go")
        .await
        .unwrap();
    assert_eq!((moved.status.as_str(), moved.version), ("RUNNING", 2));
    match c.pause_workflow("nope").await {
        Err(Error::NotFound(m)) => assert!(m.contains("nope"), "{m}"),
        other => panic!("{other:?}"),
    }
    match c.delete_workflow("w1", false).await {
        Err(Error::FailedPrecondition(m)) => assert!(m.contains("not terminal"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A definite rejection is answered once, never retried.
    assert_eq!(mock.with(|s| s.applied), 1);
}

#[tokio::test]
async fn retries_and_resume_keep_one_idempotency_key() {
    let mock = Mock::default();
    mock.with(|s| {
        s.workflows.insert("w".into(), ("PENDING".into(), 1));
        s.fail_next = 2;
    });
    let addr = serve(mock.clone()).await;
    let c = Client::with_config([addr.clone()], fast_config(Duration::from_secs(3))).unwrap();
    c.transition("w", Target::event("start"), Some(1), "", "")
        .await
        .unwrap();
    let headers = mock.with(|s| std::mem::take(&mut s.headers));
    assert_eq!(headers.len(), 3, "{headers:?}");
    assert!(headers.iter().all(|h| *h == headers[0]), "{headers:?}");

    // Retries run out: the outcome is unknown; resuming sends the same key again.
    mock.with(|s| s.fail_next = u32::MAX);
    let c = Client::with_config([addr], fast_config(Duration::from_millis(200))).unwrap();
    let pending = match c
        .upsert_tasks("w", [TaskSpec::new("a").input(json!({"n": 1}))])
        .await
    {
        Err(Error::OutcomeUnknown(p)) => *p,
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    };
    let key = pending.idempotency_key();
    let key = (key.0.to_string(), key.1);
    mock.with(|s| s.fail_next = 0);
    match c.resume(pending).await.unwrap() {
        WriteOutcome::Tasks(t) => {
            assert_eq!(t.tasks.len(), 1);
            assert_eq!(t.tasks[0].status, TaskStatus::Pending);
        }
        other => panic!("{other:?}"),
    }
    let headers = mock.with(|s| s.headers.clone());
    assert!(headers.len() >= 2, "{headers:?}");
    assert!(headers.iter().all(|h| *h == key), "{headers:?}");
}

#[tokio::test]
async fn reads_convert_json_tasks_and_history() {
    let mock = Mock::default();
    mock.with(|s| s.workflows.insert("w".into(), ("RUNNING".into(), 4)));
    let c = Client::with_config(
        [serve(mock.clone()).await],
        fast_config(Duration::from_secs(3)),
    )
    .unwrap();
    let d = c.workflow("w", true).await.unwrap().expect("exists");
    assert_eq!(d.workflow.metadata, json!({"job": {"step": 2}}));
    assert_eq!(d.workflow.version, 4);
    assert_eq!(d.progress.success_rate, Some(1.0));
    assert_eq!(d.tasks[0].status, TaskStatus::Completed);
    assert_eq!(d.tasks[0].output, Some(json!({"rows": 3})));
    assert_eq!(d.tasks[0].input, None);
    assert!(c.workflow("missing", false).await.unwrap().is_none());
    assert!(c.definition("nope", None).await.unwrap().is_none());

    let events = c.history_all("w").await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.version, e.kind))
            .collect::<Vec<_>>(),
        [(1, HistoryKind::Created), (2, HistoryKind::Transition)]
    );
    assert_eq!(events[0].event, None);
    assert_eq!(events[1].event.as_deref(), Some("start"));

    // Compaction repeats until the server says it is done.
    assert_eq!(c.compact_history("w", 3).await.unwrap(), 23);
    assert_eq!(mock.with(|s| s.compactions), 2);
}
