//! Atomic steps: what an orchestrator does at one step of a workflow (change it, upsert its
//! tasks, update its variables, save a checkpoint) as one command, and a batch of such steps
//! over many workflows as one entry. Every part of every step applies, or none does: the
//! first refused part refuses the entry ([`CommandError::Step`] names the step and the part)
//! and the state machine writes nothing for it.
//!
//! The parts are the domains' own commands and meet their own input checks, permission needs
//! and apply rules; this module only groups them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointReply, SaveCheckpoint};
use crate::command::CommandError;
use crate::coord::Fence;
use crate::input::{InputError, InputLimits, count, invalid, size};
use crate::workflow::command::{CreateWorkflow, TransitionWorkflow, UpdateWorkflow, UpsertTasks};
use crate::workflow::vars::UpdateVars;
use crate::workflow::{WorkflowReply, input as wf_input};

/// Most steps in one batch (etcd's `--max-txn-ops` default, as for transactions).
pub const MAX_STEPS: usize = 128;
/// Largest raw checkpoint payload in a step: a step is one entry, and many steps share it.
/// Larger checkpoints go through the checkpoint service (chunked uploads).
pub const MAX_STEP_CHECKPOINT_BYTES: usize = 64 * 1024;

/// The workflow change of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepChange {
    Create(Box<CreateWorkflow>),
    Transition(TransitionWorkflow),
    Update(Box<UpdateWorkflow>),
}

/// One step. Parts apply in field order (change, tasks, vars, checkpoint), each seeing the
/// ones before it; the fence is checked first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub fence: Option<Fence>,
    pub change: Option<StepChange>,
    pub tasks: Option<Box<UpsertTasks>>,
    pub vars: Option<Box<UpdateVars>>,
    pub checkpoint: Option<Box<SaveCheckpoint>>,
}

/// Which part of a step was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepPart {
    Fence,
    Change,
    Tasks,
    Vars,
    Checkpoint,
}

impl StepPart {
    pub fn as_str(self) -> &'static str {
        match self {
            StepPart::Fence => "fence",
            StepPart::Change => "change",
            StepPart::Tasks => "tasks",
            StepPart::Vars => "vars",
            StepPart::Checkpoint => "checkpoint",
        }
    }
}

impl fmt::Display for StepPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What each part of one step did (`None`: the step had no such part).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReply {
    /// `WorkflowReply::Workflow`.
    pub change: Option<WorkflowReply>,
    /// `WorkflowReply::Tasks`.
    pub tasks: Option<WorkflowReply>,
    /// `WorkflowReply::Vars`.
    pub vars: Option<WorkflowReply>,
    /// `CheckpointReply::Saved`.
    pub checkpoint: Option<CheckpointReply>,
}

impl CommandError {
    /// The refusal of `part` of step `step`.
    pub fn in_step(self, step: usize, part: StepPart) -> Self {
        CommandError::Step {
            step: u32::try_from(step).unwrap_or(u32::MAX),
            part,
            error: Box::new(self),
        }
    }
}

impl Step {
    /// Whether the step has no part at all (refused: it would be a silent no-op).
    pub fn is_empty(&self) -> bool {
        self.change.is_none()
            && self.tasks.is_none()
            && self.vars.is_none()
            && self.checkpoint.is_none()
    }

    fn check_input(&self, limits: &InputLimits) -> Result<(), (StepPart, InputError)> {
        if self.is_empty() {
            return Err((
                StepPart::Change,
                invalid(
                    "step",
                    "has no part: set a change, tasks, vars or a checkpoint",
                ),
            ));
        }
        if let Some(fence) = &self.fence {
            crate::input::check_fence(fence).map_err(|e| (StepPart::Fence, e))?;
        }
        let records = &limits.records;
        let change = match &self.change {
            Some(StepChange::Create(c)) => {
                // A generated id is `wf-<revision>`: two creates of one entry would collide,
                // and the step's other parts could not name the workflow.
                if c.id.is_none() {
                    return Err((
                        StepPart::Change,
                        InputError::Empty {
                            field: "create.id".into(),
                        },
                    ));
                }
                wf_input::check_create(records, c)
            }
            Some(StepChange::Transition(t)) => wf_input::check_transition(t),
            Some(StepChange::Update(u)) => wf_input::check_update(records, u),
            None => Ok(()),
        };
        change.map_err(|e| (StepPart::Change, e))?;
        if let Some(t) = &self.tasks {
            wf_input::check_upsert(records, t).map_err(|e| (StepPart::Tasks, e))?;
        }
        if let Some(v) = &self.vars {
            wf_input::check_vars(records, v).map_err(|e| (StepPart::Vars, e))?;
        }
        if let Some(c) = &self.checkpoint {
            let checked = if c.delta {
                Err(invalid(
                    "checkpoint.delta",
                    "a step's checkpoint is a full one; save deltas with Checkpoints.Save",
                ))
            } else {
                size(
                    "step checkpoint payload",
                    usize::try_from(c.raw_size).unwrap_or(usize::MAX),
                    MAX_STEP_CHECKPOINT_BYTES,
                )
                .and_then(|()| crate::checkpoint::input::check_single_save(limits, c))
            };
            checked.map_err(|e| (StepPart::Checkpoint, e))?;
        }
        Ok(())
    }
}

/// The input check of a batch: 1..=[`MAX_STEPS`] steps, each part meeting its own command's
/// check. A refusal names the step and the part ([`InputError::Step`]).
pub fn check_steps(steps: &[Step], limits: &InputLimits) -> Result<(), InputError> {
    if steps.is_empty() {
        return Err(InputError::Empty {
            field: "steps".into(),
        });
    }
    count("steps", steps.len(), MAX_STEPS)?;
    let mut saved = std::collections::BTreeSet::new();
    for (i, step) in steps.iter().enumerate() {
        let in_step = |part, e| InputError::Step {
            step: u32::try_from(i).unwrap_or(u32::MAX),
            part,
            error: Box::new(e),
        };
        step.check_input(limits)
            .map_err(|(part, e)| in_step(part, e))?;
        // A checkpoint's id is `ckpt-<revision>`: two of one workflow in one entry would be
        // the same checkpoint.
        if let Some(c) = &step.checkpoint
            && !saved.insert(c.workflow_id.as_str())
        {
            return Err(in_step(
                StepPart::Checkpoint,
                invalid(
                    "workflow_id",
                    "names a workflow another step of the batch saves a checkpoint of",
                ),
            ));
        }
    }
    Ok(())
}
