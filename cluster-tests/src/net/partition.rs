//! Cutting links between nodes with iptables: a link `from -> to` is cut by dropping, in
//! `to`'s namespace, every packet from `from`'s address. DROP rather than REJECT, so a cut
//! looks like a dead network (timeouts), not a refused connection. Clients in the hub are
//! never cut: a partition separates nodes, and clients keep reaching both sides.

use super::Net;

/// A shape of partition over nodes `1..=n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partition {
    /// Packets from `from` never reach `to` (the other direction still works).
    OneWay { from: u64, to: u64 },
    /// Neither direction between `a` and `b`.
    TwoWay { a: u64, b: u64 },
    /// `node` reaches no other node and none reaches it.
    Isolate { node: u64 },
    /// Nodes in different groups cannot talk; within a group they can.
    Split { groups: Vec<Vec<u64>> },
    /// Two halves that share `middle`: everyone talks to `middle`, nobody else crosses.
    Bridge { middle: u64 },
}

impl Partition {
    /// The directed links this partition cuts in a cluster of `n` nodes.
    pub fn links(&self, n: u64) -> Vec<(u64, u64)> {
        let both = |a: u64, b: u64| [(a, b), (b, a)];
        match self {
            Partition::OneWay { from, to } => vec![(*from, *to)],
            Partition::TwoWay { a, b } => both(*a, *b).to_vec(),
            Partition::Isolate { node } => (1..=n)
                .filter(|o| o != node)
                .flat_map(|o| both(*node, o))
                .collect(),
            Partition::Split { groups } => {
                let group_of = |x: u64| groups.iter().position(|g| g.contains(&x));
                let mut links = Vec::new();
                for a in 1..=n {
                    for b in 1..=n {
                        if a != b && group_of(a) != group_of(b) {
                            links.push((a, b));
                        }
                    }
                }
                links
            }
            Partition::Bridge { middle } => {
                // The rest split in two halves by id; only `middle` crosses.
                let others: Vec<u64> = (1..=n).filter(|x| x != middle).collect();
                let (left, right) = others.split_at(others.len() / 2);
                left.iter()
                    .flat_map(|a| right.iter().flat_map(move |b| both(*a, *b)))
                    .collect()
            }
        }
    }

    /// A short label for reports ("isolate", "split", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Partition::OneWay { .. } => "one-way",
            Partition::TwoWay { .. } => "two-way",
            Partition::Isolate { .. } => "isolate",
            Partition::Split { .. } => "split",
            Partition::Bridge { .. } => "bridge",
        }
    }
}

impl Net {
    /// Cuts the links of `p` (adding to any already cut).
    pub fn partition(&self, p: &Partition) -> anyhow::Result<()> {
        let n = self.nodes.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
        for (from, to) in p.links(n) {
            self.cut_link(from, to)?;
        }
        Ok(())
    }

    /// Drops packets from `from` at `to`.
    pub fn cut_link(&self, from: u64, to: u64) -> anyhow::Result<()> {
        let mut cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        if cut.contains(&(from, to)) {
            return Ok(());
        }
        let src = Net::ip(from);
        self.node_ns(to)?
            .run("iptables", &["-w", "-A", "INPUT", "-s", &src, "-j", "DROP"])?;
        cut.push((from, to));
        Ok(())
    }

    /// Restores every link.
    pub fn heal(&self) -> anyhow::Result<()> {
        let mut cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        let mut nodes: Vec<u64> = cut.iter().map(|(_, to)| *to).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for to in nodes {
            self.node_ns(to)?.run("iptables", &["-w", "-F", "INPUT"])?;
        }
        cut.clear();
        Ok(())
    }

    /// The links cut now, as (from, to).
    pub fn cut_links(&self) -> Vec<(u64, u64)> {
        self.cut.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::Partition;

    #[test]
    fn shapes_cut_the_expected_links() {
        assert_eq!(Partition::OneWay { from: 1, to: 2 }.links(3), vec![(1, 2)]);
        let iso = Partition::Isolate { node: 2 }.links(3);
        assert_eq!(iso, vec![(2, 1), (1, 2), (2, 3), (3, 2)]);
        let split = Partition::Split {
            groups: vec![vec![1, 2], vec![3, 4, 5]],
        }
        .links(5);
        assert_eq!(split.len(), 12, "2*3 pairs, both ways");
        assert!(!split.contains(&(1, 2)) && !split.contains(&(3, 4)));
        let bridge = Partition::Bridge { middle: 3 }.links(5);
        // Halves {1,2} and {4,5}: 4 pairs both ways; nothing touches 3.
        assert_eq!(bridge.len(), 8);
        assert!(bridge.iter().all(|(a, b)| *a != 3 && *b != 3));
    }
}
