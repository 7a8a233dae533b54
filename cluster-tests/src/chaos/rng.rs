//! The chaos run's seeded generator: rand's `StdRng` seeded from `--seed`, so the same seed
//! gives the same fault schedule (for a given rand version: `StdRng`'s algorithm may change
//! between rand releases, and a seed then gives another, equally reproducible, schedule).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng as _, RngCore, SeedableRng};

#[derive(Clone, Debug)]
pub struct Rng(StdRng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n.max(1))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Uniform between `lo` and `hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.0.random_range(lo..=hi.max(lo)))
    }

    /// `k` distinct ids out of `from`, sorted.
    pub fn subset(&mut self, from: &[u64], k: usize) -> Vec<u64> {
        let mut ids: Vec<u64> = from.choose_multiple(&mut self.0, k).copied().collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_sequence_and_subsets_are_distinct() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        let from = [1, 2, 4, 6, 7];
        let s = a.subset(&from, 3);
        assert_eq!(s.len(), 3);
        assert!(s.windows(2).all(|w| w[0] < w[1]) && s.iter().all(|x| from.contains(x)));
    }

    /// Every draw the nemesis makes, twice from one seed: the same schedule, within bounds.
    #[test]
    fn a_seed_replays_the_same_draws_within_their_bounds() {
        let draws = |seed| {
            let mut r = Rng::new(seed);
            (0..200)
                .map(|_| {
                    let below = r.below(6);
                    let ms = r.millis(300, 1200);
                    let picked = *r.pick(&["a", "b", "c"]);
                    let subset = r.subset(&[1, 2, 3, 4, 5], 2);
                    assert!(below < 6);
                    assert!((300..=1200).contains(&ms.as_millis()));
                    assert_eq!(subset.len(), 2);
                    (below, ms, picked, subset, r.next_u64())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(42), draws(42));
        assert_ne!(draws(42), draws(43));
        let mut r = Rng::new(1);
        assert_eq!(r.below(0), 0);
        assert_eq!(r.millis(5, 5).as_millis(), 5);
        assert_eq!(r.subset(&[3, 1], 5), vec![1, 3]);
    }
}
