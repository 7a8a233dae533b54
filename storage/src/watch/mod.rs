//! Watch: the ordered change log of the state machine.
//!
//! Apply reports every write as a [`Change`] tagged with the entry's revision (collected per
//! batch attempt in an `EventSink`, like the workflow index ops); once the batch's transaction
//! commits, the state machine publishes them to the [`EventHub`], a bounded in-memory history
//! that watchers read at their own pace. Every replica produces the same events, so any node
//! serves watches. A [`WatchReader`] also takes the consistent snapshot a watcher catches up
//! from when the history no longer reaches back to where it must resume.

mod event;
mod filter;
mod hub;
mod reader;
mod sink;

pub use event::{Change, RevisionEvents};
pub use filter::{Filter, Selector};
pub use hub::{EventHub, HistoryLimits, HistoryRead};
pub use reader::{Object, WatchReader};
pub(crate) use sink::EventSink;

#[cfg(test)]
mod tests;
