"""Jittered exponential backoff (client/src/retry.rs's tests, in Python)."""

from __future__ import annotations

import random

from cairn._backoff import Backoff


def test_delays_stay_within_bounds_and_grow_to_max() -> None:
    base, max_ = 0.02, 0.5
    rng = random.Random(7)
    for _ in range(200):
        b = Backoff(base, max_, rng)
        expected = base
        for _ in range(40):
            assert b.ceiling() == expected
            d = b.next_delay()
            assert expected / 2 <= d <= expected
            expected = min(expected * 2, max_)
        assert b.ceiling() == max_


def test_jitter_spreads_clients_out() -> None:
    delays = {Backoff(0.1, 1.0).next_delay() for _ in range(50)}
    assert len(delays) > 40


def test_max_below_base_is_clamped_and_zero_base_is_zero() -> None:
    b = Backoff(0.1, 0.01)
    assert b.next_delay() <= 0.1
    z = Backoff(0.0, 0.0)
    assert z.next_delay() == 0.0


def test_many_attempts_do_not_overflow() -> None:
    b = Backoff(1.0, 1e30)
    for _ in range(1000):
        b.next_delay()
    assert b.ceiling() >= 2.0**16
