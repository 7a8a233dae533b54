//! Linearizability checking of recorded histories: the Wing & Gong search with Lowe's
//! memoization, as in Porcupine. A history is partitioned (e.g. per key) and each part is
//! searched for an order of its operations that respects real time (an operation that
//! returned before another was invoked comes first) and the sequential model.
//!
//! An operation whose outcome is unknown (the client timed out) has no return: it may take
//! effect at any point after its invocation, or never. The search has a time budget, and
//! running out of it is a failure (`Timeout`), never a pass.

mod kv;
mod search;
mod workflow;

pub use kv::{KvInput, KvModel, KvOutput};
pub use search::check_partition;
pub use workflow::{WorkflowInput, WorkflowModel, WorkflowOutput};

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;

    fn init(&self) -> Self::State;

    /// The state after applying `input` in `state`, if that can produce `output` (`None`
    /// output: the operation's result is unknown, so any result is acceptable).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// The operations of one history (or one partition of it).
pub type History<M> = Vec<Operation<<M as Model>::Input, <M as Model>::Output>>;

/// One client operation as recorded: invocation and return times (any monotonic unit), and
/// the result, or `None` for both when the outcome is unknown.
#[derive(Debug, Clone)]
pub struct Operation<I, O> {
    pub client: u64,
    pub input: I,
    pub call: u64,
    /// None: no answer (indeterminate); the operation may or may not have happened.
    pub ret: Option<u64>,
    pub output: Option<O>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// No valid order exists for the partition with this key.
    Illegal {
        partition: String,
    },
    /// The budget ran out before the search finished: not proven, so a failure.
    Timeout {
        partition: String,
    },
}

/// Checks every partition of `history` (grouped by `key_of`) within `budget` in total.
pub fn check<M, F>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    key_of: F,
    budget: Duration,
) -> Verdict
where
    M: Model,
    F: Fn(&M::Input) -> String,
{
    let mut parts: BTreeMap<String, History<M>> = BTreeMap::new();
    for op in history {
        parts.entry(key_of(&op.input)).or_default().push(op.clone());
    }
    let deadline = Instant::now() + budget;
    for (key, ops) in parts {
        match check_partition(model, &ops, deadline) {
            Some(true) => {}
            Some(false) => return Verdict::Illegal { partition: key },
            None => return Verdict::Timeout { partition: key },
        }
    }
    Verdict::Ok
}

#[cfg(test)]
mod tests;
