//! The parts of a step and the limits of a batch: what `InputError::Step` and
//! `CommandError::Step` name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most steps in one batch (etcd's `--max-txn-ops` default, as for transactions).
pub const MAX_STEPS: usize = 128;
/// Largest raw checkpoint payload in a step: a step is one entry, and many steps share it.
/// Larger checkpoints go through the checkpoint service (chunked uploads).
pub const MAX_STEP_CHECKPOINT_BYTES: usize = 64 * 1024;

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
