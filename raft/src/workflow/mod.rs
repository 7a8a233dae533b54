//! Workflow types shared by the API layer and the state machine (issue 3, in progress):
//! definitions of legal status transitions and their validation, and the task rules.

pub mod definition;
pub mod limits;
pub mod merge_patch;
pub mod names;
pub mod task;

pub use definition::{
    Definition, DefinitionError, DefinitionReport, Target, Transition, TransitionError,
};
pub use task::{TaskError, TaskNode, TaskStatus};
