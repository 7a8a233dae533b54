//! `EventSink`: where the machine's domains report their changes during one apply attempt.
//! It lives in the batch context (rebuilt when sled retries the transaction), so events of an
//! attempt that did not commit are dropped with it.

use std::cell::RefCell;

use cairn_model::workflow::HistoryEvent;

use super::event::{Change, RevisionEvents};

/// Interior mutability so every domain writer can report through the shared `&BatchCtx` it
/// already gets (one attempt runs on one thread; nothing borrows across calls).
#[derive(Debug, Default)]
pub(crate) struct EventSink {
    inner: RefCell<Groups>,
}

#[derive(Debug, Default)]
struct Groups {
    /// Revision of the entry being applied.
    revision: u64,
    groups: Vec<RevisionEvents>,
}

impl EventSink {
    /// Called before each entry: its changes are tagged with `revision`.
    pub(crate) fn begin(&self, revision: u64) {
        self.inner.borrow_mut().revision = revision;
    }

    pub(crate) fn push(&self, change: Change) {
        let mut g = self.inner.borrow_mut();
        let revision = g.revision;
        match g.groups.last_mut() {
            Some(last) if last.revision == revision => last.changes.push(change),
            _ => g.groups.push(RevisionEvents {
                revision,
                changes: vec![change],
            }),
        }
    }

    /// Attaches the history event a workflow change appended to that change (the domain
    /// writes the record first, then its history).
    pub(crate) fn attach_history(&self, workflow_id: &str, event: &HistoryEvent) {
        let mut g = self.inner.borrow_mut();
        let revision = g.revision;
        let Some(last) = g.groups.last_mut().filter(|l| l.revision == revision) else {
            return;
        };
        let found = last.changes.iter_mut().rev().find_map(|c| match c {
            Change::WorkflowPut {
                record, history, ..
            } if record.id == workflow_id && record.version == event.version => Some(history),
            _ => None,
        });
        if let Some(history) = found {
            *history = Some(Box::new(event.clone()));
        }
    }

    /// The changes, one group per revision that changed anything, in revision order.
    pub(crate) fn take(self) -> Vec<RevisionEvents> {
        self.inner.into_inner().groups
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use cairn_model::KvRecord;

    use super::*;

    fn put(key: &str) -> Change {
        Change::KvPut {
            key: key.as_bytes().to_vec(),
            record: KvRecord {
                value: vec![],
                create_revision: 1,
                mod_revision: 1,
                version: 1,
                lease: 0,
            },
            prev: None,
        }
    }

    #[test]
    fn groups_by_revision_and_skips_revisions_without_changes() {
        let s = EventSink::default();
        s.begin(5);
        s.push(put("a"));
        s.push(put("b"));
        s.begin(6);
        s.begin(7);
        s.push(put("c"));
        let g = s.take();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].revision, g[0].changes.len()), (5, 2));
        assert_eq!((g[1].revision, g[1].changes.len()), (7, 1));
    }
}
