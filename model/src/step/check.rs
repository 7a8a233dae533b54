//! A step's input check: each part meets its own command's check (see `crate::input`, which
//! checks the batch and names the failing step).

use super::{MAX_STEP_CHECKPOINT_BYTES, Step, StepChange, StepPart};
use crate::input::{InputError, InputLimits, invalid, size};
use crate::workflow::input as wf_input;

impl Step {
    /// This step's part of the input check: every part meets its own command's check.
    pub(crate) fn check_input(&self, limits: &InputLimits) -> Result<(), (StepPart, InputError)> {
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
