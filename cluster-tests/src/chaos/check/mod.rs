//! Checkers of a chaos run's history beyond linearizability: the watch stream, lock fencing,
//! acknowledged writes, checkpoints, task claims, and Raft invariants sampled from node
//! status.

pub mod checkpoint;
pub mod claims;
pub mod lock;
pub mod raft;
pub mod watch;

/// One violation, by class ("lost-write", "fence-overlap", ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub class: &'static str,
    pub detail: String,
}

impl Anomaly {
    pub fn new(class: &'static str, detail: impl Into<String>) -> Self {
        Self {
            class,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod tests;
