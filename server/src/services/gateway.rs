//! What every client-facing service shares to reach Raft: proposing a command under the
//! request's idempotency session, waiting for the read index before a linearizable read, and
//! naming the leader in reply metadata.

use cairn_api::meta;
use cairn_api::v1::RequestHeader;
use cairn_model::coord::Fence;
use cairn_model::{Command, Request, Response, Session};
use cairn_raft::Proposer;
use cairn_storage::StateMachineStore;
use tonic::metadata::MetadataValue;

use crate::error::Error;

/// Longest accepted client id in an idempotency header.
const MAX_CLIENT_ID: usize = 128;

#[derive(Clone)]
pub struct Gateway {
    proposer: Proposer<StateMachineStore>,
}

impl Gateway {
    pub fn new(proposer: Proposer<StateMachineStore>) -> Self {
        Self { proposer }
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
        let session = session(header)?;
        let req = Request {
            session,
            time_ms: 0,
            fence,
            command,
        };
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
fn session(header: Option<RequestHeader>) -> Result<Option<Session>, Error> {
    let Some(h) = header.filter(|h| !h.client_id.is_empty()) else {
        return Ok(None);
    };
    if h.client_id.len() > MAX_CLIENT_ID {
        return Err(Error::too_large(
            "header.client_id",
            h.client_id.len(),
            MAX_CLIENT_ID,
        ));
    }
    Ok(Some(Session {
        client_id: h.client_id,
        sequence: h.sequence,
        first_incomplete: h.first_incomplete,
    }))
}

/// The machine answered a command with a reply of another kind: a bug, never bad input.
pub fn unexpected(r: Response) -> Error {
    Error::Internal(format!("unexpected reply from the state machine: {r:?}"))
}
