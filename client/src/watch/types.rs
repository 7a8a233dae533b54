//! What a watch follows ([`WatchFilter`]) and what it yields ([`WatchItem`]).

use std::time::Duration;

use crate::coord::LockState;
use crate::kv::KeyValue;
use crate::workflow::{HistoryEvent, Task, VarScope, Vars, Workflow};

/// One part of a [`WatchFilter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchSelector {
    /// Keys starting with `prefix` (empty: every key).
    Kv { prefix: Vec<u8> },
    /// Workflows; each set field narrows. With `statuses`, a change matches if the workflow's
    /// old or new status is in the set, so you see workflows enter and leave it.
    Workflows {
        id: Option<String>,
        namespace: Option<String>,
        statuses: Vec<String>,
    },
    /// Tasks of one workflow (None: of every workflow).
    Tasks { workflow_id: Option<String> },
    /// Checkpoint metadata of one workflow (None: of every workflow).
    Checkpoints { workflow_id: Option<String> },
    /// Locks whose name starts with `prefix` (empty: every lock).
    Locks { prefix: String },
    /// Elections whose name starts with `prefix` (empty: every election).
    Elections { prefix: String },
    /// Versioned variables: of one scope, or of a namespace and all its workflows, or
    /// (neither) of every scope.
    Vars {
        scope: Option<VarScope>,
        namespace: Option<String>,
    },
}

/// What a watch follows: a change is delivered if any selector matches it. The same
/// selectors choose the objects of a [`WatchItem::Reset`].
///
/// ```
/// use cairn_client::WatchFilter;
/// let f = WatchFilter::new()
///     .kv_prefix("jobs/")
///     .workflows_in("payments", ["RUNNING", "PAUSED"])
///     .tasks_of("wf-42");
/// assert_eq!(f.selectors().len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchFilter {
    selectors: Vec<WatchSelector>,
}

impl WatchFilter {
    /// An empty filter; add at least one selector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key, workflow, task, checkpoint, lock, election and variable set.
    pub fn everything() -> Self {
        Self::new()
            .kv_prefix("")
            .all_workflows()
            .all_tasks()
            .all_checkpoints()
            .locks_prefix("")
            .elections_prefix("")
            .all_vars()
    }

    pub fn selectors(&self) -> &[WatchSelector] {
        &self.selectors
    }

    /// Adds any selector.
    pub fn with(mut self, s: WatchSelector) -> Self {
        self.selectors.push(s);
        self
    }

    /// Keys starting with `prefix` ("" for all keys).
    pub fn kv_prefix(self, prefix: impl Into<Vec<u8>>) -> Self {
        self.with(WatchSelector::Kv {
            prefix: prefix.into(),
        })
    }

    /// One workflow.
    pub fn workflow(self, id: impl Into<String>) -> Self {
        self.with(WatchSelector::Workflows {
            id: Some(id.into()),
            namespace: None,
            statuses: Vec::new(),
        })
    }

    /// Workflows of a namespace, optionally only in (entering or leaving) the given statuses.
    pub fn workflows_in(
        self,
        namespace: impl Into<String>,
        statuses: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.with(WatchSelector::Workflows {
            id: None,
            namespace: Some(namespace.into()),
            statuses: statuses.into_iter().map(Into::into).collect(),
        })
    }

    /// Every workflow.
    pub fn all_workflows(self) -> Self {
        self.with(WatchSelector::Workflows {
            id: None,
            namespace: None,
            statuses: Vec::new(),
        })
    }

    /// The tasks of one workflow.
    pub fn tasks_of(self, workflow_id: impl Into<String>) -> Self {
        self.with(WatchSelector::Tasks {
            workflow_id: Some(workflow_id.into()),
        })
    }

    /// Every task.
    pub fn all_tasks(self) -> Self {
        self.with(WatchSelector::Tasks { workflow_id: None })
    }

    /// The checkpoints (metadata) of one workflow.
    pub fn checkpoints_of(self, workflow_id: impl Into<String>) -> Self {
        self.with(WatchSelector::Checkpoints {
            workflow_id: Some(workflow_id.into()),
        })
    }

    /// Every checkpoint (metadata).
    pub fn all_checkpoints(self) -> Self {
        self.with(WatchSelector::Checkpoints { workflow_id: None })
    }

    /// Locks whose name starts with `prefix` ("" for all): holders and lines.
    pub fn locks_prefix(self, prefix: impl Into<String>) -> Self {
        self.with(WatchSelector::Locks {
            prefix: prefix.into(),
        })
    }

    /// Elections whose name starts with `prefix` ("" for all): leaders, terms, values and
    /// candidates.
    pub fn elections_prefix(self, prefix: impl Into<String>) -> Self {
        self.with(WatchSelector::Elections {
            prefix: prefix.into(),
        })
    }

    /// The variables of one scope.
    pub fn vars_of(self, scope: VarScope) -> Self {
        self.with(WatchSelector::Vars {
            scope: Some(scope),
            namespace: None,
        })
    }

    /// The variables of a namespace and of every workflow in it.
    pub fn vars_in(self, namespace: impl Into<String>) -> Self {
        self.with(WatchSelector::Vars {
            scope: None,
            namespace: Some(namespace.into()),
        })
    }

    /// Every scope's variables.
    pub fn all_vars(self) -> Self {
        self.with(WatchSelector::Vars {
            scope: None,
            namespace: None,
        })
    }
}

/// Tuning of one watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// How often the server reports progress while nothing matches (a [`WatchItem::Progress`]);
    /// None turns it off. Progress moves the resume point forward, so a reconnect after a
    /// long quiet spell starts from a recent revision.
    pub progress_notify: Option<Duration>,
    /// Items buffered between the watch's connection and your reads.
    pub buffer: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            progress_notify: Some(Duration::from_secs(5)),
            buffer: 64,
        }
    }
}

/// A checkpoint's metadata as a watch reports it (its payload is loaded separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointMeta {
    pub workflow_id: String,
    pub id: String,
    pub revision: u64,
    pub created_ms: u64,
    /// AUTO, MANUAL or ERROR_RECOVERY.
    pub kind: String,
    pub label: String,
    /// JSON object text.
    pub metadata: String,
    pub parent: Option<String>,
    pub delta: bool,
    pub raw_size: u64,
    pub stored_size: u64,
    pub workflow_status: String,
    pub workflow_version: u64,
}

/// One change of replicated state.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchChange {
    /// A key was written; `prev` is its record before (None: created by this write).
    KvPut {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// A key was deleted; `prev` is its last record.
    KvDelete {
        key: Vec<u8>,
        prev: Option<KeyValue>,
    },
    /// A workflow was created (`prev_status` None) or changed; `history` says what happened.
    Workflow {
        workflow: Workflow,
        prev_status: Option<String>,
        history: Option<HistoryEvent>,
    },
    /// A workflow was deleted or purged (its tasks' and checkpoints' deletions precede this).
    WorkflowDeleted { workflow: Workflow },
    /// A task was created or changed.
    Task { task: Task },
    /// A task was removed with its workflow.
    TaskDeleted {
        workflow_id: String,
        task_id: String,
    },
    /// A checkpoint was saved.
    Checkpoint { checkpoint: CheckpointMeta },
    /// A checkpoint was purged or removed with its workflow.
    CheckpointDeleted {
        workflow_id: String,
        checkpoint_id: String,
    },
    /// A lock's holder or line changed (its whole new state).
    Lock { lock: LockState },
    /// A lock became free with nobody waiting.
    LockDeleted { name: String },
    /// An election's leader, term, value or candidates changed: `election.holder` is the
    /// leader (its `token` the term), `election.waiters` the candidates in line.
    Election { election: LockState },
    /// An election has no leader and no candidates.
    ElectionDeleted { name: String },
    /// A new version of a scope's variables (the whole set); `namespace` is the scope's own
    /// or its workflow's.
    Vars {
        scope: VarScope,
        namespace: String,
        vars: Vars,
    },
    /// A scope's variables were removed (with their workflow).
    VarsDeleted { scope: VarScope, namespace: String },
}

/// A change and the revision of the write that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    pub revision: u64,
    pub change: WatchChange,
}

/// An object of a [`WatchItem::Reset`].
#[derive(Debug, Clone, PartialEq)]
pub enum WatchObject {
    Kv(KeyValue),
    Workflow(Workflow),
    Task(Task),
    Checkpoint(CheckpointMeta),
    Lock(LockState),
    /// An election: its leader as `holder`, its candidates as `waiters`.
    Election(LockState),
    /// A scope's variables, with the namespace they belong to.
    Vars {
        scope: VarScope,
        namespace: String,
        vars: Vars,
    },
}

/// What a [`crate::WatchStream`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// The matching changes of one or more whole revisions, in revision order. Every
    /// revision up to `revision` has now been delivered.
    Events {
        revision: u64,
        events: Vec<WatchEvent>,
    },
    /// The watch could not resume from where it was (the history it needed is gone), so it
    /// restarted from a consistent snapshot: replace your view with `objects`, the complete
    /// set of matching objects as of `revision`. Events after `revision` follow.
    Reset {
        revision: u64,
        objects: Vec<WatchObject>,
    },
    /// Nothing matched up to `revision`.
    Progress { revision: u64 },
}

impl WatchItem {
    /// Every revision up to this one has been delivered.
    pub fn revision(&self) -> u64 {
        match self {
            WatchItem::Events { revision, .. }
            | WatchItem::Reset { revision, .. }
            | WatchItem::Progress { revision } => *revision,
        }
    }
}
