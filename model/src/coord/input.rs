//! The coordination part of `Request::check_input` (see `crate::input`): names, owners,
//! election values and lease TTLs against the node's bounds. A lease id of 0 in a keep-alive
//! or revoke is not refused here: it names no lease, the machine answers `UnknownLease`, and
//! etcd's keep-alive answers exactly that (TTL 0) rather than an error.

use super::command::{
    CoordCommand, CoordError, LeaseChoice, MAX_ELECTION_VALUE_BYTES, MAX_OWNER_BYTES,
};
use crate::input::{InputError, InputLimits, check_name, internal, invalid, size};

impl CoordCommand {
    /// This command's part of `Request::check_input`.
    pub fn check_input(&self, limits: &InputLimits) -> Result<(), InputError> {
        match self {
            CoordCommand::GrantLease { id, ttl_ms } => {
                // Lease 0 means "no lease" on a key: a lease cannot have that id.
                if *id == Some(0) {
                    return Err(invalid("lease id", "must be positive"));
                }
                check_ttl(limits, *ttl_ms)
            }
            CoordCommand::KeepAlive { .. } | CoordCommand::RevokeLease { .. } => Ok(()),
            CoordCommand::ExpireLeases { .. } => Err(internal("coord.expire_leases")),
            CoordCommand::RenewLeases { .. } => Err(internal("coord.renew_leases")),
            CoordCommand::Acquire {
                name, owner, lease, ..
            } => {
                check_name(name)?;
                check_owner(owner)?;
                check_lease(limits, lease)
            }
            CoordCommand::Release { name, owner, token } => {
                check_name(name)?;
                check_owner(owner)?;
                if *token == 0 {
                    return Err(invalid("token", "must be positive"));
                }
                Ok(())
            }
            CoordCommand::CancelWait { name, owner } => {
                check_name(name)?;
                check_owner(owner)
            }
            CoordCommand::Campaign {
                election,
                candidate,
                value,
                lease,
            } => {
                check_name(election)?;
                check_owner(candidate)?;
                size("value", value.len(), MAX_ELECTION_VALUE_BYTES)?;
                check_lease(limits, lease)
            }
            // Term 0 withdraws a candidacy still in line.
            CoordCommand::Resign {
                election,
                candidate,
                ..
            } => {
                check_name(election)?;
                check_owner(candidate)
            }
            CoordCommand::Proclaim {
                election,
                candidate,
                term,
                value,
            } => {
                check_name(election)?;
                check_owner(candidate)?;
                size("value", value.len(), MAX_ELECTION_VALUE_BYTES)?;
                if *term == 0 {
                    return Err(invalid("term", "must be positive"));
                }
                Ok(())
            }
        }
    }
}

/// A TTL within the node's bounds (which lie within the machine's own).
fn check_ttl(limits: &InputLimits, ttl_ms: u64) -> Result<(), InputError> {
    if (limits.min_lease_ttl_ms..=limits.max_lease_ttl_ms).contains(&ttl_ms) {
        return Ok(());
    }
    Err(InputError::Coord(CoordError::InvalidTtl {
        ttl_ms,
        min_ms: limits.min_lease_ttl_ms,
        max_ms: limits.max_lease_ttl_ms,
    }))
}

fn check_lease(limits: &InputLimits, lease: &LeaseChoice) -> Result<(), InputError> {
    match lease {
        LeaseChoice::Existing(0) => Err(invalid("lease_id", "must be positive")),
        LeaseChoice::Existing(_) => Ok(()),
        LeaseChoice::New { ttl_ms } => check_ttl(limits, *ttl_ms),
    }
}

fn check_owner(owner: &str) -> Result<(), InputError> {
    if owner.is_empty() || owner.len() > MAX_OWNER_BYTES {
        return Err(InputError::Coord(CoordError::InvalidOwner));
    }
    Ok(())
}
