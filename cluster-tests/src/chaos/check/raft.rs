//! Raft invariants from sampled node status: at most one leader per term; a node's term
//! never goes backwards (it is durable with the vote); within one process lifetime a node's
//! applied index never goes backwards, nor the commit index it reports under one leader.

use std::collections::{BTreeMap, BTreeSet};

use super::Anomaly;

/// One status answer. `epoch` counts the node's restarts, so a restarted process (which may
/// report lower volatile indexes) is not compared with its predecessor.
#[derive(Debug, Clone)]
pub struct Sample {
    pub t: u64,
    pub node: u64,
    pub epoch: u64,
    pub term: u64,
    pub leader: bool,
    /// Whom the node takes for the leader (0: nobody).
    pub leader_id: u64,
    pub committed: u64,
    pub applied: u64,
}

pub fn check(samples: &[Sample]) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut last: BTreeMap<u64, &Sample> = BTreeMap::new();
    for s in samples {
        if s.leader {
            leaders.entry(s.term).or_default().insert(s.node);
        }
        // Term 0: a process that has not loaded its vote yet (just restarted) says nothing.
        if s.term == 0 {
            continue;
        }
        if let Some(p) = last.get(&s.node) {
            if s.term < p.term {
                out.push(Anomaly::new(
                    "term-regress",
                    format!("node {} term {} -> {} at {}us", s.node, p.term, s.term, s.t),
                ));
            }
            // The commit index in status is the cluster commit as last reported by a leader:
            // unknown (0) around elections, and a new leader may know less than its
            // predecessor told, even in the term the node had just voted in as a candidate
            // (seen in a chaos run); under one leader it only grows.
            let same_leader = s.term == p.term && s.leader_id != 0 && s.leader_id == p.leader_id;
            let commit_back = same_leader && s.committed != 0 && s.committed < p.committed;
            if s.epoch == p.epoch && (commit_back || s.applied < p.applied) {
                out.push(Anomaly::new(
                    "index-regress",
                    format!(
                        "node {} committed {} -> {}, applied {} -> {} at {}us",
                        s.node, p.committed, s.committed, p.applied, s.applied, s.t
                    ),
                ));
            }
        }
        last.insert(s.node, s);
    }
    for (term, nodes) in leaders {
        if nodes.len() > 1 {
            out.push(Anomaly::new(
                "two-leaders",
                format!("term {term} led by {nodes:?}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Sample, check};

    fn s(node: u64, epoch: u64, term: u64, leader: bool, idx: u64) -> Sample {
        Sample {
            t: 0,
            node,
            epoch,
            term,
            leader,
            leader_id: if leader { node } else { 9 },
            committed: idx,
            applied: idx,
        }
    }

    #[test]
    fn catches_two_leaders_and_regressions_but_not_a_restart() {
        assert!(
            check(&[
                s(1, 0, 2, true, 5),
                s(2, 0, 3, true, 6),
                s(1, 1, 3, false, 1)
            ])
            .is_empty()
        );
        let mut unknown = s(1, 0, 2, false, 6);
        unknown.committed = 0;
        assert!(
            check(&[s(1, 0, 2, false, 5), unknown]).is_empty(),
            "0: not known"
        );
        let bad = check(&[s(1, 0, 2, true, 5), s(2, 0, 2, true, 5)]);
        assert_eq!(bad[0].class, "two-leaders");
        let bad = check(&[s(1, 0, 2, false, 5), s(1, 0, 2, false, 4)]);
        assert_eq!(bad[0].class, "index-regress");
        // A candidate's commit came from the last term's leader; the one elected in its term
        // may know less.
        let mut candidate = s(1, 0, 3, false, 5);
        candidate.leader_id = 0;
        let mut follower = s(1, 0, 3, false, 4);
        follower.applied = 5;
        follower.leader_id = 2;
        assert!(check(&[candidate, follower]).is_empty());
        let bad = check(&[s(1, 0, 3, false, 5), s(1, 1, 2, false, 6)]);
        assert_eq!(bad[0].class, "term-regress");
    }
}
