//! Atomic steps: what an orchestrator does at one step of a workflow (change it, upsert its
//! tasks, update its variables, save a checkpoint) as one command, and a batch of such steps
//! over many workflows as one entry. Every part of every step applies, or none does: the
//! first refused part refuses the entry (`CommandError::Step` names the step and the part)
//! and the state machine writes nothing for it.
//!
//! The parts are the domains' own commands and meet their own input checks (`check`),
//! permission needs and apply rules; this module only groups them. `part` holds what the
//! error types name (the parts, the limits), apart, so they depend on nothing here.

mod check;
mod part;

pub use part::{MAX_STEP_CHECKPOINT_BYTES, MAX_STEPS, StepPart};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointReply, SaveCheckpoint};
use crate::coord::Fence;
use crate::workflow::WorkflowReply;
use crate::workflow::command::{CreateWorkflow, TransitionWorkflow, UpdateWorkflow, UpsertTasks};
use crate::workflow::vars::UpdateVars;

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

impl Step {
    /// Whether the step has no part at all (refused: it would be a silent no-op).
    pub fn is_empty(&self) -> bool {
        self.change.is_none()
            && self.tasks.is_none()
            && self.vars.is_none()
            && self.checkpoint.is_none()
    }
}
