//! The leader's safety checks for membership and leadership changes, as pure functions over
//! a [`ClusterView`] taken from openraft's metrics: who is a voter or learner, how far each
//! member is behind, and who answered recently. openraft itself only enforces "one change at
//! a time"; these checks refuse changes that are legal but would hurt (a lagging voter, a lost
//! quorum), with a typed [`Refusal`] and nothing changed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cairn_raft::{NodeId, TypeConfig};
use openraft::Instant as _;
use openraft::RaftMetrics;

use crate::error::Refusal;

/// A learner more than this many entries behind is refused promotion unless the caller sets
/// its own bound: it would slow every commit until it caught up.
pub const DEFAULT_MAX_LAG: u64 = 1000;

/// What the leader knows about the cluster at one instant.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub me: NodeId,
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    pub last_log_index: u64,
    /// Leader's view: highest index known replicated to each other member.
    pub matched: BTreeMap<NodeId, u64>,
    /// Time since each other member last acknowledged the leader (None: never).
    pub ack_age: BTreeMap<NodeId, Option<Duration>>,
    /// A membership change is still in flight (joint config or not yet committed).
    pub changing: bool,
}

impl ClusterView {
    pub fn from_metrics(m: &RaftMetrics<TypeConfig>) -> Self {
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners = membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| !voters.contains(id))
            .collect();
        let matched = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.as_ref().map_or(0, |l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        let ack_age = m
            .heartbeat
            .as_ref()
            .map(|h| {
                h.iter()
                    .map(|(id, t)| (*id, t.as_ref().map(|t| t.elapsed())))
                    .collect()
            })
            .unwrap_or_default();
        let changing = membership.get_joint_config().len() > 1
            || m.membership_config.log_id() != m.committed_membership_config.log_id();
        Self {
            me: m.id,
            voters,
            learners,
            last_log_index: m.last_log_index.unwrap_or(0),
            matched,
            ack_age,
            changing,
        }
    }

    fn is_member(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// Whether `id` answered the leader within `within` (the leader always counts).
    pub fn reachable(&self, id: NodeId, within: Duration) -> bool {
        id == self.me
            || self
                .ack_age
                .get(&id)
                .is_some_and(|age| age.is_some_and(|a| a <= within))
    }

    /// Entries `id` is behind the leader; None when nothing was ever confirmed on it.
    pub fn lag(&self, id: NodeId) -> Option<u64> {
        if id == self.me {
            return Some(0);
        }
        let matched = *self.matched.get(&id)?;
        Some(self.last_log_index.saturating_sub(matched))
    }

    fn has_quorum(&self, voters: &BTreeSet<NodeId>, within: Duration) -> bool {
        let up = voters
            .iter()
            .filter(|v| self.reachable(**v, within))
            .count();
        up > voters.len() / 2
    }

    fn unreachable_of(&self, voters: &BTreeSet<NodeId>, within: Duration) -> Vec<NodeId> {
        voters
            .iter()
            .copied()
            .filter(|v| !self.reachable(*v, within))
            .collect()
    }

    /// Joint consensus needs a majority of both the old and the new voter set.
    fn check_quorum(
        &self,
        new_voters: &BTreeSet<NodeId>,
        within: Duration,
        force: bool,
    ) -> Result<(), Refusal> {
        if force {
            return Ok(());
        }
        for (which, set) in [("current", &self.voters), ("new", new_voters)] {
            if !self.has_quorum(set, within) {
                return Err(Refusal::QuorumAtRisk(format!(
                    "the {which} voter set {set:?} has no reachable majority (unreachable: {:?}); \
                     the change could not commit and would stall the cluster (use --force to \
                     try anyway)",
                    self.unreachable_of(set, within)
                )));
            }
        }
        Ok(())
    }

    fn check_not_changing(&self) -> Result<(), Refusal> {
        if self.changing {
            return Err(Refusal::ChangeInProgress);
        }
        Ok(())
    }

    fn check_caught_up(&self, id: NodeId, max_lag: u64, within: Duration) -> Result<(), Refusal> {
        if !self.reachable(id, within) {
            return Err(Refusal::LearnerBehind(format!(
                "learner {id} has not answered the leader recently; start it (or check its \
                 peer address) and let it catch up first"
            )));
        }
        match self.lag(id) {
            Some(lag) if lag <= max_lag => Ok(()),
            Some(lag) => Err(Refusal::LearnerBehind(format!(
                "learner {id} is {lag} entries behind the leader (limit {max_lag}); wait for it \
                 to catch up"
            ))),
            None => Err(Refusal::LearnerBehind(format!(
                "learner {id} has not confirmed any entries yet; wait for it to catch up"
            ))),
        }
    }
}

fn not_member(id: NodeId) -> Refusal {
    Refusal::NotFound(format!("node {id} is not a member of the cluster"))
}

/// Promotion of learner `id`: Ok(false) when it is a voter already (nothing to do).
pub fn check_promote(
    view: &ClusterView,
    id: NodeId,
    max_lag: u64,
    within: Duration,
) -> Result<bool, Refusal> {
    if view.voters.contains(&id) {
        return Ok(false);
    }
    if !view.learners.contains(&id) {
        return Err(Refusal::NotFound(format!(
            "node {id} is not a learner; add it first (`cairn ctl member add`)"
        )));
    }
    view.check_not_changing()?;
    view.check_caught_up(id, max_lag, within)?;
    let mut next = view.voters.clone();
    next.insert(id);
    view.check_quorum(&next, within, false)?;
    Ok(true)
}

/// What removing a member means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Voter,
    Learner,
}

pub fn check_remove(
    view: &ClusterView,
    id: NodeId,
    force: bool,
    within: Duration,
) -> Result<Removal, Refusal> {
    if !view.is_member(id) {
        return Err(not_member(id));
    }
    view.check_not_changing()?;
    if view.learners.contains(&id) {
        return Ok(Removal::Learner);
    }
    let mut next = view.voters.clone();
    next.remove(&id);
    if next.is_empty() {
        return Err(Refusal::LastVoter(format!(
            "node {id} is the last voter; a cluster cannot remove its last voter"
        )));
    }
    view.check_quorum(&next, within, force)?;
    Ok(Removal::Voter)
}

/// The voter set after replacing `old` by learner `new`.
pub fn check_replace(
    view: &ClusterView,
    old: NodeId,
    new: NodeId,
    force: bool,
    max_lag: u64,
    within: Duration,
) -> Result<BTreeSet<NodeId>, Refusal> {
    if !view.is_member(old) {
        return Err(not_member(old));
    }
    if !view.voters.contains(&old) {
        return Err(Refusal::WrongRole(format!(
            "node {old} is a learner, not a voter; remove it instead"
        )));
    }
    if view.voters.contains(&new) {
        return Err(Refusal::WrongRole(format!("node {new} is a voter already")));
    }
    if !view.learners.contains(&new) {
        return Err(Refusal::NotFound(format!(
            "node {new} is not a learner; start it with --join (or `cairn ctl member add`) first"
        )));
    }
    view.check_not_changing()?;
    view.check_caught_up(new, max_lag, within)?;
    let mut next = view.voters.clone();
    next.remove(&old);
    next.insert(new);
    view.check_quorum(&next, within, force)?;
    Ok(next)
}

/// A whole new voter set in one change, allowed only as a step that remove, promote or replace
/// could take: at most one voter leaves and at most one joins (so `{1,2,3} -> {1}` is two
/// calls, each checked), every joining voter is a caught-up learner, and a majority of both
/// the current and the new set is reachable. Ok(false) when the set is the current one.
pub fn check_set_voters(
    view: &ClusterView,
    voters: &BTreeSet<NodeId>,
    within: Duration,
) -> Result<bool, Refusal> {
    if let Some(unknown) = voters.iter().find(|id| !view.is_member(**id)) {
        return Err(Refusal::NotFound(format!(
            "node {unknown} is not a member; add it as a learner first"
        )));
    }
    if *voters == view.voters {
        return Ok(false);
    }
    view.check_not_changing()?;
    let leaving: Vec<NodeId> = view.voters.difference(voters).copied().collect();
    let joining: Vec<NodeId> = voters.difference(&view.voters).copied().collect();
    if leaving.len() > 1 || joining.len() > 1 {
        return Err(Refusal::TooManyChanges(format!(
            "the change moves {} voters out ({leaving:?}) and {} in ({joining:?}); change at \
             most one voter out and one in per call, so every step keeps a safe quorum",
            leaving.len(),
            joining.len()
        )));
    }
    for id in &joining {
        view.check_caught_up(*id, DEFAULT_MAX_LAG, within)?;
    }
    view.check_quorum(voters, within, false)?;
    Ok(true)
}

/// The voter to hand leadership to: `to`, or with `to == 0` the reachable other voter that is
/// least behind.
pub fn pick_transfer_target(
    view: &ClusterView,
    to: NodeId,
    within: Duration,
) -> Result<NodeId, Refusal> {
    if to == 0 {
        return view
            .voters
            .iter()
            .copied()
            .filter(|v| *v != view.me && view.reachable(*v, within))
            .min_by_key(|v| view.lag(*v).unwrap_or(u64::MAX))
            .ok_or_else(|| {
                Refusal::Unreachable(
                    "no other voter is reachable to take over leadership".to_string(),
                )
            });
    }
    if !view.is_member(to) {
        return Err(not_member(to));
    }
    if !view.voters.contains(&to) {
        return Err(Refusal::WrongRole(format!(
            "node {to} is a learner; only a voter can lead"
        )));
    }
    if to != view.me && !view.reachable(to, within) {
        return Err(Refusal::Unreachable(format!(
            "node {to} has not answered the leader recently; it cannot take over"
        )));
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const WITHIN: Duration = Duration::from_secs(2);

    /// Leader 1, voters 1..=3, learner 4; `dead` never answered; `matched` as given.
    fn view(dead: &[u64], matched: &[(u64, u64)]) -> ClusterView {
        let mut ack_age = BTreeMap::new();
        for id in 2..=5 {
            let age = (!dead.contains(&id)).then_some(Duration::from_millis(50));
            ack_age.insert(id, age);
        }
        ClusterView {
            me: 1,
            voters: BTreeSet::from([1, 2, 3]),
            learners: BTreeSet::from([4]),
            last_log_index: 5000,
            matched: matched.iter().copied().collect(),
            ack_age,
            changing: false,
        }
    }

    #[test]
    fn promote_needs_a_caught_up_learner() {
        let v = view(&[], &[(2, 5000), (3, 5000), (4, 4990)]);
        assert_eq!(check_promote(&v, 4, DEFAULT_MAX_LAG, WITHIN), Ok(true));
        assert_eq!(check_promote(&v, 2, DEFAULT_MAX_LAG, WITHIN), Ok(false));
        assert!(matches!(
            check_promote(&v, 9, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::NotFound(_))
        ));
        let behind = view(&[], &[(4, 100)]);
        assert!(matches!(
            check_promote(&behind, 4, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::LearnerBehind(_))
        ));
        let dead = view(&[4], &[(4, 5000)]);
        assert!(matches!(
            check_promote(&dead, 4, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::LearnerBehind(_))
        ));
        let mut busy = v.clone();
        busy.changing = true;
        assert_eq!(
            check_promote(&busy, 4, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::ChangeInProgress)
        );
    }

    #[test]
    fn remove_keeps_a_reachable_quorum_unless_forced() {
        let v = view(&[], &[]);
        assert_eq!(check_remove(&v, 3, false, WITHIN), Ok(Removal::Voter));
        assert_eq!(check_remove(&v, 4, false, WITHIN), Ok(Removal::Learner));
        assert!(matches!(
            check_remove(&v, 7, false, WITHIN),
            Err(Refusal::NotFound(_))
        ));
        // 2 and 3 dead: removing 3 leaves {1,2} with only 1 reachable.
        let v = view(&[2, 3], &[]);
        assert!(matches!(
            check_remove(&v, 3, false, WITHIN),
            Err(Refusal::QuorumAtRisk(_))
        ));
        assert_eq!(check_remove(&v, 3, true, WITHIN), Ok(Removal::Voter));
        // Only 3 dead: removing it leaves {1,2}, both up.
        let v = view(&[3], &[]);
        assert_eq!(check_remove(&v, 3, false, WITHIN), Ok(Removal::Voter));
        let mut single = view(&[], &[]);
        single.voters = BTreeSet::from([1]);
        assert!(matches!(
            check_remove(&single, 1, true, WITHIN),
            Err(Refusal::LastVoter(_))
        ));
    }

    #[test]
    fn replace_swaps_a_dead_voter_for_a_caught_up_learner() {
        let v = view(&[3], &[(4, 4999)]);
        assert_eq!(
            check_replace(&v, 3, 4, false, DEFAULT_MAX_LAG, WITHIN),
            Ok(BTreeSet::from([1, 2, 4]))
        );
        assert!(matches!(
            check_replace(&v, 4, 3, false, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::WrongRole(_))
        ));
        assert!(matches!(
            check_replace(&v, 3, 8, false, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::NotFound(_))
        ));
        let behind = view(&[3], &[(4, 10)]);
        assert!(matches!(
            check_replace(&behind, 3, 4, false, DEFAULT_MAX_LAG, WITHIN),
            Err(Refusal::LearnerBehind(_))
        ));
    }

    #[test]
    fn transfer_targets_must_be_reachable_voters() {
        let v = view(&[3], &[(2, 4990), (3, 5000)]);
        assert_eq!(pick_transfer_target(&v, 0, WITHIN), Ok(2));
        assert_eq!(pick_transfer_target(&v, 2, WITHIN), Ok(2));
        assert!(matches!(
            pick_transfer_target(&v, 3, WITHIN),
            Err(Refusal::Unreachable(_))
        ));
        assert!(matches!(
            pick_transfer_target(&v, 4, WITHIN),
            Err(Refusal::WrongRole(_))
        ));
        assert!(matches!(
            pick_transfer_target(&v, 9, WITHIN),
            Err(Refusal::NotFound(_))
        ));
        let all_dead = view(&[2, 3], &[]);
        assert!(matches!(
            pick_transfer_target(&all_dead, 0, WITHIN),
            Err(Refusal::Unreachable(_))
        ));
    }

    #[test]
    fn a_voter_set_changes_one_voter_at_a_time() {
        let v = view(&[], &[(2, 5000), (3, 5000), (4, 4990)]);
        let set = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();
        // The example: {1,2,3} -> {1} in one call.
        assert!(matches!(
            check_set_voters(&v, &set(&[1]), WITHIN),
            Err(Refusal::TooManyChanges(_))
        ));
        assert!(matches!(
            check_set_voters(&v, &set(&[1, 2, 3, 4, 5]), WITHIN),
            Err(Refusal::NotFound(_))
        ));
        assert_eq!(check_set_voters(&v, &set(&[1, 2, 3]), WITHIN), Ok(false));
        // One out, one in (a replace), and one out alone: allowed when safe.
        assert_eq!(check_set_voters(&v, &set(&[1, 2, 4]), WITHIN), Ok(true));
        assert_eq!(check_set_voters(&v, &set(&[1, 2]), WITHIN), Ok(true));
        // A joining learner must be caught up.
        let behind = view(&[], &[(2, 5000), (3, 5000), (4, 10)]);
        assert!(matches!(
            check_set_voters(&behind, &set(&[1, 2, 3, 4]), WITHIN),
            Err(Refusal::LearnerBehind(_))
        ));
        // Without a reachable majority of the new set, nothing changes.
        let dead = view(&[2], &[(3, 5000), (4, 5000)]);
        assert!(matches!(
            check_set_voters(&dead, &set(&[1, 2]), WITHIN),
            Err(Refusal::QuorumAtRisk(_))
        ));
        let changing = ClusterView {
            changing: true,
            ..v.clone()
        };
        assert_eq!(
            check_set_voters(&changing, &set(&[1, 2]), WITHIN),
            Err(Refusal::ChangeInProgress)
        );
    }
}
