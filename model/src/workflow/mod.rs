//! Workflow types shared by the API layer and the state machine: definitions of legal status
//! transitions and their validation, the task rules, the replicated commands and records, and
//! the query shapes.

pub mod command;
pub mod definition;
pub(crate) mod input;
pub mod limits;
pub mod merge_patch;
pub mod names;
pub mod query;
pub mod quota;
pub mod record;
pub mod task;
pub mod vars;

pub use command::{WorkflowCommand, WorkflowError, WorkflowReply};
pub use definition::{
    Definition, DefinitionError, DefinitionReport, Target, Transition, TransitionError,
};
pub use record::{HistoryEvent, Progress, TaskRecord, WorkflowRecord, WorkflowRef};
pub use task::{TaskError, TaskNode, TaskStatus};
