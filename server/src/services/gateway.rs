//! What every client-facing service shares to reach Raft: proposing a command under the
//! request's idempotency session after the input check every proposed request meets
//! (`Request::check_input`, the same the leader runs on a forwarded write), waiting for the
//! read index before a linearizable read, and naming the leader in reply metadata.

use cairn_api::meta;
use cairn_api::v1::RequestHeader;
use cairn_model::alarm::AlarmKind;
use cairn_model::coord::Fence;
use cairn_model::{Command, CommandError, InputLimits, Request, Response, Session};
use cairn_raft::Proposer;
use cairn_storage::{KvReader, StateMachineStore, WorkflowReader};
use tonic::metadata::MetadataValue;

use crate::error::Error;

#[derive(Clone)]
pub struct Gateway {
    proposer: Proposer<StateMachineStore>,
    limits: InputLimits,
    /// Which namespace a workflow is in, for authorizing writes to it (auth on).
    workflows: Option<WorkflowReader>,
    /// The alarms as applied here: while NOSPACE stands, a write that can grow the state is
    /// refused before it costs a log entry on a disk that is filling.
    alarms: Option<KvReader>,
}

impl Gateway {
    /// A gateway checking input against the default configuration's limits.
    pub fn new(proposer: Proposer<StateMachineStore>) -> Self {
        Self {
            proposer,
            limits: crate::input::default_limits(),
            workflows: None,
            alarms: None,
        }
    }

    /// Refuses writes that can grow the state while `reader` shows a NOSPACE alarm (as etcd's
    /// quota check does before proposing); apply refuses them anyway on every replica.
    pub fn with_alarms(mut self, reader: KvReader) -> Self {
        self.alarms = Some(reader);
        self
    }

    fn no_space(&self, command: &Command) -> bool {
        command.grows()
            && self.alarms.as_ref().is_some_and(|r| {
                r.alarms()
                    .is_ok_and(|a| a.iter().any(|a| a.kind == AlarmKind::NoSpace))
            })
    }

    /// Authorizes writes to workflows by the namespace `reader` says they are in (without
    /// it, only by the namespace a create names; apply checks the workflow's own either way).
    pub fn with_workflows(mut self, reader: WorkflowReader) -> Self {
        self.workflows = Some(reader);
        self
    }

    /// The namespace workflow `id` is in here, if it exists.
    pub fn namespace_of(&self, id: &str) -> Option<String> {
        crate::auth::caller::namespace_of(self.workflows.as_ref()?, id)
    }

    /// Checks input against `limits`: the node's (`crate::input::limits`).
    pub fn with_limits(mut self, limits: InputLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Applies `command` through Raft (here or on the leader). A deterministic rejection by
    /// the state machine becomes its typed status.
    pub async fn propose(
        &self,
        header: Option<RequestHeader>,
        command: Command,
    ) -> Result<Response, Error> {
        self.propose_fenced(header, None, command).await
    }

    /// [`Gateway::propose`] for a write that carries a fence: the state machine applies it
    /// only while that lock token / election term is current (else `stale_fence`).
    pub async fn propose_fenced(
        &self,
        header: Option<RequestHeader>,
        fence: Option<Fence>,
        command: Command,
    ) -> Result<Response, Error> {
        // The caller must be allowed this write; the stamp lets apply check again if the
        // auth state moves before the entry applies.
        let auth = crate::auth::caller::current()
            .stamp(&command, |id| self.namespace_of(id))
            .map_err(CommandError::from)?;
        let req = Request {
            session: session(header),
            time_ms: 0,
            fence,
            auth,
            command,
        };
        // Bad input never costs a log entry (nor a trip to the leader, which checks again).
        req.check_input(&self.limits)?;
        if self.no_space(&req.command) {
            return Err(CommandError::NoSpace.into());
        }
        match self.proposer.write(req).await? {
            Response::Rejected(e) => Err(e.into()),
            other => Ok(other),
        }
    }

    /// Wraps a reply; on a follower, names the leader in metadata so the client sends its next
    /// request there directly instead of through this node.
    pub fn reply<T>(&self, msg: T) -> tonic::Response<T> {
        let mut resp = tonic::Response::new(msg);
        if let Ok(Some(leader)) = self.proposer.route()
            && let Ok(v) = MetadataValue::try_from(leader.client_addr.as_str())
        {
            resp.metadata_mut().insert(meta::LEADER, v);
        }
        resp
    }

    /// Waits for the read index unless the caller accepts a possibly stale local read.
    pub async fn before_read(&self, serializable: bool) -> Result<(), Error> {
        // Negative control of the chaos checkers (failpoints builds only): a deliberate
        // stale-read bug, serving a linearizable read from local state without a read index.
        fail::fail_point!("stale-read", |_| Ok(()));
        if !serializable {
            self.proposer.linearize().await?;
        }
        Ok(())
    }
}

/// The idempotency session of a write; a request without a client id is not deduplicated.
/// (`check_input` bounds the client id.)
fn session(header: Option<RequestHeader>) -> Option<Session> {
    let h = header.filter(|h| !h.client_id.is_empty())?;
    Some(Session {
        client_id: h.client_id,
        sequence: h.sequence,
        first_incomplete: h.first_incomplete,
    })
}

/// The machine answered a command with a reply of another kind: a bug, never bad input.
pub fn unexpected(r: Response) -> Error {
    Error::Internal(format!("unexpected reply from the state machine: {r:?}"))
}
