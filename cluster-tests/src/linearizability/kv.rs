//! The sequential model of one Cairn KV key: put, compare-and-set on the mod revision, get
//! and delete. Revisions come from the cluster; an unknown outcome leaves the revision
//! unknown until a later answer reveals it.

use super::Model;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvInput {
    Put {
        key: String,
        value: String,
    },
    /// Only if the key's mod revision equals `expected` (0: the key must not exist).
    PutIf {
        key: String,
        value: String,
        expected: u64,
    },
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
}

impl KvInput {
    pub fn key(&self) -> &str {
        match self {
            KvInput::Put { key, .. }
            | KvInput::PutIf { key, .. }
            | KvInput::Get { key }
            | KvInput::Delete { key } => key,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOutput {
    Put {
        revision: u64,
    },
    /// A compare-and-set found another revision.
    Mismatch {
        current: u64,
    },
    /// Value and mod revision, or absent.
    Get(Option<(String, u64)>),
    Delete {
        deleted: bool,
    },
}

/// The state: absent, or the value with its mod revision (None while unknown).
pub type KvState = Option<(String, Option<u64>)>;

pub struct KvModel;

/// Whether `state`'s revision may be `rev` (an unknown revision may be anything).
fn rev_is(state: &KvState, rev: u64) -> bool {
    match state {
        None => rev == 0,
        Some((_, Some(r))) => *r == rev,
        Some((_, None)) => rev != 0,
    }
}

impl Model for KvModel {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        None
    }

    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Option<KvState> {
        match (input, output) {
            (KvInput::Put { value, .. }, None) => Some(Some((value.clone(), None))),
            (KvInput::Put { value, .. }, Some(KvOutput::Put { revision })) => {
                Some(Some((value.clone(), Some(*revision))))
            }
            (
                KvInput::PutIf {
                    value, expected, ..
                },
                None,
            ) => Some(if rev_is(state, *expected) {
                Some((value.clone(), None))
            } else {
                state.clone()
            }),
            (
                KvInput::PutIf {
                    value, expected, ..
                },
                Some(KvOutput::Put { revision }),
            ) => rev_is(state, *expected).then(|| Some((value.clone(), Some(*revision)))),
            (KvInput::PutIf { expected, .. }, Some(KvOutput::Mismatch { current })) => {
                // The revision was `current`, hence not `expected`. (Not `!rev_is(expected)`:
                // an unknown revision "may be" anything, including `expected`, and negating
                // that wrongly ruled out every mismatch after a write of unknown outcome.)
                let consistent = expected != current && rev_is(state, *current);
                // The answer reveals an unknown revision.
                consistent.then(|| state.as_ref().map(|(v, _)| (v.clone(), Some(*current))))
            }
            (KvInput::Get { .. }, None) => Some(state.clone()),
            (KvInput::Get { .. }, Some(KvOutput::Get(seen))) => match (state, seen) {
                (None, None) => Some(None),
                (Some((v, rev)), Some((seen_v, seen_rev)))
                    if v == seen_v && rev.is_none_or(|r| r == *seen_rev) =>
                {
                    Some(Some((v.clone(), Some(*seen_rev))))
                }
                _ => None,
            },
            (KvInput::Delete { .. }, None) => Some(None),
            (KvInput::Delete { .. }, Some(KvOutput::Delete { deleted })) => {
                (*deleted == state.is_some()).then_some(None)
            }
            _ => None,
        }
    }
}
