//! Coordination services (leases, locks, elections): the input checks every one of them makes
//! before proposing (on the request's fields; the command meets the same again in the
//! gateway's `Request::check_input`, with the bounds shared from cairn-model), the shared
//! propose/read helpers, conversions to the public messages, and the fence a KV or workflow
//! write may carry.

pub mod elections;
pub mod leases;
pub mod locks;
#[cfg(test)]
mod tests;
mod waiter;

use std::sync::Arc;
use std::time::Duration;

use cairn_api::v1 as pb;
use cairn_model::coord::command::{MAX_ELECTION_VALUE_BYTES as MAX_VALUE_BYTES, MAX_OWNER_BYTES};
use cairn_model::coord::{Attachment, CoordCommand, CoordError, Fence, Holder, LeaseChoice};
use cairn_model::coord::{LeaseRecord, LockRecord};
use cairn_model::workflow::names::is_valid_id;
use cairn_model::{Command, Response};
use cairn_raft::now_ms;
use cairn_storage::CoordReader;
use cairn_storage::watch::EventHub;
use tonic::Status;

use super::gateway::{Gateway, unexpected};
use crate::coord_config::CoordConfig;
use crate::status;

/// What the three services share. Cheap to clone.
#[derive(Clone)]
pub struct Coord {
    gateway: Gateway,
    reader: CoordReader,
    /// Wakes on every applied batch: blocking calls and observers re-read on it instead of
    /// polling.
    hub: Arc<EventHub>,
    config: CoordConfig,
}

impl Coord {
    pub fn new(
        gateway: Gateway,
        reader: CoordReader,
        hub: Arc<EventHub>,
        config: CoordConfig,
    ) -> Self {
        Self {
            gateway,
            reader,
            hub,
            config,
        }
    }

    /// Proposes a coordination command; returns the entry's revision and the reply. A
    /// rejection by the machine is already its typed status.
    async fn propose(
        &self,
        header: Option<pb::RequestHeader>,
        fence: Option<Fence>,
        command: CoordCommand,
    ) -> Result<(u64, cairn_model::coord::CoordReply), Status> {
        match self
            .gateway
            .propose_fenced(header, fence, Command::Coord(command))
            .await?
        {
            Response::Coord { revision, reply } => Ok((revision, reply)),
            other => Err(unexpected(other).into()),
        }
    }

    fn check_ttl(&self, ttl_ms: u64) -> Result<(), Status> {
        check_ttl(&self.config, ttl_ms)
    }

    fn lease_choice(
        &self,
        lease_id: Option<u64>,
        ttl_ms: Option<u64>,
    ) -> Result<LeaseChoice, Status> {
        lease_choice(&self.config, lease_id, ttl_ms)
    }

    fn check_wait(&self, wait_ms: u64) -> Result<Duration, Status> {
        check_wait(&self.config, wait_ms)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&CoordReader) -> Result<T, cairn_storage::StorageError>,
    ) -> Result<T, Status> {
        f(&self.reader).map_err(status::storage_error)
    }
}

fn check_ttl(config: &CoordConfig, ttl_ms: u64) -> Result<(), Status> {
    if (config.min_ttl_ms..=config.max_ttl_ms).contains(&ttl_ms) {
        Ok(())
    } else {
        Err(status::coord_error(CoordError::InvalidTtl {
            ttl_ms,
            min_ms: config.min_ttl_ms,
            max_ms: config.max_ttl_ms,
        }))
    }
}

/// The lease a lock or candidacy binds to: an existing one, or a new one with a TTL.
fn lease_choice(
    config: &CoordConfig,
    lease_id: Option<u64>,
    ttl_ms: Option<u64>,
) -> Result<LeaseChoice, Status> {
    match (lease_id, ttl_ms) {
        (Some(0), _) => Err(invalid("lease_id must be positive")),
        (Some(id), _) => Ok(LeaseChoice::Existing(id)),
        (None, Some(ttl_ms)) => {
            check_ttl(config, ttl_ms)?;
            Ok(LeaseChoice::New { ttl_ms })
        }
        (None, None) => Err(invalid(
            "set lease_id (an existing lease) or ttl_ms (a new one)",
        )),
    }
}

/// A blocking call's wait, within the node's maximum.
fn check_wait(config: &CoordConfig, wait_ms: u64) -> Result<Duration, Status> {
    let wait = Duration::from_millis(wait_ms);
    if wait > config.max_wait {
        return Err(invalid(format!(
            "wait_timeout_ms {wait_ms} exceeds the maximum {}",
            config.max_wait.as_millis()
        )));
    }
    Ok(wait)
}

/// An election value (Campaign, Proclaim) within its size limit.
fn check_value(value: &[u8]) -> Result<(), Status> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(status::too_large("value", value.len(), MAX_VALUE_BYTES));
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> Status {
    status::invalid(msg)
}

/// Whether the caller may read these lock or election names (names are keys for
/// permissions, as in etcd).
fn read_names(range: cairn_model::txn::KeyRange) -> Result<(), Status> {
    crate::auth::caller::check_read(&range).map_err(status::auth_error)
}

/// A lock or election name: the same rule as workflow ids.
fn check_name(name: &str) -> Result<(), Status> {
    if is_valid_id(name) {
        Ok(())
    } else {
        Err(status::coord_error(CoordError::InvalidName(
            name.to_string(),
        )))
    }
}

fn check_owner(owner: &str) -> Result<(), Status> {
    if owner.is_empty() || owner.len() > MAX_OWNER_BYTES {
        Err(status::coord_error(CoordError::InvalidOwner))
    } else {
        Ok(())
    }
}

/// The fence of a KV or workflow write. Token 0 is refused: it would match a lock nobody
/// holds, which proves nothing.
pub fn fence(f: Option<pb::Fence>) -> Result<Option<Fence>, Status> {
    use pb::fence::Target;
    let Some(f) = f else { return Ok(None) };
    if f.token == 0 {
        return Err(invalid(
            "fence.token must be positive (a lock token or term)",
        ));
    }
    let fence = match f.target {
        Some(Target::Lock(name)) => {
            check_name(&name)?;
            Fence::Lock {
                name,
                token: f.token,
            }
        }
        Some(Target::Election(name)) => {
            check_name(&name)?;
            Fence::Election {
                name,
                term: f.token,
            }
        }
        Some(Target::Workflow(workflow_id)) => {
            check_name(&workflow_id)?;
            Fence::Owner {
                workflow_id,
                epoch: f.token,
            }
        }
        None => return Err(invalid("fence: set lock, election or workflow")),
    };
    Ok(Some(fence))
}

fn lease_pb(l: &LeaseRecord) -> pb::Lease {
    pb::Lease {
        id: l.id,
        ttl_ms: l.ttl_ms,
        expires_ms: l.expires_ms,
        remaining_ms: l.expires_ms.saturating_sub(now_ms()),
    }
}

fn attachment_pb(a: &Attachment) -> pb::LeaseAttachment {
    use pb::lease_attachment::Target;
    let (target, owner) = match a {
        Attachment::Lock { name, owner } => (Target::Lock(name.clone()), owner),
        Attachment::Election { name, candidate } => (Target::Election(name.clone()), candidate),
        Attachment::Key { key } => {
            return pb::LeaseAttachment {
                target: Some(Target::Key(key.clone())),
                owner: String::new(),
            };
        }
        Attachment::Task {
            workflow_id,
            task_id,
        } => {
            return pb::LeaseAttachment {
                target: Some(Target::Task(format!("{workflow_id}/{task_id}"))),
                owner: String::new(),
            };
        }
        Attachment::Workflow { id } => {
            return pb::LeaseAttachment {
                target: Some(Target::Workflow(id.clone())),
                owner: String::new(),
            };
        }
    };
    pb::LeaseAttachment {
        target: Some(target),
        owner: owner.clone(),
    }
}

fn holder_pb(h: Holder) -> pb::Holder {
    pb::Holder {
        owner: h.owner,
        lease_id: h.lease,
        token: h.token,
        value: h.value,
        since_ms: h.since_ms,
    }
}

fn lock_pb(r: LockRecord) -> pb::Lock {
    pb::Lock {
        name: r.name,
        holder: r.holder.map(holder_pb),
        waiters: r.waiters.into_iter().map(holder_pb).collect(),
    }
}
