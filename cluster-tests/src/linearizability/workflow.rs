//! The sequential model of one workflow's status under transitions with expected versions:
//! a transition wins only at the current version and only along a legal edge; a read sees
//! the current status and version.

use super::Model;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowInput {
    /// Move `id` to `to` if its version is `expected` (None: any version).
    Transition {
        id: String,
        to: String,
        expected: Option<u64>,
    },
    Read {
        id: String,
    },
}

impl WorkflowInput {
    pub fn id(&self) -> &str {
        match self {
            WorkflowInput::Transition { id, .. } | WorkflowInput::Read { id } => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowOutput {
    /// The transition applied and produced this version.
    Moved {
        version: u64,
    },
    /// The expected version was stale; the workflow was at `current`.
    Conflict {
        current: u64,
    },
    /// The definition has no edge from `current` to the target.
    Illegal {
        current: String,
    },
    Read {
        status: String,
        version: u64,
    },
}

/// A workflow definition as a set of legal edges, and the state a workflow starts in.
pub struct WorkflowModel {
    pub initial: String,
    pub edges: Vec<(String, String)>,
}

impl WorkflowModel {
    fn legal(&self, from: &str, to: &str) -> bool {
        self.edges.iter().any(|(f, t)| f == from && t == to)
    }
}

/// (status, version).
pub type WorkflowState = (String, u64);

impl Model for WorkflowModel {
    type State = WorkflowState;
    type Input = WorkflowInput;
    type Output = WorkflowOutput;

    fn init(&self) -> WorkflowState {
        (self.initial.clone(), 1)
    }

    fn step(
        &self,
        (status, version): &WorkflowState,
        input: &WorkflowInput,
        output: Option<&WorkflowOutput>,
    ) -> Option<WorkflowState> {
        let moved = |to: &String| (to.clone(), version + 1);
        match (input, output) {
            (WorkflowInput::Transition { to, expected, .. }, out) => {
                let version_ok = expected.is_none_or(|e| e == *version);
                let legal = self.legal(status, to);
                match out {
                    // Unknown outcome taken to have happened: it applied iff it could.
                    None => Some(if version_ok && legal {
                        moved(to)
                    } else {
                        (status.clone(), *version)
                    }),
                    Some(WorkflowOutput::Moved { version: v }) => {
                        (version_ok && legal && *v == version + 1).then(|| moved(to))
                    }
                    Some(WorkflowOutput::Conflict { current }) => {
                        (!version_ok && *current == *version).then(|| (status.clone(), *version))
                    }
                    Some(WorkflowOutput::Illegal { current }) => {
                        (version_ok && !legal && current == status)
                            .then(|| (status.clone(), *version))
                    }
                    Some(WorkflowOutput::Read { .. }) => None,
                }
            }
            (WorkflowInput::Read { .. }, None) => Some((status.clone(), *version)),
            (
                WorkflowInput::Read { .. },
                Some(WorkflowOutput::Read {
                    status: s,
                    version: v,
                }),
            ) => (s == status && v == version).then(|| (status.clone(), *version)),
            (WorkflowInput::Read { .. }, Some(_)) => None,
        }
    }
}
