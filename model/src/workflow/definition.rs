//! A workflow definition: its states, initial state, terminal states and legal transitions
//! (optionally named by an event such as `pause`). Validation runs before a definition is
//! registered; resolution of a requested transition runs inside the state machine, so both
//! are pure functions of their inputs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::names::is_valid_id;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// Optional event name (`pause`, `finish`, ...) that selects this edge.
    pub event: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    pub states: Vec<String>,
    pub initial: String,
    pub terminal: Vec<String>,
    pub transitions: Vec<Transition>,
}

/// What a transition request names: the target status, or an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Status(String),
    Event(String),
}

impl Target {
    pub fn status(s: impl Into<String>) -> Self {
        Target::Status(s.into())
    }

    pub fn event(e: impl Into<String>) -> Self {
        Target::Event(e.into())
    }
}

/// Why a definition cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DefinitionError {
    #[error("invalid definition name {0:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidName(String),
    #[error("a definition needs at least one state")]
    NoStates,
    #[error("invalid state name {0:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidState(String),
    #[error("state {0:?} is listed twice")]
    DuplicateState(String),
    #[error("initial state {0:?} is not one of the states")]
    UnknownInitial(String),
    #[error("terminal state {0:?} is not one of the states")]
    UnknownTerminal(String),
    #[error("transition {from} -> {to} names unknown state {state:?}")]
    UnknownState {
        from: String,
        to: String,
        state: String,
    },
    #[error("terminal state {state:?} has an outgoing transition to {to:?}")]
    TerminalHasOutgoing { state: String, to: String },
    #[error("transition {from} -> {to} is listed twice")]
    DuplicateTransition { from: String, to: String },
    #[error("event {event:?} from {from:?} leads to more than one state")]
    AmbiguousEvent { from: String, event: String },
    #[error("invalid event name {0:?}: use 1-256 of [A-Za-z0-9_.:/-]")]
    InvalidEvent(String),
}

/// Accepted, with observations worth showing the author.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefinitionReport {
    /// States no path from the initial state reaches.
    pub unreachable: Vec<String>,
    /// Non-terminal states with no outgoing transition: a workflow there can never move.
    pub dead_ends: Vec<String>,
}

/// An illegal transition request, naming where the workflow is and where it may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("cannot go from {current} via {requested}; legal targets: [{}]", allowed.join(", "))]
pub struct TransitionError {
    pub current: String,
    pub requested: String,
    pub allowed: Vec<String>,
}

/// The name of the built-in definition (version 1, [`Definition::default_definition`]), used
/// when a workflow names none.
pub const DEFAULT_DEFINITION: &str = "default";

impl Definition {
    /// A definition with its states; add edges with [`Definition::transition`].
    pub fn new(
        name: impl Into<String>,
        states: impl IntoIterator<Item = impl Into<String>>,
        initial: impl Into<String>,
        terminal: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            states: states.into_iter().map(Into::into).collect(),
            initial: initial.into(),
            terminal: terminal.into_iter().map(Into::into).collect(),
            transitions: Vec::new(),
        }
    }

    /// Adds the edge `from -> to`.
    pub fn transition(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.transitions.push(Transition {
            from: from.into(),
            to: to.into(),
            event: None,
        });
        self
    }

    /// Adds the edge `from -> to`, also selectable by `event`.
    pub fn transition_on(
        mut self,
        from: impl Into<String>,
        to: impl Into<String>,
        event: impl Into<String>,
    ) -> Self {
        self.transitions.push(Transition {
            from: from.into(),
            to: to.into(),
            event: Some(event.into()),
        });
        self
    }

    /// The built-in `default` definition, matching the orchestrators in the seeds.
    pub fn default_definition() -> Self {
        let edge = |from: &str, to: &str, event: &str| Transition {
            from: from.into(),
            to: to.into(),
            event: Some(event.into()),
        };
        Self {
            name: "default".into(),
            states: [
                "PENDING",
                "RUNNING",
                "PAUSED",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
            ]
            .map(String::from)
            .to_vec(),
            initial: "PENDING".into(),
            terminal: ["COMPLETED", "FAILED", "CANCELLED"]
                .map(String::from)
                .to_vec(),
            transitions: vec![
                edge("PENDING", "RUNNING", "start"),
                edge("PENDING", "CANCELLED", "cancel"),
                edge("RUNNING", "PAUSED", "pause"),
                edge("RUNNING", "COMPLETED", "finish"),
                edge("RUNNING", "FAILED", "fail"),
                edge("RUNNING", "CANCELLED", "cancel"),
                edge("PAUSED", "RUNNING", "resume"),
                edge("PAUSED", "CANCELLED", "cancel"),
            ],
        }
    }

    /// Checks the definition; on success reports unreachable states and dead ends.
    pub fn validate(&self) -> Result<DefinitionReport, DefinitionError> {
        if !is_valid_id(&self.name) {
            return Err(DefinitionError::InvalidName(self.name.clone()));
        }
        if self.states.is_empty() {
            return Err(DefinitionError::NoStates);
        }
        let mut states = BTreeSet::new();
        for s in &self.states {
            if !is_valid_id(s) {
                return Err(DefinitionError::InvalidState(s.clone()));
            }
            if !states.insert(s.as_str()) {
                return Err(DefinitionError::DuplicateState(s.clone()));
            }
        }
        if !states.contains(self.initial.as_str()) {
            return Err(DefinitionError::UnknownInitial(self.initial.clone()));
        }
        let terminal: BTreeSet<&str> = self.terminal.iter().map(String::as_str).collect();
        if let Some(t) = terminal.iter().find(|t| !states.contains(*t)) {
            return Err(DefinitionError::UnknownTerminal(t.to_string()));
        }
        let mut edges = BTreeSet::new();
        let mut events = BTreeMap::new();
        for t in &self.transitions {
            for s in [&t.from, &t.to] {
                if !states.contains(s.as_str()) {
                    return Err(DefinitionError::UnknownState {
                        from: t.from.clone(),
                        to: t.to.clone(),
                        state: s.clone(),
                    });
                }
            }
            if terminal.contains(t.from.as_str()) {
                return Err(DefinitionError::TerminalHasOutgoing {
                    state: t.from.clone(),
                    to: t.to.clone(),
                });
            }
            if !edges.insert((t.from.as_str(), t.to.as_str())) {
                return Err(DefinitionError::DuplicateTransition {
                    from: t.from.clone(),
                    to: t.to.clone(),
                });
            }
            if let Some(e) = &t.event {
                if !is_valid_id(e) {
                    return Err(DefinitionError::InvalidEvent(e.clone()));
                }
                if events
                    .insert((t.from.as_str(), e.as_str()), t.to.as_str())
                    .is_some()
                {
                    return Err(DefinitionError::AmbiguousEvent {
                        from: t.from.clone(),
                        event: e.clone(),
                    });
                }
            }
        }
        let reachable = self.reachable();
        Ok(DefinitionReport {
            unreachable: self
                .states
                .iter()
                .filter(|s| !reachable.contains(s.as_str()))
                .cloned()
                .collect(),
            dead_ends: self
                .states
                .iter()
                .filter(|s| !terminal.contains(s.as_str()) && self.targets(s).next().is_none())
                .cloned()
                .collect(),
        })
    }

    fn reachable(&self) -> BTreeSet<&str> {
        let mut seen = BTreeSet::from([self.initial.as_str()]);
        let mut queue = VecDeque::from([self.initial.as_str()]);
        while let Some(s) = queue.pop_front() {
            for to in self.targets(s) {
                if seen.insert(to) {
                    queue.push_back(to);
                }
            }
        }
        seen
    }

    fn targets<'a>(&'a self, from: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.transitions
            .iter()
            .filter(move |t| t.from == from)
            .map(|t| t.to.as_str())
    }

    /// The states a workflow in `from` may move to, in definition order.
    pub fn legal_targets(&self, from: &str) -> Vec<String> {
        self.targets(from).map(String::from).collect()
    }

    pub fn is_terminal(&self, state: &str) -> bool {
        self.terminal.iter().any(|t| t == state)
    }

    /// The status a workflow in `current` moves to for `target`, if the definition allows it.
    pub fn resolve(&self, current: &str, target: &Target) -> Result<String, TransitionError> {
        let found = self.transitions.iter().find(|t| {
            t.from == current
                && match target {
                    Target::Status(s) => &t.to == s,
                    Target::Event(e) => t.event.as_deref() == Some(e.as_str()),
                }
        });
        found.map(|t| t.to.clone()).ok_or_else(|| TransitionError {
            current: current.to_string(),
            requested: match target {
                Target::Status(s) => s.clone(),
                Target::Event(e) => format!("event {e}"),
            },
            allowed: self.legal_targets(current),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_004() -> Definition {
        let graph: &[(&str, &[&str])] = &[
            ("CREATED", &["ANALYZING"]),
            ("ANALYZING", &["ANALYZED", "ANALYSIS_FAILED"]),
            ("ANALYZED", &["GENERATING_CODE"]),
            (
                "GENERATING_CODE",
                &["CODE_GENERATED", "CODE_GENERATION_FAILED"],
            ),
            ("CODE_GENERATED", &["VALIDATING"]),
            ("VALIDATING", &["VALIDATION_PASSED", "VALIDATION_FAILED"]),
            ("VALIDATION_FAILED", &["GENERATING_CODE", "MANUAL_REVIEW"]),
            ("VALIDATION_PASSED", &["COMPLETED"]),
        ];
        let mut states: Vec<String> = graph.iter().map(|(s, _)| s.to_string()).collect();
        for extra in [
            "ANALYSIS_FAILED",
            "CODE_GENERATION_FAILED",
            "MANUAL_REVIEW",
            "COMPLETED",
            "FAILED",
            "CANCELLED",
        ] {
            states.push(extra.into());
        }
        Definition {
            name: "codegen".into(),
            states,
            initial: "CREATED".into(),
            terminal: ["COMPLETED", "FAILED", "CANCELLED"]
                .map(String::from)
                .to_vec(),
            transitions: graph
                .iter()
                .flat_map(|(from, tos)| {
                    tos.iter().map(|to| Transition {
                        from: from.to_string(),
                        to: to.to_string(),
                        event: None,
                    })
                })
                .collect(),
        }
    }

    #[test]
    fn default_definition_is_valid_and_complete() {
        let d = Definition::default_definition();
        assert_eq!(d.validate().unwrap(), DefinitionReport::default());
        assert_eq!(
            d.resolve("RUNNING", &Target::Event("pause".into()))
                .unwrap(),
            "PAUSED"
        );
        assert_eq!(
            d.resolve("PAUSED", &Target::Status("RUNNING".into()))
                .unwrap(),
            "RUNNING"
        );
        let e = d
            .resolve("COMPLETED", &Target::Status("RUNNING".into()))
            .unwrap_err();
        assert_eq!(e.current, "COMPLETED");
        assert!(e.allowed.is_empty());
        let e = d
            .resolve("PENDING", &Target::Event("pause".into()))
            .unwrap_err();
        assert_eq!(e.allowed, vec!["RUNNING", "CANCELLED"]);
        assert!(
            e.to_string()
                .contains("legal targets: [RUNNING, CANCELLED]"),
            "{e}"
        );
    }

    #[test]
    fn seed_004_graph_reports_unreachable_and_dead_end_states() {
        let report = seed_004().validate().unwrap();
        assert_eq!(report.unreachable, vec!["FAILED", "CANCELLED"]);
        assert_eq!(
            report.dead_ends,
            vec!["ANALYSIS_FAILED", "CODE_GENERATION_FAILED", "MANUAL_REVIEW"]
        );
        let d = seed_004();
        assert_eq!(
            d.resolve(
                "VALIDATION_FAILED",
                &Target::Status("GENERATING_CODE".into())
            )
            .unwrap(),
            "GENERATING_CODE"
        );
    }

    #[test]
    fn invalid_definitions_are_rejected_with_the_reason() {
        let base = Definition::default_definition;
        let mut d = base();
        d.initial = "NOPE".into();
        assert_eq!(
            d.validate(),
            Err(DefinitionError::UnknownInitial("NOPE".into()))
        );

        let mut d = base();
        d.transitions.push(Transition {
            from: "RUNNING".into(),
            to: "LIMBO".into(),
            event: None,
        });
        assert!(
            matches!(d.validate(), Err(DefinitionError::UnknownState { state, .. }) if state == "LIMBO")
        );

        let mut d = base();
        d.transitions.push(Transition {
            from: "COMPLETED".into(),
            to: "RUNNING".into(),
            event: None,
        });
        assert!(matches!(
            d.validate(),
            Err(DefinitionError::TerminalHasOutgoing { .. })
        ));

        let mut d = base();
        d.transitions.push(Transition {
            from: "RUNNING".into(),
            to: "PENDING".into(),
            event: Some("pause".into()),
        });
        assert!(matches!(
            d.validate(),
            Err(DefinitionError::AmbiguousEvent { .. })
        ));

        let mut d = base();
        d.states.push("PAUSED".into());
        assert_eq!(
            d.validate(),
            Err(DefinitionError::DuplicateState("PAUSED".into()))
        );

        let mut d = base();
        d.name = "bad name".into();
        assert!(matches!(d.validate(), Err(DefinitionError::InvalidName(_))));

        let mut d = base();
        d.terminal.push("GONE".into());
        assert_eq!(
            d.validate(),
            Err(DefinitionError::UnknownTerminal("GONE".into()))
        );

        let mut d = base();
        d.transitions.push(d.transitions[0].clone());
        assert!(matches!(
            d.validate(),
            Err(DefinitionError::DuplicateTransition { .. })
        ));
    }
}
