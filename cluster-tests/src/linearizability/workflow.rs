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

impl WorkflowOutput {
    /// What a client's transition call says, in the model's terms; `None` when the outcome is
    /// unknown (any other error).
    pub fn of_transition(
        result: &Result<cairn_client::WorkflowRef, cairn_client::Error>,
    ) -> Option<Self> {
        use cairn_client::Error;
        match result {
            Ok(r) => Some(Self::Moved { version: r.version }),
            Err(Error::VersionConflict { current }) => Some(Self::Conflict { current: *current }),
            Err(Error::IllegalTransition { current, .. }) => Some(Self::Illegal {
                current: current.clone(),
            }),
            Err(_) => None,
        }
    }
}

/// A workflow definition as a set of legal edges, and the state a workflow starts in.
pub struct WorkflowModel {
    pub initial: String,
    pub edges: Vec<(String, String)>,
}

impl WorkflowModel {
    /// PING <-> PONG: the definition the linearizability tests and the chaos workload drive.
    pub fn pingpong() -> Self {
        Self {
            initial: "PING".into(),
            edges: vec![
                ("PING".into(), "PONG".into()),
                ("PONG".into(), "PING".into()),
            ],
        }
    }

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
