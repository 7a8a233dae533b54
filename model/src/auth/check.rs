//! Which permissions a command needs ([`needs`]) and whether a user has them ([`authorize`]).
//! The serving node runs both before proposing; apply runs them again when the auth state
//! changed after that check. Pure: the caller hands in the user and a way to look up roles.

use crate::auth::{AuthError, Resource, Role, User};
use crate::command::Command;
use crate::coord::CoordCommand;
use crate::txn::{KeyRange, TxnCommand, TxnOp};

/// One thing a request must be allowed. No needs at all: any authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Only the root role (admin RPCs, auth management, compaction; for now also Cairn's
    /// workflow and checkpoint APIs, until namespace permissions exist).
    Root,
    Read(KeyRange),
    Write(KeyRange),
}

/// What `cmd` needs when auth is on. Internal commands need nothing (they never come from a
/// caller); leases need only a user, as in etcd.
pub fn needs(cmd: &Command) -> Vec<Need> {
    match cmd {
        Command::Put { key, .. } | Command::Delete { key, .. } => {
            vec![Need::Write(KeyRange::single(key.clone()))]
        }
        Command::Txn(t) => {
            let mut out = Vec::new();
            txn_needs(t, &mut out);
            out
        }
        Command::Coord(c) => coord_needs(c),
        Command::Workflow(_) | Command::Checkpoint(_) | Command::Compact { .. } => {
            vec![Need::Root]
        }
        Command::Auth(_) => vec![Need::Root],
        Command::SetClusterId { .. } | Command::SetRecordLimits(_) => Vec::new(),
    }
}

fn txn_needs(t: &TxnCommand, out: &mut Vec<Need>) {
    for c in &t.compare {
        out.push(Need::Read(c.range.clone()));
    }
    for op in t.success.iter().chain(&t.failure) {
        match op {
            TxnOp::Range(r) => out.push(Need::Read(r.range.clone())),
            TxnOp::Put(p) => {
                let key = KeyRange::single(p.key.clone());
                if p.prev_kv {
                    out.push(Need::Read(key.clone()));
                }
                out.push(Need::Write(key));
            }
            TxnOp::DeleteRange { range, prev_kv } => {
                if *prev_kv {
                    out.push(Need::Read(range.clone()));
                }
                out.push(Need::Write(range.clone()));
            }
            TxnOp::Txn(inner) => txn_needs(inner, out),
        }
    }
}

/// Lock and election names are keys for permissions, as they are in etcd.
fn coord_needs(c: &CoordCommand) -> Vec<Need> {
    let name = match c {
        CoordCommand::Acquire { name, .. }
        | CoordCommand::Release { name, .. }
        | CoordCommand::CancelWait { name, .. } => name,
        CoordCommand::Campaign { election, .. }
        | CoordCommand::Resign { election, .. }
        | CoordCommand::Proclaim { election, .. } => election,
        CoordCommand::GrantLease { .. }
        | CoordCommand::KeepAlive { .. }
        | CoordCommand::RevokeLease { .. }
        | CoordCommand::ExpireLeases { .. }
        | CoordCommand::RenewLeases { .. } => return Vec::new(),
    };
    vec![Need::Write(KeyRange::single(name.as_bytes().to_vec()))]
}

/// Whether `user` (with roles looked up by `role`) may do everything in `needs`.
pub fn authorize(
    user: &User,
    role: impl Fn(&str) -> Option<Role>,
    needs: &[Need],
) -> Result<(), AuthError> {
    if user.is_root() {
        return Ok(());
    }
    if needs.iter().any(|n| matches!(n, Need::Root)) {
        return Err(AuthError::PermissionDenied);
    }
    if needs.is_empty() {
        return Ok(());
    }
    let roles: Vec<Role> = user.roles.iter().filter_map(|r| role(r)).collect();
    for need in needs {
        let (range, write) = match need {
            Need::Read(r) => (r, false),
            Need::Write(r) => (r, true),
            Need::Root => return Err(AuthError::PermissionDenied),
        };
        if !covered(&roles, range, write) {
            return Err(AuthError::PermissionDenied);
        }
    }
    Ok(())
}

/// The end of a half-open interval of keys; `Inf` is past every key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Key(Vec<u8>),
    Inf,
}

/// `range` as `[start, end)`: a single key `k` is `[k, k\0)`, `\0` is "to the end", an
/// inverted range is taken as its first key (so it never needs less than that key).
fn interval(range: &KeyRange) -> (Vec<u8>, End) {
    let one = || {
        let mut next = range.key.clone();
        next.push(0);
        End::Key(next)
    };
    let end = if range.range_end.is_empty() {
        one()
    } else if range.range_end == [0] {
        End::Inf
    } else if range.range_end <= range.key {
        one()
    } else {
        End::Key(range.range_end.clone())
    };
    (range.key.clone(), end)
}

/// Whether the union of the roles' permissions of the right kind covers `range` (etcd merges
/// a user's permissions into one interval set before checking the same way).
fn covered(roles: &[Role], range: &KeyRange, write: bool) -> bool {
    let mut have: Vec<(Vec<u8>, End)> = roles
        .iter()
        .flat_map(|r| &r.permissions)
        .filter(|p| p.kind.allows(write))
        .map(|p| match &p.resource {
            Resource::Keys(r) => interval(r),
        })
        .collect();
    have.sort();
    let (start, want_end) = interval(range);
    let mut reached = End::Key(start.clone());
    for (from, to) in have {
        if End::Key(from) > reached {
            break;
        }
        if to > reached {
            reached = to;
        }
        if reached >= want_end {
            return true;
        }
    }
    false
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
