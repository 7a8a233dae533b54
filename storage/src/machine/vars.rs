//! Versioned variables: an update or a rollback checks everything first (expected version,
//! immutable keys, limits, the version to restore being kept) and then writes the new set and
//! its history record, and forgets versions beyond the set's retention (a bounded number per
//! command: each command adds one version).

use std::collections::BTreeMap;

use cairn_model::workflow::vars::{
    DEFAULT_KEEP_VERSIONS, MAX_VARS, RollbackVars, UpdateVars, VarScope, VarSet, VarVersion,
    checksum, values_as_of,
};
use cairn_model::workflow::{WorkflowError, WorkflowReply};

use super::batch::{BatchCtx, TxResult, encode, get};
use super::workflow_store as store;
use crate::keyspace::Space;
use crate::watch::Change;

type Outcome = Result<WorkflowReply, WorkflowError>;

/// Versions one command forgets at most (retention lowered by a lot catches up over the
/// following commands).
const MAX_FORGET_PER_COMMAND: u64 = 64;

pub(crate) fn history_key(scope_key: &[u8], version: u64) -> Vec<u8> {
    let mut k = scope_key.to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn load(ctx: &BatchCtx<'_>, scope: &VarScope) -> TxResult<VarSet> {
    Ok(
        get(ctx, Space::Vars, &scope.key())?.unwrap_or_else(|| VarSet {
            keep_versions: DEFAULT_KEEP_VERSIONS,
            floor: 1,
            ..VarSet::default()
        }),
    )
}

/// The namespace the scope's variables belong to (watch filters select by it): a
/// workflow's, which must exist, or the namespace itself.
fn owner_namespace(
    ctx: &BatchCtx<'_>,
    scope: &VarScope,
) -> TxResult<Result<String, WorkflowError>> {
    Ok(match scope {
        VarScope::Workflow(id) => match store::workflow(ctx, id)? {
            Some(w) => Ok(w.namespace),
            None => Err(WorkflowError::NotFound(id.clone())),
        },
        VarScope::Namespace(ns) => Ok(ns.clone()),
    })
}

fn check_version(
    set: &VarSet,
    scope: &VarScope,
    expected: Option<u64>,
) -> Result<(), WorkflowError> {
    match expected {
        Some(e) if e != set.version => Err(WorkflowError::VarsVersionConflict {
            scope: scope.clone(),
            expected: e,
            current: set.version,
        }),
        _ => Ok(()),
    }
}

pub(super) fn update(
    ctx: &BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    u: &UpdateVars,
) -> TxResult<Outcome> {
    let namespace = match owner_namespace(ctx, &u.scope)? {
        Ok(ns) => ns,
        Err(e) => return Ok(Err(e)),
    };
    let mut set = load(ctx, &u.scope)?;
    if let Err(e) = check_version(&set, &u.scope, u.expected_version) {
        return Ok(Err(e));
    }
    let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (k, v) in &u.set {
        if set.values.get(k) != Some(v) {
            changes.insert(k.clone(), Some(v.clone()));
        }
    }
    for k in &u.delete {
        if set.values.contains_key(k) {
            changes.insert(k.clone(), None);
        }
    }
    if let Some(key) = changes.keys().find(|k| set.immutable.contains(*k)) {
        return Ok(Err(WorkflowError::ImmutableVar {
            scope: u.scope.clone(),
            key: key.clone(),
        }));
    }
    let mut values = set.values.clone();
    for (k, v) in &changes {
        match v {
            Some(v) => values.insert(k.clone(), v.clone()),
            None => values.remove(k),
        };
    }
    if let Some(k) = u.immutable.iter().find(|k| !values.contains_key(*k)) {
        return Ok(Err(WorkflowError::VarsLimit {
            scope: u.scope.clone(),
            what: format!("immutable key {k} has no value"),
        }));
    }
    if values.len() > MAX_VARS {
        return Ok(Err(WorkflowError::VarsLimit {
            scope: u.scope.clone(),
            what: format!("{} keys, at most {MAX_VARS}", values.len()),
        }));
    }
    let bytes: usize = values.iter().map(|(k, v)| k.len() + v.len()).sum();
    let max = super::batch::record_limits(ctx)?.max_metadata_bytes;
    if bytes > max {
        return Ok(Err(WorkflowError::VarsLimit {
            scope: u.scope.clone(),
            what: format!("{bytes} bytes, at most {max}"),
        }));
    }
    set.immutable.extend(u.immutable.iter().cloned());
    if let Some(keep) = u.keep_versions {
        set.keep_versions = keep;
    }
    commit(
        ctx,
        revision,
        now_ms,
        (&u.scope, namespace),
        set,
        values,
        changes,
        &u.actor,
        &u.reason,
        None,
    )
}

pub(super) fn rollback(
    ctx: &BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    r: &RollbackVars,
) -> TxResult<Outcome> {
    let (scope, to_version) = (&r.scope, r.to_version);
    let namespace = match owner_namespace(ctx, scope)? {
        Ok(ns) => ns,
        Err(e) => return Ok(Err(e)),
    };
    let set = load(ctx, scope)?;
    if let Err(e) = check_version(&set, scope, r.expected_version) {
        return Ok(Err(e));
    }
    if to_version < set.floor || to_version > set.version {
        return Ok(Err(WorkflowError::VarsVersionGone {
            scope: scope.clone(),
            version: to_version,
            floor: set.floor,
            current: set.version,
        }));
    }
    let key = scope.key();
    let mut newer = Vec::new();
    for v in to_version + 1..=set.version {
        match get::<VarVersion>(ctx, Space::VarHistory, &history_key(&key, v))? {
            Some(rec) => newer.push(rec),
            None => {
                return Ok(Err(WorkflowError::VarsVersionGone {
                    scope: scope.clone(),
                    version: v,
                    floor: set.floor,
                    current: set.version,
                }));
            }
        }
    }
    let target = values_as_of(&set.values, &newer);
    let mut changes = BTreeMap::new();
    for (k, v) in &target {
        if set.values.get(k) != Some(v) {
            changes.insert(k.clone(), Some(v.clone()));
        }
    }
    for k in set.values.keys() {
        if !target.contains_key(k) {
            changes.insert(k.clone(), None);
        }
    }
    if let Some(key) = changes.keys().find(|k| set.immutable.contains(*k)) {
        return Ok(Err(WorkflowError::ImmutableVar {
            scope: scope.clone(),
            key: key.clone(),
        }));
    }
    commit(
        ctx,
        revision,
        now_ms,
        (scope, namespace),
        set,
        target,
        changes,
        &r.actor,
        &r.reason,
        Some(to_version),
    )
}

/// Writes the next version of `set` with `values`, its history record, and forgets what the
/// retention no longer keeps.
#[allow(clippy::too_many_arguments)]
fn commit(
    ctx: &BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    (scope, namespace): (&VarScope, String),
    mut set: VarSet,
    values: BTreeMap<String, String>,
    changes: BTreeMap<String, Option<String>>,
    actor: &str,
    reason: &str,
    rolled_back_to: Option<u64>,
) -> TxResult<Outcome> {
    let previous = changes
        .keys()
        .map(|k| (k.clone(), set.values.get(k).cloned()))
        .collect();
    set.version += 1;
    set.values = values;
    set.checksum = checksum(&set.values);
    set.mod_revision = revision;
    set.updated_ms = now_ms;
    set.updated_by = actor.to_string();
    let key = scope.key();
    let record = VarVersion {
        version: set.version,
        revision,
        time_ms: now_ms,
        actor: actor.to_string(),
        reason: reason.to_string(),
        changes,
        previous,
        checksum: set.checksum,
        rolled_back_to,
    };
    let history = ctx.tx.tree(Space::VarHistory);
    history.insert(history_key(&key, set.version), encode(&record)?)?;
    let keep_from = set
        .version
        .saturating_sub(u64::from(set.keep_versions).saturating_sub(1))
        .max(1);
    let mut forgotten = 0;
    while set.floor < keep_from && forgotten < MAX_FORGET_PER_COMMAND {
        history.remove(history_key(&key, set.floor))?;
        set.floor += 1;
        forgotten += 1;
    }
    ctx.tx.tree(Space::Vars).insert(key, encode(&set)?)?;
    let reply = WorkflowReply::Vars {
        version: set.version,
        checksum: set.checksum,
    };
    ctx.events.push(Change::VarsPut {
        scope: scope.clone(),
        namespace,
        record: Box::new(set),
    });
    Ok(Ok(reply))
}

/// Removes a scope's variables and their kept history (a deleted workflow's, in
/// `namespace`).
pub(super) fn remove(ctx: &BatchCtx<'_>, scope: &VarScope, namespace: &str) -> TxResult<()> {
    let key = scope.key();
    let Some(set) = get::<VarSet>(ctx, Space::Vars, &key)? else {
        return Ok(());
    };
    let history = ctx.tx.tree(Space::VarHistory);
    for v in set.floor.max(1)..=set.version {
        history.remove(history_key(&key, v))?;
    }
    ctx.tx.tree(Space::Vars).remove(key)?;
    ctx.events.push(Change::VarsDelete {
        scope: scope.clone(),
        namespace: namespace.to_string(),
    });
    Ok(())
}
