//! cairn-client: a thin async client for Cairn.
//!
//! It talks to any node (followers forward to the leader), remembers which node answered or
//! was named leader, retries transient failures with jittered exponential backoff, and tags
//! every write with an idempotency key that all retries share, so a retried write is applied
//! at most once.
//!
//! ```no_run
//! # async fn demo() -> cairn_client::Result<()> {
//! let client = cairn_client::Client::connect(["127.0.0.1:7001", "127.0.0.1:7002"])?;
//! let rev = client.put("greeting", "hello").await?;
//! let kv = client.get("greeting").await?.expect("just written");
//! assert_eq!(kv.mod_revision, rev);
//! client.put_if("greeting", "bye", rev).await?;
//! # Ok(()) }
//! ```
//!
//! Workflows follow a definition's legal transitions, enforced by the cluster:
//!
//! ```no_run
//! # async fn demo() -> cairn_client::Result<()> {
//! use cairn_client::{CreateWorkflow, Error, Target};
//! let client = cairn_client::Client::connect(["127.0.0.1:7001"])?;
//! let wf = client
//!     .create_workflow(CreateWorkflow::new().metadata(cairn_client::serde_json::json!({"job": 7})))
//!     .await?
//!     .workflow;
//! let wf = client
//!     .transition(&wf.id, Target::event("start"), Some(wf.version), "me", "go")
//!     .await?;
//! match client.transition(&wf.id, Target::status("PENDING"), None, "me", "").await {
//!     Err(Error::IllegalTransition { current, allowed, .. }) => {
//!         assert_eq!(current, "RUNNING");
//!         assert!(allowed.contains(&"PAUSED".to_string()));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok(()) }
//! ```

mod admin;
mod cache;
mod checkpoint;
mod client;
mod config;
mod coord;
mod endpoints;
mod error;
mod in_flight;
mod kv;
mod login;
mod pending;
mod retry;
mod tls;
mod watch;
mod workflow;
mod write_op;

pub use cache::WorkflowCache;
pub use cairn_api::v1::{Member, StatusResponse};
pub use checkpoint::{
    CheckpointInfo, CheckpointKind, CheckpointPage, Codec, LoadOptions, RetentionPolicy,
    RetentionScope, SaveOptions, SavedCheckpoint,
};
pub use client::Client;
pub use config::ClientConfig;
pub use coord::{
    CampaignOptions, CoordOutcome, ElectionObserver, Fence, Fenced, Holder, KeepAlive,
    LeaderChange, LeaderState, Leadership, LeaseAttachment, LeaseDetails, LeaseInfo, LockGuard,
    LockOptions, LockState,
};
pub use error::{Error, Result};
pub use kv::{
    CompareOp, CompareTarget, DeleteResult, KeyValue, RangePage, Txn, TxnOp, TxnOpResult, TxnResult,
};
pub use login::Credentials;
pub use pending::WriteOutcome;
/// Re-exported so callers build metadata and task payloads with the same `Value` type.
pub use serde_json;
pub use tls::TlsOptions;
pub use watch::{
    CheckpointMeta, WatchChange, WatchEvent, WatchFilter, WatchItem, WatchObject, WatchOptions,
    WatchSelector, WatchStream,
};
pub use workflow::{
    Adoption, ClaimOptions, Claimed, CreateWorkflow, CreatedWorkflow, Definition, DeletedWorkflow,
    HistoryEvent, HistoryKind, HistoryPage, ListOptions, MAX_STEP_CHECKPOINT_BYTES, MAX_STEPS,
    NamespaceLimits, NamespaceQuota, NamespaceUsage, Progress, RegisteredDefinition, RetryPolicy,
    RunResult, SortBy, Step, StepResult, StepsApplied, Target, Task, TaskFilter, TaskRef, TaskSpec,
    TaskStatus, Transition, UpdateWorkflow, UpsertedTasks, VarChange, VarScope, VarUpdate,
    VarVersion, Vars, VarsWritten, VersionedDefinition, Workflow, WorkflowDetails, WorkflowPage,
    WorkflowRef,
};
pub use write_op::PendingWrite;
