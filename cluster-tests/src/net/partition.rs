//! Cutting links between nodes with iptables: a link `from -> to` is cut by dropping, in
//! `to`'s namespace, every packet from `from`'s address. DROP rather than REJECT, so a cut
//! looks like a dead network (timeouts), not a refused connection. Clients in the hub are
//! never cut: a partition separates nodes, and clients keep reaching both sides.

use super::Net;

/// A shape of partition over a set of nodes.
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
    /// The directed links this partition cuts between `nodes`.
    pub fn links(&self, nodes: &[u64]) -> Vec<(u64, u64)> {
        let both = |a: u64, b: u64| [(a, b), (b, a)];
        match self {
            Partition::OneWay { from, to } => vec![(*from, *to)],
            Partition::TwoWay { a, b } => both(*a, *b).to_vec(),
            Partition::Isolate { node } => nodes
                .iter()
                .filter(|o| *o != node)
                .flat_map(|o| both(*node, *o))
                .collect(),
            Partition::Split { groups } => {
                let group_of = |x: u64| groups.iter().position(|g| g.contains(&x));
                let mut links = Vec::new();
                for &a in nodes {
                    for &b in nodes {
                        if a != b && group_of(a) != group_of(b) {
                            links.push((a, b));
                        }
                    }
                }
                links
            }
            Partition::Bridge { middle } => {
                // The rest split in two halves by id; only `middle` crosses.
                let others: Vec<u64> = nodes.iter().copied().filter(|x| x != middle).collect();
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
    /// Cuts the links of `p` between every node of the network (adding to any already cut).
    pub fn partition(&self, p: &Partition) -> anyhow::Result<()> {
        let n = self.nodes.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
        self.partition_among(p, &(1..=n).collect::<Vec<_>>())
    }

    /// Cuts the links of `p` between `nodes` only: the cluster's members, once nodes that
    /// left it (replaced ones) no longer count.
    pub fn partition_among(&self, p: &Partition, nodes: &[u64]) -> anyhow::Result<()> {
        for (from, to) in p.links(nodes) {
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
        let (three, five) = ([1, 2, 3], [1, 2, 3, 4, 5]);
        assert_eq!(
            Partition::OneWay { from: 1, to: 2 }.links(&three),
            vec![(1, 2)]
        );
        let iso = Partition::Isolate { node: 2 }.links(&three);
        assert_eq!(iso, vec![(2, 1), (1, 2), (2, 3), (3, 2)]);
        let split = Partition::Split {
            groups: vec![vec![1, 2], vec![3, 4, 5]],
        }
        .links(&five);
        assert_eq!(split.len(), 12, "2*3 pairs, both ways");
        assert!(!split.contains(&(1, 2)) && !split.contains(&(3, 4)));
        let bridge = Partition::Bridge { middle: 3 }.links(&five);
        // Halves {1,2} and {4,5}: 4 pairs both ways; nothing touches 3.
        assert_eq!(bridge.len(), 8);
        assert!(bridge.iter().all(|(a, b)| *a != 3 && *b != 3));
    }

    #[test]
    fn shapes_cut_only_links_between_the_given_members() {
        // Node 2 was replaced by node 4: nothing is cut to or from 2.
        let members = [1, 3, 4];
        let iso = Partition::Isolate { node: 4 }.links(&members);
        assert_eq!(iso, vec![(4, 1), (1, 4), (4, 3), (3, 4)]);
        let bridge = Partition::Bridge { middle: 1 }.links(&members);
        assert_eq!(bridge, vec![(3, 4), (4, 3)]);
    }
}
