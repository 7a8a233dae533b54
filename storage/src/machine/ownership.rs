//! Workflow ownership under a lease: an orchestrator adopts a workflow (first owner, or the
//! next one after the previous owner's lease ended), and the workflow is orphaned when its
//! owner's lease ends. Each adoption starts a new epoch, the fencing token
//! (`Fence::Owner`) that the owner's writes carry: the previous owner's late writes are
//! refused once someone else adopted the workflow, or once it was orphaned.

use cairn_model::coord::Attachment;
use cairn_model::workflow::command::AdoptWorkflow;
use cairn_model::workflow::record::HistoryKind;
use cairn_model::workflow::{WorkflowError, WorkflowReply};

use super::batch::{BatchCtx, TxResult};
use super::lease_store::{detach, lease, lease_exists, put_lease};
use super::workflow_store::{self as store, bump, event};

type Outcome = Result<WorkflowReply, WorkflowError>;

/// The epoch a `Fence::Owner` must present: the current owner's (0 if orphaned or unowned,
/// which no fence matches: input checks refuse epoch 0).
pub(super) fn current_epoch(ctx: &BatchCtx<'_>, id: &str) -> TxResult<u64> {
    Ok(store::workflow(ctx, id)?
        .filter(|w| w.owner_lease != 0)
        .map_or(0, |w| w.owner_epoch))
}

pub(super) fn adopt(
    ctx: &mut BatchCtx<'_>,
    revision: u64,
    now_ms: u64,
    a: &AdoptWorkflow,
) -> TxResult<Outcome> {
    let Some(old) = store::workflow(ctx, &a.id)? else {
        return Ok(Err(WorkflowError::NotFound(a.id.clone())));
    };
    if let Some(expected) = a.expected_version
        && expected != old.version
    {
        return Ok(Err(WorkflowError::VersionConflict {
            id: a.id.clone(),
            expected,
            current: old.version,
        }));
    }
    let Some(mut l) = lease(ctx, a.lease)? else {
        return Ok(Err(WorkflowError::UnknownLease(a.lease)));
    };
    if old.owner_lease != 0 && lease_exists(ctx, old.owner_lease)? {
        if old.owner_id == a.owner_id && old.owner_lease == a.lease {
            return Ok(Ok(WorkflowReply::Adopted {
                workflow: old.to_ref(),
                epoch: old.owner_epoch,
                previous_owner: old.owner_id.clone(),
            }));
        }
        return Ok(Err(WorkflowError::Owned {
            id: a.id.clone(),
            owner: old.owner_id.clone(),
            lease: old.owner_lease,
        }));
    }
    let binding = Attachment::Workflow { id: a.id.clone() };
    if old.owner_lease != 0 {
        detach(ctx, old.owner_lease, &binding)?;
    }
    let mut rec = old.clone();
    rec.owner_id.clone_from(&a.owner_id);
    rec.owner_lease = a.lease;
    rec.owner_epoch = revision;
    rec.orphaned_ms = None;
    bump(&mut rec, revision, now_ms);
    l.attached.insert(binding);
    put_lease(ctx, &l)?;
    store::put_workflow(ctx, Some(&old), &rec)?;
    let mut ev = event(&rec, HistoryKind::Adopted, &old.status, &a.owner_id);
    ev.reason = if a.reason.is_empty() && !old.owner_id.is_empty() {
        format!("adopted from {}", old.owner_id)
    } else {
        a.reason.clone()
    };
    store::append_history(ctx, &a.id, &ev)?;
    Ok(Ok(WorkflowReply::Adopted {
        workflow: rec.to_ref(),
        epoch: revision,
        previous_owner: old.owner_id,
    }))
}

/// Lease `lease_id` ended while owning workflow `id`: it is orphaned (kept as it is, owner
/// named, waiting for an adopter). Nothing happens if someone else owns it by now.
pub(super) fn orphan(
    ctx: &mut BatchCtx<'_>,
    id: &str,
    lease_id: u64,
    revision: u64,
    now_ms: u64,
) -> TxResult<()> {
    let Some(old) = store::workflow(ctx, id)? else {
        return Ok(());
    };
    if old.owner_lease != lease_id {
        return Ok(());
    }
    let mut rec = old.clone();
    rec.owner_lease = 0;
    rec.orphaned_ms = Some(now_ms);
    bump(&mut rec, revision, now_ms);
    store::put_workflow(ctx, Some(&old), &rec)?;
    let mut ev = event(&rec, HistoryKind::Orphaned, &old.status, "");
    ev.reason = format!("owner {} lost lease {lease_id}", old.owner_id);
    store::append_history(ctx, id, &ev)
}
