//! Workflow types shared by the API layer and the state machine (issue 3, in progress):
//! definitions of legal status transitions and their validation.

pub mod definition;
pub mod names;

pub use definition::{
    Definition, DefinitionError, DefinitionReport, Target, Transition, TransitionError,
};
