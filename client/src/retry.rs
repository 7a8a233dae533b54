//! Exponential backoff with jitter for the retry loop.
//!
//! Jitter matters because many clients see the same leader loss at the same instant; without
//! it they would all hammer the new leader in lock-step.

use std::time::Duration;

use rand::Rng;

/// Backoff state for one logical call. Ceiling for attempt `n` is `min(max, base * 2^n)`;
/// the actual delay is drawn uniformly from `[ceiling / 2, ceiling]` ("equal jitter"), which
/// spreads clients out while still guaranteeing some wait.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        // A max below base would make the ceiling shrink; treat base as the floor instead.
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The ceiling for the current attempt, without jitter.
    pub(crate) fn ceiling(&self) -> Duration {
        // Past 2^16 the ceiling is certainly clamped; capping the shift avoids overflow.
        let factor = 1u32 << self.attempt.min(16);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt; advances the attempt counter.
    pub(crate) fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let hi = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        let lo = hi / 2;
        Duration::from_micros(rng.random_range(lo..=hi))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn delays_stay_within_bounds_and_grow_to_max() {
        let base = Duration::from_millis(20);
        let max = Duration::from_millis(500);
        let mut rng = rand::rng();
        for _ in 0..200 {
            let mut b = Backoff::new(base, max);
            let mut expected_ceiling = base;
            for _ in 0..40 {
                assert_eq!(b.ceiling(), expected_ceiling);
                let d = b.next_delay(&mut rng);
                assert!(d <= expected_ceiling, "{d:?} > {expected_ceiling:?}");
                assert!(
                    d >= expected_ceiling / 2,
                    "{d:?} < half of {expected_ceiling:?}"
                );
                expected_ceiling = (expected_ceiling * 2).min(max);
            }
            assert_eq!(b.ceiling(), max);
        }
    }

    #[test]
    fn max_below_base_is_clamped_and_zero_base_is_zero() {
        let mut rng = rand::rng();
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(10));
        assert!(b.next_delay(&mut rng) <= Duration::from_millis(100));
        let mut z = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(z.next_delay(&mut rng), Duration::ZERO);
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut rng = rand::rng();
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(u64::MAX / 4));
        for _ in 0..1000 {
            let _ = b.next_delay(&mut rng);
        }
        assert!(b.ceiling() >= Duration::from_secs(1 << 16));
    }
}
