//! What the etcd services share: proposing a transaction, reading a range at the local
//! applied state, and waiting for that state to reach a revision or change. The lock and
//! election services build etcd's client-side recipes from these, server-side.

use std::sync::Arc;

use crate::error::Error;
use crate::services::gateway::{Gateway, unexpected};
use cairn_model::txn::{KvError, RangeReply, RangeSpec, TxnCommand, TxnReply};
use cairn_model::{Command, CommandError, Response};
use cairn_storage::KvReader;
use cairn_storage::watch::EventHub;

#[derive(Clone)]
pub struct EtcdStore {
    pub gateway: Gateway,
    reader: KvReader,
    hub: Arc<EventHub>,
}

impl EtcdStore {
    pub fn new(gateway: Gateway, reader: KvReader, hub: Arc<EventHub>) -> Self {
        Self {
            gateway,
            reader,
            hub,
        }
    }

    /// Proposes `cmd` (the gateway checks it first, so a bad transaction never reaches the
    /// log), and returns its revision and reply.
    pub async fn txn(&self, cmd: TxnCommand) -> Result<(u64, TxnReply), Error> {
        match self.gateway.propose(None, Command::Txn(cmd)).await? {
            Response::Txn { revision, reply } => Ok((revision, reply)),
            other => Err(unexpected(other)),
        }
    }

    /// `spec` at `revision` (0 = now) and the applied revision, after a read index unless
    /// `serializable`.
    pub async fn range(
        &self,
        spec: &RangeSpec,
        revision: u64,
        serializable: bool,
    ) -> Result<(RangeReply, u64), Error> {
        crate::auth::caller::check_read(&spec.range).map_err(CommandError::from)?;
        self.gateway.before_read(serializable).await?;
        self.local_range(spec, revision)
    }

    /// `spec` at this node's applied state, without a read index.
    pub fn local_range(&self, spec: &RangeSpec, revision: u64) -> Result<(RangeReply, u64), Error> {
        self.reader
            .range_at(spec, revision)
            .map_err(Error::from)?
            .map_err(|e: KvError| e.into())
    }

    /// The standing alarms, as applied here.
    pub fn alarms(&self) -> Result<Vec<cairn_model::alarm::Alarm>, Error> {
        Ok(self.reader.alarms()?)
    }

    /// (compacted, current): revisions after `compacted` can be read here.
    pub fn history_window(&self) -> (u64, u64) {
        self.hub.window()
    }

    /// Waits until this node has applied `revision` (a write acknowledged by the leader may
    /// not have reached this replica yet; a recipe reading locally must not look earlier).
    pub async fn applied(&self, revision: u64) -> Result<(), Error> {
        let mut moved = self.hub.subscribe();
        moved
            .wait_for(|r| *r >= revision)
            .await
            .map(|_| ())
            .map_err(|_| Error::Unavailable("node is stopping".into()))
    }

    /// Waits for the applied state to move past `revision`.
    pub async fn changed_after(&self, revision: u64) -> Result<u64, Error> {
        self.applied(revision + 1).await?;
        Ok(self.hub.current())
    }
}
